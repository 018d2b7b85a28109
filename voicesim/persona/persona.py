"""Persona files: who the customer is, how they sound, what upsets or calms them.

A persona is data, not code: trainers write new customers in YAML. The schema below is the
contract; ``load_persona`` reports any mistake as ``file:line: field: message``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import line_of, parse_yaml, read_config
from ..errors import ConfigError, VoicesimError
from ..rubric.detectors import Detector
from ..rubric.moves import NEGATIVE
from ..rubric.regexcheck import PhraseRegexError
from ..speech.tts import DEFAULT_PAUSE_S, VOICE_SCHEMA, VoiceSettings, voice_problem

PERSONA_DIR = Path(__file__).resolve().parents[2] / "personas"
END_STATES = ("resolved", "hung_up", "escalated", "time_limit")
# Reactions to the call itself rather than to a detected move of the trainee.
# Reactions to something other than a rubric move: audio, timing, and the customer's question
# answered or not (``rubric.answers``).
AUDIO_REACTIONS = (
    "interrupted",
    "silence",
    "default",
    "premature_solution",
    "not_ready",
    "answered",
    "unanswered",
)

_LINES = {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}
_MOOD_DELTA = {"type": "number", "minimum": -1, "maximum": 1}
_REACTION = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"mood": _MOOD_DELTA, "say": _LINES},
}
_VOICE = {**VOICE_SCHEMA, "required": ["engine"]}
_UNIT = {"type": "number", "minimum": 0, "maximum": 1}
# A call's length has a bound: a persona may come from a lab trainer, and the lab runs it in
# simulated previews (a time limit of a billion seconds would hold a scoring thread for good).
MAX_CALL_S = 3600
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "format",
        "id",
        "name",
        "version",
        "voice",
        "situation",
        "opening",
        "mood",
        "reactions",
        "resolutions",
        "endings",
    ],
    "properties": {
        "format": {"const": 1},
        "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
        "name": {"type": "string", "minLength": 1},
        "version": {"type": ["integer", "string"]},
        "difficulty": {"type": "integer", "minimum": 1, "maximum": 5},
        "lesson": {"type": "string"},
        "voice": _VOICE,
        "situation": {
            "type": "object",
            "additionalProperties": False,
            "required": ["summary"],
            "properties": {
                "summary": {"type": "string"},
                "facts": {"type": "object", "additionalProperties": {"type": ["string", "number"]}},
                "complaint_terms": {"type": "array", "items": {"type": "string"}},
                "answers": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["asked", "say"],
                        "properties": {
                            "asked": {
                                "type": "array",
                                "items": {"type": "string", "minLength": 1},
                                "minItems": 1,
                            },
                            "say": _LINES,
                        },
                    },
                },
            },
        },
        "opening": _LINES,
        "mood": {
            "type": "object",
            "additionalProperties": False,
            "required": ["start"],
            "properties": {
                "start": _UNIT,
                "baseline": _UNIT,
                "max_step": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                "drift": _UNIT,
                "resolve_below": _UNIT,
                "hang_up_at": _UNIT,
                "escalate_at": _UNIT,
                "patience_s": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_CALL_S},
                "max_silences": {"type": "integer", "minimum": 1, "maximum": 100},
            },
        },
        # How the mood is heard (see Prosody): every key has a default.
        "prosody": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "rate": {"type": "number", "minimum": 0, "maximum": 150},
                "pitch": {"type": "number", "minimum": 0, "maximum": 50},
                "volume": {"type": "number", "minimum": 0, "maximum": 1},
                "pause_s": {"type": "number", "minimum": 0, "maximum": 2},
                "pause_span_s": {"type": "number", "minimum": 0, "maximum": 2},
                "emphatic_at": _UNIT,
                "hesitant": {"type": "boolean"},
            },
        },
        "talked_over": {
            "type": "object",
            "additionalProperties": False,
            "required": ["behavior"],
            "properties": {
                "behavior": {"enum": ["stop", "talk_on"]},
                "yield_after_s": {"type": "number", "minimum": 0, "maximum": 5},
            },
        },
        "interrupts": {
            "type": "object",
            "additionalProperties": False,
            "required": ["after_s", "say"],
            "properties": {
                "mood_at_least": _UNIT,
                "after_s": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_CALL_S},
                "mood": _MOOD_DELTA,
                "say": _LINES,
            },
        },
        "time_limit_s": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_CALL_S},
        "timing": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "answer_after_s": {"type": "number", "minimum": 0.1, "maximum": 3.0},
                "spread_s": {"type": "number", "minimum": 0, "maximum": 2.0},
                "eagerness": {"type": "number", "minimum": 0.05, "maximum": 0.95},
            },
        },
        "reactions": {"type": "object", "additionalProperties": _REACTION, "minProperties": 1},
        "resolutions": {
            "type": "object",
            "additionalProperties": False,
            "required": ["accept", "agreed"],
            "properties": {
                "accept": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "requires": {"type": "array", "items": {"type": "string"}},
                "refuse": {"type": "object", "additionalProperties": _REACTION},
                "agreed": _LINES,
            },
        },
        "endings": {
            "type": "object",
            "additionalProperties": False,
            "required": ["resolved", "hung_up"],
            "properties": {k: _LINES for k in END_STATES},
        },
        # Better wording for this customer, by move (empathy, reflect, solution ...): what the
        # coaching offers a trainee after the call, first of all.
        "model_lines": {"type": "object", "additionalProperties": _LINES, "minProperties": 1},
    },
}


@dataclass
class Reaction:
    mood: float = 0.0
    say: list[str] = field(default_factory=list)


@dataclass
class MoodModel:
    """0 calm .. 1 furious. Thresholds decide what the customer does at each level."""

    start: float
    baseline: float = 0.5
    max_step: float = 0.3
    drift: float = 0.05
    resolve_below: float = 0.45  # accepts a resolution only at or below this
    hang_up_at: float = 0.95
    escalate_at: float | None = None  # demands a manager (and the call ends escalated)
    patience_s: float = 8.0  # silence before "are you still there?"
    max_silences: int = 3


MOOD_STEPS = 10  # the voice changes with the mood in tenths


@dataclass
class Prosody:
    """How the mood (0 calm .. 1 furious, neutral at 0.5) is heard in the voice. An upset
    customer speaks faster, higher, louder, with shorter pauses and emphatic ends ("!"); a
    calm one slower, lower and softer, with longer pauses. A hesitant (confused) customer trails
    off between sentences and ends rising, whatever the mood."""

    rate: float = 40.0  # words per minute faster at mood 1 than at 0.5 (slower by as much at 0)
    pitch: float = 20.0  # pitch points (0-100 scale; Kokoro: 12.5 a semitone) likewise
    volume: float = 0.2  # relative louder at mood 1 (softer at 0)
    pause_s: float = DEFAULT_PAUSE_S  # between sentences at mood 0.5 ...
    pause_span_s: float = 0.3  # ... this much shorter at mood 1, longer at mood 0
    emphatic_at: float = 0.8  # at or above this mood statements end emphatic ("!")
    hesitant: bool = False

    def voice(self, base: VoiceSettings, mood: float) -> VoiceSettings:
        """The persona's voice at this mood, in steps of a tenth of mood: a neural line costs
        about half its length to render, and eleven voices per persona are rendered once and
        then replayed from the cache, call after call."""
        mood = round(mood * MOOD_STEPS) / MOOD_STEPS
        arousal = 2 * (mood - 0.5)  # -1 calm .. +1 furious
        return base.with_changes(
            rate=max(80.0, base.rate + self.rate * arousal / 2),
            pitch=min(100.0, max(0.0, base.pitch + self.pitch * arousal / 2)),
            volume=min(1.0, max(0.1, base.volume * (1 + self.volume * arousal / 2))),
            pause_s=max(0.05, self.pause_s - self.pause_span_s * arousal / 2),
            ending="!" if mood >= self.emphatic_at else "",
            hesitant=self.hesitant,
        )


@dataclass
class TalkedOver:
    behavior: str = "talk_on"  # "stop": yields to the trainee ("let me finish!" comes after)
    yield_after_s: float = 0.0  # how long the trainee must talk before the customer stops


@dataclass
class Interjection:
    after_s: float  # trainee talking this long in one turn ...
    mood_at_least: float = 0.0  # ... while the customer is at least this upset
    mood: float = 0.05
    say: list[str] = field(default_factory=list)


@dataclass
class Timing:
    """How the customer takes the turn: after how short a pause, and how readily a pause is
    taken for the end of the trainee's turn (the end-of-turn detector's threshold is
    ``1 - eagerness``). Without a clear end the customer waits for the rubric's response
    gap, as a patient listener would."""

    answer_after_s: float = 0.35  # the shortest silence after which a finished turn is answered
    spread_s: float = 0.15  # ... plus up to this much more, drawn from the call's seed
    eagerness: float = 0.3  # 0..1: an impatient customer takes weaker cues, a confused one not


@dataclass
class Answer:
    """A fact the customer gives when asked (order number, dates...)."""

    detector: Detector
    say: list[str]


@dataclass
class Persona:
    id: str
    name: str
    version: str
    voice: VoiceSettings
    summary: str
    facts: dict[str, Any]
    complaint_terms: list[str]
    opening: list[str]
    mood: MoodModel
    reactions: dict[str, Reaction]
    accept: list[str]
    agreed: list[str]
    endings: dict[str, list[str]]
    requires: list[str] = field(default_factory=list)
    refuse: dict[str, Reaction] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    prosody: Prosody = field(default_factory=Prosody)
    talked_over: TalkedOver = field(default_factory=TalkedOver)
    interrupts: Interjection | None = None
    difficulty: int = 2
    lesson: str = ""
    time_limit_s: float = 300.0
    timing: Timing = field(default_factory=Timing)
    model_lines: dict[str, list[str]] = field(default_factory=dict)  # better wording, by move
    path: str = ""


def _check_moves(path: str, root, where: list, moves, allowed: set[str]) -> None:
    for i, move in enumerate(moves):
        if move not in allowed:
            key = [*where, move] if isinstance(moves, dict) else [*where, i]
            field_name = ".".join(str(w) for w in where) + (
                f".{move}" if isinstance(moves, dict) else f"[{i}]"
            )
            raise ConfigError(
                str(path),
                f"unknown move {move!r} (known: {', '.join(sorted(allowed))})",
                line_of(root, key, key_line=isinstance(moves, dict)),
                field_name,
            )


# ``personas validate --strict``: the wordings every list of lines of a shipped persona has, so
# that a trainee's next attempt (a new seed) hears other sentences.
STRICT_WORDINGS = 3


def _line_lists(data: dict) -> list[tuple[list, list[str]]]:
    """Every list of lines the customer may say, with its YAML path: the opening, reactions,
    refusals, answers to a question, the interjection, the agreement and the endings."""
    res = data["resolutions"]
    found = [(["opening"], data["opening"])]
    found += [(["reactions", k, "say"], r.get("say")) for k, r in data["reactions"].items()]
    refuse = res.get("refuse", {})
    found += [(["resolutions", "refuse", k, "say"], r.get("say")) for k, r in refuse.items()]
    answers = data["situation"].get("answers", [])
    found += [(["situation", "answers", i, "say"], a["say"]) for i, a in enumerate(answers)]
    if data.get("interrupts"):
        found.append((["interrupts", "say"], data["interrupts"]["say"]))
    found.append((["resolutions", "agreed"], res["agreed"]))
    found += [(["endings", k], v) for k, v in data["endings"].items()]
    return [(where, lines) for where, lines in found if lines]


def _check_wordings(path: str, root, data: dict, least: int) -> None:
    for where, lines in _line_lists(data):
        if len(lines) < least:
            name = ".".join(f"[{w}]" if isinstance(w, int) else w for w in where)
            raise ConfigError(
                str(path),
                f"{len(lines)} wording{'s' if len(lines) != 1 else ''}, fewer than {least}: "
                "each call's seed picks one, and with too few a trainee hears the same "
                "sentences attempt after attempt",
                line_of(root, where, key_line=True),
                name.replace(".[", "["),
            )


def load_persona(
    path: str | Path, known_moves: set[str] | None = None, min_wordings: int = 1
) -> Persona:
    """Load and validate one persona file; with ``known_moves``, move names are checked too.
    ``min_wordings`` (``STRICT_WORDINGS`` for the shipped library) is how many wordings each
    list of lines needs: the schema asks for one, a trainer's quick persona may have one."""
    return parse_persona(read_config(path), str(path), known_moves, min_wordings)


