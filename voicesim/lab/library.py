"""What a lab offers its drills: the bundled personas and the rubrics (the built-in one plus those
trainers add), and the server-side scoring of an uploaded session with its drill's rubric.

A drill names a persona id and a rubric name, never a path. The station fetches the rubric's text
for its drill and runs the call with it; the server scores the upload again, with the same text,
rather than trusting the scorecard the station sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import HTTPException
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import ConfigError
from ..persona.persona import Persona, load_persona, persona_files
from ..rubric.rubric import DEFAULT_RUBRIC, Rubric, load_rubric, parse_rubric
from .passmark import drill_rubric
from .store import Drill, LabRubric, User

if TYPE_CHECKING:
    from ..speech.transcriber import Transcriber
    from .hearing import Heard

DEFAULT_RUBRIC_NAME = "default"


# -- personas ---------------------------------------------------------------------------------------
def personas() -> list[Persona]:
    """The personas this lab can assign (the persona folders of the server's voicesim)."""
    out = [_load(str(p), p.stat().st_mtime_ns) for p in persona_files()]
    return [p for p in out if p is not None]


def persona_by_id(persona_id: str) -> Persona | None:
    """A persona by its id, looked up among the persona files only (an id is never a path)."""
    path = next((p for p in persona_files() if p.stem == persona_id), None)
    return _load(str(path), path.stat().st_mtime_ns) if path is not None else None


@lru_cache(maxsize=256)
def _load(path: str, _mtime_ns: int) -> Persona | None:
    """Parsed once per file version (every dashboard page and upload asks)."""
    try:
        return load_persona(path)
    except ConfigError:
        return None  # `voicesim personas validate` reports it; a broken file is not offered


# -- rubrics ----------------------------------------------------------------------------------------
def rubric_text(db: Session, name: str) -> str:
    if name == DEFAULT_RUBRIC_NAME:
        return DEFAULT_RUBRIC.read_text(encoding="utf-8")
    row = db.scalar(select(LabRubric).where(LabRubric.name == name))
    if row is None:
        raise HTTPException(404, f"no rubric named {name!r} in this lab")
    return row.text


@lru_cache(maxsize=32)
def _parsed(text: str, name: str) -> Rubric:
    return parse_rubric(text, f"{name}.yaml")


def lab_rubric(db: Session, name: str) -> Rubric:
    """The rubric a drill names, parsed once per distinct text."""
    if name == DEFAULT_RUBRIC_NAME:
        return _default()
    return _parsed(rubric_text(db, name), name)


@lru_cache(maxsize=1)
def _default() -> Rubric:
    return load_rubric(None)


def rubric_list(db: Session) -> list[dict]:
    base = _default()
    out = [_summary(DEFAULT_RUBRIC_NAME, base, "built in")]
    for row in db.scalars(select(LabRubric).order_by(LabRubric.name)):
        try:
            out.append(_summary(row.name, lab_rubric(db, row.name), row.sha256[:12]))
        except ConfigError:  # validated when added; only a newer voicesim could refuse it
            continue
    return out


def _summary(name: str, rubric: Rubric, source: str) -> dict:
    return {
        "name": name,
        "id": rubric.id,
        "title": rubric.name,
        "version": rubric.version,
        "pass_mark": rubric.pass_mark,
        "families": [f.id for f in rubric.families],
        "criteria": sum(len(f.criteria) for f in rubric.families),
        "source": source,
    }


@lru_cache(maxsize=1)
def builtin_rubric_id() -> str:
    """The id the built-in rubric's YAML gives itself: no trainer's rubric may claim it."""
    return load_rubric(None).id


def add_rubric(db: Session, name: str, text: str, user: User) -> dict:
    """Validate and store a rubric under ``name``; a mistake answers 422 with file:line: field."""
    if name == DEFAULT_RUBRIC_NAME:
        raise HTTPException(409, "'default' is the built-in rubric; choose another name")
    taken = HTTPException(
        409, f"a rubric named {name!r} exists (rubrics are kept unchanged: add a new name)"
    )
    if db.scalar(select(LabRubric.id).where(LabRubric.name == name)) is not None:
        raise taken
    try:
        rubric = parse_rubric(text, f"{name}.yaml")
    except ConfigError as exc:
        raise HTTPException(422, str(exc)) from None
    if rubric.id == builtin_rubric_id():
        raise HTTPException(
            422,
            f"{name}.yaml: id: {rubric.id!r} is the built-in rubric's id (reports and "
            "scorecards name a rubric by it); give this rubric an id of its own",
        )
    sha = hashlib.sha256(text.encode()).hexdigest()
    db.add(LabRubric(name=name, text=text, sha256=sha, created_by=user.id))
    try:
        db.commit()
    except IntegrityError:  # added by someone else a moment ago
        db.rollback()
        raise taken from None
    return _summary(name, rubric, sha[:12])


# -- scoring an upload ------------------------------------------------------------------------------
def persona_of(meta: dict) -> str:
    """The persona id a session's meta.json names ("" for none)."""
    persona = meta.get("persona")
    return str((persona if isinstance(persona, dict) else {}).get("id") or "")[:120]


def check_persona(meta: dict, drill: Drill | None) -> str:
    """The session's persona id; ValueError for a call with another persona than the drill's
    (checked as it arrives, before the session is stored)."""
    persona_id = persona_of(meta)
    if drill is not None and persona_id != drill.persona:
        raise ValueError(
            f"this is a call with {persona_id or 'no persona'!r}; "
            f"drill #{drill.id} is with {drill.persona!r}"
        )
    return persona_id


def scoring_rubric(db: Session, drill: Drill | None) -> Rubric:
    """The rubric a session is scored with: its drill's, with the drill's pass mark (the
    built-in rubric without a drill), so the report shows the pass mark the lab records."""
    rubric = lab_rubric(db, drill.rubric if drill is not None else DEFAULT_RUBRIC_NAME)
    return drill_rubric(rubric, drill.pass_mark) if drill is not None else rubric


def score_upload(
    path: Path, drill: Drill | None, rubric: Rubric, transcriber: Callable[[], Transcriber]
) -> tuple[dict, Heard]:
    """Score the session stored at ``path`` with ``rubric`` on the words the lab hears in its
    call audio (``hearing``; a session without call.wav is scored on its events' words, and a
    graded drill refuses it: nothing was heard). Returns the scorecard and what was heard.
    Raises ValueError for a session that does not fit: no events, another persona than the
    drill's. ``transcriber`` is called only when there is audio to hear."""
    from ..report.session import read_session
    from ..rubric.grade import score_call
    from .hearing import hear

    session = read_session(path)  # no scorecard: the uploaded one was not stored
    if not session.events:
        raise ValueError("no readable events")
    persona_id = check_persona(session.meta, drill)
    trainee = session.audio()[1]
    heard = hear(session.events, trainee, transcriber() if trainee.size else None)
    card = score_call(
        heard.events, rubric, persona_by_id(persona_id), trainee if trainee.size else None
    )
    return card.to_dict(), heard
