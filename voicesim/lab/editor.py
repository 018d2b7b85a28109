"""Editing a rubric in the browser: a form over the rubric's own schema, beside YAML upload.

The form's fields are named by the rubric's field paths (``pass_mark``,
``families.tone.weight``, ``families.tone.criteria[0].points``, ``detectors.gratitude.phrases``),
so the rubric's one validator (``parse_rubric``) names the field a mistake is in, and the page
shows it there. An edit starts from a rubric of the lab (the built-in one or a trainer's) and is
stored under a new name, as an upload is: a drill's sessions are all scored by the same text.
The preview runs the persona's good and bad scripted trainees through simulated calls scored
with the edited rubric, so a trainer sees whether it still tells them apart.
"""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import ConfigError
from ..persona.persona import Persona
from ..rubric.rubric import Rubric, parse_rubric

NUMBER_KEYS = ("points", "target", "per_hit")
_CRITERION = re.compile(r"^families\.([\w-]+)\.criteria\[(\d+)\]\.(points|target|per_hit)$")
_FAMILY = re.compile(r"^families\.([\w-]+)\.weight$")
_PHRASES = re.compile(r"^detectors\.([\w-]+)\.phrases$")
MAX_PHRASES = 400  # per detector, as a form field


@dataclass
class RubricForm:
    """What the edit page shows: the fields' values and the mistakes, by field name."""

    values: dict[str, str]
    families: list[dict]
    detectors: list[dict]
    errors: dict[str, str] = field(default_factory=dict)


def form_of(text: str) -> RubricForm:
    """The form's fields for a rubric's YAML text (already valid: a lab rubric)."""
    data = yaml.safe_load(text)
    values = {
        "id": "",
        "name": str(data.get("name", "")),
        "pass_mark": number_text(data["pass_mark"]),
    }
    families = []
    for fam_id, fam in data["families"].items():
        values[f"families.{fam_id}.weight"] = number_text(fam.get("weight", 1))
        rows = []
        for i, c in enumerate(fam["criteria"]):
            keys = {}
            for key in NUMBER_KEYS:
                if key in c:
                    keys[key] = f"families.{fam_id}.criteria[{i}].{key}"
                    values[keys[key]] = number_text(c[key])
            rows.append({"id": c["id"], "label": c.get("label", c["id"]), "fields": keys})
        families.append({"id": fam_id, "name": fam.get("name", fam_id), "criteria": rows})
    detectors = []
    for det_id, det in data["detectors"].items():
        name = f"detectors.{det_id}.phrases"
        values[name] = "\n".join(str(p) for p in det.get("phrases", []))
        detectors.append({"id": det_id, "description": det.get("description", ""), "field": name})
    return RubricForm(values, families, detectors)


def number_text(v: object) -> str:
    """A number as a form shows it (70, not 70.0)."""
    return f"{v:g}" if isinstance(v, float) else str(v)


def edited(
    text: str, fields: Mapping[str, str], filename: str
) -> tuple[str, Rubric | None, RubricForm]:
    """The source rubric with the form's values applied: its new YAML text, the rubric (None
    when a field is wrong) and the form to show again, with each mistake on its field."""
    data = yaml.safe_load(text)
    form = form_of(text)
    errors: dict[str, str] = {}
    for key, raw in fields.items():
        if key not in form.values:
            continue  # csrf, the action, the lab name, the preview's persona
        form.values[key] = raw
        value = raw.strip()
        if key == "id":
            if value:
                data["id"] = value
            else:
                errors[key] = "give the new rubric an id of its own"
        elif key == "name":
            data["name"] = value or data.get("name", "")
        elif key == "pass_mark":
            number = _number(value, 0, 100)
            if number is None:
                errors[key] = "a number from 0 to 100"
            else:
                data["pass_mark"] = number
        elif m := _FAMILY.match(key):
            number = _number(value, 0, 100)
            if number is None or number <= 0:
                errors[key] = "a number above 0"
            else:
                data["families"][m.group(1)]["weight"] = number
        elif m := _CRITERION.match(key):
            number = _number(value, 0, 1000)
            if number is None:
                errors[key] = "a number from 0 to 1000"
            else:
                data["families"][m.group(1)]["criteria"][int(m.group(2))][m.group(3)] = number
        elif m := _PHRASES.match(key):
            phrases = [p.strip() for p in value.splitlines() if p.strip()]
            if len(phrases) > MAX_PHRASES:
                errors[key] = f"at most {MAX_PHRASES} phrases"
            elif phrases:
                data["detectors"][m.group(1)]["phrases"] = phrases
            else:
                data["detectors"][m.group(1)].pop("phrases", None)
    new_text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    rubric = None
    if not errors:
        try:
            rubric = parse_rubric(new_text, filename)
        except ConfigError as exc:
            where = re.sub(r"\[\d+\]$", "", exc.field or "")  # a phrase: its detector's list
            errors[where if where in form.values else ""] = exc.message
    form.errors = errors
    return new_text, rubric, form


def _number(value: str, low: float, high: float) -> float | int | None:
    try:
        number = float(value)
    except ValueError:
        return None
    if not math.isfinite(number) or not low <= number <= high:
        return None
    return int(number) if number.is_integer() else number


@dataclass(frozen=True)
class PreviewCall:
    kind: str  # good or bad
    script: str
    overall: float
    passed: bool
    families: dict[str, float]
    end_state: str
    customer: tuple[str, ...] = ()  # what the customer said, in order


def preview(rubric: Rubric, persona_id: str) -> list[PreviewCall]:
    """The bundled persona's good and bad scripted trainees in simulated calls scored with
    ``rubric`` (the customer reacts through its detectors too, as in a drill)."""
    from ..persona.persona import find_persona, load_persona

    persona = load_persona(find_persona(persona_id), set(rubric.library.detectors))
    return simulated_calls(persona, rubric, persona_id)


def simulated_calls(persona: Persona, rubric: Rubric, scripts_of: str) -> list[PreviewCall]:
    """Simulated calls of ``persona`` with the good and bad scripted trainees written for the
    bundled persona ``scripts_of``, scored with ``rubric``: the rubric editor's preview, and the
    persona editor's (an edited copy meets its original's trainees)."""
    from ..events import CUSTOMER_LINE_START
    from ..session.script import find_script, load_script, persona_script_name
    from ..session.simulate import simulate

    out = []
    with tempfile.TemporaryDirectory(prefix="voicesim-preview-") as tmp:
        for kind in ("good", "bad"):
            script = load_script(find_script(persona_script_name(scripts_of, kind)))
            result = simulate(persona, script, rubric, Path(tmp) / kind)
            card = result.scorecard.to_dict()
            said = [str(e.get("text", "")) for e in result.events if e.type == CUSTOMER_LINE_START]
            out.append(
                PreviewCall(
                    kind,
                    script.name,
                    float(card["overall"]),
                    bool(card.get("passed")),
                    {f["name"]: float(f["score"]) for f in card["families"]},
                    str((card.get("outcome") or {}).get("end_state") or ""),
                    tuple(said),
                )
            )
    return out
