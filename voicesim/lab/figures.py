"""Figures for the trainer's pages, derived from the cohort overview and the stored sessions:
pass rate, median score, who has not started and who is overdue, per drill; and progress
charts one persona at a time (a hard customer's scores must not drag an easy one's line)."""

from __future__ import annotations

import statistics

from sqlalchemy import select
from sqlalchemy.orm import Session

from .store import Upload

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
            for s in db.scalars(select(Upload.overall).where(Upload.drill_id == d["id"]))
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
