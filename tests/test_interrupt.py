"""Ctrl-C or a crash mid-call never loses the recording."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import soundfile as sf

from voicesim.events import read_events
from voicesim.persona.persona import find_persona, load_persona
from voicesim.rubric.rubric import load_rubric
from voicesim.session.script import find_script, load_script
from voicesim.session.simulate import simulate

pytestmark = pytest.mark.slow


def test_interrupt_inside_the_call_loop_finalises_the_session(tmp_path, transcriber):
    rubric = load_rubric()
    persona = load_persona(find_persona("damaged-blender"), set(rubric.library.detectors))
    script = load_script(find_script("model-agent"))
    lines = []

    def press_ctrl_c(ev):
        if ev.type == "customer_line_start":
            lines.append(ev)
            if len(lines) == 2:
                raise KeyboardInterrupt

    out = tmp_path / "s"
    with pytest.raises(KeyboardInterrupt):
        simulate(persona, script, rubric, out, listeners=[press_ctrl_c], transcriber=transcriber)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "interrupted"
    events = list(read_events(out / "events.jsonl"))
    end = events[-2]
    assert end.type == "call_end" and end["end_state"] == "interrupted"
    assert events[-1].type == "score"
    info = sf.info(str(out / "call.wav"))
    assert abs(info.frames / 16000 - end["duration"]) < 0.05
    assert end["duration"] >= lines[1].t  # recorded up to the moment of the interrupt
    card = json.loads((out / "scorecard.json").read_text())
    assert card["outcome"]["end_state"] == "interrupted"
    # what was said before the interrupt is transcribed and scored
    assert any(e.type == "final" and "sorry" in e["text"].lower() for e in events)


def test_a_defect_inside_the_call_loop_is_never_recorded_as_complete(tmp_path, transcriber):
    """An unexpected exception mid-call (as the clip-equality crash was) finalises the session
    as interrupted, says what went wrong in meta.json, and is raised again."""
    rubric = load_rubric()
    persona = load_persona(find_persona("damaged-blender"), set(rubric.library.detectors))
    script = load_script(find_script("model-agent"))

    def defect(ev):
        if ev.type == "customer_line_start" and ev["line"] == 1:
            raise ValueError("operands could not be broadcast together")

    out = tmp_path / "s"
    with pytest.raises(ValueError, match="broadcast"):
        simulate(persona, script, rubric, out, listeners=[defect], transcriber=transcriber)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "interrupted" and meta["end_state"] == "interrupted"
    assert meta["error"] == "ValueError: operands could not be broadcast together"
    events = list(read_events(out / "events.jsonl"))
    assert events[-2].type == "call_end" and events[-2]["end_state"] == "interrupted"
    assert events[-1].type == "score"


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_sigint_to_the_cli_keeps_the_session(tmp_path):
    out = tmp_path / "s"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voicesim",
            "simulate",
            "--persona",
            "damaged-blender",
            "--trainee",
            "model-agent",
            "--seed",
            "0",
            "--out",
            str(out),
            "--realtime",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        # A shell that starts the tests in the background ignores SIGINT, and a child would
        # inherit that: the call must hear Ctrl-C as a terminal would send it.
        preexec_fn=_default_sigint,
    )
    seen = []
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        seen.append(line)
        if "TRAINEE" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=300)  # a hang guard: it ends when the session is saved
    assert proc.returncode == 130, "".join(seen) + rest
    assert "session so far is saved" in rest
    assert "Traceback" not in rest
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "interrupted"
    events = list(read_events(out / "events.jsonl"))
    assert any(e.type == "final" for e in events)
    assert events[-1].type == "score"
    assert sf.info(str(out / "call.wav")).frames > 16000
