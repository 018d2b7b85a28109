"""Editing a persona in the browser: a form over the persona schema itself, beside YAML upload.

The form is walked out of ``persona.SCHEMA`` and the persona's YAML, so it has every field the
schema has (name, opening lines, the mood model and patience, voice settings, prosody, timing,
each reaction's mood and lines, endings, model lines ...) and no list of its own to keep in
step. Each field is named by the loader's field path (``mood.start``, ``voice.rate``,
``reactions.empathy.say``), so the persona's one validator (``parse_persona``) names the field
a mistake is in and the page shows it there; the form converts nothing it could get wrong (a
number that does not read as one goes to the validator as text, which says so). An edit is
stored under a new id, as an upload is: a drill's calls all run with the same text.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..errors import ConfigError
from ..persona.persona import SCHEMA, Persona, parse_persona
from .editor import number_text

KEPT = ("format",)  # top-level fields the form shows no input for: kept as they are
MAX_LINES = 200  # per list field
Key = str | int


@dataclass(frozen=True)
class Field:
    name: str  # the loader's field path: what an error names
    keys: tuple[Key, ...]  # where it sits in the YAML
    kind: str  # number, text, lines, choice
    choices: tuple[str, ...] = ()
    required: bool = False

    @property
    def label(self) -> str:
        return self.name.split(".", 1)[1] if "." in self.name else self.name


@dataclass
class PersonaForm:
    """What the edit page shows: fields grouped by the persona's top-level keys, their values,
    and the mistakes by field name ("" for one no field holds)."""

    groups: list[tuple[str, list[Field]]]
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def fields(self) -> dict[str, Field]:
        return {f.name: f for _, fs in self.groups for f in fs}


def _name(keys: tuple[Key, ...]) -> str:
    out = ""
    for k in keys:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else str(k))
    return out


def _kind(schema: Mapping[str, Any]) -> tuple[str, tuple[str, ...]] | None:
    """How a schema node is typed into a form field; None for a mapping or list walked into."""
    types = schema.get("type")
    types = set(types) if isinstance(types, list) else {types}
    if "enum" in schema:
        return "choice", tuple(str(v) for v in schema["enum"])
    if types == {"boolean"}:
        return "choice", ("true", "false")
    if types <= {"number", "integer"} and types != {None}:
        return "number", ()
    if types & {"string", "number", "integer"}:
        return "text", ()
    if types == {"array"} and schema.get("items", {}).get("type") == "string":
        return "lines", ()
    return None


def _walk(
    schema: Mapping[str, Any], data: object, keys: tuple[Key, ...], required: bool
) -> Iterator[Field]:
    kind = _kind(schema)
    if kind is not None:
        yield Field(_name(keys), keys, kind[0], kind[1], required)
    elif schema.get("type") == "object":
        data = data if isinstance(data, dict) else {}
        props, extra = schema.get("properties", {}), schema.get("additionalProperties")
        needed = set(schema.get("required", []))
        for key, sub in props.items():
            if not keys and key in KEPT:
                continue
            yield from _walk(sub, data.get(key), (*keys, key), key in needed)
        if isinstance(extra, dict):  # moves, facts, voice blends: the keys this persona has
            for key in data:
                if key not in props and isinstance(key, str):
                    yield from _walk(extra, data[key], (*keys, key), True)
    elif schema.get("type") == "array" and isinstance(data, list):
        for i, item in enumerate(data):  # answers: the ones this persona has
            yield from _walk(schema.get("items", {}), item, (*keys, i), True)


def _get(data: object, keys: tuple[Key, ...]) -> object:
    for k in keys:
        if isinstance(data, dict) and isinstance(k, str):
            data = data.get(k)
        elif isinstance(data, list) and isinstance(k, int) and k < len(data):
            data = data[k]
        else:
            return None
    return data


def _shown(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return number_text(value) if isinstance(value, int | float) else str(value)


def form_of(text: str) -> PersonaForm:
    """The form's fields for a persona's YAML text (a valid one: bundled or in the lab)."""
    data = yaml.safe_load(text)
    groups: dict[str, list[Field]] = {}
    for f in _walk(SCHEMA, data, (), True):
        groups.setdefault(str(f.keys[0]), []).append(f)
    values = {f.name: _shown(_get(data, f.keys)) for fs in groups.values() for f in fs}
    values["id"] = ""  # a copy is saved under an id of its own
    return PersonaForm(list(groups.items()), values)


def _value(f: Field, raw: str, was: object) -> tuple[bool, object]:
    """(present, value) of a typed field; text the schema will refuse stays text. A field
    that may be text or a number (a fact, the version) keeps the type it had."""
    raw = raw.strip()
    if f.kind == "text" and isinstance(was, int | float) and not isinstance(was, bool):
        f = Field(f.name, f.keys, "number")
    if f.kind == "lines":
        lines = [line.strip() for line in raw.splitlines() if line.strip()]
        return bool(lines), lines
    if not raw:
        return False, None
    if f.kind == "number":
        try:
            number = float(raw)
        except ValueError:
            return True, raw
        if not math.isfinite(number):
            return True, raw
        return True, int(number) if number.is_integer() and "." not in raw else number
    if f.kind == "choice" and f.choices == ("true", "false"):
        return True, {"true": True, "false": False}.get(raw, raw)
    return True, raw


def _put(data: dict, keys: tuple[Key, ...], present: bool, value: object) -> None:
    node: Any = data
    for k in keys[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(k, {})
        else:
            node = node[k]
    if present:
        node[keys[-1]] = value
    elif isinstance(node, dict):
        node.pop(keys[-1], None)


def _prune(data: object, original: object) -> None:
    """Drop the optional mappings the form created and left empty (an unset ``interrupts``)."""
    if isinstance(data, dict):
        for k in list(data):
            was = original.get(k) if isinstance(original, dict) else None
            _prune(data[k], was)
            if data[k] == {} and was is None:
                del data[k]


def edited(
    text: str, fields: Mapping[str, str], filename: str, known_moves: set[str]
) -> tuple[str, Persona | None, PersonaForm]:
    """The source persona with the form's values applied: its new YAML text, the persona
    (None when a field is wrong) and the form to show again, each mistake on its field."""
    source = yaml.safe_load(text)
    data = copy.deepcopy(source)
    form = form_of(text)
    known = form.fields
    errors: dict[str, str] = {}
    for name, raw in fields.items():
        f = known.get(name)
        if f is None:
            continue  # csrf, the action, the source, the preview's choices
        form.values[name] = raw
        present, value = _value(f, raw, _get(source, f.keys))
        if f.kind == "lines" and isinstance(value, list) and len(value) > MAX_LINES:
            errors[name] = f"at most {MAX_LINES} lines"
            continue
        _put(data, f.keys, present, value)
    if not form.values["id"].strip():
        errors["id"] = "give the new persona an id of its own"
    _prune(data, source)
    new_text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    persona = None
    if not errors:
        try:
            persona = parse_persona(new_text, filename, known_moves)
        except ConfigError as exc:
            errors[field_of(exc.field or "", form.values)] = exc.message
    form.errors = errors
    return new_text, persona, form


def field_of(where: str, names: Mapping[str, str]) -> str:
    """The form field an error's field path falls in (``opening[1]`` is in ``opening``,
    ``reactions.empathy`` in none: "")."""
    while where:
        if where in names:
            return where
        trimmed = re.sub(r"(\[\d+\]|\.[^.\[\]]*)$", "", where)
        if trimmed == where:
            break
        where = trimmed
    return ""
