"""Reading a session directory back: the one reader for report, replay, score, sessions and lab.

A session may be complete, or cut short by a crash or Ctrl-C: events.jsonl is read up to its
last whole line (a torn last line, without its newline, is dropped), call.wav up to its last
whole frame, and a missing scorecard is recomputed from the events with the rubric named in
meta.json.

Everything else is refused, never guessed at: a session may come from anyone (an upload to the
lab), so every file is read within ``Limits`` (sizes, event count, line length, nesting, the call
clock's range, the types of the fields the consumers read), and each problem is one
``SessionError``: ``FILE:LINE: field: what is wrong``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np

from ..audio.formats import RATE, check_samples
from ..audio.recorder import SESSION_FORMAT
from ..errors import AudioFileError, SessionError
from ..events import (
    CALL_END,
    CALL_SOUND,
    CUSTOMER_LINE_START,
    FINAL,
    GUIDANCE,
    MOOD,
    OVERTALK,
    SILENCE,
    Event,
)
from ..rubric.grade import score_call
from ..rubric.scorer import SCORECARD_FORMAT, Scorecard

SESSION_FILES = ("call.wav", "events.jsonl", "meta.json", "scorecard.json", "report.html")


@dataclass(frozen=True)
class Limits:
    """What one session may hold. Generous for a real call (a 4-hour call has some 20,000
    events in a few MB), small enough that a hostile one costs little memory and time."""

    events_bytes: int = 32 * 1024 * 1024
    events: int = 200_000
    line_bytes: int = 256 * 1024
    meta_bytes: int = 1024 * 1024
    scorecard_bytes: int = 16 * 1024 * 1024
    depth: int = 16  # nesting of JSON objects and lists
    max_t: float = 4 * 3600.0  # seconds on the call clock
    string_chars: int = 20_000
    # one transcribed line ("text" of an event): two minutes of unbroken speech is some 2,500
    # characters; every rubric phrase is matched over each line, so a line's length is what a
    # hostile session could make scoring cost
    text_chars: int = 5_000
    words: int = 5_000  # word timings in one transcript event
    lines: int = 10_000  # transcribed lines (final, customer_line_start): what scoring costs
    digits: int = 20  # of a JSON integer


LIMITS = Limits()


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
        """(customer, trainee) at 16 kHz; empty arrays when call.wav is missing or unreadable
        (a crash may leave none); a file of the wrong shape or too long is an error."""
        import soundfile as sf

        path = self.dir / "call.wav"
        empty = np.zeros(0, np.float32), np.zeros(0, np.float32)
        try:
            info = sf.info(str(path))
        except (sf.LibsndfileError, RuntimeError, OSError):
            return empty
        if info.samplerate != RATE or info.channels != 2:
            raise SessionError(
                str(path),
                f"expected {RATE} Hz stereo, found {info.samplerate} Hz, {info.channels} channels",
            )
        if info.frames > (LIMITS.max_t + 60) * RATE:
            raise SessionError(str(path), f"longer than the {LIMITS.max_t / 3600:.0f}-hour limit")
        try:
            data, _ = sf.read(str(path), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, OSError):
            return empty
        try:
            check_samples(data, path)
        except AudioFileError as exc:
            raise SessionError(str(path), str(exc).removeprefix(f"{path}: ")) from None
        return data[:, 0], data[:, 1]


# -- the strict JSON layer ------------------------------------------------------------------------
class _Bad(ValueError):
    """Raised from inside json.loads hooks; becomes a SessionError with the file and line."""


def _loads(text: str, limits: Limits) -> Any:
    def big_int(s: str) -> int:
        if len(s.lstrip("-")) > limits.digits:
            raise _Bad(f"integer with more than {limits.digits} digits")
        return int(s)

    def finite(s: str) -> float:
        value = float(s)
        if not math.isfinite(value):
            raise _Bad(f"number {s[:30]} is out of range")
        return value

    def constant(s: str) -> Any:
        raise _Bad(f"{s} is not a number JSON allows")

    try:
        value = json.loads(text, parse_int=big_int, parse_float=finite, parse_constant=constant)
    except RecursionError:
        raise _Bad(f"nested more than {limits.depth} levels deep") from None
    except json.JSONDecodeError as exc:
        raise _Bad(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    _check_tree(value, limits)
    return value


def _check_tree(value: Any, limits: Limits) -> None:
    """Nesting depth and string lengths of a parsed JSON value (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if len(node) > limits.string_chars:
                raise _Bad(f"a text longer than {limits.string_chars} characters")
            continue
        if not isinstance(node, dict | list):
            continue
        if depth > limits.depth:
            raise _Bad(f"nested more than {limits.depth} levels deep")
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children)
        if isinstance(node, dict):
            stack.extend((k, depth + 1) for k in node)


