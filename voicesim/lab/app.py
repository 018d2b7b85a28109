"""The lab server: a FastAPI app with a JSON API (bearer tokens) and server-rendered pages
(the same tokens, in an HttpOnly, SameSite=Strict cookie). Every endpoint names the role it
needs; trainees only ever see their own sessions; a trainer manages only the trainees of the
cohorts they own, and an existing user joins another trainer's cohort only with consent.
"""

import csv
import datetime as _dt
import io
import json
import math
import os
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field, ValidationInfo, field_validator
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.datastructures import MutableHeaders

from ..errors import SessionError, VoicesimError
from ..report.session import check_files
from .archive import ArchiveError, read_archive, session_digest
from .figures import session_details
from .library import (
    DEFAULT_RUBRIC_NAME,
    add_rubric,
    persona_by_id,
    personas,
    rubric_list,
    rubric_text,
    score_upload,
)
from .reviews import latest_overrides, review_of, reviewed_card
from .store import (
    TOKEN_TTL,
    TRAINEE,
    TRAINER,
    Cohort,
    Drill,
    Invitation,
    Membership,
    SessionScore,
    Store,
    Upload,
    User,
    WeakPassword,
    authenticate,
    change_password,
    create_user,
    issue_token,
    password_problem,
    revoke_token,
    user_for_token,
    utcnow,
)

