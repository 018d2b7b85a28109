"""Rubric files: criteria grouped in families, thresholds, and the detector phrase library."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import line_of, load_yaml, parse_yaml
from ..errors import ConfigError
from .detectors import Detector, DetectorLibrary
from .moves import MOVES
from .regexcheck import PhraseRegexError

DEFAULT_RUBRIC = Path(__file__).with_name("default.yaml")
# The phrase lists of voicesim 0.1: the tone score's politeness markers, and the "phrases"
# baseline the move recogniser is measured against.
LEXICON_FILE = Path(__file__).with_name("models") / "lexicon.yaml"
TIMELINE_EVENTS = (
    "trainee_overtalk",
    "cutoff",
    "backchannel",
    "dead_air",
    "long_monologue",
    "raised_voice",
    "agitated_pitch",
    "flat_pitch",
    "filler_cluster",
    "pace",
    "unanswered_question",
)
OUTCOMES = ("resolved", "mood_improved")
_MOVES = {"type": "array", "items": {"type": "string"}, "minItems": 1}

_DETECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "description": {"type": "string"},
        "kind": {"enum": ["phrases", "reflect"]},
        "phrases": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "negatable": {"type": "boolean"},
        "min_terms": {"type": "integer", "minimum": 1},
        "model": {"type": "boolean"},
        "customer_phrases": {"type": "array", "items": {"type": "string", "minLength": 1}},
    },
}
_CRITERION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "kind", "points"],
    "properties": {
        "id": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
        "description": {"type": "string"},
        "label": {"type": "string", "minLength": 1},
        "examples": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "kind": {"enum": ["reward", "penalty"]},
        "detectors": _MOVES,
        "event": {"enum": list(TIMELINE_EVENTS)},
        "metric": {"enum": ["talk_ratio"]},
        "order": {
            "type": "object",
            "additionalProperties": False,
            "required": ["before", "first"],
            "properties": {"before": _MOVES, "first": _MOVES},
        },
        "outcome": {"enum": list(OUTCOMES)},
        "when": {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "properties": {
                "customer_said": _MOVES,
                "trainee_said": _MOVES,
                "end_state": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            },
        },
        "unless": {"type": "array", "items": {"type": "string"}},
        "target": {"type": "integer", "minimum": 1},
        "per_hit": {"type": "number", "exclusiveMinimum": 0},
        "points": {"type": "number", "exclusiveMinimum": 0},
    },
    "oneOf": [
        {"required": ["detectors"]},
        {"required": ["event"]},
        {"required": ["metric"]},
        {"required": ["order"]},
        {"required": ["outcome"]},
    ],
}
_RANGE = {"type": "array", "items": {"type": "number", "minimum": 0}, "minItems": 2, "maxItems": 2}
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
                "monologue_s": {"type": "number", "exclusiveMinimum": 0},
                "talk_ratio": _RANGE,
                "wpm_range": _RANGE,
                "raised_voice_lu": {"type": "number", "exclusiveMinimum": 0},
                "agitated_pitch_st": {"type": "number", "exclusiveMinimum": 0},
                "flat_pitch_st": {"type": "number", "exclusiveMinimum": 0},
                "filler_cluster": {"type": "integer", "minimum": 1},
                "min_trainee_words": {"type": "integer", "minimum": 0},
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
    overtalk_min_s: float = 0.5  # both talking at least this long is overtalk
    dead_air_s: float = 3.0  # silence after the customer stops
    response_gap_s: float = 1.0  # a trainee pause this long ends their turn
    backchannel_max_words: int = 3
    monologue_s: float = 45.0  # one trainee turn longer than this is a monologue
    talk_ratio: tuple[float, float] = (0.3, 0.6)  # trainee share of the talk, support-call norm
    wpm_range: tuple[float, float] = (110.0, 190.0)  # words per minute within a turn
    raised_voice_lu: float = 6.0  # louder than the trainee's own median by this many LU
    agitated_pitch_st: float = 4.0  # higher than the trainee's own median by this many semitones
    flat_pitch_st: float = 1.5  # a 2 s+ utterance varying less than this is monotone
    filler_cluster: int = 3  # this many fillers in one utterance
    # Fewer trainee words than this and the call is not scorable (never a pass): a greeting
    # and one short sentence, below which no criterion can tell help from its absence.
    min_trainee_words: int = 10


@dataclass
class Criterion:
    id: str
    kind: str  # reward: earn points per hit up to `points`; penalty: lose `per_hit` per hit
    points: float
    description: str = ""
    label: str = ""  # a readable name; the id when the rubric gives none
    examples: list[str] = field(default_factory=list)  # better wording, for the coaching
    detectors: list[str] = field(default_factory=list)
    event: str | None = None
    metric: str | None = None
    before: list[str] = field(default_factory=list)  # order: these moves ...
    first: list[str] = field(default_factory=list)  # ... before the first of these
    outcome: str | None = None
    when: dict[str, list[str]] = field(default_factory=dict)  # applies only in calls where ...
    unless: list[str] = field(default_factory=list)
    target: int = 1
    per_hit: float = 0.0

    @property
    def order(self) -> bool:
        return bool(self.first)


@dataclass
class Family:
    id: str
    name: str
    weight: float
    criteria: list[Criterion]


@dataclass
class Rubric:
    """A loaded rubric: criteria in families, thresholds, and the detector library."""

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
    return _build(data, root, path)


_LEXICON: DetectorLibrary | None = None


def lexicon() -> DetectorLibrary:
    """The phrase lexicon as an exact-phrase library (never the model)."""
    global _LEXICON
    if _LEXICON is None:
        lib = load_rubric(LEXICON_FILE).library
        lib.use_model = False
        _LEXICON = lib
    return _LEXICON


def parse_rubric(text: str, name: str) -> Rubric:
    """Validate a rubric held as text (the lab keeps rubrics in its database); errors and
    ``Rubric.path`` name it ``name``."""
    data, root = parse_yaml(text, SCHEMA, name)
    return _build(data, root, name)


def _detector(name: str, d: dict, root, path: str | Path) -> Detector:  # noqa: ANN001
    try:
        return Detector(
            id=name,
            description=d.get("description", ""),
            phrases=list(d.get("phrases", [])),
            kind=d.get("kind", "phrases"),
            negatable=d.get("negatable", True),
            min_terms=d.get("min_terms", 2),
            model=d.get("model", True),
            customer_phrases=list(d.get("customer_phrases", [])),
        )
    except PhraseRegexError as exc:  # a bad or too slow `re:` phrase, vetted by regexcheck
        field = "phrases" if exc.phrase in d.get("phrases", []) else "customer_phrases"
        listed = d.get(field, [])
        i = listed.index(exc.phrase) if exc.phrase in listed else 0
        where = ["detectors", name, field, i]
        raise ConfigError(
            str(path), str(exc), line_of(root, where), f"detectors.{name}.{field}[{i}]"
        ) from None


def _build(data: dict, root, path: str | Path) -> Rubric:  # noqa: ANN001
    detectors = {name: _detector(name, d, root, path) for name, d in data["detectors"].items()}
    for name, d in data["detectors"].items():
        read_by_model = name in MOVES and d.get("model", True)
        if d.get("kind", "phrases") == "phrases" and not d.get("phrases") and not read_by_model:
            raise ConfigError(
                str(path),
                "a detector needs a non-empty phrases list (only the recogniser's moves, "
                f"{', '.join(MOVES)}, can do without)",
                line_of(root, ["detectors", name]),
                f"detectors.{name}.phrases",
            )
    families = []
    seen: set[str] = set()
    for fam_id, fam in data["families"].items():
        criteria = []
        for i, c in enumerate(fam["criteria"]):
            where = ["families", fam_id, "criteria", i]
            named = [(key, c.get(key, [])) for key in ("detectors", "unless")]
            named += [(f"order.{k}", c.get("order", {}).get(k, [])) for k in ("before", "first")]
            named += [
                (f"when.{k}", c.get("when", {}).get(k, []))
                for k in ("customer_said", "trainee_said")
            ]
            for key, names in named:
                for j, name in enumerate(names):
                    if name not in detectors:
                        raise ConfigError(
                            str(path),
                            f"unknown detector {name!r} (defined: {', '.join(sorted(detectors))})",
                            line_of(root, [*where, *key.split("."), j]),
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
                    label=c.get("label") or c["id"].replace("_", " ").capitalize(),
                    examples=list(c.get("examples", [])),
                    detectors=list(c.get("detectors", [])),
                    event=c.get("event"),
                    metric=c.get("metric"),
                    before=list(c.get("order", {}).get("before", [])),
                    first=list(c.get("order", {}).get("first", [])),
                    outcome=c.get("outcome"),
                    when={k: list(v) for k, v in c.get("when", {}).items()},
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
        thresholds=Thresholds(
            **{
                k: tuple(v) if isinstance(v, list) else v
                for k, v in data.get("thresholds", {}).items()
            }
        ),
        library=DetectorLibrary(detectors),
        families=families,
        path=str(path),
    )


def excuses(rubric: Rubric) -> dict[str, set[str]]:
    """Moves that are excused in context, from the rubric's `unless` lists: e.g. a refusal in
    the same turn as an alternative. The persona engine reacts the way the rubric scores."""
    out: dict[str, set[str]] = {}
    for fam in rubric.families:
        for c in fam.criteria:
            for d in c.detectors if c.unless else []:
                out.setdefault(d, set()).update(c.unless)
    return out