def _read_bytes(path: Path, limit: int, what: str) -> bytes | None:
    """The file's bytes, or None when it does not exist; never more than ``limit`` bytes."""
    try:
        if not path.is_file():
            if path.exists():
                raise SessionError(str(path), "not a regular file")
            return None
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise SessionError(str(path), f"cannot read ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise SessionError(str(path), f"{what} larger than {limit} bytes")
    return data


# -- events ---------------------------------------------------------------------------------------
def _number(lo: float, hi: float) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return f"must be a number, not {_kind(v)}"
        if not lo <= v <= hi:
            return f"must be between {lo:g} and {hi:g} (found {v:g})"
        return None

    return check


def _of(*types: type, nullable: bool = True) -> Callable[[Any], str | None]:
    names = " or ".join(
        {str: "text", bool: "true/false", int: "a whole number", dict: "an object"}[t]
        for t in types
    )

    def check(v: Any) -> str | None:
        if v is None and nullable:
            return None
        if isinstance(v, bool) and bool not in types:
            return f"must be {names}, not {_kind(v)}"
        return None if isinstance(v, types) else f"must be {names}, not {_kind(v)}"

    return check


def _text(most: int) -> Callable[[Any], str | None]:
    of_str = _of(str)

    def check(v: Any) -> str | None:
        problem = of_str(v)
        if problem is None and v is not None and len(v) > most:
            return f"a transcribed line longer than {most} characters ({len(v)})"
        return problem

    return check


def _kind(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false"}.get(
        type(v), "null" if v is None else "a number"
    )


def _event_fields(limits: Limits) -> dict[str, Callable[[Any], str | None]]:
    clock = _number(0.0, limits.max_t)
    return {
        "end": clock,
        "start": clock,
        "duration": clock,
        "since": clock,  # guidance: when the cue's condition started
        "cue": _of(str),
        "evidence": _of(dict),
        "mood": _number(-1.0, 2.0),
        "text": _text(limits.text_chars),
        "reason": _of(str),
        "who": _of(str),
        "by": _of(str),
        "after": _of(str),
        "end_state": _of(str),
        "kind": _of(str),
        "sound": _of(str),
        "line": _of(int),
        "utterance": _of(int),
        "cut": _of(bool),
        "keeps_turn": _of(bool),
        "audio": _of(bool),  # call_start: false for a written transcript (the scorer reads it)
        "timed": _of(bool),
        "overlap": _of(bool),  # call_start: false for a mono recording split by voice
    }


REQUIRED = {OVERTALK: ("end", "duration"), SILENCE: ("end", "duration"), MOOD: ("mood",)}
REQUIRED[CALL_END] = ("duration",)
REQUIRED[CALL_SOUND] = ("sound", "end")
REQUIRED[GUIDANCE] = ("cue", "text", "since")


def _check_event(obj: Any, fields: dict, limits: Limits) -> tuple[str | None, str] | None:
    """(field, problem) for an event of the wrong shape, else None."""
    if not isinstance(obj, dict):
        return None, f"expected an event object, found {_kind(obj)}"
    for key in ("type", "t"):
        if key not in obj:
            return None, f"an event without {key!r}"
    if not isinstance(obj["type"], str) or not 0 < len(obj["type"]) <= 64:
        return "type", "must be a short text"
    problem = _number(0.0, limits.max_t)(obj["t"])
    if problem:
        return "t", problem
    for key in REQUIRED.get(obj["type"], ()):
        if key not in obj:
            return key, f"a {obj['type']} event needs {key!r}"
    for key, check in fields.items():
        if key in obj:
            problem = check(obj[key])
            if problem:
                return key, problem
    if "moves" in obj and not (
        isinstance(obj["moves"], list) and all(isinstance(m, str) for m in obj["moves"])
    ):
        return "moves", "must be a list of texts"
    if "words" in obj:
        return _check_words(obj["words"], limits)
    return None


def _check_words(words: Any, limits: Limits) -> tuple[str, str] | None:
    if words is None:
        return None
    if not isinstance(words, list):
        return "words", f"must be a list, not {_kind(words)}"
    if len(words) > limits.words:
        return "words", f"more than {limits.words} words"
    clock = _number(0.0, limits.max_t)
    for i, w in enumerate(words):
        if not isinstance(w, dict) or not isinstance(w.get("w"), str):
            return f"words[{i}]", "must be an object with the word as text in 'w'"
        for key in ("start", "end"):
            problem = clock(w.get(key))
            if problem:
                return f"words[{i}].{key}", problem
        if w.get("p") is not None:
            problem = _number(0.0, 1.0)(w["p"])
            if problem:
                return f"words[{i}].p", problem
    return None


def parse_events(data: bytes, name: str, limits: Limits = LIMITS) -> list[Event]:
    """The events of an events.jsonl held in ``data``; ``name`` is how errors name the file."""
    if len(data) > limits.events_bytes:
        raise SessionError(name, f"larger than {limits.events_bytes} bytes")
    fields = _event_fields(limits)
    events: list[Event] = []
    spoken = 0
    lines = data.split(b"\n")
    torn = lines[-1] != b""  # the last line of a complete file ends with a newline
    for n, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        last = n == len(lines)
        if len(raw) > limits.line_bytes:
            raise SessionError(name, f"line longer than {limits.line_bytes} bytes", n)
        try:
            obj = _loads(raw.decode("utf-8"), limits)
        except (UnicodeDecodeError, _Bad) as exc:
            if last and torn:
                break  # cut short by a crash mid-write: everything before it still counts
            what = "not valid UTF-8" if isinstance(exc, UnicodeDecodeError) else str(exc)
            raise SessionError(name, what, n) from None
        problem = _check_event(obj, fields, limits)
        if problem:
            if last and torn:
                break
            raise SessionError(name, problem[1], n, problem[0])
        if len(events) >= limits.events:
            raise SessionError(name, f"more than {limits.events} events", n)
        if obj["type"] in (FINAL, CUSTOMER_LINE_START):
            spoken += 1
            if spoken > limits.lines:
                raise SessionError(name, f"more than {limits.lines} transcribed lines", n)
        events.append(Event.from_dict(obj))
    return events


# -- meta.json and scorecard.json -----------------------------------------------------------------
_TEXT = {"type": ["string", "null"]}
_NUM = {"type": ["number", "null"]}
_SCORE = {"type": ["number", "null"], "minimum": 0, "maximum": 100}
_REF = {  # persona or rubric: what it was, and the file it came from
    "type": ["object", "null"],
    "properties": {"id": _TEXT, "name": _TEXT, "version": _TEXT, "file": _TEXT},
}
META_SCHEMA = {
    "type": "object",
    "properties": {
        "format": {"type": "integer", "minimum": 1, "maximum": SESSION_FORMAT},
        "created": _TEXT,
        "status": _TEXT,
        "end_state": _TEXT,
        "duration_s": {"type": ["number", "null"], "minimum": 0},
        "persona": _REF,
        "rubric": _REF,
        "source": {"type": ["object", "null"], "properties": {"kind": _TEXT}},
    },
}
SCORECARD_SCHEMA = {
    "type": "object",
    "required": ["families"],
    "properties": {
        "format": {"type": "integer", "minimum": 1, "maximum": SCORECARD_FORMAT},
        "overall": _SCORE,
        "pass_mark": _SCORE,
        "passed": {"type": ["boolean", "null"]},
        "rubric": {"type": "object"},
        "persona": {"type": ["object", "null"]},
        "outcome": {"type": "object", "properties": {"end_state": _TEXT}},
        "stats": {"type": "object"},
        "voice": {"type": "array"},
        "families": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "name", "score"],
                "properties": {
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "score": _SCORE,
                    "weight": _NUM,
                    "criteria": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["id"],
                            "properties": {
                                "id": {"type": "string"},
                                "evidence": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "words": _TEXT,
                                            "start": _NUM,
                                            "end": _NUM,
                                            "points": _NUM,
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def _field(path: Any) -> str:
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out or "(top level)"


def parse_json_file(data: bytes, name: str, schema: dict, limits: Limits = LIMITS) -> dict:
    """A JSON object held in ``data``, checked against ``schema``; SessionError if it is not."""
    try:
        value = _loads(data.decode("utf-8"), limits)
    except UnicodeDecodeError:
        raise SessionError(name, "not valid UTF-8") from None
    except _Bad as exc:
        raise SessionError(name, str(exc)) from None
    if not isinstance(value, dict):
        raise SessionError(name, f"expected a JSON object, found {_kind(value)}")
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(value)
    )
    if error is not None:
        message = error.message
        if list(error.absolute_path) == ["format"] and error.validator in ("minimum", "maximum"):
            readable = schema["properties"]["format"]["maximum"]
            message = (
                f"{value['format']!r}: this voicesim reads format {readable} (made by a newer one?)"
            )
        raise SessionError(name, message[:200], field=_field(error.absolute_path))
    return value


def parse_meta(data: bytes, name: str, limits: Limits = LIMITS) -> dict:
    if len(data) > limits.meta_bytes:
        raise SessionError(name, f"larger than {limits.meta_bytes} bytes")
    return parse_json_file(data, name, META_SCHEMA, limits)


def parse_scorecard(data: bytes, name: str, limits: Limits = LIMITS) -> dict:
    if len(data) > limits.scorecard_bytes:
        raise SessionError(name, f"larger than {limits.scorecard_bytes} bytes")
    return parse_json_file(data, name, SCORECARD_SCHEMA, limits)


def check_files(files: dict[str, bytes], name: str = "", limits: Limits = LIMITS) -> list[Event]:
    """Check a session held in memory (an upload) without writing anything; returns its events.
    Errors name each file as ``name/FILE`` (just ``FILE`` when ``name`` is empty)."""

    def where(f: str) -> str:
        return f"{name}/{f}" if name else f

    if "events.jsonl" not in files:
        raise SessionError(where("events.jsonl"), "missing: not a voicesim session")
    if "meta.json" in files:
        parse_meta(files["meta.json"], where("meta.json"), limits)
    if "scorecard.json" in files:
        parse_scorecard(files["scorecard.json"], where("scorecard.json"), limits)
    return parse_events(files["events.jsonl"], where("events.jsonl"), limits)


# -- the session ----------------------------------------------------------------------------------
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


def read_session(directory: str | Path, limits: Limits = LIMITS) -> Session:
    """The session as stored, checked, without rescoring (``scorecard`` is empty when there is
    none). Raises SessionError naming the file, the line and what is wrong."""
    d = Path(directory)
    if not d.is_dir():
        raise SessionError(str(d), "no such session directory")
    events_raw = _read_bytes(d / "events.jsonl", limits.events_bytes, "events.jsonl")
    if events_raw is None:
        raise SessionError(str(d), "not a voicesim session (no events.jsonl)")
    meta_raw = _read_bytes(d / "meta.json", limits.meta_bytes, "meta.json")
    card_raw = _read_bytes(d / "scorecard.json", limits.scorecard_bytes, "scorecard.json")
    meta = parse_meta(meta_raw, str(d / "meta.json"), limits) if meta_raw is not None else {}
    events = parse_events(events_raw, str(d / "events.jsonl"), limits)
    card = (
        parse_scorecard(card_raw, str(d / "scorecard.json"), limits) if card_raw is not None else {}
    )
    complete = any(e.type == CALL_END for e in events)
    return Session(d, meta, events, card, complete)


def load_session(directory: str | Path, limits: Limits = LIMITS) -> Session:
    """``read_session``, with the scorecard recomputed when there is none (a call cut short)."""
    session = read_session(directory, limits)
    if not session.scorecard:
        session.scorecard = rescore(session.events, session.meta, session.audio()[1]).to_dict()
    return session


def find_sessions(root: str | Path) -> list[Path]:
    """Session directories under ``root`` (itself included), newest name last."""
    root = Path(root)
    if (root / "events.jsonl").exists():
        return [root]
    return sorted(p.parent for p in root.rglob("events.jsonl"))
