"""What a lab offers its drills: the personas (the bundled ones plus those trainers add) and the
rubrics (the built-in one plus those trainers add), and the server-side scoring of an uploaded
session with its drill's rubric and persona.

A drill names a persona id and a rubric name, never a path. The station fetches the persona's
and the rubric's text for its drill and runs the call with them; the server scores the upload
again, with the same texts, rather than trusting the scorecard the station sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import HTTPException
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import ConfigError
from ..persona.persona import Persona, load_persona, parse_persona, persona_files
from ..rubric.rubric import DEFAULT_RUBRIC, Rubric, load_rubric, parse_rubric
from .passmark import drill_rubric
from .store import Drill, LabPersona, LabRubric, User

if TYPE_CHECKING:
    from ..speech.transcriber import Transcriber
    from .hearing import Heard

DEFAULT_RUBRIC_NAME = "default"


# -- personas ---------------------------------------------------------------------------------------
def personas() -> list[Persona]:
    """The bundled personas (the persona folders of the server's voicesim): those with
    scripted trainees, which previews use."""
    out = [_load(str(p), p.stat().st_mtime_ns) for p in persona_files()]
    return [p for p in out if p is not None]


def persona_by_id(persona_id: str) -> Persona | None:
    """A bundled persona by its id, looked up among the persona files only (an id is never a
    path)."""
    path = _bundled_path(persona_id)
    return _load(str(path), path.stat().st_mtime_ns) if path is not None else None


def _bundled_path(persona_id: str) -> Path | None:
    return next((p for p in persona_files() if p.stem == persona_id), None)


@lru_cache(maxsize=256)
def _load(path: str, _mtime_ns: int) -> Persona | None:
    """Parsed once per file version (every dashboard page and upload asks)."""
    try:
        return load_persona(path)
    except ConfigError:
        return None  # `voicesim personas validate` reports it; a broken file is not offered


def _row(db: Session, persona_id: str) -> LabPersona | None:
    return db.scalar(select(LabPersona).where(LabPersona.persona_id == persona_id[:64]))


def persona_text(db: Session, persona_id: str) -> str:
    """The YAML a drill's calls run with: a trainer's persona from the database, else the
    bundled file. 404 for neither."""
    row = _row(db, persona_id)
    if row is not None:
        return row.text
    path = _bundled_path(persona_id)
    if path is None or persona_by_id(persona_id) is None:
        raise HTTPException(404, f"no persona {persona_id!r} in this lab")
    return path.read_text(encoding="utf-8")


def lab_persona(db: Session, persona_id: str) -> Persona | None:
    """The persona a drill or session names (a trainer's first: its stored text is what the
    drill's calls ran with), parsed once per distinct text; None when the lab has none."""
    row = _row(db, persona_id)
    if row is None:
        return persona_by_id(persona_id)
    return _parsed_persona(row.text, persona_id)


@lru_cache(maxsize=64)
def _parsed_persona(text: str, persona_id: str) -> Persona | None:
    try:
        return parse_persona(text, f"{persona_id}.yaml")
    except ConfigError:  # validated when added; only a newer voicesim could refuse it
        return None


def persona_problem(db: Session, persona_id: str, rubric: Rubric) -> str | None:
    """Why the persona cannot run with ``rubric`` (a move it reacts to that the rubric does
    not detect), as the station would find when the call starts; None when it can."""
    try:
        parse_persona(
            persona_text(db, persona_id), f"{persona_id}.yaml", set(rubric.library.detectors)
        )
    except ConfigError as exc:
        return str(exc)
    return None


def persona_list(db: Session) -> list[dict]:
    """The bundled personas, then the trainers' (every trainer sees and may assign them all,
    as rubrics; nobody changes one once added)."""
    out = [_persona_summary(p, "built in", "", p.id) for p in personas()]
    q = select(LabPersona, User.username).join(User, User.id == LabPersona.created_by)
    for row, by in db.execute(q.order_by(LabPersona.persona_id)):
        persona = _parsed_persona(row.text, row.persona_id)
        if persona is not None:
            out.append(_persona_summary(persona, row.sha256[:12], by, row.based_on))
    return out


def _persona_summary(p: Persona, source: str, by: str, based_on: str | None) -> dict:
    return {
        "id": p.id,
        "name": p.name,
        "version": p.version,
        "difficulty": p.difficulty,
        "lesson": p.lesson,
        "source": source,
        "by": by,
        "based_on": based_on,  # whose scripted trainees preview it
    }


def add_persona(
    db: Session, text: str, user: User, based_on: str | None = None, filename: str = ""
) -> dict:
    """Validate and store a trainer's persona under the id its YAML gives itself; a mistake
    answers 422 with file:line: field, an id the lab has (bundled or added) 409."""
    filename = filename or "persona.yaml"
    try:
        persona = parse_persona(text, filename, set(_default().library.detectors))
    except ConfigError as exc:
        raise HTTPException(422, str(exc)) from None
    if len(persona.id) > 64:
        raise HTTPException(422, f"{filename}: id: at most 64 characters")
    taken = HTTPException(
        409,
        f"{filename}: id: the lab has a persona {persona.id!r} (personas are kept unchanged: "
        "give this one an id of its own)",
    )
    if _bundled_path(persona.id) is not None or _row(db, persona.id) is not None:
        raise taken
    if based_on is not None and persona_by_id(based_on) is None:
        based_on = None  # only a bundled persona has scripted trainees for previews
    sha = hashlib.sha256(text.encode()).hexdigest()
    db.add(
        LabPersona(
            persona_id=persona.id, text=text, sha256=sha, based_on=based_on, created_by=user.id
        )
    )
    try:
        db.commit()
    except IntegrityError:  # added by someone else a moment ago
        db.rollback()
        raise taken from None
    return _persona_summary(persona, sha[:12], user.username, based_on)


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


@dataclass(frozen=True)
class DrillRef:
    """What scoring needs of a drill (``check_persona``), without the database row: it is
    handed to the scoring process (``scoring_process``)."""

    id: int
    persona: str

    @classmethod
    def of(cls, drill: Drill | None) -> DrillRef | None:
        return None if drill is None else cls(drill.id, drill.persona)


def check_persona(meta: dict, drill: Drill | DrillRef | None) -> str:
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
    path: Path,
    drill: Drill | DrillRef | None,
    rubric: Rubric,
    persona: Persona | None,
    transcriber: Callable[[], Transcriber],
) -> tuple[dict, Heard]:
    """Score the session stored at ``path`` with ``rubric`` and ``persona`` (the lab's text of
    the persona the session names, read before the long work so that no database transaction
    stays open) on the words the lab hears in its call audio (``hearing``; a session without
    call.wav is scored on its events' words, and a graded drill refuses it: nothing was heard).
    Returns the scorecard and what was heard.
    Raises ValueError for a session that does not fit: no events, another persona than the
    drill's. ``transcriber`` is called only when there is audio to hear."""
    from ..report.session import read_session
    from ..rubric.grade import score_call
    from .hearing import hear

    session = read_session(path)  # no scorecard: the uploaded one was not stored
    if not session.events:
        raise ValueError("no readable events")
    check_persona(session.meta, drill)
    trainee = session.audio()[1]
    heard = hear(session.events, trainee, transcriber() if trainee.size else None)
    card = score_call(heard.events, rubric, persona, trainee if trainee.size else None)
    return card.to_dict(), heard
