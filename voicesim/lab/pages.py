"""Server-rendered dashboard pages: plain HTML, inline CSS and SVG charts, forms that post back.
No JavaScript framework and nothing from a CDN: the lab may have no internet."""

import datetime as _dt
import hashlib
import hmac
import urllib.parse
from typing import Annotated

from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from .app import (
    COOKIE,
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
    _my_cohorts,
    _my_drills,
    cohort_overview,
    esc,
    reset_password,
    session_history,
    trainee_history,
)
from .library import add_rubric, personas, rubric_list
from .store import (
    TRAINER,
    Membership,
    Upload,
    User,
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
.pass,.ok{color:#1e8e3e;font-weight:700}.late{color:#b06000}.fail{color:#c5221f;font-weight:700}.err{color:#c5221f}
form.inline{display:flex;gap:8px;flex-wrap:wrap;align-items:end}label{display:flex;
flex-direction:column;font-size:13px;color:#5f6368}input{font:inherit;padding:3px 6px}
"""


def csrf_token(session_token: str) -> str:
    """The form token for a signed-in browser: derived from its (HttpOnly) session cookie, so a
    page on another site can neither read nor guess it. Every form that changes something
    carries it, on top of the SameSite=Strict cookie."""
    return hashlib.sha256(b"voicesim-lab-csrf:" + session_token.encode()).hexdigest()


def form(action: str, inner: str, csrf: str, extra: str = "") -> str:
    return (
        f'<form method="post" action="{esc(action)}" class="inline"{extra}>'
        f'<input type="hidden" name="csrf" value="{esc(csrf)}">{inner}</form>'
    )


def page(
    title: str,
    body: str,
    user: User | None = None,
    csrf: str = "",
    error: str = "",
    status: int = 200,
    notice: str = "",
) -> HTMLResponse:
    who = (
        f"<span>{esc(user.username)} ({esc(user.role)})</span>"
        + form("/logout", "<button>Sign out</button>", csrf)
        if user
        else ""
    )
    msg = f'<p class="err" id="error">{esc(error)}</p>' if error else ""
    msg += f'<p class="ok" id="notice">{esc(notice)}</p>' if notice else ""
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}'
        f"</title><style>{CSS}</style></head><body><header><h1><a href='/'>voicesim lab</a>"
        f"</h1><span>{esc(title)}</span>{who}</header><main>{msg}{body}</main></body></html>",
        status_code=status,
    )


def checked(model: type[BaseModel], **fields) -> BaseModel:  # noqa: ANN003
    """A form's fields through the API's request model: the same rules, one message."""
    try:
        return model(**fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise HTTPException(422, f"{err['loc'][-1]}: {err['msg']}") from None


def back(url: str, exc: HTTPException) -> RedirectResponse:
    """A form's mistake goes back to its page, with the reason shown there."""
    return RedirectResponse(f"{url}?error={urllib.parse.quote(str(exc.detail))}", status_code=303)


def _verdict(passed: bool | None) -> str:
    if passed is None:
        return "-"
    return '<span class="pass">PASS</span>' if passed else '<span class="fail">FAIL</span>'


STATUS = {
    "passed": '<span class="pass">PASS</span>',
    "late": '<span class="pass">PASS</span> <span class="late">late</span>',
    "failed": '<span class="fail">FAIL</span>',
    "overdue": '<span class="fail">OVERDUE</span>',
    "open": "-",
}


def _num(x: float | None) -> str:
    """A score as stored (one decimal, none when whole): 59.6 must not read as a failed 60."""
    return "-" if x is None else f"{x:.1f}".removesuffix(".0")


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


PALETTE = ("#1f6fd1", "#e8710a", "#188038", "#a142f4", "#d93025", "#12b5cb", "#f9ab00")


def history_svg(sessions: list[dict], families: list[str]) -> str:
    """Scores over time: the overall score (black) and one line per rubric family, session by
    session, on a 0-100 scale. Drawn here, as SVG: the lab may have no internet."""
    w, h, left, top, bottom = 640, 240, 34, 10, 24
    n = len(sessions)
    step = (w - left - 10) / max(n - 1, 1)

    def xy(i: int, score: float) -> str:
        return f"{left + i * step:.1f},{top + (100 - score) * (h - top - bottom) / 100:.1f}"

    parts = [f'<svg class="history" width="{w}" height="{h}" role="img">']
    for y in (0, 50, 70, 100):
        yy = top + (100 - y) * (h - top - bottom) / 100
        parts.append(
            f'<line x1="{left}" x2="{w - 10}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#e0e0e0"/>'
            f'<text x="0" y="{yy + 4:.1f}" font-size="11">{y}</text>'
        )
    series = [("overall", "#202124", 2.5)] + [
        (f, PALETTE[i % len(PALETTE)], 1.5) for i, f in enumerate(families)
    ]
    for name, colour, width in series:
        pts = [
            (i, s["overall"] if name == "overall" else (s["families"] or {}).get(name))
            for i, s in enumerate(sessions)
        ]
        pts = [(i, v) for i, v in pts if v is not None]
        if len(pts) > 1:
            parts.append(
                f'<polyline class="series" data-family="{esc(name)}" fill="none" '
                f'stroke="{colour}" stroke-width="{width}" '
                f'points="{" ".join(xy(i, v) for i, v in pts)}"/>'
            )
        for i, v in pts:
            x, y = xy(i, v).split(",")
            parts.append(
                f'<circle cx="{x}" cy="{y}" r="3" fill="{colour}"><title>session '
                f"#{sessions[i]['id']} {esc(name)}: {v:.0f}</title></circle>"
            )
    every = 1 if n <= 30 else n // 15  # session numbers along the bottom, thinned out
    for i in range(0, n, every):
        parts.append(
            f'<text x="{left + i * step:.1f}" y="{h - 6}" font-size="10" '
            f'text-anchor="middle">{i + 1}</text>'
        )
    parts.append("</svg>")
    legend = " ".join(
        f'<span style="color:{c}">&#9632; {esc(name)}</span>' for name, c, _ in series
    )
    return "".join(parts) + f"<p>{legend}</p>"


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

    @app.get("/login", response_class=HTMLResponse)
    def login_form(error: str = "") -> HTMLResponse:
        return page(
            "Sign in",
            '<section><h2>Sign in</h2><form method="post" action="/login" class="inline">'
            '<label>User<input name="username" autocomplete="username" required></label>'
            '<label>Password<input name="password" type="password" required></label>'
            "<button>Sign in</button></form></section>",
            error=error,
        )

    @app.post("/login")
    def login_post(
        db: DB, username: Annotated[str, Form()], password: Annotated[str, Form()]
    ) -> RedirectResponse:
        try:
            user = app.state.throttle.sign_in(db, username[:64], password[:1024])
        except HTTPException as exc:
            return back("/login", exc)
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
    def logout(request: Request, db: DB, _: Checked) -> RedirectResponse:
        revoke_token(db, request.cookies.get(COOKIE, ""))
        db.commit()
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE, path="/")
        return resp

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request, user: PageUser, db: DB, csrf: Csrf, error: str = "") -> HTMLResponse:
        if user.role == TRAINER:
            return trainer_home(user, db, csrf, error)
        drills = "".join(
            f"<tr><td>#{d.id}</td><td>{esc(d.persona)}</td><td>{esc(d.rubric)}</td>"
            f"<td>{d.pass_mark:g}</td><td>{esc(d.due.date() if d.due else '')}</td>"
            f"<td>{_attempts(db, user, d)} / {d.attempts_allowed}</td></tr>"
            for d in _my_drills(db, user)
        )
        view = session_history(db, user)
        sessions = "".join(
            f'<tr><td><a href="/sessions/{x["id"]}/report">#{x["id"]}</a></td>'
            f"<td>{esc(x['persona'])}</td><td>{_num(x['overall'])}</td>"
            f"<td>{_verdict(x['passed'])}</td></tr>"
            for x in reversed(view["sessions"])
        )
        chart = history_svg(view["sessions"], view["families"]) if view["sessions"] else ""
        lab = str(request.base_url).rstrip("/")
        body = (
            "<section><h2>My drills</h2><table><tr><th>drill</th><th>persona</th><th>rubric</th>"
            f"<th>pass mark</th><th>due</th><th>attempts</th></tr>{drills}</table>"
            "<p>Run one at your station (headset on) with <code>voicesim drill --lab "
            f"{esc(lab)} --user {esc(user.username)}</code>.</p></section>"
            f"<section><h2>My scores over time</h2>{chart or 'no sessions yet'}</section>"
            "<section><h2>My sessions</h2><table><tr><th>session</th><th>persona</th>"
            f"<th>score</th><th>result</th></tr>{sessions}</table></section>"
        )
        return page("Trainee", body, user, csrf, error)

    def trainer_home(user: User, db: Session, csrf: str, error: str) -> HTMLResponse:
        cohorts = "".join(
            f'<tr><td><a href="/cohorts/{c.id}">{esc(c.name)}</a></td></tr>'
            for c in _my_cohorts(db, user)
        )
        rubrics = "".join(
            f"<tr><td>{esc(r['name'])}</td><td>{esc(r['title'])} {esc(r['version'])}</td>"
            f"<td>{', '.join(esc(f) for f in r['families'])}</td><td>{r['criteria']}</td>"
            f"<td>{r['pass_mark']:g}</td><td>{esc(r['source'])}</td></tr>"
            for r in rubric_list(db)
        )
        body = (
            f"<section><h2>My cohorts</h2><table id='cohorts'>{cohorts}</table></section>"
            "<section><h2>New cohort</h2>"
            + form(
                "/cohorts",
                '<label>Name<input name="name" required maxlength="120"></label>'
                "<button>Create cohort</button>",
                csrf,
            )
            + "</section><section><h2>Rubrics</h2><table id='rubrics'><tr><th>name</th>"
            "<th>rubric</th><th>families</th><th>criteria</th><th>pass mark</th><th>source</th>"
            f"</tr>{rubrics}</table><p>A rubric is a YAML file like the built-in one "
            "(<code>voicesim/rubric/default.yaml</code>; try it first with <code>voicesim "
            "rubric validate FILE</code>). It is checked when added and kept unchanged: a drill's "
            "sessions are all scored by the same text.</p>"
            + form(
                "/rubrics",
                '<label>Name<input name="name" required maxlength="64" '
                'pattern="[A-Za-z0-9_.\\-]+"></label><label>Rubric YAML<input name="file" '
                'type="file" accept=".yaml,.yml" required></label><button>Add rubric</button>',
                csrf,
                ' enctype="multipart/form-data"',
            )
            + "</section>"
        )
        return page("Trainer", body, user, csrf, error)

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
        try:
            body = checked(TraineeIn, username=username, password=password)
            _add_trainee(db, cohort, body.username, body.password)
        except HTTPException as exc:
            return back(f"/cohorts/{cohort_id}", exc)
        return RedirectResponse(f"/cohorts/{cohort_id}", status_code=303)

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
        cohort_id: int, user: PageTrainer, db: DB, csrf: Csrf, error: str = ""
    ) -> HTMLResponse:
        cohort = _cohort(db, cohort_id, user)
        view = cohort_overview(db, cohort)
        rows = "".join(
            f'<tr><td><a href="/cohorts/{cohort.id}/trainees/{esc(r["trainee"])}">'
            f"{esc(r['trainee'])}</a></td><td>#{r['drill']} {esc(r['persona'])}</td>"
            f"<td>{r['attempts']} / {r['attempts_allowed']}</td><td>{_num(r['best'])}</td>"
            f'<td class="last">{_num(r["last"])}</td><td class="status">{STATUS[r["status"]]}</td><td>'
            + (
                f'<a href="/sessions/{r["last_session"]}/report">report</a>'
                if r["last_session"]
                else ""
            )
            + "</td></tr>"
            for r in view["table"]
        )
        drills = "".join(
            f"<tr><td>#{d['id']}</td><td>{esc(d['persona'])}</td><td>{esc(d['rubric'])}</td>"
            f"<td>{d['pass_mark']:g}</td><td>{esc(d['due'] or '-')}</td>"
            f"<td>{d['attempts_allowed']}</td></tr>"
            for d in view["drills"]
        )
        progress = "".join(
            f'<div><h3><a href="/cohorts/{cohort.id}/trainees/{esc(p["trainee"])}">'
            f"{esc(p['trainee'])}</a> ({p['sessions']} sessions, first &#8594; latest)"
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
        persona_options = "".join(
            f'<option value="{esc(p.id)}">{esc(p.id)}: {esc(p.name)} '
            f"(difficulty {p.difficulty})</option>"
            for p in personas()
        )
        rubric_options = "".join(
            f'<option value="{esc(r["name"])}">{esc(r["name"])} ({esc(r["title"])})</option>'
            for r in rubric_list(db)
        )
        body = (
            f'<section><h2>Cohort table</h2><p><a href="/api/cohorts/{cohort.id}/export.csv">'
            f'Export CSV</a> (this table) &middot; <a href="/api/cohorts/{cohort.id}/sessions.csv">'
            'Export every session (CSV)</a></p><table id="cohort-table"><tr><th>trainee</th><th>drill</th>'
            "<th>attempts</th><th>best</th><th>last</th><th>result</th><th></th></tr>"
            f"{rows}</table></section>"
            '<section><h2>Recent sessions</h2><table id="sessions"><tr><th>session</th>'
            "<th>trainee</th><th>persona</th><th>score</th><th>result</th></tr>"
            f"{sessions}</table></section>"
            f"<section><h2>Progress per rubric family</h2>{progress or 'no sessions yet'}"
            "</section><section><h2>Weakest skills across the cohort</h2><table id='weakest'>"
            f"<tr><th>family</th><th>mean score</th><th>scores</th></tr>{weakest}</table>"
            "</section>"
            "<section><h2>Add trainee</h2>"
            + form(
                f"/cohorts/{cohort.id}/trainees",
                '<label>User<input name="username" required></label><label>Password (8+)'
                '<input name="password" type="password" required minlength="8"></label>'
                "<button>Add trainee</button>",
                csrf,
            )
            + "</section><section><h2>Drills</h2><table id='drills'><tr><th>drill</th>"
            "<th>persona</th><th>rubric</th><th>pass mark</th><th>due</th><th>attempts</th></tr>"
            f"{drills}</table><h3>Assign drill</h3>"
            + form(
                f"/cohorts/{cohort.id}/drills",
                f'<label>Persona<select name="persona" required>{persona_options}</select>'
                f'</label><label>Rubric<select name="rubric">{rubric_options}</select></label>'
                '<label>Pass mark<input name="pass_mark" type="number" value="70" min="0" '
                'max="100"></label><label>Due<input name="due" type="date"></label><label>'
                'Attempts<input name="attempts_allowed" type="number" value="3" min="1">'
                "</label><button>Assign drill</button>",
                csrf,
            )
            + "</section>"
        )
        return page(f"Cohort {cohort.name}", body, user, csrf, error)

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
        view = trainee_history(db, _cohort(db, cohort_id, user), username)
        sessions = view["sessions"]
        rows = "".join(
            f'<tr><td><a href="/sessions/{x["id"]}/report">#{x["id"]}</a></td>'
            f"<td>{esc((x['created'] or '')[:16].replace('T', ' '))}</td>"
            f"<td>{'#' + str(x['drill']) if x['drill'] else '-'}</td><td>{esc(x['persona'])}</td>"
            f'<td class="score">{_num(x["overall"])}</td><td>{_verdict(x["passed"])}</td>'
            f"<td>{esc(x['end_state'] or '')}</td></tr>"
            for x in reversed(sessions)
        )
        chart = history_svg(sessions, view["families"]) if sessions else "<p>no sessions yet</p>"
        body = (
            f'<p><a href="/cohorts/{cohort_id}">&#8592; cohort {esc(view["cohort"]["name"])}</a>'
            f"</p><section><h2>Scores over time ({len(sessions)} sessions, oldest first)</h2>"
            f"{chart}</section><section><h2>Sessions</h2><table id='trainee-sessions'><tr>"
            "<th>session</th><th>uploaded (UTC)</th><th>drill</th><th>persona</th>"
            f"<th>score</th><th>result</th><th>end</th></tr>{rows}</table></section>"
            "<section><h2>New password</h2><p>For a forgotten password: the trainee's "
            "stations sign in again with the new one.</p>"
            + form(
                f"/cohorts/{cohort_id}/trainees/{view['trainee']}/password",
                '<label>Password (8+)<input name="password" type="password" required '
                'minlength="8"></label><button>Set password</button>',
                csrf,
            )
            + "</section>"
        )
        return page(f"Trainee {view['trainee']}", body, user, csrf, error, notice=notice)

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
        here = f"/cohorts/{cohort_id}/trainees/{username}"
        try:
            body = checked(PasswordIn, password=password)
            reset_password(db, cohort, username, body.password)
        except HTTPException as exc:
            return back(here, exc)
        note = urllib.parse.quote(f"{username}'s password is changed; their stations sign in again")
        return RedirectResponse(f"{here}?notice={note}", status_code=303)
