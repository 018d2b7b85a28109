"""Rubric files: criteria grouped in families, thresholds, and the detector phrase library."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import line_of, load_yaml
from ..errors import ConfigError
from .detectors import Detector, DetectorLibrary

DEFAULT_RUBRIC = Path(__file__).with_name("default.yaml")
TIMELINE_EVENTS = ("trainee_overtalk", "dead_air")

_DETECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "description": {"type": "string"},
        "kind": {"enum": ["phrases", "reflect"]},
        "phrases": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "negatable": {"type": "boolean"},
        "min_terms": {"type": "integer", "minimum": 1},
    },
}
_CRITERION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "kind", "points"],
    "properties": {
        "id": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
        "description": {"type": "string"},
        "kind": {"enum": ["reward", "penalty"]},
        "detectors": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "event": {"enum": list(TIMELINE_EVENTS)},
        "unless": {"type": "array", "items": {"type": "string"}},
        "target": {"type": "integer", "minimum": 1},
        "per_hit": {"type": "number", "exclusiveMinimum": 0},
        "points": {"type": "number", "exclusiveMinimum": 0},
    },
    "oneOf": [{"required": ["detectors"]}, {"required": ["event"]}],
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["format", "id", "version", "pass_mark", "detectors", "families"],
    "properties": {
        "format": {"const": 1},
        "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$"},
        "name": {"type": "string"},
        "version": {"type": ["integer", "string"]},
        "pass_mark": {"type": "number", "minimum": 0, "maximum": 100},
        "thresholds": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "overtalk_min_s": {"type": "number", "exclusiveMinimum": 0},
                "dead_air_s": {"type": "number", "exclusiveMinimum": 0},
                "response_gap_s": {"type": "number", "exclusiveMinimum": 0},
                "backchannel_max_words": {"type": "integer", "minimum": 1},
            },
        },
        "detectors": {"type": "object", "additionalProperties": _DETECTOR, "minProperties": 1},
        "families": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["weight", "criteria"],
                "properties": {
                    "name": {"type": "string"},
                    "weight": {"type": "number", "minimum": 0},
                    "criteria": {"type": "array", "items": _CRITERION, "minItems": 1},
                },
            },
        },
    },
}


@dataclass
class Thresholds:
    overtalk_min_s: float = 0.5
    dead_air_s: float = 3.0
    response_gap_s: float = 1.0
    backchannel_max_words: int = 3


@dataclass
class Criterion:
    id: str
    kind: str  # reward: earn points per hit up to `points`; penalty: lose `per_hit` per hit
    points: float
    description: str = ""
    detectors: list[str] = field(default_factory=list)
    event: str | None = None
    unless: list[str] = field(default_factory=list)
    target: int = 1
    per_hit: float = 0.0


@dataclass
class Family:
    id: str
    name: str
    weight: float
    criteria: list[Criterion]


@dataclass
class Rubric:
    id: str
    version: str
    name: str
    pass_mark: float
    thresholds: Thresholds
    library: DetectorLibrary
    families: list[Family]
    path: str


def load_rubric(path: str | Path | None = None) -> Rubric:
    """Load and validate a rubric file (the default rubric when ``path`` is None)."""
    path = Path(path) if path else DEFAULT_RUBRIC
    data, root = load_yaml(path, SCHEMA)
    detectors = {
        name: Detector(
            id=name,
            description=d.get("description", ""),
            phrases=list(d.get("phrases", [])),
            kind=d.get("kind", "phrases"),
            negatable=d.get("negatable", True),
            min_terms=d.get("min_terms", 2),
        )
        for name, d in data["detectors"].items()
    }
    for name, d in data["detectors"].items():
        if d.get("kind", "phrases") == "phrases" and not d.get("phrases"):
            raise ConfigError(
                str(path),
                "a phrase detector needs a non-empty phrases list",
                line_of(root, ["detectors", name]),
                f"detectors.{name}.phrases",
            )
    families = []
    seen: set[str] = set()
    for fam_id, fam in data["families"].items():
        criteria = []
        for i, c in enumerate(fam["criteria"]):
            where = ["families", fam_id, "criteria", i]
            for key in ("detectors", "unless"):
                for j, name in enumerate(c.get(key, [])):
                    if name not in detectors:
                        raise ConfigError(
                            str(path),
                            f"unknown detector {name!r} (defined: {', '.join(sorted(detectors))})",
                            line_of(root, [*where, key, j]),
                            f"families.{fam_id}.criteria[{i}].{key}[{j}]",
                        )
            if c["id"] in seen:
                raise ConfigError(
                    str(path),
                    f"criterion id {c['id']!r} is used twice",
                    line_of(root, [*where, "id"]),
                    f"families.{fam_id}.criteria[{i}].id",
                )
            seen.add(c["id"])
            if c["kind"] == "penalty" and "per_hit" not in c:
                raise ConfigError(
                    str(path),
                    "a penalty criterion needs per_hit",
                    line_of(root, where),
                    f"families.{fam_id}.criteria[{i}].per_hit",
                )
            criteria.append(
                Criterion(
                    id=c["id"],
                    kind=c["kind"],
                    points=float(c["points"]),
                    description=c.get("description", ""),
                    detectors=list(c.get("detectors", [])),
                    event=c.get("event"),
                    unless=list(c.get("unless", [])),
                    target=int(c.get("target", 1)),
                    per_hit=float(c.get("per_hit", 0)),
                )
            )
        families.append(Family(fam_id, fam.get("name", fam_id), float(fam["weight"]), criteria))
    return Rubric(
        id=data["id"],
        version=str(data["version"]),
        name=data.get("name", data["id"]),
        pass_mark=float(data["pass_mark"]),
        thresholds=Thresholds(**data.get("thresholds", {})),
        library=DetectorLibrary(detectors),
        families=families,
        path=str(path),
    )
