"""The lab's request bodies: the JSON the API takes, and the same rules for the pages' forms
(``pages.checked`` runs a form's fields through these models)."""

import datetime as _dt
from typing import Annotated

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from .library import DEFAULT_RUBRIC_NAME
from .store import password_problem

MAX_RUBRIC = 256 * 1024  # characters of rubric YAML
MAX_PERSONA = 64 * 1024  # characters of persona YAML (a bundled persona is about 8 KiB)


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class CommentIn(BaseModel):
    """A trainer's comment, at a moment of the call (seconds or "m:ss") or on the whole call."""

    text: str = Field(min_length=1, max_length=4000)
    t: float | Annotated[str, Field(max_length=16)] | None = None


class OverrideIn(BaseModel):
    """A trainer's correction of one criterion: the points it should have earned, and why."""

    criterion: str = Field(min_length=1, max_length=64)
    points: float
    reason: str = Field(min_length=1, max_length=4000)


class CohortIn(BaseModel):
    name: str = Field(min_length=1, max_length=120)


class TraineeIn(BaseModel):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=8, max_length=1024)

    @field_validator("password")
    @classmethod
    def _strong(cls, v: str, info: ValidationInfo) -> str:
        problem = password_problem(v, info.data.get("username") or "")
        if problem:
            raise ValueError(problem)
        return v


NAME = r"^[A-Za-z0-9_.-]+$"  # persona ids and rubric names: never a path


class PasswordIn(BaseModel):
    password: str = Field(min_length=8, max_length=1024)

    @field_validator("password")
    @classmethod
    def _strong(cls, v: str) -> str:
        problem = password_problem(v)
        if problem:
            raise ValueError(problem)
        return v


# A due date is a day a cohort can work to: 9999-12-31 was accepted, and the day after it
# (when a drill is overdue) overflowed, so its cohort's pages answered 404 for good.
FIRST_DUE, LAST_DUE = _dt.date(2000, 1, 1), _dt.date(2100, 12, 31)


def _sane_due(v: _dt.date | None) -> _dt.date | None:
    if v is not None and not FIRST_DUE <= v <= LAST_DUE:
        raise ValueError(f"the due date must be between {FIRST_DUE} and {LAST_DUE} (found {v})")
    return v


class DrillIn(BaseModel):
    persona: str = Field(min_length=1, max_length=120, pattern=NAME)
    rubric: str = Field(default=DEFAULT_RUBRIC_NAME, min_length=1, max_length=64, pattern=NAME)
    pass_mark: float = Field(default=70, ge=0, le=100)
    due: _dt.date | None = None
    attempts_allowed: int = Field(default=3, ge=1, le=1000)
    # Also take simulated and recorded sessions (practice); by default live calls only.
    allow_practice: bool = False
    # The station's live drill shows in-call guidance cues (``voicesim drill --guidance``).
    guidance: bool = False

    _due = field_validator("due")(_sane_due)


class DrillEditIn(BaseModel):
    """What a trainer may change of a drill (only the fields sent change; ``due`` null clears
    it). Its persona and rubric are what its sessions were scored with: to change those, retire
    it and assign a new one; the pass mark only while no session is stored for it."""

    model_config = {"extra": "forbid"}

    pass_mark: float | None = Field(default=None, ge=0, le=100)
    due: _dt.date | None = None
    attempts_allowed: int | None = Field(default=None, ge=1, le=1000)
    allow_practice: bool | None = None
    guidance: bool | None = None

    _due = field_validator("due")(_sane_due)


class RubricIn(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=NAME)
    text: str = Field(min_length=1, max_length=MAX_RUBRIC)


class PersonaIn(BaseModel):
    """A trainer's persona: its YAML (its ``id`` is the name drills use) and, for a copy, the
    bundled persona whose scripted trainees preview it."""

    text: str = Field(min_length=1, max_length=MAX_PERSONA)
    based_on: str | None = Field(default=None, max_length=64, pattern=NAME)
