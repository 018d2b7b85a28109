"""Server-rendered dashboard pages: Jinja2 templates (templates/, autoescape on), inline CSS and
SVG charts, forms that post back. No JavaScript and nothing from a CDN: the lab may have no
internet. Every page is sent with a Content-Security-Policy that allows no script at all."""

import datetime as _dt
import hashlib
import hmac
import json
import secrets
import urllib.parse
from functools import cache
from typing import Annotated

from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..report.html import asset, environment
from .app import (
    COOKIE,
    INVITED,
    MAX_RUBRIC,
    DrillIn,
    PasswordIn,
    RubricIn,
    TraineeIn,
    _add_trainee,
    _assign,
    _attempts,
    _cohort,
    _create_cohort,
    _invitation,
    _invitation_dict,
    _invitations_for,
    _my_cohorts,
    _my_drills,
    _trainee_in,
    _upload_dict,
    accept_invitation,
    client_address,
    cohort_overview,
    reset_password,
    session_history,
    trainee_history,
    visible_upload,
)
from .figures import by_persona, drill_summary, weakest_criteria
from .library import add_rubric, personas, rubric_list
from .reviews import (
    add_comment,
    add_override,
    latest_overrides,
    machine_card,
    review_of,
    reviewed_card,
)
from .store import (
    TRAINER,
    Membership,
    Upload,
    User,
    issue_token,
    revoke_token,
    user_for_token,
)

WEAKEST_SHOWN = 8  # criteria listed as the weakest skills
LOGIN_COOKIE = "lab_login"  # a random value per browser, for the sign-in form's token


def csrf_token(session_token: str) -> str:
    """The form token for a signed-in browser: derived from its (HttpOnly) session cookie, so a
    page on another site can neither read nor guess it. Every form that changes something
    carries it, on top of the SameSite=Strict cookie."""
    return hashlib.sha256(b"voicesim-lab-csrf:" + session_token.encode()).hexdigest()


def login_token(browser: str) -> str:
    """The sign-in form's token, from the browser's own sign-in cookie: another site cannot
    sign a browser in to an account of its choosing (login CSRF)."""
    return hashlib.sha256(b"voicesim-lab-login:" + browser.encode()).hexdigest()


def _score(x: float | None) -> str:
    """A score as stored (one decimal, none when whole): 59.6 must not read as a failed 60."""
    return "-" if x is None else f"{x:.1f}".removesuffix(".0")


def _path_segment(x: object) -> str:
    return urllib.parse.quote(str(x), safe="")


@cache
def _env() -> Environment:
    env = environment("voicesim.lab")
    env.filters["score"] = _score
    env.filters["num"] = lambda x: f"{x:g}"
    env.filters["segment"] = _path_segment
    return env