MAX_UPLOAD = 64 * 1024 * 1024  # bytes on the wire
MAX_UNPACKED = 256 * 1024 * 1024
MAX_RUBRIC = 256 * 1024  # characters of rubric YAML
MAX_ID = 2**63 - 1  # the database's integers
SCORING_WORKERS = max(1, min(4, (os.cpu_count() or 2) // 2))  # uploads scored at once
SCORING_QUEUE = 32  # uploads waiting for a scoring worker before the lab answers 503
UPLOAD_TYPES = ("application/zip", "application/x-tar", "application/gzip", "application/x-gzip")
COOKIE = "lab_token"


# -- request bodies -----------------------------------------------------------------------------
class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


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


class DrillIn(BaseModel):
    persona: str = Field(min_length=1, max_length=120, pattern=NAME)
    rubric: str = Field(default=DEFAULT_RUBRIC_NAME, min_length=1, max_length=64, pattern=NAME)
    pass_mark: float = Field(default=70, ge=0, le=100)
    due: _dt.date | None = None
    attempts_allowed: int = Field(default=3, ge=1, le=1000)


class RubricIn(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=NAME)
    text: str = Field(min_length=1, max_length=MAX_RUBRIC)


class LoginThrottle:
    """Slows password guessing without handing anyone a way to lock others out.

    Failed sign-ins are counted per (user name, client address) and per client address. After
    ``attempts`` free failures for a name from one address, that address must wait before its
    next try for the name: ``window`` seconds, doubling with every further failure, up to
    ``max_delay``; an address that fails ``address_attempts`` times over any names waits the
    same way for every name. A correct password from an address that has not been failing
    always gets in, so nobody can lock a trainer out by guessing at her name. Each address may
    have ``address_inflight`` sign-ins being checked at once (more are refused at once, before
    any hashing), and the store hashes at most a few passwords at a time: a flood of sign-ins
    costs bounded memory and CPU. Kept in memory, per server process."""

    LIMIT = 10_000  # entries kept per table: a flood of made-up names cannot grow it forever

    def __init__(
        self,
        attempts: int = 5,
        window: float = 1.0,
        *,
        max_delay: float = 900.0,
        address_attempts: int = 30,
        address_inflight: int = 4,
        clock=time.monotonic,  # noqa: ANN001
    ) -> None:
        self.attempts, self.window, self.max_delay = attempts, window, max_delay
        self.address_attempts, self.address_inflight = address_attempts, address_inflight
        self.clock = clock
        self._pairs: OrderedDict[tuple[str, str], tuple[int, float]] = OrderedDict()
        self._addresses: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._inflight: dict[str, int] = {}
        self._lock = threading.Lock()

    def _wait(self, table: OrderedDict, key: object, free: int, now: float) -> float:
        """Seconds ``key`` must still wait (0: may try); forgets a long-quiet entry."""
        failures, last = table.get(key, (0, 0.0))
        if failures and now - last > 2 * self.max_delay:
            table.pop(key, None)
            return 0.0
        if failures < free:
            return 0.0
        delay = min(self.max_delay, self.window * 2 ** (failures - free))
        return max(0.0, last + delay - now)

    def _fail(self, table: OrderedDict, key: object, now: float) -> None:
        failures, _ = table.pop(key, (0, 0.0))
        table[key] = (failures + 1, now)
        while len(table) > self.LIMIT:
            table.popitem(last=False)

    def check(self, username: str, address: str) -> None:
        """429 while this name (or any name) from this address must wait."""
        with self._lock:
            self._check(username, address, self.clock())

    def _check(self, username: str, address: str, now: float) -> None:
        wait = max(
            self._wait(self._pairs, (username, address), self.attempts, now),
            self._wait(self._addresses, address, self.address_attempts, now),
        )
        if wait > 0:
            secs = math.ceil(wait)
            raise HTTPException(
                429,
                f"too many failed sign-ins for {username!r} from this address; "
                f"try again in {secs} s",
                headers={"Retry-After": str(secs)},
            )

    def begin(self, username: str, address: str) -> None:
        """Before a sign-in is checked: 429 while this name (or any name) from this address
        must wait, or while this address has too many sign-ins being checked."""
        now = self.clock()
        with self._lock:
            self._check(username, address, now)
            if self._inflight.get(address, 0) >= self.address_inflight:
                raise HTTPException(
                    429,
                    "too many sign-ins from this address at once; try again in 1 s",
                    headers={"Retry-After": "1"},
                )
            self._inflight[address] = self._inflight.get(address, 0) + 1

    def end(self, username: str, address: str, ok: bool) -> None:
        now = self.clock()
        with self._lock:
            left = self._inflight.get(address, 1) - 1
            if left > 0:
                self._inflight[address] = left
            else:
                self._inflight.pop(address, None)
            if ok:
                self._pairs.pop((username, address), None)
            else:
                self._fail(self._pairs, (username, address), now)
                self._fail(self._addresses, address, now)

    def sign_in(self, db: Session, username: str, password: str, address: str) -> User | None:
        """``authenticate`` behind the throttle: 429 while this name from this address waits."""
        self.begin(username, address)
        user = None
        try:
            user = authenticate(db, username, password)
        finally:
            self.end(username, address, user is not None)
        return user


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class SecurityHeaders:
    """Headers for every answer: no MIME sniffing, no framing, a strict Content-Security-Policy
    unless the route set its own (pages and reports do), no referrer, and HSTS under TLS."""

    def __init__(self, app) -> None:  # noqa: ANN001
        self.app = app

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def send_with_headers(message) -> None:  # noqa: ANN001
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault(
                    "Content-Security-Policy",
                    "default-src 'none'; base-uri 'none'; form-action 'none'; "
                    "frame-ancestors 'none'",
                )
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "no-referrer"
                if https:
                    headers["Strict-Transport-Security"] = "max-age=31536000"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ScoringPool:
    """At most ``workers`` uploads are unpacked and scored at once (scoring is CPU and memory
    heavy); up to ``queue`` more wait their turn; beyond that the lab answers 503 with
    Retry-After, and the station's outbox tries again later."""

    def __init__(self, workers: int, queue: int) -> None:
        self.limiter = anyio.CapacityLimiter(max(1, workers))
        self.queue, self.waiting = queue, 0

    async def run(self, func, *args):  # noqa: ANN001, ANN002, ANN201
        if self.waiting >= self.limiter.total_tokens + self.queue:
            raise HTTPException(
                503,
                "the lab is busy scoring other uploads; try again shortly",
                headers={"Retry-After": "5"},
            )
        self.waiting += 1  # one event loop: no lock needed around the count
        try:
            return await anyio.to_thread.run_sync(func, *args, limiter=self.limiter)
        finally:
            self.waiting -= 1


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
    app.state.throttle = throttle = throttle or LoginThrottle()
    app.add_middleware(SecurityHeaders)
    app.state.scoring = scoring = ScoringPool(scoring_workers, scoring_queue)

    def db_session():
        with store.Session() as db:
            yield db

    DB = Annotated[Session, Depends(db_session)]

    def current_user(request: Request, db: DB) -> User:
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        token = token or request.cookies.get(COOKIE)
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

    # -- API: sign-in -----------------------------------------------------------------------
    @app.post("/api/login")
    def api_login(request: Request, body: LoginIn, db: DB) -> dict:
        user = throttle.sign_in(db, body.username, body.password, client_address(request))
        if user is None:
            raise HTTPException(401, "wrong user name or password")
        token, expires = issue_token(db, user, token_ttl)
        db.commit()
        return {"token": token, "role": user.role, "expires": expires.isoformat() + "Z"}

    @app.post("/api/logout")
    def api_logout(request: Request, user: Anyone, db: DB) -> dict:
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        revoke_token(db, token or request.cookies.get(COOKIE, ""))
        db.commit()
        return {"ok": True}

    @app.get("/api/me")
    def api_me(user: Anyone) -> dict:
        return {"username": user.username, "role": user.role}

    # -- API: trainers ----------------------------------------------------------------------
    @app.post("/api/cohorts", status_code=201)
    def api_create_cohort(body: CohortIn, user: Trainer, db: DB) -> dict:
        return _cohort_dict(_create_cohort(db, body.name, user))

    @app.get("/api/cohorts")
    def api_cohorts(user: Trainer, db: DB) -> list[dict]:
        return [_cohort_dict(c) for c in _my_cohorts(db, user)]

    @app.post("/api/cohorts/{cohort_id}/trainees", status_code=201)
    def api_add_trainee(cohort_id: int, body: TraineeIn, user: Trainer, db: DB):
        """A new name: a new trainee, with this password. A trainee of another cohort of
        yours: added. Any other existing name (whoever it is): 202, an invitation that the
        user, or a trainer who has them in a cohort, accepts; the password is not used."""
        cohort = _cohort(db, cohort_id, user)
        u = _add_trainee(db, cohort, body.username, body.password, user)
        if u is None:
            return JSONResponse(
                {"username": body.username, "status": "invited", "detail": INVITED},
                status_code=202,
            )
        return {"id": u.id, "username": u.username, "role": u.role, "status": "added"}

    @app.get("/api/invitations")
    def api_invitations(user: Anyone, db: DB) -> list[dict]:
        """Invitations this user may accept or decline (to them, or to their trainees), and,
        for a trainer, the ones they sent that wait."""
        return [_invitation_dict(db, i, user) for i in _invitations_for(db, user)]

    @app.post("/api/invitations/{invitation_id}/accept")
    def api_accept(invitation_id: int, user: Anyone, db: DB) -> dict:
        accept_invitation(db, _invitation(db, invitation_id, user, accept=True))
        return {"ok": True}

    @app.post("/api/invitations/{invitation_id}/decline")
    def api_decline(invitation_id: int, user: Anyone, db: DB) -> dict:
        db.delete(_invitation(db, invitation_id, user, accept=False))
        db.commit()
        return {"ok": True}

    @app.post("/api/cohorts/{cohort_id}/drills", status_code=201)
    def api_assign(cohort_id: int, body: DrillIn, user: Trainer, db: DB) -> dict:
        return _drill_dict(_assign(db, _cohort(db, cohort_id, user), body))

    @app.get("/api/personas")
    def api_personas(user: Trainer) -> list[dict]:
        return [{"id": p.id, "name": p.name, "difficulty": p.difficulty} for p in personas()]

    @app.get("/api/rubrics")
    def api_rubrics(user: Trainer, db: DB) -> list[dict]:
        return rubric_list(db)

    @app.post("/api/rubrics", status_code=201)
    def api_add_rubric(body: RubricIn, user: Trainer, db: DB) -> dict:
        return add_rubric(db, body.name, body.text, user)

    @app.get("/api/cohorts/{cohort_id}/table")
    def api_table(cohort_id: int, user: Trainer, db: DB) -> dict:
        return cohort_overview(db, _cohort(db, cohort_id, user))

    @app.get("/api/cohorts/{cohort_id}/trainees/{username}")
    def api_trainee_history(cohort_id: int, username: str, user: Trainer, db: DB) -> dict:
        return trainee_history(db, _cohort(db, cohort_id, user), username)

    @app.post("/api/cohorts/{cohort_id}/trainees/{username}/password")
    def api_reset_password(
        cohort_id: int, username: str, body: PasswordIn, user: Trainer, db: DB
    ) -> dict:
        reset_password(db, _cohort(db, cohort_id, user), username, body.password)
        return {"ok": True}

    @app.get("/api/cohorts/{cohort_id}/export.csv")
    def api_export(cohort_id: int, user: Trainer, db: DB) -> Response:
        """The cohort table: one row per trainee and drill."""
        cohort = _cohort(db, cohort_id, user)
        view = cohort_overview(db, cohort)
        cols = ["trainee", "drill", "persona", "pass_mark", "attempts", "attempts_allowed"]
        cols += ["best", "last", "passed", "due", "status"]
        return _csv(f"cohort-{cohort.id}.csv", cols, ([r[c] for c in cols] for r in view["table"]))

    @app.get("/api/cohorts/{cohort_id}/sessions.csv")
    def api_export_sessions(cohort_id: int, user: Trainer, db: DB) -> Response:
        """Every session of the cohort's trainees, one row each, with every family's score."""
        cohort = _cohort(db, cohort_id, user)
        members = select(Membership.user_id).where(Membership.cohort_id == cohort.id)
        q = (
            select(Upload, User.username)
            .join(User, User.id == Upload.owner_id)
            .where(Upload.owner_id.in_(members))
            .order_by(Upload.id)
        )
        ups = list(db.execute(q))
        rows = [_upload_dict(u, name) for u, name in ups]
        details = [session_details(store.session_path(u)) for u, _ in ups]
        reviews = latest_overrides(db, [u.id for u, _ in ups])
        for (u, _), d in zip(ups, details, strict=True):
            for cid, o in reviews.get(u.id, {}).items():
                d["criteria"][cid] = o["earned"]
        families = sorted({f for r in rows for f in (r["families"] or {})})
        criteria = list(dict.fromkeys(c for d in details for c in d["criteria"]))
        cols = ["session", "trainee", "uploaded", "recorded", "source", "script", "drill"]
        cols += ["persona", "overall", "passed", "end_state", *families]
        cols += ["machine_overall", "overrides"] + [f"criterion:{c}" for c in criteria]
        return _csv(
            f"cohort-{cohort.id}-sessions.csv",
            cols,
            (
                [r["id"], r["owner"], r["created"], d["recorded"], d["source"], d["script"]]
                + [r["drill"], r["persona"], r["overall"], r["passed"], r["end_state"]]
                + [(r["families"] or {}).get(f) for f in families]
                + [d["machine_overall"], _override_cell(reviews.get(r["id"], {}))]
                + [d["criteria"].get(c) for c in criteria]
                for r, d in zip(rows, details, strict=True)
            ),
        )

    # -- API: trainees ----------------------------------------------------------------------
    @app.get("/api/assignments")
    def api_assignments(user: Trainee, db: DB) -> list[dict]:
        return [_drill_dict(d, _attempts(db, user, d)) for d in _my_drills(db, user)]

    @app.get("/api/drills/{drill_id}/rubric")
    def api_drill_rubric(drill_id: int, user: Anyone, db: DB) -> dict:
        """The rubric text a station runs this drill with (the server scores with the same)."""
        drill = db.get(Drill, drill_id)
        allowed = drill is not None and (
            drill in _my_drills(db, user)
            if user.role == TRAINEE
            else _cohort_of(db, drill.cohort_id, user) is not None
        )
        if not allowed:
            raise HTTPException(404, "no such drill assigned to you")
        text = rubric_text(db, drill.rubric)
        return {"drill": drill.id, "name": drill.rubric, "text": text}

    @app.post("/api/sessions")
    async def api_upload(request: Request, user: Trainee, db: DB, drill: int | None = None):
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in UPLOAD_TYPES:
            raise HTTPException(
                415, f"upload a zip or tar of the session ({', '.join(UPLOAD_TYPES)})"
            )
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_upload:
            raise HTTPException(413, f"upload larger than {max_upload} bytes")
        if drill is not None and not 0 < drill <= MAX_ID:
            raise HTTPException(404, "no such drill assigned to you")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_upload:
                raise HTTPException(413, f"upload larger than {max_upload} bytes")
            chunks.append(chunk)
        # Unpacking, checking, scoring and the database work run off the event loop, in a
        # bounded pool: a burst of uploads queues (up to a point), it never starts a thread each.
        return await scoring.run(_unpack_and_store, db, user, b"".join(chunks), drill)

    # -- API: both roles --------------------------------------------------------------------
    @app.get("/api/sessions")
    def api_sessions(user: Anyone, db: DB, cohort: int | None = None, limit: int = 200) -> list:
        q = select(Upload, User.username).join(User, User.id == Upload.owner_id)
        if user.role == TRAINEE:
            q = q.where(Upload.owner_id == user.id)
        else:
            cohorts = [_cohort(db, cohort, user).id] if cohort is not None else _my_cohort_ids(user)
            members = select(Membership.user_id).where(Membership.cohort_id.in_(cohorts))
            q = q.where(Upload.owner_id.in_(members))
        q = q.order_by(Upload.id.desc()).limit(max(1, min(limit, 1000)))
        return [_upload_dict(u, name) for u, name in db.execute(q)]

    @app.get("/api/sessions/{session_id}")
    def api_session(session_id: int, user: Anyone, db: DB) -> dict:
        up = _visible_upload(db, user, session_id)
        owner = db.get(User, up.owner_id)
        return _upload_dict(up, owner.username if owner else "")

    @app.get("/sessions/{session_id}/report", response_class=HTMLResponse)
    def session_report(session_id: int, user: Anyone, db: DB) -> HTMLResponse:
        """The session's report.html, with a policy that lets only the report's own script run
        (never one that came with the upload), sandboxed away from the lab's pages."""
        from ..report.html import render_report, report_csp
        from ..report.session import load_session

        up = _visible_upload(db, user, session_id)
        try:
            session = load_session(store.session_path(up))
            machine = session.scorecard
            session.scorecard = reviewed_card(machine, latest_overrides(db, [up.id]).get(up.id, {}))
            page = render_report(session, review_of(db, up, machine))
        except (VoicesimError, ValueError, TypeError, KeyError) as exc:
            raise HTTPException(500, f"cannot read this session: {_public(str(exc))}") from None
        return HTMLResponse(page, headers={"Content-Security-Policy": report_csp()})

    # -- helpers (closures over the store) --------------------------------------------------
    _visible_upload = visible_upload

    def _unpack_and_store(db: Session, user: User, data: bytes, drill_id: int | None):
        try:
            files = read_archive(data, max_unpacked)
            check_files(files)  # the session reader's checks, before anything is written
        except (ArchiveError, SessionError) as exc:
            raise HTTPException(400, _public(str(exc))) from None
        return _store_upload(db, user, files, drill_id)

    def _public(message: str) -> str:
        """An error for the uploader: the server's own paths are not theirs to see."""
        return message.replace(str(store.sessions_dir), "upload").replace(
            str(store.data_dir), "lab"
        )[:500]

    def _store_upload(db: Session, user: User, files: dict[str, bytes], drill_id: int | None):
        digest = session_digest(files)
        existing = db.scalar(
            select(Upload).where(Upload.owner_id == user.id, Upload.digest == digest)
        )
        if existing is not None:
            return _upload_dict(existing, user.username) | {"duplicate": True}
        drill = None
        if drill_id is not None:
            drill = db.get(Drill, drill_id)
            if drill is None or drill not in _my_drills(db, user):
                raise HTTPException(404, "no such drill assigned to you")
            if _attempts(db, user, drill) >= drill.attempts_allowed:
                raise HTTPException(409, "no attempts left for this drill")
        storage_id = uuid.uuid4().hex
        up = Upload(owner_id=user.id, digest=digest, storage_id=storage_id, drill_id=drill_id)
        path = store.session_path(up)
        try:
            path.mkdir()
            for name, content in _server_side(files).items():
                (path / name).write_bytes(content)
            # The server scores the session itself, with the drill's rubric: a station's
            # scorecard is never trusted (and a session cut short has none).
            card, up.persona = score_upload(db, path, drill)
            (path / "scorecard.json").write_text(json.dumps(card))
            overall = float(card.get("overall") or 0.0)
            up.overall = overall
            up.families = {f["id"]: f["score"] for f in card.get("families", [])}
            up.passed = overall >= drill.pass_mark if drill else bool(card.get("passed"))
            up.end_state = (card.get("outcome") or {}).get("end_state")
            db.add(up)
            db.flush()
            db.add_all(
                SessionScore(upload_id=up.id, owner_id=user.id, family=f, score=float(v))
                for f, v in up.families.items()
            )
            db.commit()
        except (VoicesimError, ValueError, KeyError, TypeError) as exc:
            _discard(db, path)
            raise HTTPException(
                400, f"not a readable voicesim session: {_public(str(exc))}"
            ) from None
        except IntegrityError:  # the same session raced in twice: keep the first
            _discard(db, path)
            existing = db.scalar(
                select(Upload).where(Upload.owner_id == user.id, Upload.digest == digest)
            )
            return _upload_dict(existing, user.username) | {"duplicate": True}
        except OSError:  # disk full or read-only data folder
            _discard(db, path)
            raise HTTPException(507, "the lab cannot store this session now (disk)") from None
        except BaseException:  # a bug: answer 500, but leave no orphan folder behind
            _discard(db, path)
            raise
        return _upload_dict(up, user.username) | {"duplicate": False}

    def _discard(db: Session, path) -> None:  # noqa: ANN001
        db.rollback()
        shutil.rmtree(path, ignore_errors=True)

    @app.exception_handler(OverflowError)
    async def _id_out_of_range(request: Request, exc: OverflowError) -> Response:
        # an id beyond the database's 64-bit integers names nothing here
        return JSONResponse({"detail": "not found (id out of range)"}, status_code=404)

    # -- pages ------------------------------------------------------------------------------
    from .pages import add_pages

    add_pages(app, store, db_session, token_ttl)
    return app


# -- shared helpers -------------------------------------------------------------------------------
def _server_side(files: dict[str, bytes]) -> dict[str, bytes]:
    """The files as the server keeps them: meta.json without the uploader's file paths for
    the rubric and persona (the session reader would open them on this machine), and neither
    the uploaded report.html nor the uploaded scorecard.json (the server scores the session)."""
    out = {k: v for k, v in files.items() if k not in ("report.html", "scorecard.json")}
    if "meta.json" in out:
        try:
            meta = json.loads(out["meta.json"])
        except (ValueError, UnicodeDecodeError):
            raise ValueError("meta.json is not valid JSON") from None
        if not isinstance(meta, dict):
            raise ValueError("meta.json is not a JSON object")
        for key in ("rubric", "persona"):
            if isinstance(meta.get(key), dict):
                meta[key] = {k: v for k, v in meta[key].items() if k != "file"}
            elif key in meta:
                meta[key] = None
        out["meta.json"] = json.dumps(meta, ensure_ascii=False).encode()
    return out


def csv_cell(value: object) -> object:
    """A cell a spreadsheet shows as text: one starting with = + - @ (or a tab or CR) would be
    run as a formula, so it gets a leading apostrophe. Numbers stay numbers."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _override_cell(overrides: dict[str, dict]) -> str:
    """A session's criterion overrides for the export: both values, who, when and why."""
    return "; ".join(
        f"{cid}: machine {o['machine']:g} -> {o['earned']:g} by {o['by']} at {o['at']} ({o['reason']})"
        for cid, o in overrides.items()
    )


def _csv(filename: str, header: list[str], rows) -> Response:  # noqa: ANN001
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([csv_cell(c) for c in header])
    w.writerows([csv_cell(c) for c in row] for row in rows)
    return Response(
        buf.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _cohort_of(db: Session, cohort_id: int, trainer: User) -> Cohort | None:
    """The cohort if ``trainer`` created it: trainers manage their own cohorts only."""
    c = db.get(Cohort, cohort_id)
    return c if c is not None and c.created_by == trainer.id else None


def _cohort(db: Session, cohort_id: int, trainer: User) -> Cohort:
    c = _cohort_of(db, cohort_id, trainer)
    if c is None:
        raise HTTPException(404, "no such cohort of yours")
    return c


def visible_upload(db: Session, user: User, session_id: int) -> Upload:
    """The session if ``user`` may see it: a trainee their own, a trainer those of the
    trainees in their own cohorts; 404 otherwise (the same answer: no probing)."""
    up = db.get(Upload, session_id)
    if up is None:
        raise HTTPException(404, "no such session")
    if user.role == TRAINEE:
        visible = up.owner_id == user.id
    else:
        visible = db.scalar(
            select(Membership.id).where(
                Membership.user_id == up.owner_id,
                Membership.cohort_id.in_(_my_cohort_ids(user)),
            )
        )
    if not visible:
        raise HTTPException(404, "no such session")
    return up


def _my_cohort_ids(trainer: User) -> Select:
    return select(Cohort.id).where(Cohort.created_by == trainer.id)


def _my_cohorts(db: Session, trainer: User) -> list[Cohort]:
    return list(
        db.scalars(select(Cohort).where(Cohort.created_by == trainer.id).order_by(Cohort.name))
    )


def _create_cohort(db: Session, name: str, user: User) -> Cohort:
    c = Cohort(name=name.strip(), created_by=user.id)
    db.add(c)
    try:
        db.commit()
    except IntegrityError:  # names are unique per trainer: this says nothing about others
        db.rollback()
        raise HTTPException(409, f"a cohort of yours named {name!r} exists") from None
    return c


INVITED = (
    "if this user exists, they join the cohort once they accept (on their lab page), or a "
    "trainer who has them in a cohort does; the password given is not used"
)


def manages(db: Session, trainer: User, user: User) -> bool:
    """Whether ``user`` is a trainee in one of ``trainer``'s cohorts."""
    return user.role == TRAINEE and (
        db.scalar(
            select(Membership.id)
            .join(Cohort, Cohort.id == Membership.cohort_id)
            .where(Membership.user_id == user.id, Cohort.created_by == trainer.id)
            .limit(1)
        )
        is not None
    )


def _add_trainee(
    db: Session, cohort: Cohort, username: str, password: str, trainer: User
) -> User | None:
    """Add a trainee to ``trainer``'s cohort. A new name becomes a trainee with ``password``;
    a trainee the trainer already has is added; any other existing user (another trainer's
    trainee, a trainer) only gets an invitation, whoever they are: returns None then."""
    user = db.scalar(select(User).where(User.username == username))
    if user is None:
        try:
            user = create_user(db, username, password, TRAINEE)
        except WeakPassword as exc:
            raise HTTPException(422, f"password: {exc}") from None
    elif not manages(db, trainer, user):
        if user.role == TRAINEE and not _is_member(db, cohort, user):
            if (
                db.scalar(
                    select(Invitation.id).where(
                        Invitation.cohort_id == cohort.id, Invitation.user_id == user.id
                    )
                )
                is None
            ):
                db.add(Invitation(cohort_id=cohort.id, user_id=user.id, invited_by=trainer.id))
                db.commit()
        return None
    if _is_member(db, cohort, user):
        raise HTTPException(409, f"{username!r} is already in this cohort")
    db.add(Membership(cohort_id=cohort.id, user_id=user.id))
    db.commit()
    return user


def _is_member(db: Session, cohort: Cohort, user: User) -> bool:
    return (
        db.scalar(
            select(Membership.id).where(
                Membership.cohort_id == cohort.id, Membership.user_id == user.id
            )
        )
        is not None
    )


def _invitations_for(db: Session, user: User) -> list[Invitation]:
    """For a trainee: the invitations to them. For a trainer: those to trainees of theirs
    (theirs to approve) and those they sent."""
    q = select(Invitation).order_by(Invitation.id)
    if user.role == TRAINEE:
        return list(db.scalars(q.where(Invitation.user_id == user.id)))
    mine = (
        select(Membership.user_id)
        .join(Cohort, Cohort.id == Membership.cohort_id)
        .where(Cohort.created_by == user.id)
    )
    return list(
        db.scalars(q.where((Invitation.user_id.in_(mine)) | (Invitation.invited_by == user.id)))
    )


def _invitation(db: Session, invitation_id: int, user: User, *, accept: bool) -> Invitation:
    """The invitation if ``user`` may act on it: the invited user, or a trainer who has them in
    a cohort, accept or decline; the trainer who sent it may withdraw it (not accept it)."""
    inv = db.get(Invitation, invitation_id)
    invitee = db.get(User, inv.user_id) if inv is not None else None
    allowed = invitee is not None and (
        user.id == invitee.id
        or (user.role == TRAINER and manages(db, user, invitee))
        or (not accept and user.id == inv.invited_by)
    )
    if not allowed:
        raise HTTPException(404, "no such invitation for you")
    return inv


def accept_invitation(db: Session, inv: Invitation) -> None:
    cohort = db.get(Cohort, inv.cohort_id)
    user = db.get(User, inv.user_id)
    if cohort is not None and user is not None and not _is_member(db, cohort, user):
        db.add(Membership(cohort_id=cohort.id, user_id=user.id))
    db.delete(inv)
    db.commit()


def _invitation_dict(db: Session, inv: Invitation, viewer: User) -> dict:
    cohort = db.get(Cohort, inv.cohort_id)
    names = {
        u.id: u.username
        for u in db.scalars(select(User).where(User.id.in_([inv.user_id, inv.invited_by])))
    }
    return {
        "id": inv.id,
        "user": names.get(inv.user_id),
        "cohort": cohort.name if cohort else None,
        "cohort_id": inv.cohort_id,
        "invited_by": names.get(inv.invited_by),
        "sent_by_me": inv.invited_by == viewer.id,
    }


def _assign(db: Session, cohort: Cohort, body: DrillIn) -> Drill:
    """Assign a drill; its persona and rubric must exist here, so that stations can run it."""
    if persona_by_id(body.persona) is None:
        known = ", ".join(p.id for p in personas())
        raise HTTPException(422, f"unknown persona {body.persona!r}; available: {known}")
    try:
        rubric_text(db, body.rubric)
    except HTTPException as exc:
        raise HTTPException(422, exc.detail) from None
    due = _dt.datetime.combine(body.due, _dt.time()) if body.due else None
    d = Drill(
        cohort_id=cohort.id,
        persona=body.persona,
        rubric=body.rubric,
        pass_mark=body.pass_mark,
        due=due,
        attempts_allowed=body.attempts_allowed,
    )
    db.add(d)
    db.commit()
    return d


def _my_drills(db: Session, user: User) -> list[Drill]:
    cohorts = select(Membership.cohort_id).where(Membership.user_id == user.id)
    return list(db.scalars(select(Drill).where(Drill.cohort_id.in_(cohorts)).order_by(Drill.id)))


def _attempts(db: Session, user: User, drill: Drill) -> int:
    return db.scalar(
        select(func.count(Upload.id)).where(Upload.owner_id == user.id, Upload.drill_id == drill.id)
    )


def _cohort_dict(c: Cohort) -> dict:
    return {"id": c.id, "name": c.name}


def _drill_dict(d: Drill, attempts: int | None = None) -> dict:
    out = {
        "id": d.id,
        "cohort": d.cohort_id,
        "persona": d.persona,
        "rubric": d.rubric,
        "pass_mark": d.pass_mark,
        "due": d.due.date().isoformat() if d.due else None,
        "attempts_allowed": d.attempts_allowed,
    }
    if attempts is not None:
        out["attempts"] = attempts
        out["attempts_left"] = max(0, d.attempts_allowed - attempts)
    return out


def _upload_dict(u: Upload, owner: str) -> dict:
    return {
        "id": u.id,
        "owner": owner,
        "drill": u.drill_id,
        "persona": u.persona,
        "overall": u.overall,
        "families": u.families,
        "passed": u.passed,
        "end_state": u.end_state,
        "created": u.created.isoformat() + "Z" if u.created else None,
        "report": f"/sessions/{u.id}/report",
    }


def cohort_overview(db: Session, cohort: Cohort) -> dict:
    """The cohort table, each trainee's progress per rubric family, and the weakest skills."""
    members = list(
        db.scalars(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.cohort_id == cohort.id)
            .order_by(User.username)
        )
    )
    drills = list(db.scalars(select(Drill).where(Drill.cohort_id == cohort.id).order_by(Drill.id)))
    ids = [m.id for m in members]
    # Aggregates in SQL, so that the page stays quick with thousands of stored sessions.
    stats: dict[tuple[int, int | None], tuple[int, float, int]] = {}
    firsts_lasts: dict[int, tuple[int, int, int]] = {}
    totals: dict[str, tuple[float, int]] = {}
    if ids:
        q = (
            select(
                Upload.owner_id,
                Upload.drill_id,
                func.count(Upload.id),
                func.max(Upload.overall),
                func.max(Upload.id),
            )
            .where(Upload.owner_id.in_(ids))
            .group_by(Upload.owner_id, Upload.drill_id)
        )
        for owner, drill_id, n, best, last_id in db.execute(q):
            stats[(owner, drill_id)] = (n, best, last_id)
        q = (
            select(Upload.owner_id, func.count(Upload.id), func.min(Upload.id), func.max(Upload.id))
            .where(Upload.owner_id.in_(ids))
            .group_by(Upload.owner_id)
        )
        for owner, n, first_id, last_id in db.execute(q):
            firsts_lasts[owner] = (n, first_id, last_id)
        q = (
            select(SessionScore.family, func.avg(SessionScore.score), func.count(SessionScore.id))
            .where(SessionScore.owner_id.in_(ids))
            .group_by(SessionScore.family)
        )
        for fam, mean, n in db.execute(q):
            totals[fam] = (float(mean), int(n))
    wanted = {v[2] for v in stats.values()} | {
        i for v in firsts_lasts.values() for i in (v[1], v[2])
    }
    rows = (
        {
            u_id: (overall, fams)
            for u_id, overall, fams in db.execute(
                select(Upload.id, Upload.overall, Upload.families).where(Upload.id.in_(wanted))
            )
        }
        if wanted
        else {}
    )
    # The best score made by each drill's due date (the end of that day, UTC), per trainee.
    today = utcnow()
    on_time: dict[tuple[int, int], float] = {}
    for d in drills:
        if d.due is not None and ids:
            q = (
                select(Upload.owner_id, func.max(Upload.overall))
                .where(
                    Upload.drill_id == d.id,
                    Upload.owner_id.in_(ids),
                    Upload.created < d.due + _dt.timedelta(days=1),
                )
                .group_by(Upload.owner_id)
            )
            on_time.update(((owner, d.id), best) for owner, best in db.execute(q))
    table = []
    for m in members:
        for d in drills:
            n, best, last_id = stats.get((m.id, d.id), (0, None, None))
            passed = best >= d.pass_mark if n else None
            due_over = d.due is not None and today >= d.due + _dt.timedelta(days=1)
            if d.due is not None and passed:
                in_time = on_time.get((m.id, d.id))
                status = "passed" if in_time is not None and in_time >= d.pass_mark else "late"
            elif due_over:
                status = "overdue"
            else:
                status = {True: "passed", False: "failed", None: "open"}[passed]
            table.append(
                {
                    "trainee": m.username,
                    "drill": d.id,
                    "persona": d.persona,
                    "pass_mark": d.pass_mark,
                    "due": d.due.date().isoformat() if d.due else None,
                    "attempts": n,
                    "attempts_allowed": d.attempts_allowed,
                    "best": best,
                    "last": rows[last_id][0] if last_id else None,
                    "last_session": last_id,
                    "passed": passed,
                    # passed, late (passed after the due date), failed (so far), overdue (due
                    # date gone, not passed), open (no attempt yet, not due)
                    "status": status,
                }
            )
    progress = []
    for m in members:
        if m.id not in firsts_lasts:
            continue
        n, first_id, last_id = firsts_lasts[m.id]
        first, last = rows[first_id][1] or {}, rows[last_id][1] or {}
        progress.append(
            {
                "trainee": m.username,
                "sessions": n,
                "families": {
                    f: {"first": first.get(f), "latest": last.get(f)}
                    for f in sorted(set(first) | set(last))
                },
            }
        )
    weakest = sorted(
        ({"family": f, "mean": round(mean, 1), "n": n} for f, (mean, n) in totals.items()),
        key=lambda r: (r["mean"], r["family"]),
    )
    return {
        "cohort": _cohort_dict(cohort),
        "trainees": [m.username for m in members],
        "drills": [_drill_dict(d) for d in drills],
        "table": table,
        "progress": progress,
        "weakest": weakest,
    }


HISTORY_LIMIT = 500  # sessions shown on a trainee's page, the latest ones


def trainee_history(db: Session, cohort: Cohort, username: str) -> dict:
    """One trainee of a cohort, session by session: the overall and per-family scores over
    time, for the trainee's page. 404 when the cohort has no such trainee."""
    member = _trainee_in(db, cohort, username)
    return {"cohort": _cohort_dict(cohort)} | session_history(db, member)


def session_history(db: Session, member: User) -> dict:
    """A trainee's latest sessions, oldest first, with the rubric families they were scored on."""
    ups = list(
        db.scalars(
            select(Upload)
            .where(Upload.owner_id == member.id)
            .order_by(Upload.id.desc())
            .limit(HISTORY_LIMIT)
        )
    )[::-1]
    return {
        "trainee": member.username,
        "sessions": [_upload_dict(u, member.username) for u in ups],
        "families": sorted({f for u in ups for f in (u.families or {})}),
    }


def _trainee_in(db: Session, cohort: Cohort, username: str) -> User:
    member = db.scalar(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.cohort_id == cohort.id, User.username == username)
    )
    if member is None:
        raise HTTPException(404, "no such trainee in this cohort")
    return member


def reset_password(db: Session, cohort: Cohort, username: str, password: str) -> None:
    """A trainer sets a new password for a trainee of their cohort (a forgotten one); the
    trainee's tokens are revoked, so every station signs in again."""
    try:
        change_password(db, _trainee_in(db, cohort, username), password)
    except WeakPassword as exc:
        raise HTTPException(422, f"password: {exc}") from None
    db.commit()
