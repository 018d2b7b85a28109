"""Figures for the trainer's pages, derived from the cohort overview and the stored sessions:
pass rate, median score, who has not started and who is overdue, per drill; and progress
charts one persona at a time (a hard customer's scores must not drag an easy one's line)."""

from __future__ import annotations

import json
import statistics
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from .store import SCORED, Upload

PASSED = ("passed", "late")


def drill_summary(db: Session, view: dict) -> list[dict]:
    """Per drill of a cohort overview (``cohort_overview``): trainees, how many started, pass rate
    among them, the median score over every session, and who has not started or is overdue."""
    out = []
    for d in view["drills"]:
        rows = [r for r in view["table"] if r["drill"] == d["id"]]
        started = [r for r in rows if r["attempts"]]
        passed = [r for r in started if r["status"] in PASSED]
        scores = [
            s
            for s in db.scalars(
                select(Upload.overall).where(Upload.drill_id == d["id"], Upload.status == SCORED)
            )
            if s is not None
        ]
        out.append(
            {
                "id": d["id"],
                "persona": d["persona"],
                "due": d["due"],
                "trainees": len(rows),
                "started": len(started),
                "passed": len(passed),
                "pass_rate": round(len(passed) / len(started), 3) if started else None,
                "sessions": len(scores),
                "median": round(statistics.median(scores), 1) if scores else None,
                "not_started": [r["trainee"] for r in rows if not r["attempts"]],
                "overdue": [r["trainee"] for r in rows if r["status"] == "overdue"],
            }
        )
    return out


def by_persona(sessions: list[dict]) -> list[tuple[str, list[dict]]]:
    """Sessions (oldest first) grouped by persona, personas in the order first practised."""
    groups: dict[str, list[dict]] = {}
    for s in sessions:
        groups.setdefault(s.get("persona") or "(no persona)", []).append(s)
    return list(groups.items())


CRITERIA_SAMPLE = 200  # the latest sessions read for the per-criterion figures


@lru_cache(maxsize=4096)
def _criteria_of(path: str, mtime: float) -> tuple[tuple[str, str, float, float], ...]:
    """(id, label, earned, points) per criterion that applied, from one stored scorecard.json;
    cached per file version (``mtime``), so a busy cohort page reads each file once."""
    card = json.loads(Path(path).read_text(encoding="utf-8"))
    if card.get("scorable", True) is False:
        return ()  # a call with nothing to judge says nothing about a skill
    return tuple(
        (
            str(c["id"]),
            str(c.get("label") or c["id"]),
            float(c["earned"]),
            float(c["points"]),
        )
        for f in card["families"]
        for c in f["criteria"]
        if c.get("applies", True) and float(c.get("points") or 0) > 0
    )


def weakest_criteria(store, db: Session, owners, limit: int = CRITERIA_SAMPLE) -> list[dict]:  # noqa: ANN001
    """Per rubric criterion, the mean share of its points earned (0-100) over the latest
    ``limit`` sessions of ``owners`` (user ids, or a subquery of them), weakest first: which
    skill to drill next, finer than the family averages. Unreadable scorecards are skipped."""
    from .reviews import latest_overrides

    ups = list(
        db.scalars(
            select(Upload)
            .where(Upload.owner_id.in_(owners), Upload.status == SCORED)
            .order_by(Upload.id.desc())
            .limit(limit)
        )
    )
    overridden = latest_overrides(db, [up.id for up in ups])
    totals: dict[str, list] = {}
    for up in ups:
        path = store.session_path(up) / "scorecard.json"
        try:
            rows = _criteria_of(str(path), path.stat().st_mtime)
        except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError):
            continue
        mine = overridden.get(up.id, {})
        for cid, label, earned, points in rows:
            pct = 100.0 * (mine[cid]["earned"] if cid in mine else earned) / points
            t = totals.setdefault(cid, [label, 0.0, 0])
            t[1] += pct
            t[2] += 1
    return sorted(
        (
            {"criterion": cid, "label": label, "mean": round(s / n, 1), "n": n}
            for cid, (label, s, n) in totals.items()
        ),
        key=lambda r: (r["mean"], r["criterion"]),
    )


def _json_dict(path: Path) -> dict:
    try:
        out = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return out if isinstance(out, dict) else {}


def session_details(session_dir: Path) -> dict:
    """What the sessions export adds from a stored session's files: its source (``live``,
    ``simulated``, ``recorded``), the script of a simulated call, when it was recorded, and
    every criterion's points earned (None where it did not apply)."""
    meta, card = _json_dict(session_dir / "meta.json"), _json_dict(session_dir / "scorecard.json")
    source = meta.get("source") if isinstance(meta.get("source"), dict) else {}
    criteria: dict[str, float | None] = {}
    for fam in card.get("families") or []:
        for c in (fam.get("criteria") or []) if isinstance(fam, dict) else []:
            if isinstance(c, dict) and isinstance(c.get("id"), str):
                criteria[c["id"]] = c.get("earned") if c.get("applies", True) else None
    overall = card.get("overall")
    return {
        "machine_overall": overall if isinstance(overall, int | float) else None,
        "source": str(source.get("kind") or ""),
        "script": str(source.get("script") or ""),
        "recorded": str(meta.get("created") or ""),
        "criteria": criteria,
    }
