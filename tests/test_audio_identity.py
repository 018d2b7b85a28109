"""Anything that holds audio is compared by identity, never by value.

A dataclass's generated ``__eq__`` compares its fields as a tuple; with a numpy array among
them, two objects that agree on the fields before it (two clips with the same start) compare
the arrays, and arrays of different lengths raise ``ValueError`` in the middle of a call
(``clip not in playing``, ``list.remove``). These tests fail if any dataclass in the package
that holds audio, directly or through another such dataclass, gets value equality back.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re
import sys

import numpy as np

import voicesim
from voicesim.audio.formats import RATE
from voicesim.audio.playout import Playout
from voicesim.audio.sources import Frame
from voicesim.events import CUSTOMER_LINE_END, CUSTOMER_LINE_START
from voicesim.session.pipeline import Pipeline
from voicesim.speech.transcriber import DeferredTranscriber


def _package_dataclasses() -> list[type]:
    found: dict[str, type] = {}
    for mod in pkgutil.walk_packages(voicesim.__path__, "voicesim."):
        if mod.name.endswith("__main__"):
            continue  # importing it runs the command line
        try:
            module = importlib.import_module(mod.name)
        except ImportError:  # an optional extra that is not installed here
            continue
        for obj in vars(module).values():
            if (
                isinstance(obj, type)
                and dataclasses.is_dataclass(obj)
                and obj.__module__.startswith("voicesim")
            ):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return list(found.values())


def _holds_audio(classes: list[type]) -> set[type]:
    """Dataclasses with an ndarray field, or a field of such a dataclass (to a fixed point).

    Names in a field's annotation are looked up in the class's own module, so two classes of
    the same name (the VAD's Utterance holds audio, the scorer's does not) are told apart."""
    holders: set[type] = set()
    while True:
        more = set()
        for cls in classes:
            scope = vars(sys.modules[cls.__module__])
            for f in dataclasses.fields(cls):
                hint = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
                words = re.findall(r"\w+", str(hint))
                if "ndarray" in words or any(scope.get(w) in holders for w in words):
                    more.add(cls)
        # subclasses of a holder hold audio too (LiveFrame is a Frame)
        more |= {c for c in classes if any(issubclass(c, h) for h in holders | more)}
        if more <= holders:
            return holders
        holders |= more


def test_every_dataclass_holding_audio_compares_by_identity():
    classes = _package_dataclasses()
    holders = _holds_audio(classes)
    names = {c.__name__ for c in holders}
    # the ones the live call crashed on are found (the scan itself works)
    assert {"Clip", "Frame", "LiveFrame", "Utterance", "_Overlap", "_DevClip"} <= names, names
    value_eq = sorted(
        f"{c.__module__}.{c.__qualname__}"
        for c in holders
        if c.__dataclass_params__.eq  # type: ignore[attr-defined]
    )
    assert value_eq == [], f"use @dataclass(eq=False) on: {', '.join(value_eq)}"


def test_two_clips_with_the_same_start_do_not_crash_the_pipeline():
    """Two customer clips starting on the same sample, of different lengths (as a stream
    restart used to leave them): each starts and ends once, nothing compares their audio."""
    playout = Playout()
    a = playout.schedule(RATE // 2, np.full(RATE, 0.1, np.float32), line=0)
    b = playout.schedule(RATE // 2, np.full(3 * RATE, 0.1, np.float32), line=1)
    pipe = Pipeline(playout, DeferredTranscriber(transcriber=None))  # no speech: never used
    events = []
    for start in range(0, 5 * RATE, 480):
        frame = Frame(start, playout.read(start, 480), np.zeros(480, np.float32))
        events += pipe.process(frame)
    starts = [e["line"] for e in events if e.type == CUSTOMER_LINE_START]
    ends = [(e["line"], e.t) for e in events if e.type == CUSTOMER_LINE_END]
    assert sorted(starts) == [0, 1]
    assert ends == [(0, a.end / RATE), (1, b.end / RATE)]
    playout.cancel(b)  # removes that very clip, not the first one "equal" to it
    assert playout.clips == [a] and playout.clips[0] is a
