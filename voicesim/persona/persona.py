"""Persona files: who the customer is, how they sound, what upsets or calms them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import line_of, load_yaml
from ..errors import ConfigError, VoicesimError
from ..speech.tts import ENGINES, VoiceSettings

PERSONA_DIR = Path(__file__).resolve().parents[2] / "personas"
END_STATES = ("resolved", "hung_up", "escalated", "time_limit")
AUDIO_REACTIONS = ("interrupted", "silence", "default", "premature_solution")

_LINES = {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}
_REACTION = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"mood": {"type": "number", "minimum": -1, "maximum": 1}, "say": _LINES},
}
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
        "voice": {
            "type": "object",
            "additionalProperties": False,
            "required": ["engine"],
            "properties": {
                "engine": {"enum": list(ENGINES)},
                "voice": {"type": "string"},
                "rate": {"type": "number", "minimum": 80, "maximum": 400},
                "pitch": {"type": "number", "minimum": 0, "maximum": 100},
                "volume": {"type": "number", "minimum": 0, "maximum": 1},
            },
        },
        "situation": {
            "type": "object",
            "additionalProperties": False,
            "required": ["summary"],
            "properties": {
                "summary": {"type": "string"},
                "facts": {"type": "object", "additionalProperties": {"type": ["string", "number"]}},
                "complaint_terms": {"type": "array", "items": {"type": "string"}},
            },
        },
        "opening": _LINES,
        "mood": {
            "type": "object",
            "additionalProperties": False,
            "required": ["start"],
            "properties": {
                "start": {"type": "number", "minimum": 0, "maximum": 1},
                "baseline": {"type": "number", "minimum": 0, "maximum": 1},
                "max_step": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                "drift": {"type": "number", "minimum": 0, "maximum": 1},
                "resolve_below": {"type": "number", "minimum": 0, "maximum": 1},
                "hang_up_at": {"type": "number", "minimum": 0, "maximum": 1},
                "patience_s": {"type": "number", "exclusiveMinimum": 0},
                "max_silences": {"type": "integer", "minimum": 1},
            },
        },
        "time_limit_s": {"type": "number", "exclusiveMinimum": 0},
        "reactions": {"type": "object", "additionalProperties": _REACTION, "minProperties": 1},
        "resolutions": {
            "type": "object",
            "additionalProperties": False,
            "required": ["accept", "agreed"],
            "properties": {
                "accept": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "agreed": _LINES,
            },
        },
        "endings": {
            "type": "object",
            "additionalProperties": False,
            "required": ["resolved", "hung_up"],
            "properties": {k: _LINES for k in END_STATES},
        },
    },
}


@dataclass
class Reaction:
    mood: float = 0.0
    say: list[str] = field(default_factory=list)


@dataclass
class MoodModel:
    start: float
    baseline: float = 0.5
    max_step: float = 0.3
    drift: float = 0.05
    resolve_below: float = 0.45
    hang_up_at: float = 0.95
    patience_s: float = 8.0
    max_silences: int = 3


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
    difficulty: int = 2
    lesson: str = ""
    time_limit_s: float = 300.0
    path: str = ""


def load_persona(path: str | Path, known_moves: set[str] | None = None) -> Persona:
    """Load and validate one persona file; reaction keys must name detector moves."""
    path = Path(path)
    data, root = load_yaml(path, SCHEMA)
    if known_moves is not None:
        allowed = known_moves | set(AUDIO_REACTIONS)
        for move in data["reactions"]:
            if move not in allowed:
                raise ConfigError(
                    str(path),
                    f"unknown move {move!r} (known: {', '.join(sorted(allowed))})",
                    line_of(root, ["reactions", move], key_line=True),
                    f"reactions.{move}",
                )
        for i, move in enumerate(data["resolutions"]["accept"]):
            if move not in known_moves:
                raise ConfigError(
                    str(path),
                    f"unknown move {move!r}",
                    line_of(root, ["resolutions", "accept", i]),
                    f"resolutions.accept[{i}]",
                )
    v = data["voice"]
    voice = VoiceSettings(
        engine=v["engine"],
        voice=v.get("voice", "en-us" if v["engine"] == "espeak" else "heart"),
        rate=v.get("rate", 170),
        pitch=v.get("pitch", 50),
        volume=v.get("volume", 1.0),
    )
    m = data["mood"]
    return Persona(
        id=data["id"],
        name=data["name"],
        version=str(data["version"]),
        voice=voice,
        summary=data["situation"]["summary"],
        facts=dict(data["situation"].get("facts", {})),
        complaint_terms=list(data["situation"].get("complaint_terms", [])),
        opening=list(data["opening"]),
        mood=MoodModel(start=m["start"], **{k: m[k] for k in m if k != "start"}),
        reactions={
            k: Reaction(r.get("mood", 0.0), list(r.get("say", [])))
            for k, r in data["reactions"].items()
        },
        accept=list(data["resolutions"]["accept"]),
        agreed=list(data["resolutions"]["agreed"]),
        endings={k: list(v) for k, v in data["endings"].items()},
        difficulty=data.get("difficulty", 2),
        lesson=data.get("lesson", ""),
        time_limit_s=float(data.get("time_limit_s", 300)),
        path=str(path),
    )


def persona_dirs() -> list[Path]:
    extra = os.environ.get("VOICESIM_PERSONAS")
    return ([Path(p) for p in extra.split(os.pathsep) if p] if extra else []) + [PERSONA_DIR]


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
    known = sorted(x.stem for d in persona_dirs() if d.is_dir() for x in d.glob("*.y*ml"))
    raise VoicesimError(f"unknown persona {name!r}; available: {', '.join(known) or 'none'}")