def parse_persona(
    text: str, path: str, known_moves: set[str] | None = None, min_wordings: int = 1
) -> Persona:
    """Validate a persona held as text (the lab keeps trainers' personas in its database);
    errors and ``Persona.path`` name it ``path``."""
    data, root = parse_yaml(text, SCHEMA, path)
    res = data["resolutions"]
    if min_wordings > 1:
        _check_wordings(path, root, data, min_wordings)
    if known_moves is not None:
        _check_moves(
            path, root, ["reactions"], data["reactions"], known_moves | set(AUDIO_REACTIONS)
        )
        _check_moves(path, root, ["resolutions", "accept"], res["accept"], known_moves)
        _check_moves(path, root, ["resolutions", "requires"], res.get("requires", []), known_moves)
        _check_moves(path, root, ["resolutions", "refuse"], res.get("refuse", {}), known_moves)
        _check_moves(path, root, ["model_lines"], data.get("model_lines", {}), known_moves)
    for move in data.get("model_lines", {}):
        if move in NEGATIVE:
            raise ConfigError(
                str(path),
                f"{move!r} is a mistake the trainee is scored down for; model lines show better "
                "wording under the move they make (empathy, alternative, follow_up ...)",
                line_of(root, ["model_lines", move], key_line=True),
                f"model_lines.{move}",
            )
    m = data["mood"]
    if "hang_up_at" in m and m["start"] >= m["hang_up_at"]:
        raise ConfigError(
            str(path),
            "the customer would hang up before saying a word (start must be below hang_up_at)",
            line_of(root, ["mood", "start"]),
            "mood.start",
        )
    voice = VoiceSettings.from_config(data["voice"])
    problem = voice_problem(voice)
    if problem:
        raise ConfigError(str(path), problem, line_of(root, ["voice", "voice"]), "voice.voice")
    situation = data["situation"]
    answers = []
    for i, a in enumerate(situation.get("answers", [])):
        try:
            asked = Detector(id=f"asked:{i}", phrases=a["asked"], negatable=False)
        except PhraseRegexError as exc:  # a bad or too slow `re:` phrase: name its line
            k = a["asked"].index(exc.phrase) if exc.phrase in a["asked"] else 0
            where = ["situation", "answers", i, "asked", k]
            raise ConfigError(
                str(path), str(exc), line_of(root, where), f"situation.answers[{i}].asked[{k}]"
            ) from None
        answers.append(Answer(asked, list(a["say"])))
    inter = data.get("interrupts")
    return Persona(
        id=data["id"],
        name=data["name"],
        version=str(data["version"]),
        voice=voice,
        summary=situation["summary"],
        facts=dict(situation.get("facts", {})),
        complaint_terms=list(situation.get("complaint_terms", [])),
        opening=list(data["opening"]),
        mood=MoodModel(start=m["start"], **{k: m[k] for k in m if k != "start"}),
        reactions={
            k: Reaction(r.get("mood", 0.0), list(r.get("say", [])))
            for k, r in data["reactions"].items()
        },
        accept=list(res["accept"]),
        agreed=list(res["agreed"]),
        endings={k: list(v) for k, v in data["endings"].items()},
        requires=list(res.get("requires", [])),
        refuse={
            k: Reaction(r.get("mood", 0.0), list(r.get("say", [])))
            for k, r in res.get("refuse", {}).items()
        },
        answers=answers,
        prosody=Prosody(**data.get("prosody", {})),
        talked_over=TalkedOver(**data.get("talked_over", {})),
        interrupts=Interjection(**inter) if inter else None,
        difficulty=data.get("difficulty", 2),
        lesson=data.get("lesson", ""),
        time_limit_s=float(data.get("time_limit_s", 300)),
        timing=Timing(**data.get("timing", {})),
        model_lines={k: list(v) for k, v in data.get("model_lines", {}).items()},
        path=path,
    )


def persona_dirs() -> list[Path]:
    extra = os.environ.get("VOICESIM_PERSONAS")
    return ([Path(p) for p in extra.split(os.pathsep) if p] if extra else []) + [PERSONA_DIR]


def persona_files() -> list[Path]:
    """Every persona file in the persona folders (first folder wins for a repeated id)."""
    seen: dict[str, Path] = {}
    for d in persona_dirs():
        if d.is_dir():
            for p in sorted(d.glob("*.y*ml")):
                seen.setdefault(p.stem, p)
    return [seen[k] for k in sorted(seen)]


def find_persona(name: str) -> Path:
    """Resolve a persona id (from the persona folders) or a path to a persona file."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml") or os.sep in name:
        if not p.exists():
            raise VoicesimError(f"persona file {name} does not exist")
        return p
    for d in persona_dirs():
        for ext in (".yaml", ".yml"):
            if (d / f"{name}{ext}").exists():
                return d / f"{name}{ext}"
    known = [x.stem for x in persona_files()]
    raise VoicesimError(f"unknown persona {name!r}; available: {', '.join(known) or 'none'}")
