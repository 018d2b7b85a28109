"""Reading a session directory back: the one reader for report, replay, score and lab.

A session may be complete, or cut short by a crash or Ctrl-C: events.jsonl is read up to its
last whole line, call.wav up to its last whole frame, and a missing scorecard is recomputed from
the events with the rubric named in meta.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio.formats import RATE
from ..errors import VoicesimError
from ..events import CALL_END, Event, read_events
from ..rubric.scorer import Scorecard, score_call


@dataclass
class Session:
    dir: Path
    meta: dict
    events: list[Event]
    scorecard: dict
    complete: bool  # the call reached its end (not killed mid-call)

    @property
    def duration_s(self) -> float:
        end = next((e for e in self.events if e.type == CALL_END), None)
        if end is not None:
            return float(end["duration"])
        return max((e.t for e in self.events), default=0.0)

    def audio(self) -> tuple[np.ndarray, np.ndarray]:
        """(customer, trainee) at 16 kHz; empty arrays when call.wav is missing or unreadable."""
        import soundfile as sf

        path = self.dir / "call.wav"
        try:
            data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, OSError):
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        if rate != RATE or data.shape[1] != 2:
            raise VoicesimError(
                f"{path}: expected {RATE} Hz stereo, found {rate} Hz, {data.shape[1]} channels"
            )
        return data[:, 0], data[:, 1]


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise VoicesimError(f"{path}: not valid JSON ({exc})") from None


def rescore(events: list[Event], meta: dict, trainee: np.ndarray | None) -> Scorecard:
    """Score events with the rubric (and persona) the session names, or the defaults."""
    from ..persona.persona import load_persona
    from ..rubric.rubric import load_rubric

    rubric_file = (meta.get("rubric") or {}).get("file")
    rubric = load_rubric(rubric_file if rubric_file and Path(rubric_file).exists() else None)
    persona = None
    persona_file = (meta.get("persona") or {}).get("file")
    if persona_file and Path(persona_file).exists():
        persona = load_persona(persona_file)
    return score_call(
        events, rubric, persona, trainee if trainee is not None and trainee.size else None
    )


def read_session(directory: str | Path) -> Session:
    """The session as stored, without rescoring (``scorecard`` is empty when there is none):
    for the lab, which scores uploads itself."""
    d = Path(directory)
    if not d.is_dir():
        raise VoicesimError(f"{d}: no such session directory")
    if not (d / "events.jsonl").exists():
        raise VoicesimError(f"{d}: not a voicesim session (no events.jsonl)")
    meta = _read_json(d / "meta.json") or {}
    events = list(read_events(d / "events.jsonl"))
    complete = any(e.type == CALL_END for e in events)
    return Session(d, meta, events, _read_json(d / "scorecard.json") or {}, complete)


def load_session(directory: str | Path) -> Session:
    session = read_session(directory)
    if not session.scorecard:
        # Killed mid-call: score what happened up to the last event.
        session.scorecard = rescore(session.events, session.meta, session.audio()[1]).to_dict()
    return session


def find_sessions(root: str | Path) -> list[Path]:
    """Session directories under ``root`` (itself included), newest name last."""
    root = Path(root)
    if (root / "events.jsonl").exists():
        return [root]
    return sorted(p.parent for p in root.rglob("events.jsonl"))
