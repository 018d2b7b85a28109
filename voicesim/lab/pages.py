"""How the dashboard pages are drawn: Jinja2 templates (templates/, autoescape on), inline CSS and
SVG charts, forms that post back. No JavaScript and nothing from a CDN: the lab may have no
internet. Every page is sent with a Content-Security-Policy that allows no script at all.
The routes that use these are in ``routes/pages.py``."""

import urllib.parse
from functools import cache

from fastapi import HTTPException
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from ..report.html import asset, environment
from .figures import by_persona
from .reviews import latest_overrides, machine_card, reviewed_card
from .store import SCORED, Upload, User

WEAKEST_SHOWN = 8  # criteria listed as the weakest skills
LOGIN_COOKIE = "lab_login"  # a random value per browser, for the sign-in form's token


def _score(x: float | None) -> str:
    """A score as stored (one decimal, none when whole): 59.6 must not read as a failed 60."""
    return "-" if x is None else f"{x:.1f}".removesuffix(".0")


def path_segment(x: object) -> str:
    return urllib.parse.quote(str(x), safe="")


@cache
def _env() -> Environment:
    env = environment("voicesim.lab")
    env.filters["score"] = _score
    env.filters["num"] = lambda x: f"{x:g}"
    env.filters["segment"] = path_segment
    return env


def page_csp() -> str:
    """No script at all; only the lab's own style sheet and the lab's own audio (a session's
    call); forms post to the lab only."""
    css = asset("voicesim.lab", "lab.css").csp
    return (
        f"default-src 'none'; style-src {css}; img-src 'self'; media-src 'self'; "
        "form-action 'self'; "
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
    """Horizontal bars per family: first attempt (grey) against latest (blue), 0-100; a family
    left out of a call (nothing in it applied) reads n/a, with no bar."""
    bars = []
    for i, (fam, v) in enumerate(families.items()):
        first, latest = v.get("first"), v.get("latest")
        bars.append(
            {
                "family": fam,
                "y": 4 + 22 * i,
                "first": "n/a" if first is None else f"{first:.0f}",
                "latest": "n/a" if latest is None else f"{latest:.0f}",
                "first_w": f"{(first or 0) * 2.6:.1f}",
                "latest_w": f"{(latest or 0) * 2.6:.1f}",
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
        pts = [  # a call that is not scorable has no score to draw
            (i, s["overall"] if name == "overall" else (s["families"] or {}).get(name))
            if s.get("scorable") is not False
            else (i, None)
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


def persona_charts(sessions: list[dict], families: list[str]) -> list[dict]:
    """One scores-over-time chart per persona: scores against different customers are not
    comparable on one line."""
    return [
        {"persona": persona, "sessions": len(group), "chart": history_chart(group, families)}
        for persona, group in by_persona(sessions)
    ]


def latest_coaching(store, db: Session, sessions: list[dict]) -> dict:  # noqa: ANN001
    """The coaching of the newest of ``sessions`` as reviewed: the scorecard the server wrote
    when it scored the upload, with the trainers' overrides applied (a criterion a trainer gave
    full points is no longer a thing to work on), with the session id; {} when there is none."""
    sessions = [s for s in sessions if s.get("status", SCORED) == SCORED]  # not waiting ones
    if not sessions:
        return {}
    up = db.get(Upload, sessions[-1]["id"])
    try:
        machine = machine_card(store.session_path(up))
    except (ValueError, TypeError):
        return {}
    card = reviewed_card(machine, latest_overrides(db, [up.id]).get(up.id, {}))
    coaching = card.get("coaching")
    if not isinstance(coaching, dict) or not coaching.get("focus"):
        return {}
    return {**coaching, "session": up.id}
