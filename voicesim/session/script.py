"""Trainee scripts: the simulated trainee's replies and their timing relative to the customer.

Turn N answers the customer's Nth line. ``after: 0.4`` speaks 0.4 s after the customer stops;
``interrupt: 1.2`` starts 1.2 s into the customer's line (talking over them); a turn with no
``say`` stays silent. ``backchannels`` are short listening noises ("mm-hmm") during the line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import line_of, load_yaml
from ..errors import ConfigError, VoicesimError
from ..speech.tts import VOICE_SCHEMA, VoiceSettings, voice_problem

SCRIPT_DIR = Path(__file__).resolve().parents[2] / "personas" / "scripts"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["format", "name", "turns"],
    "properties": {
        "format": {"const": 1},
        "name": {"type": "string"},
        "description": {"type": "string"},
        "persona": {"type": "string"},
        "voice": VOICE_SCHEMA,
        "turns": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "say": {"type": "string", "minLength": 1},
                    "after": {"type": "number", "minimum": 0, "maximum": 120},
                    "interrupt": {"type": "number", "minimum": 0, "maximum": 120},
                    "backchannels": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["at", "say"],
                            "properties": {
                                "at": {"type": "number", "minimum": 0},
                                "say": {"type": "string", "minLength": 1},
                            },
                        },
                    },
                },
                "not": {"required": ["after", "interrupt"]},
            },
        },
    },
}

DEFAULT_AFTER_S = 0.5


@dataclass
class Backchannel:
    at: float
    say: str


@dataclass
class ScriptTurn:
    say: str | None
    after: float = DEFAULT_AFTER_S
    interrupt: float | None = None
    backchannels: list[Backchannel] = field(default_factory=list)


@dataclass
class TraineeScript:
    name: str
    voice: VoiceSettings
    turns: list[ScriptTurn]
    description: str = ""
    persona: str | None = None
    path: str = ""


def load_script(path: str | Path) -> TraineeScript:
    data, root = load_yaml(path, SCHEMA)
    voice = VoiceSettings.from_config(data.get("voice", {}), engine="hibari", volume=0.9)
    problem = voice_problem(voice)
    if problem:
        raise ConfigError(path, problem, line_of(root, ["voice", "voice"]), "voice.voice")
    turns = [
        ScriptTurn(
            say=t.get("say"),
            after=t.get("after", DEFAULT_AFTER_S),
            interrupt=t.get("interrupt"),
            backchannels=[Backchannel(b["at"], b["say"]) for b in t.get("backchannels", [])],
        )
        for t in data["turns"]
    ]
    return TraineeScript(
        data["name"], voice, turns, data.get("description", ""), data.get("persona"), str(path)
    )


# damaged-blender's good and bad scripts predate the <persona>-<kind> naming.
_OLDER_NAMES = {
    ("damaged-blender", "good"): "model-agent",
    ("damaged-blender", "bad"): "poor-agent",
}


def persona_script_name(persona_id: str, kind: str) -> str:
    """The shipped trainee script of a persona by its kind (good, natural, bad, polite-bad)."""
    return _OLDER_NAMES.get((persona_id, kind), f"{persona_id}-{kind}")


def find_script(name: str) -> Path:
    """Resolve a shipped script name (personas/scripts/NAME.yaml) or a path."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml") or os.sep in name:
        if not p.exists():
            raise VoicesimError(f"trainee script {name} does not exist")
        return p
    for ext in (".yaml", ".yml"):
        if (SCRIPT_DIR / f"{name}{ext}").exists():
            return SCRIPT_DIR / f"{name}{ext}"
    known = sorted(x.stem for x in SCRIPT_DIR.glob("*.y*ml"))
    raise VoicesimError(f"unknown trainee script {name!r}; available: {', '.join(known) or 'none'}")
