"""Server-rendered dashboard pages: plain HTML, inline CSS and SVG charts, forms that post back.
No JavaScript framework and nothing from a CDN: the lab may have no internet."""

import datetime as _dt
from typing import Annotated

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from .app import (
    COOKIE,
    DrillIn,
    TraineeIn,
    _add_trainee,
    _assign,
    _attempts,
    _cohort,
    _create_cohort,
    _my_drills,
    cohort_overview,
    esc,
)
from .store import (
    TRAINER,
    Cohort,
    Membership,
    Upload,
    User,
    authenticate,
    issue_token,
    revoke_token,
    user_for_token,
)

CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f7f7f8;color:#202124}
header{background:#fff;border-bottom:1px solid #ddd;padding:10px 24px;display:flex;gap:20px;
align-items:center}header h1{font-size:19px;margin:0}main{padding:16px 24px;max-width:1200px}
section{background:#fff;border:1px solid #e0e0e0;border-radius:8px;padding:12px 16px;margin:0 0 16px}
h2{font-size:15px;text-transform:uppercase;letter-spacing:.04em;color:#5f6368;margin:0 0 8px}
table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #eee;text-align:left}
.pass{color:#1e8e3e;font-weight:700}.fail{color:#c5221f;font-weight:700}.err{color:#c5221f}
form.inline{display:flex;gap:8px;flex-wrap:wrap;align-items:end}label{display:flex;
flex-direction:column;font-size:13px;color:#5f6368}input{font:inherit;padding:3px 6px}
"""


def page(title: str, body: str, user: User | None = None, status: int = 200) -> HTMLResponse:
    who = (
        f'<span>{esc(user.username)} ({esc(user.role)})</span><form method="post" '
        'action="/logout"><button>Sign out</button></form>'
        if user
        else ""
    )
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}'
        f"</title><style>{CSS}</style></head><body><header><h1><a href='/'>voicesim lab</a>"
        f"</h1><span>{esc(title)}</span>{who}</header><main>{body}</main></body></html>",
        status_code=status,
    )


def _verdict(passed: bool | None) -> str:
    if passed is None:
        return "-"
    return '<span class="pass">PASS</span>' if passed else '<span class="fail">FAIL</span>'


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}"


def progress_svg(families: dict) -> str:
    """Horizontal bars per family: first attempt (grey) against latest (blue), 0-100."""
    rows = list(families.items())
    h = 22 * len(rows) + 8
    parts = [f'<svg class="progress" width="460" height="{h}" role="img">']
    for i, (fam, v) in enumerate(rows):
        y = 4 + 22 * i
        first, latest = v.get("first") or 0, v.get("latest") or 0
        parts.append(
            f'<text x="0" y="{y + 13}" font-size="12">{esc(fam)}</text>'
            f'<rect x="140" y="{y}" width="{first * 2.6:.1f}" height="8" fill="#bbb">'
            f"<title>first {first:.0f}</title></rect>"
            f'<rect x="140" y="{y + 9}" width="{latest * 2.6:.1f}" height="8" fill="#1f6fd1">'
            f"<title>latest {latest:.0f}</title></rect>"
            f'<text x="410" y="{y + 13}" font-size="12">{first:.0f}&#8594;{latest:.0f}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


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

    PageUser = Annotated[User, Depends(page_user)]
    PageTrainer = Annotated[User, Depends(page_trainer)]

    @app.get("/login", response_class=HTMLResponse)
    def login_form(error: str = "") -> HTMLResponse:
        msg = f'<p class="err">{esc(error)}</p>' if error else ""
        return page(
            "Sign in",
            f'<section><h2>Sign in</h2>{msg}<form method="post" action="/login" class="inline">'
            '<label>User<input name="username" autocomplete="username" required></label>'
            '<label>Password<input name="password" type="password" required></label>'
            "<button>Sign in</button></form></section>",
        )

    @app.post("/login")
    def login_post(
        db: DB, username: Annotated[str, Form()], password: Annotated[str, Form()]
    ) -> RedirectResponse:
        user = authenticate(db, username[:64], password[:1024])
        if user is None:
            return RedirectResponse("/login?error=wrong+user+name+or+password", status_code=303)
        token, _ = issue_token(db, user, token_ttl)
        db.commit()
        resp = RedirectResponse("/", status_code=303)
        resp.set_cookie(
            COOKIE,
            token,
            max_age=int(token_ttl.total_seconds()),
            httponly=True,
            samesite="strict",
            path="/",
        )
        return resp

    @app.post("/logout")
    def logout(request: Request, db: DB) -> RedirectResponse:
        revoke_token(db, request.cookies.get(COOKIE, ""))
        db.commit()
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE, path="/")
        return resp

    @app.get("/", response_class=HTMLResponse)
    def home(user: PageUser, db: DB) -> HTMLResponse:
        if user.role == TRAINER:
            rows = "".join(
                f'<tr><td><a href="/cohorts/{c.id}">{esc(c.name)}</a></td></tr>'
                for c in db.scalars(select(Cohort).order_by(Cohort.name))
            )
            body = (
                f"<section><h2>Cohorts</h2><table id='cohorts'>{rows}</table></section>"
                '<section><h2>New cohort</h2><form method="post" action="/cohorts" class="inline">'
                '<label>Name<input name="name" required maxlength="120"></label>'
                "<button>Create cohort</button></form></section>"
            )
            return page("Trainer", body, user)
        drills = "".join(
            f"<tr><td>{d.id}</td><td>{esc(d.persona)}</td><td>{esc(d.rubric)}</td>"
            f"<td>{d.pass_mark:g}</td><td>{esc(d.due.date() if d.due else '')}</td>"
            f"<td>{_attempts(db, user, d)} / {d.attempts_allowed}</td></tr>"
            for d in _my_drills(db, user)
        )
        ups = db.scalars(
            select(Upload).where(Upload.owner_id == user.id).order_by(Upload.id.desc()).limit(100)
        )
        sessions = "".join(
            f'<tr><td><a href="/sessions/{u.id}/report">#{u.id}</a></td><td>{esc(u.persona)}'
            f"</td><td>{_num(u.overall)}</td><td>{_verdict(u.passed)}</td></tr>"
            for u in ups
        )
        body = (
            "<section><h2>My drills</h2><table><tr><th>id</th><th>persona</th><th>rubric</th>"
            f"<th>pass mark</th><th>due</th><th>attempts</th></tr>{drills}</table></section>"
            "<section><h2>My sessions</h2><table><tr><th>session</th><th>persona</th>"
            f"<th>score</th><th>result</th></tr>{sessions}</table></section>"
        )
        return page("Trainee", body, user)

    @app.post("/cohorts")
    def cohort_post(
        user: PageTrainer, db: DB, name: Annotated[str, Form(max_length=120)]
    ) -> RedirectResponse:
        c = _create_cohort(db, name, user)
        return RedirectResponse(f"/cohorts/{c.id}", status_code=303)

    @app.post("/cohorts/{cohort_id}/trainees")
    def trainee_post(
        cohort_id: int,
        user: PageTrainer,
        db: DB,
        username: Annotated[str, Form()],
        password: Annotated[str, Form()],
    ) -> RedirectResponse:
        try:
            body = TraineeIn(username=username, password=password)
        except ValidationError as exc:
            raise HTTPException(422, exc.errors()[0]["msg"]) from None
        _add_trainee(db, _cohort(db, cohort_id), body.username, body.password)
        return RedirectResponse(f"/cohorts/{cohort_id}", status_code=303)

    @app.post("/cohorts/{cohort_id}/drills")
    def drill_post(
        cohort_id: int,
        user: PageTrainer,
        db: DB,
        persona: Annotated[str, Form()],
        rubric: Annotated[str, Form()] = "default",
        pass_mark: Annotated[float, Form()] = 70,
        due: Annotated[str, Form()] = "",
        attempts_allowed: Annotated[int, Form()] = 3,
    ) -> RedirectResponse:
        try:
            body = DrillIn(
                persona=persona,
                rubric=rubric or "default",
                pass_mark=pass_mark,
                due=due or None,
                attempts_allowed=attempts_allowed,
            )
        except ValidationError as exc:
            raise HTTPException(422, exc.errors()[0]["msg"]) from None
        _assign(db, _cohort(db, cohort_id), body)
        return RedirectResponse(f"/cohorts/{cohort_id}", status_code=303)

    @app.get("/cohorts/{cohort_id}", response_class=HTMLResponse)
    def cohort_page(cohort_id: int, user: PageTrainer, db: DB) -> HTMLResponse:
        cohort = _cohort(db, cohort_id)
        view = cohort_overview(db, cohort)
        rows = "".join(
            f"<tr><td>{esc(r['trainee'])}</td><td>#{r['drill']} {esc(r['persona'])}</td>"
            f"<td>{r['attempts']} / {r['attempts_allowed']}</td><td>{_num(r['best'])}</td>"
            f'<td class="last">{_num(r["last"])}</td><td>{_verdict(r["passed"])}</td><td>'
            + (
                f'<a href="/sessions/{r["last_session"]}/report">report</a>'
                if r["last_session"]
                else ""
            )
            + "</td></tr>"
            for r in view["table"]
        )
        progress = "".join(
            f"<div><h3>{esc(p['trainee'])} ({p['sessions']} sessions, first &#8594; latest)"
            f"</h3>{progress_svg(p['families'])}</div>"
            for p in view["progress"]
        )
        weakest = "".join(
            f"<tr><td>{esc(w['family'])}</td><td>{w['mean']:.1f}</td><td>{w['n']}</td></tr>"
            for w in view["weakest"]
        )
        members = select(Membership.user_id).where(Membership.cohort_id == cohort.id)
        recent = db.scalars(
            select(Upload).where(Upload.owner_id.in_(members)).order_by(Upload.id.desc()).limit(50)
        )
        names = {u.id: u.username for u in db.scalars(select(User).where(User.id.in_(members)))}
        sessions = "".join(
            f'<tr><td><a href="/sessions/{u.id}/report">#{u.id}</a></td>'
            f"<td>{esc(names.get(u.owner_id))}</td><td>{esc(u.persona)}</td>"
            f'<td class="score">{_num(u.overall)}</td><td>{_verdict(u.passed)}</td></tr>'
            for u in recent
        )
        body = (
            f'<section><h2>Cohort table</h2><p><a href="/api/cohorts/{cohort.id}/export.csv">'
            'Export CSV</a></p><table id="cohort-table"><tr><th>trainee</th><th>drill</th>'
            "<th>attempts</th><th>best</th><th>last</th><th>result</th><th></th></tr>"
            f"{rows}</table></section>"
            '<section><h2>Recent sessions</h2><table id="sessions"><tr><th>session</th>'
            "<th>trainee</th><th>persona</th><th>score</th><th>result</th></tr>"
            f"{sessions}</table></section>"
            f"<section><h2>Progress per rubric family</h2>{progress or 'no sessions yet'}"
            "</section><section><h2>Weakest skills across the cohort</h2><table id='weakest'>"
            f"<tr><th>family</th><th>mean score</th><th>scores</th></tr>{weakest}</table>"
            "</section>"
            '<section><h2>Add trainee</h2><form method="post" class="inline" '
            f'action="/cohorts/{cohort.id}/trainees"><label>User<input name="username" '
            'required></label><label>Password (8+)<input name="password" type="password" '
            'required minlength="8"></label><button>Add trainee</button></form></section>'
            '<section><h2>Assign drill</h2><form method="post" class="inline" '
            f'action="/cohorts/{cohort.id}/drills"><label>Persona<input name="persona" '
            'required></label><label>Rubric<input name="rubric" value="default"></label>'
            '<label>Pass mark<input name="pass_mark" type="number" value="70" min="0" '
            'max="100"></label><label>Due<input name="due" type="date"></label><label>'
            'Attempts<input name="attempts_allowed" type="number" value="3" min="1"></label>'
            "<button>Assign drill</button></form></section>"
        )
        return page(f"Cohort {cohort.name}", body, user)