def page_csp() -> str:
    """No script at all; only the lab's own style sheet; forms post to the lab only."""
    css = asset("voicesim.lab", "lab.css").csp
    return (
        f"default-src 'none'; style-src {css}; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    )


def page(
    template: str,
    title: str,
    user: User | None = None,
    csrf: str = "",
    error: str = "",
    status: int = 200,
    notice: str = "",
    **context: object,
) -> HTMLResponse:
    html = (
        _env()
        .get_template(template)
        .render(
            title=title,
            user=user,
            csrf=csrf,
            error=error,
            notice=notice,
            css=asset("voicesim.lab", "lab.css").text,
            **context,
        )
    )
    return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": page_csp()})


def checked(model: type[BaseModel], **fields) -> BaseModel:  # noqa: ANN003
    """A form's fields through the API's request model: the same rules, one message."""
    try:
        return model(**fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise HTTPException(422, f"{err['loc'][-1]}: {msg}") from None


def back(url: str, exc: HTTPException) -> RedirectResponse:
    """A form's mistake goes back to its page, with the reason shown there."""
    return RedirectResponse(f"{url}?error={urllib.parse.quote(str(exc.detail))}", status_code=303)


def progress_chart(families: dict) -> dict:
    """Horizontal bars per family: first attempt (grey) against latest (blue), 0-100."""
    bars = []
    for i, (fam, v) in enumerate(families.items()):
        first, latest = v.get("first") or 0, v.get("latest") or 0
        bars.append(
            {
                "family": fam,
                "y": 4 + 22 * i,
                "first": f"{first:.0f}",
                "latest": f"{latest:.0f}",
                "first_w": f"{first * 2.6:.1f}",
                "latest_w": f"{latest * 2.6:.1f}",
            }
        )
    return {"height": 22 * len(bars) + 8, "bars": bars}


PALETTE = ("#1f6fd1", "#e8710a", "#188038", "#a142f4", "#d93025", "#12b5cb", "#f9ab00")


def history_chart(sessions: list[dict], families: list[str]) -> dict:
    """Scores over time: the overall score (black) and one line per rubric family, session by
    session, on a 0-100 scale. Drawn here, as SVG: the lab may have no internet."""
    w, h, left, top, bottom = 640, 240, 34, 10, 24
    n = len(sessions)
    step = (w - left - 10) / max(n - 1, 1)

    def y_of(score: float) -> str:
        return f"{top + (100 - score) * (h - top - bottom) / 100:.1f}"

    def x_of(i: int) -> str:
        return f"{left + i * step:.1f}"

    grid = [
        {"value": y, "y": y_of(y), "label_y": f"{float(y_of(y)) + 4:.1f}"} for y in (0, 50, 70, 100)
    ]
    named = [("overall", "#202124", 2.5)] + [
        (f, PALETTE[i % len(PALETTE)], 1.5) for i, f in enumerate(families)
    ]
    series = []
    for name, colour, width in named:
        pts = [
            (i, s["overall"] if name == "overall" else (s["families"] or {}).get(name))
            for i, s in enumerate(sessions)
        ]
        pts = [(i, v) for i, v in pts if v is not None]
        series.append(
            {
                "name": name,
                "colour": colour,
                "width": width,
                "line": " ".join(f"{x_of(i)},{y_of(v)}" for i, v in pts) if len(pts) > 1 else "",
                "points": [
                    {"x": x_of(i), "y": y_of(v), "session": sessions[i]["id"], "score": f"{v:.0f}"}
                    for i, v in pts
                ],
            }
        )
    every = 1 if n <= 30 else n // 15  # session numbers along the bottom, thinned out
    ticks = [{"x": x_of(i), "label": i + 1} for i in range(0, n, every)]
    return {"width": w, "height": h, "left": left, "grid": grid, "series": series, "ticks": ticks}


def _persona_charts(sessions: list[dict], families: list[str]) -> list[dict]:
    """One scores-over-time chart per persona: scores against different customers are not
    comparable on one line."""
    return [
        {"persona": persona, "sessions": len(group), "chart": history_chart(group, families)}
        for persona, group in by_persona(sessions)
    ]


def latest_coaching(store, db: Session, sessions: list[dict]) -> dict:  # noqa: ANN001
    """The coaching of the newest of ``sessions`` (from its scorecard.json, which the server
    wrote when it scored the upload), with the session id; {} when there is none to read."""
    if not sessions:
        return {}
    up = db.get(Upload, sessions[-1]["id"])
    try:
        card = json.loads((store.session_path(up) / "scorecard.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return {}
    coaching = card.get("coaching") if isinstance(card, dict) else None
    if not isinstance(coaching, dict) or not coaching.get("focus"):
        return {}
    return {**coaching, "session": up.id}


def add_pages(app: FastAPI, store, db_session, token_ttl: _dt.timedelta) -> None:  # noqa: ANN001
    DB = Annotated[Session, Depends(db_session)]

    class SignIn(Exception):
        pass

    @app.exception_handler(SignIn)
    def _to_login(request: Request, exc: SignIn):  # noqa: ANN202
        return RedirectResponse("/login", status_code=303)

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
        return csrf_token(request.cookies.get(COOKIE, ""))

    def checked_form(request: Request, csrf: Annotated[str, Form()] = "") -> None:
        """Every form post that changes something must carry this browser's form token."""
        if not hmac.compare_digest(csrf, page_csrf(request)):
            raise HTTPException(403, "the form is stale or came from another site; reload the page")

    PageUser = Annotated[User, Depends(page_user)]
    PageTrainer = Annotated[User, Depends(page_trainer)]
    Csrf = Annotated[str, Depends(page_csrf)]
    Checked = Annotated[None, Depends(checked_form)]

    def cookie(resp, request: Request, name: str, value: str, max_age: int) -> None:  # noqa: ANN001
        """HttpOnly, SameSite=Strict, and Secure when the lab is served over HTTPS."""
        resp.set_cookie(
            name,
            value,
            max_age=max_age,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, error: str = "") -> HTMLResponse:
        browser = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
        resp = page("login.html", "Sign in", csrf=login_token(browser), error=error)
        cookie(resp, request, LOGIN_COOKIE, browser, 3600)
        return resp

    @app.post("/login")
    def login_post(
        request: Request,
        db: DB,
        username: Annotated[str, Form()],
        password: Annotated[str, Form()],
        csrf: Annotated[str, Form()] = "",
    ) -> RedirectResponse:
        throttle, address = app.state.throttle, client_address(request)
        try:  # a name that must wait says so first: a stale form does not hide that
            throttle.check(username[:64], address)
        except HTTPException as exc:
            return back("/login", exc)
        browser = request.cookies.get(LOGIN_COOKIE, "")
        if not browser or not hmac.compare_digest(csrf, login_token(browser)):
            return back("/login", HTTPException(403, "the sign-in form is stale; sign in again"))
        try:
            user = throttle.sign_in(db, username[:64], password[:1024], address)
        except HTTPException as exc:
            return back("/login", exc)
        if user is None:
            return RedirectResponse("/login?error=wrong+user+name+or+password", status_code=303)
        token, _ = issue_token(db, user, token_ttl)
        db.commit()
        resp = RedirectResponse("/", status_code=303)
        cookie(resp, request, COOKIE, token, int(token_ttl.total_seconds()))
        resp.delete_cookie(LOGIN_COOKIE, path="/")
        return resp

    @app.post("/logout")
    def logout(request: Request, db: DB, _: Checked) -> RedirectResponse:
        revoke_token(db, request.cookies.get(COOKIE, ""))
        db.commit()
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE, path="/")
        return resp

    @app.get("/", response_class=HTMLResponse)
    def home(
        request: Request, user: PageUser, db: DB, csrf: Csrf, error: str = "", notice: str = ""
    ) -> HTMLResponse:
        invitations = [_invitation_dict(db, i, user) for i in _invitations_for(db, user)]
        if user.role == TRAINER:
            return page(
                "trainer_home.html",
                "Trainer",
                user,
                csrf,
                error,
                notice=notice,
                approvals=[i for i in invitations if not i["sent_by_me"]],
                cohorts=_my_cohorts(db, user),
                rubrics=rubric_list(db),
            )
        drills = [
            {
                "id": d.id,
                "persona": d.persona,
                "rubric": d.rubric,
                "pass_mark": d.pass_mark,
                "due": d.due.date().isoformat() if d.due else "",
                "attempts": _attempts(db, user, d),
                "attempts_allowed": d.attempts_allowed,
            }
            for d in _my_drills(db, user)
        ]
        view = session_history(db, user)
        return page(
            "trainee_home.html",
            "Trainee",
            user,
            csrf,
            error,
            notice=notice,
            invitations=invitations,
            drills=drills,
            sessions=list(reversed(view["sessions"])),
            charts=_persona_charts(view["sessions"], view["families"]),
            coaching=latest_coaching(store, db, view["sessions"]),
            lab=str(request.base_url).rstrip("/"),
        )

    @app.post("/invitations/{invitation_id}/{action}")
    def invitation_post(
        invitation_id: int, action: str, user: PageUser, db: DB, _: Checked
    ) -> RedirectResponse:
        if action not in ("accept", "decline"):
            raise HTTPException(404, "no such action")
        try:
            inv = _invitation(db, invitation_id, user, accept=action == "accept")
        except HTTPException as exc:
            return back("/", exc)
        here = f"/cohorts/{inv.cohort_id}" if inv.invited_by == user.id else "/"
        if action == "accept":
            accept_invitation(db, inv)
        else:
            db.delete(inv)
            db.commit()
        return RedirectResponse(here, status_code=303)

    @app.post("/cohorts")
    def cohort_post(
        user: PageTrainer, db: DB, _: Checked, name: Annotated[str, Form(max_length=120)]
    ) -> RedirectResponse:
        try:
            c = _create_cohort(db, name, user)
        except HTTPException as exc:
            return back("/", exc)
        return RedirectResponse(f"/cohorts/{c.id}", status_code=303)

    @app.post("/rubrics")
    def rubric_post(
        user: PageTrainer,
        db: DB,
        _: Checked,
        name: Annotated[str, Form()],
        file: Annotated[UploadFile, File()],
    ) -> RedirectResponse:
        raw = file.file.read(MAX_RUBRIC * 4 + 1)  # a worker thread: this route is not async
        try:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise HTTPException(422, f"{file.filename}: not UTF-8 text") from None
            body = checked(RubricIn, name=name, text=text)
            add_rubric(db, body.name, body.text, user)
        except HTTPException as exc:
            return back("/", exc)
        return RedirectResponse("/", status_code=303)

    @app.post("/cohorts/{cohort_id}/trainees")
    def trainee_post(
        cohort_id: int,
        user: PageTrainer,
        db: DB,
        _: Checked,
        username: Annotated[str, Form()],
        password: Annotated[str, Form()],
    ) -> RedirectResponse:
        cohort = _cohort(db, cohort_id, user)
        here = f"/cohorts/{cohort_id}"
        try:
            body = checked(TraineeIn, username=username, password=password)
            added = _add_trainee(db, cohort, body.username, body.password, user)
        except HTTPException as exc:
            return back(here, exc)
        if added is None:
            note = urllib.parse.quote(f"{body.username}: {INVITED}")
            return RedirectResponse(f"{here}?notice={note}", status_code=303)
        return RedirectResponse(here, status_code=303)

    @app.post("/cohorts/{cohort_id}/drills")
    def drill_post(
        cohort_id: int,
        user: PageTrainer,
        db: DB,
        _: Checked,
        persona: Annotated[str, Form()],
        rubric: Annotated[str, Form()] = "default",
        pass_mark: Annotated[float, Form()] = 70,
        due: Annotated[str, Form()] = "",
        attempts_allowed: Annotated[int, Form()] = 3,
    ) -> RedirectResponse:
        cohort = _cohort(db, cohort_id, user)
        try:
            body = checked(
                DrillIn,
                persona=persona,
                rubric=rubric or "default",
                pass_mark=pass_mark,
                due=due or None,
                attempts_allowed=attempts_allowed,
            )
            _assign(db, cohort, body)
        except HTTPException as exc:
            return back(f"/cohorts/{cohort_id}", exc)
        return RedirectResponse(f"/cohorts/{cohort_id}", status_code=303)

    @app.get("/cohorts/{cohort_id}", response_class=HTMLResponse)
    def cohort_page(
        cohort_id: int, user: PageTrainer, db: DB, csrf: Csrf, error: str = "", notice: str = ""
    ) -> HTMLResponse:
        cohort = _cohort(db, cohort_id, user)
        view = cohort_overview(db, cohort)
        members = select(Membership.user_id).where(Membership.cohort_id == cohort.id)
        recent = db.scalars(
            select(Upload).where(Upload.owner_id.in_(members)).order_by(Upload.id.desc()).limit(50)
        )
        names = {u.id: u.username for u in db.scalars(select(User).where(User.id.in_(members)))}
        invited = [
            _invitation_dict(db, i, user)
            for i in _invitations_for(db, user)
            if i.cohort_id == cohort.id and i.invited_by == user.id
        ]
        return page(
            "cohort.html",
            f"Cohort {cohort.name}",
            user,
            csrf,
            error,
            notice=notice,
            cohort=cohort,
            view=view,
            recent=list(recent),
            names=names,
            progress=[p | {"chart": progress_chart(p["families"])} for p in view["progress"]],
            drill_figures=drill_summary(db, view),
            weakest_criteria=weakest_criteria(store, db, members)[:WEAKEST_SHOWN],
            invited=invited,
            personas=personas(),
            rubrics=rubric_list(db),
        )

    @app.get("/sessions/{session_id}", response_class=HTMLResponse)
    def session_page(
        session_id: int, user: PageUser, db: DB, csrf: Csrf, error: str = "", notice: str = ""
    ) -> HTMLResponse:
        """A session's trainer review: comments at moments of the call and changed results,
        with the forms for trainers; the trainee sees the same, without the forms."""
        up = visible_upload(db, user, session_id)
        machine = machine_card(store.session_path(up))
        card = reviewed_card(machine, latest_overrides(db, [up.id]).get(up.id, {}))
        owner = db.get(User, up.owner_id)
        criteria = [
            {
                "id": c["id"],
                "label": c.get("label") or c["id"],
                "earned": c["earned"],
                "points": c["points"],
            }
            for f in card.get("families") or []
            for c in f.get("criteria") or []
            if c.get("applies", True) and c.get("points")
        ]
        return page(
            "session.html",
            f"Session #{up.id}",
            user,
            csrf,
            error,
            notice=notice,
            s=_upload_dict(up, owner.username if owner else ""),
            owner=owner.username if owner else "",
            card=card,
            review=review_of(db, up, machine),
            criteria=criteria,
        )

    @app.post("/sessions/{session_id}/comments")
    def comment_post(
        session_id: int,
        user: PageTrainer,
        db: DB,
        _: Checked,
        text: Annotated[str, Form()],
        t: Annotated[str, Form()] = "",
    ) -> RedirectResponse:
        up = visible_upload(db, user, session_id)
        try:
            add_comment(db, store, up, user, t, text)
        except HTTPException as exc:
            return back(f"/sessions/{session_id}", exc)
        return RedirectResponse(f"/sessions/{session_id}?notice=comment+added", status_code=303)

    @app.post("/sessions/{session_id}/overrides")
    def override_post(
        session_id: int,
        user: PageTrainer,
        db: DB,
        _: Checked,
        criterion: Annotated[str, Form()],
        points: Annotated[float, Form()],
        reason: Annotated[str, Form()],
    ) -> RedirectResponse:
        up = visible_upload(db, user, session_id)
        try:
            add_override(db, store, up, user, criterion, points, reason)
        except HTTPException as exc:
            return back(f"/sessions/{session_id}", exc)
        return RedirectResponse(f"/sessions/{session_id}?notice=result+changed", status_code=303)

    @app.get("/cohorts/{cohort_id}/trainees/{username}", response_class=HTMLResponse)
    def trainee_page(
        cohort_id: int,
        username: str,
        user: PageTrainer,
        db: DB,
        csrf: Csrf,
        error: str = "",
        notice: str = "",
    ):
        cohort = _cohort(db, cohort_id, user)
        view = trainee_history(db, cohort, username)
        sessions = view["sessions"]
        member = _trainee_in(db, cohort, username)
        return page(
            "trainee.html",
            f"Trainee {view['trainee']}",
            user,
            csrf,
            error,
            notice=notice,
            cohort_id=cohort_id,
            view=view,
            charts=_persona_charts(sessions, view["families"]),
            weakest_criteria=weakest_criteria(store, db, [member.id])[:WEAKEST_SHOWN],
        )

    @app.post("/cohorts/{cohort_id}/trainees/{username}/password")
    def password_post(
        cohort_id: int,
        username: str,
        user: PageTrainer,
        db: DB,
        _: Checked,
        password: Annotated[str, Form()],
    ) -> RedirectResponse:
        cohort = _cohort(db, cohort_id, user)
        here = f"/cohorts/{cohort_id}/trainees/{_path_segment(username)}"
        try:
            body = checked(PasswordIn, password=password)
            reset_password(db, cohort, username, body.password)
        except HTTPException as exc:
            return back(here, exc)
        note = urllib.parse.quote(f"{username}'s password is changed; their stations sign in again")
        return RedirectResponse(f"{here}?notice={note}", status_code=303)
