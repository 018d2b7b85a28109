"""The lab's FastAPI dependencies: the database session, who is asking (bearer token or the
pages' cookie) and in which role, and for the pages the form token every change must carry.

The app's settings and store live on ``app.state`` (``create_app`` puts them there), so the
routers are plain module-level ``APIRouter``s with no closure over one app.
"""

import datetime as _dt
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form, HTTPException, Request
from sqlalchemy.orm import Session

from .scoring_queue import ScoringQueue
from .security import LoginThrottle, csrf_token
from .store import TRAINEE, TRAINER, Store, User, user_for_token
from .uploads import UploadPool

COOKIE = "lab_token"  # the pages' session cookie: the same tokens as the API's


@dataclass(frozen=True)
class Limits:
    """Per app: how long a sign-in lasts and how large an upload may be."""

    token_ttl: _dt.timedelta
    max_upload: int
    max_unpacked: int


def get_store(request: Request) -> Store:
    return request.app.state.store


def get_limits(request: Request) -> Limits:
    return request.app.state.limits


def get_throttle(request: Request) -> LoginThrottle:
    return request.app.state.throttle


def get_scoring(request: Request) -> ScoringQueue:
    return request.app.state.scoring


def get_intake(request: Request) -> UploadPool:
    return request.app.state.intake


def db_session(store: Annotated[Store, Depends(get_store)]) -> Iterator[Session]:
    with store.Session() as db:
        yield db


DB = Annotated[Session, Depends(db_session)]
LabStore = Annotated[Store, Depends(get_store)]
LabLimits = Annotated[Limits, Depends(get_limits)]
Throttle = Annotated[LoginThrottle, Depends(get_throttle)]
Scoring = Annotated[ScoringQueue, Depends(get_scoring)]
Intake = Annotated[UploadPool, Depends(get_intake)]


def request_token(request: Request) -> str | None:
    """The bearer token of an API call, else the pages' cookie."""
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
    return token or request.cookies.get(COOKIE)


# -- the API: 401 without a valid token, 403 in the wrong role ----------------------------------
def current_user(request: Request, db: DB) -> User:
    token = request_token(request)
    user = user_for_token(db, token) if token else None
    if user is None:
        raise HTTPException(401, "sign in first (missing, unknown or expired token)")
    return user


def trainer(user: Annotated[User, Depends(current_user)]) -> User:
    if user.role != TRAINER:
        raise HTTPException(403, "trainers only")
    return user


def trainee(user: Annotated[User, Depends(current_user)]) -> User:
    if user.role != TRAINEE:
        raise HTTPException(403, "trainees only")
    return user


Anyone = Annotated[User, Depends(current_user)]
Trainer = Annotated[User, Depends(trainer)]
Trainee = Annotated[User, Depends(trainee)]


# -- the pages: to the sign-in page without a valid cookie ---------------------------------------
class SignIn(Exception):
    """A page asked for without a valid session cookie (the app redirects to /login)."""


def page_user(request: Request, db: DB) -> User:
    token = request.cookies.get(COOKIE)
    user = user_for_token(db, token) if token else None
    if user is None:
        raise SignIn()
    return user


def page_trainer(user: Annotated[User, Depends(page_user)]) -> User:
    if user.role != TRAINER:
        raise HTTPException(403, "trainers only")
    return user


def page_csrf(request: Request) -> str:
    return csrf_token(request.cookies.get(COOKIE, ""), request.app.state.store.secret)


def checked_form(request: Request, csrf: Annotated[str, Form()] = "") -> None:
    """Every form post that changes something must carry this browser's form token."""
    if not hmac.compare_digest(csrf, page_csrf(request)):
        raise HTTPException(403, "the form is stale or came from another site; reload the page")


PageUser = Annotated[User, Depends(page_user)]
PageTrainer = Annotated[User, Depends(page_trainer)]
Csrf = Annotated[str, Depends(page_csrf)]
Checked = Annotated[None, Depends(checked_form)]
