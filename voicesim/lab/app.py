"""The lab server: a FastAPI app with a JSON API (bearer tokens) and server-rendered pages
(the same tokens, in an HttpOnly, SameSite=Strict cookie). Every endpoint names the role it
needs; trainees only ever see their own sessions; a trainer manages only the trainees of the
cohorts they own, and an existing user joins another trainer's cohort only with consent.

The app is put together here from routers by area (``routes/``: auth, cohorts and drills,
sessions and uploads, pages); who may call what is in their dependencies (``deps``), the rules
they share in ``service``, the request bodies in ``models``.
"""

import datetime as _dt

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from .deps import Limits, SignIn
from .routes import auth, cohorts, pages, sessions
from .security import LoginThrottle, SecurityHeaders
from .store import TOKEN_TTL, Store
from .uploads import MAX_UNPACKED, MAX_UPLOAD, SCORING_QUEUE, SCORING_WORKERS, ScoringPool

__all__ = ["LoginThrottle", "create_app"]


def create_app(
    store: Store,
    *,
    token_ttl: _dt.timedelta = TOKEN_TTL,
    max_upload: int = MAX_UPLOAD,
    max_unpacked: int = MAX_UNPACKED,
    throttle: LoginThrottle | None = None,
    scoring_workers: int = SCORING_WORKERS,
    scoring_queue: int = SCORING_QUEUE,
) -> FastAPI:
    app = FastAPI(title="voicesim lab", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = store
    app.state.limits = Limits(token_ttl, max_upload, max_unpacked)
    app.state.throttle = throttle or LoginThrottle()
    app.state.scoring = ScoringPool(scoring_workers, scoring_queue)
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(OverflowError, _id_out_of_range)
    app.add_exception_handler(SignIn, _to_login)
    for router in (auth.router, cohorts.router, sessions.router, pages.router):
        app.include_router(router)
    return app


async def _id_out_of_range(request: Request, exc: OverflowError) -> Response:
    # an id beyond the database's 64-bit integers names nothing here
    return JSONResponse({"detail": "not found (id out of range)"}, status_code=404)


def _to_login(request: Request, exc: SignIn) -> Response:
    """A page without a valid session cookie: to the sign-in page."""
    return RedirectResponse("/login", status_code=303)
