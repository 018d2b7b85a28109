"""The lab server: a FastAPI app with a JSON API (bearer tokens) and server-rendered pages
(the same tokens, in an HttpOnly, SameSite=Strict cookie). Every endpoint names the role it
needs; trainees only ever see their own sessions; a trainer manages only the trainees of the
cohorts they own, and an existing user joins another trainer's cohort only with consent.

The app is put together here from routers by area (``routes/``: auth, cohorts and drills,
sessions and uploads, pages); who may call what is in their dependencies (``deps``), the rules
they share in ``service``, the request bodies in ``models``.
"""

import datetime as _dt
import errno
import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import OperationalError

from .deps import Limits, SignIn
from .routes import auth, cohorts, pages, sessions
from .scoring_process import SCORING_WORKERS
from .scoring_process import warm as warm_scoring
from .scoring_queue import ScoringQueue
from .security import LoginThrottle, SecurityHeaders
from .store import TOKEN_TTL, Store
from .uploads import (
    INTAKE_WORKERS,
    MAX_UNPACKED,
    MAX_UPLOAD,
    SCORING_QUEUE,
    UNPACKING,
    UploadPool,
    warm_intake,
)

__all__ = ["LoginThrottle", "create_app"]


def create_app(
    store: Store,
    *,
    token_ttl: _dt.timedelta = TOKEN_TTL,
    max_upload: int = MAX_UPLOAD,
    max_unpacked: int = MAX_UNPACKED,
    throttle: LoginThrottle | None = None,
    scoring_workers: int = SCORING_WORKERS,
    intake_workers: int = INTAKE_WORKERS,
    scoring_queue: int = SCORING_QUEUE,
    unpacking_queue: int = UNPACKING,
) -> FastAPI:
    app = FastAPI(title="voicesim lab", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = store
    app.state.limits = Limits(token_ttl, max_upload, max_unpacked)
    app.state.throttle = throttle or LoginThrottle()
    app.state.intake = UploadPool(intake_workers, unpacking_queue)
    # Uploads are scored from a queue in the database: what a stopped lab left is picked up.
    app.state.scoring = ScoringQueue(store, scoring_workers, scoring_queue)
    app.state.scoring.recover()
    warm_intake()  # the children start now, not while the first stations wait
    warm_scoring()
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(OverflowError, _id_out_of_range)
    app.add_exception_handler(OSError, _disk_trouble)
    app.add_exception_handler(OperationalError, _database_trouble)
    app.add_exception_handler(SignIn, _to_login)
    for router in (auth.router, cohorts.router, sessions.router, pages.router):
        app.include_router(router)
    return app


async def _id_out_of_range(request: Request, exc: OverflowError) -> Response:
    # an id beyond the database's 64-bit integers names nothing here
    return JSONResponse({"detail": "not found (id out of range)"}, status_code=404)


log = logging.getLogger("voicesim.lab")
FULL = (errno.ENOSPC, errno.EDQUOT)
BUSY = {"Retry-After": "30"}


async def _disk_trouble(request: Request, exc: OSError) -> Response:
    """A full disk (or quota) is the lab's trouble, not the request's: 503, try again later."""
    if exc.errno in FULL:
        log.error("the lab's disk is full: %s", exc)
        return JSONResponse(
            {"detail": "the lab cannot store anything now (its disk is full); try again later"},
            status_code=503,
            headers=BUSY,
        )
    log.exception("a request failed on a file", exc_info=exc)
    return JSONResponse({"detail": "the lab could not read or write a file"}, status_code=500)


async def _database_trouble(request: Request, exc: OperationalError) -> Response:
    """The database out of reach, locked, or out of disk (SQLite: "database or disk is full";
    PostgreSQL: SQLSTATE 53100): 503 with Retry-After, never a 500 with a traceback."""
    log.error("the lab's database failed: %s", exc.orig)
    return JSONResponse(
        {"detail": "the lab's database cannot take this now (disk full or busy); try again later"},
        status_code=503,
        headers=BUSY,
    )


def _to_login(request: Request, exc: SignIn) -> Response:
    """A page without a valid session cookie: to the sign-in page."""
    return RedirectResponse("/login", status_code=303)
