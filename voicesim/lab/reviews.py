"""A human has the last word: trainers comment on a session at a moment of its timeline and
override a criterion's points with a reason.

The machine's scorecard.json is never changed: reviews are rows of their own (``Review``), only
ever added, so the machine's result, every override, who made it and when stay as an audit
trail. The latest override of a criterion counts: the session's stored scores (overall,
families, pass) are recomputed with it, so the cohort figures use it, and the report, the lab's
session page and the exports show both values.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable
from pathlib import Path

from fastapi import HTTPException
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..errors import VoicesimError
from ..events import CUSTOMER_LINE_START, FINAL
from ..rubric.scorer import card_passes, family_score, overall_score
from .store import Drill, Review, SessionScore, Upload, User

TEXT_MAX = 4000  # characters in a comment or a reason


def transcript(session_dir: Path) -> list[dict]:
    """The call's lines in time order, for the review page (``t``, ``who``: customer or
    trainee, ``text``), from the session's events as the session reader checks them; [] for a
    session that cannot be read (the page says so)."""
    from ..report.session import read_session

    try:
        events = read_session(session_dir).events
    except (VoicesimError, OSError, ValueError):
        return []
    lines = [
        {"t": float(e.t), "who": "customer", "text": str(e.get("text") or "")}
        for e in events
        if e.type == CUSTOMER_LINE_START
    ] + [
        {"t": float(e.t), "who": "trainee", "text": str(e.get("text") or "")}
        for e in events
        if e.type == FINAL and e.get("who", "trainee") == "trainee"
    ]
    return sorted((x for x in lines if x["text"].strip()), key=lambda x: x["t"])


def machine_card(session_dir: Path) -> dict:
    """The scorecard the server's scorer wrote for the session (never changed by a review)."""
    try:
        card = json.loads((session_dir / "scorecard.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return card if isinstance(card, dict) else {}


def _criteria(card: dict) -> Iterable[dict]:
    for fam in card.get("families") or []:
        yield from fam.get("criteria") or []


def reviewed_card(card: dict, overrides: dict[str, dict]) -> dict:
    """``card`` with each overridden criterion's ``earned`` replaced (its ``override`` records
    ``machine``, ``earned``, ``by``, ``at``, ``reason``) and the family and overall scores and
    the verdict recomputed the way the scorer computes them; ``machine_overall`` keeps the
    machine's overall score when anything was overridden."""
    out = copy.deepcopy(card)
    if not overrides:
        return out
    scores = []
    for fam in out.get("families") or []:
        for c in fam.get("criteria") or []:
            o = overrides.get(c.get("id"))
            if o is not None:
                c["override"] = {"machine": c.get("earned"), **o}
                c["earned"] = o["earned"]
        total = sum(float(c.get("points") or 0) for c in fam.get("criteria") or [])
        earned = sum(float(c.get("earned") or 0) for c in fam.get("criteria") or [])
        score = family_score(earned, total)  # None: no criterion applies, the family is left out
        fam["score"] = round(score or 0.0, 1)
        fam["applies"] = score is not None
        scores.append((score, float(fam.get("weight") or 0)))
    _follow_overrides(out, overrides)
    out["machine_overall"] = card.get("overall")
    overall = overall_score(scores)
    scorable = card.get("scorable", True) is not False and overall is not None
    out["overall"] = overall if scorable else 0.0
    if card.get("scorable", True) is False:  # a call with nothing to judge has no scores
        for fam in out.get("families") or []:
            fam["score"], fam["applies"] = 0.0, False
    out["passed"] = card_passes(out)
    return out


def _follow_overrides(card: dict, overrides: dict[str, dict]) -> None:
    """The coaching follows the human's last word: a criterion a trainer gave full credit is
    no longer a thing to work on, and a tip's lost points are the reviewed ones."""
    coaching = card.get("coaching")
    if not isinstance(coaching, dict) or not isinstance(coaching.get("focus"), list):
        return
    crits = {c.get("id"): c for c in _criteria(card)}
    focus = []
    for tip in coaching["focus"]:
        c = crits.get(tip.get("criterion")) if isinstance(tip, dict) else None
        if c is None or tip.get("criterion") not in overrides:
            focus.append(tip)
            continue
        lost = float(c.get("points") or 0) - float(c.get("earned") or 0)
        if lost > 0:
            focus.append({**tip, "lost": round(lost, 2), "overridden": True})
    coaching["focus"] = focus


def _names(db: Session, rows: list[Review]) -> dict[int, str]:
    ids = {r.author_id for r in rows}
    if not ids:
        return {}
    return dict(db.execute(select(User.id, User.username).where(User.id.in_(ids))).all())


def _at(r: Review) -> str:
    return r.created.isoformat(timespec="seconds") + "Z" if r.created else ""


def latest_overrides(db: Session, upload_ids: list[int]) -> dict[int, dict[str, dict]]:
    """Per session, per criterion, the override that counts (the latest)."""
    if not upload_ids:
        return {}
    rows = list(
        db.scalars(
            select(Review)
            .where(Review.upload_id.in_(upload_ids), Review.kind == "override")
            .order_by(Review.id)
        )
    )
    names = _names(db, rows)
    out: dict[int, dict[str, dict]] = {}
    for r in rows:
        out.setdefault(r.upload_id, {})[r.criterion or ""] = {
            "earned": r.earned,
            "machine": r.machine,
            "by": names.get(r.author_id, ""),
            "at": _at(r),
            "reason": r.text,
        }
    return out


def review_of(db: Session, up: Upload, card: dict) -> dict:
    """Everything the trainers said about a session, for its report and its lab page:
    ``comments`` (time order) and ``overrides`` (every one, oldest first: the audit trail),
    each with the author's name and the time."""
    rows = list(db.scalars(select(Review).where(Review.upload_id == up.id).order_by(Review.id)))
    names = _names(db, rows)
    labels = {c.get("id"): c.get("label") or c.get("id") for c in _criteria(card)}
    comments = [
        {"t": r.t, "by": names.get(r.author_id, ""), "at": _at(r), "text": r.text}
        for r in rows
        if r.kind == "comment"
    ]
    comments.sort(key=lambda c: (c["t"] is None, c["t"] or 0.0))
    overrides = [
        {
            "criterion": r.criterion,
            "label": labels.get(r.criterion, r.criterion),
            "machine": r.machine,
            "earned": r.earned,
            "by": names.get(r.author_id, ""),
            "at": _at(r),
            "reason": r.text,
        }
        for r in rows
        if r.kind == "override"
    ]
    return {"comments": comments, "overrides": overrides}


def _text(text: str, what: str) -> str:
    text = (text or "").strip()
    if not text:
        raise HTTPException(400, f"{what}: write something")
    if len(text) > TEXT_MAX:
        raise HTTPException(400, f"{what}: at most {TEXT_MAX} characters")
    return text


def parse_time(value: str | float | None, duration: float | None) -> float | None:
    """A moment of the call from ``mm:ss`` or seconds ('' for the whole call)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        if isinstance(value, str) and ":" in value:
            m, s = value.strip().split(":", 1)
            t = 60 * int(m) + float(s)
        else:
            t = float(value)
    except ValueError:
        raise HTTPException(400, f"time: {value!r} is not mm:ss or seconds") from None
    if not math.isfinite(t) or t < 0 or (duration is not None and t > duration + 1):
        raise HTTPException(400, f"time: {value!r} is outside the call")
    return round(t, 2)


def add_comment(
    db: Session, store, up: Upload, author: User, t: str | float | None, text: str
) -> Review:  # noqa: ANN001, E501
    card = machine_card(store.session_path(up))
    duration = (card.get("stats") or {}).get("duration_s")
    r = Review(
        upload_id=up.id,
        author_id=author.id,
        kind="comment",
        t=parse_time(t, duration if isinstance(duration, int | float) else None),
        text=_text(text, "comment"),
    )
    db.add(r)
    db.commit()
    return r


def add_override(
    db: Session,
    store,  # noqa: ANN001
    up: Upload,
    author: User,
    criterion: str,
    earned: float,
    reason: str,
) -> Review:
    """Record a trainer's points for one criterion, with the machine's beside them, and
    recompute the session's stored scores."""
    card = machine_card(store.session_path(up))
    c = next((c for c in _criteria(card) if c.get("id") == criterion), None)
    if c is None:
        raise HTTPException(400, f"criterion: {criterion!r} is not on this session's scorecard")
    if c.get("applies") is False:
        raise HTTPException(400, f"criterion: {criterion!r} did not apply to this call")
    points = float(c.get("points") or 0)
    if not (math.isfinite(earned) and 0 <= earned <= points):
        raise HTTPException(400, f"points: between 0 and {points:g} for this criterion")
    r = Review(
        upload_id=up.id,
        author_id=author.id,
        kind="override",
        criterion=criterion,
        machine=float(c.get("earned") or 0),
        earned=float(earned),
        text=_text(reason, "reason"),
    )
    db.add(r)
    db.flush()
    restore_scores(db, up, card)
    db.commit()
    return r


def restore_scores(db: Session, up: Upload, card: dict) -> None:
    """The session's stored scores from the machine's card with the overrides that count."""
    rc = reviewed_card(card, latest_overrides(db, [up.id]).get(up.id, {}))
    store_scores(db, up, rc, db.get(Drill, up.drill_id) if up.drill_id else None)


def family_scores(card: dict) -> dict[str, float | None]:
    """Each family's score; None for a family left out (nothing in it applied to the call),
    and for every family of a call that is not scorable (it has no scores)."""
    scorable = card.get("scorable", True) is not False
    return {
        str(f["id"]): (
            float(f["score"]) if scorable and f.get("applies", True) is not False else None
        )
        for f in card.get("families") or []
        if isinstance(f, dict) and "id" in f
    }


def store_scores(db: Session, up: Upload, card: dict, drill: Drill | None) -> None:
    """The session's stored scores from ``card``: the overall score, each family's (None when
    left out), whether it was scorable, the verdict (``card_passes`` against the drill's pass
    mark: the one pass decision) and the family rows the cohort figures aggregate (none for a
    family left out: it was never tested). Flushes ``up``."""
    up.overall = float(card.get("overall") or 0.0)
    up.families = family_scores(card)
    up.scorable = card.get("scorable", True) is not False
    up.passed = card_passes(card, drill.pass_mark if drill else None)
    db.flush()
    db.execute(delete(SessionScore).where(SessionScore.upload_id == up.id))
    db.add_all(
        SessionScore(upload_id=up.id, owner_id=up.owner_id, family=f, score=v)
        for f, v in up.families.items()
        if v is not None
    )
