"""Bulk roster import: a CSV of trainees' names (and e-mails) into a cohort, in one go.

A new name becomes a trainee with a one-time welcome link, with which they choose their own
password (the trainer hands the links out; the lab sends no e-mail). A trainee the trainer
already has joins the cohort; anyone else existing gets the usual invitation, which only they
accept. Every line of the file gets one row in the report: created (with its link), added,
invited, already in the cohort, or refused with the line, the field and the reason. Nothing is
half-done: a refused line changes nothing, and a file that cannot be read at all (not UTF-8
CSV, too large, too many lines) changes nothing either.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import asdict, dataclass

from fastapi import HTTPException
from sqlalchemy.orm import Session

from .service import add_trainee, is_member
from .store import Cohort, User, find_user, issue_welcome_link, name_key

MAX_ROSTER_BYTES = 256 * 1024
MAX_ROSTER_LINES = 1000
WELCOME_TTL = dt.timedelta(days=14)
NAME_RX = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")  # the API's user-name rule (TraineeIn)
EMAIL_RX = re.compile(r"^[^@\s,;<>]{1,64}@[^@\s,;<>]+\.[^@\s,;<>]+$")
NAME_HEADERS = ("username", "user", "name", "login")
EMAIL_HEADERS = ("email", "e-mail", "mail", "email address", "e-mail address")


@dataclass
class RosterLine:
    line: int  # 1-based line of the file
    name: str
    email: str | None


@dataclass
class RosterRow:
    """One line's outcome, as the report shows it."""

    line: int
    name: str
    email: str | None
    status: str  # created | added | invited | already | refused
    detail: str = ""
    link: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}


def parse_roster(
    data: bytes, filename: str = "roster.csv"
) -> tuple[list[RosterLine], list[RosterRow]]:
    """The lines to import and those refused already by their own content. A file that cannot
    be read as a roster at all is a 422 naming the file (and the line, where there is one)."""
    if len(data) > MAX_ROSTER_BYTES:
        raise HTTPException(413, f"{filename}: larger than {MAX_ROSTER_BYTES // 1024} KiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise HTTPException(422, f"{filename}:{line}: not UTF-8 text") from None
    if "\x00" in text:
        raise HTTPException(422, f"{filename}: not a text file (it holds NUL bytes)")
    try:
        records = [(n, row) for n, row in enumerate(csv.reader(io.StringIO(text)), 1)]
    except csv.Error as exc:
        raise HTTPException(422, f"{filename}: not CSV ({exc})") from None
    records = [(n, [c.strip() for c in row]) for n, row in records if any(c.strip() for c in row)]
    if not records:
        raise HTTPException(
            422, f"{filename}: no trainees in it (one name per line, and an e-mail)"
        )
    name_col, email_col = 0, 1
    head = [c.lower() for c in records[0][1]]
    if any(h in NAME_HEADERS for h in head):
        name_col = next(i for i, h in enumerate(head) if h in NAME_HEADERS)
        email_col = next((i for i, h in enumerate(head) if h in EMAIL_HEADERS), -1)
        records = records[1:]
    if len(records) > MAX_ROSTER_LINES:
        raise HTTPException(
            413, f"{filename}: {len(records)} trainees; at most {MAX_ROSTER_LINES} per import"
        )
    lines: list[RosterLine] = []
    refused: list[RosterRow] = []
    seen: dict[str, int] = {}
    for n, row in records:
        name = row[name_col] if name_col < len(row) else ""
        email = (row[email_col] if 0 <= email_col < len(row) else "") or None
        problem = _problem(name, email, seen.get(name_key(name)) if name else None)
        if problem:
            refused.append(RosterRow(n, name[:64], email, "refused", f"{filename}:{n}: {problem}"))
            continue
        seen[name_key(name)] = n
        lines.append(RosterLine(n, name, email))
    return lines, refused


def _problem(name: str, email: str | None, earlier: int | None) -> str:
    if not name:
        return "name: missing"
    if not NAME_RX.match(name):
        return "name: 1 to 64 letters, digits and . _ @ - (no spaces)"
    if not name_key(name):
        return "name: needs a letter or a digit"
    if earlier is not None:
        return f"name: already on line {earlier} of this file (names ignore case and dots)"
    if email is not None and (len(email) > 254 or not EMAIL_RX.match(email)):
        return "email: not an e-mail address"
    return ""


def import_roster(
    db: Session, cohort: Cohort, trainer: User, data: bytes, base_url: str, filename: str
) -> list[RosterRow]:
    """Import a roster file into ``trainer``'s ``cohort``; one report row per line, in file
    order. ``base_url`` starts each welcome link (the lab's address as the trainer sees it)."""
    lines, report = parse_roster(data, filename)
    for entry in lines:
        report.append(_import_one(db, cohort, trainer, entry, base_url.rstrip("/")))
    return sorted(report, key=lambda r: r.line)


def _import_one(
    db: Session, cohort: Cohort, trainer: User, entry: RosterLine, base: str
) -> RosterRow:
    existing = find_user(db, entry.name)
    if existing is not None and is_member(db, cohort, existing):
        return RosterRow(entry.line, existing.username, entry.email, "already", "in this cohort")
    try:  # a new trainee has no password until they choose one with the welcome link
        user = add_trainee(db, cohort, entry.name, None, trainer)
    except HTTPException as exc:
        return RosterRow(entry.line, entry.name, entry.email, "refused", str(exc.detail))
    if user is None:
        return RosterRow(
            entry.line,
            entry.name,
            entry.email,
            "invited",
            "an existing user: they join once they accept the invitation on their lab page",
        )
    if existing is not None:
        return RosterRow(entry.line, user.username, entry.email, "added", "your trainee")
    token = issue_welcome_link(db, user, trainer, entry.email, WELCOME_TTL)
    db.commit()
    expires = (dt.datetime.now(dt.UTC) + WELCOME_TTL).date().isoformat()
    return RosterRow(
        entry.line,
        user.username,
        entry.email,
        "created",
        f"choose a password with the link by {expires}",
        f"{base}/welcome/{token}",
    )


def roster_counts(rows: list[RosterRow]) -> dict[str, int]:
    out = {s: 0 for s in ("created", "added", "invited", "already", "refused")}
    for r in rows:
        out[r.status] += 1
    return out
