"""A drill station of a lab: ``voicesim drill --lab URL`` signs in, sends what earlier runs left
in the outbox, picks the assigned drill, fetches its rubric and persona (a trainer's persona
exists only in the lab), and after the call uploads the session (kept in the outbox and retried
when the lab cannot take it now).

Nothing here touches audio: the drill command runs the call between ``prepare`` and ``upload``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
import sys
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import VoicesimError
from .client import LabClient, LabError, Outcome, enqueue, flush_outbox

DEFAULT_OUTBOX = Path("sessions") / ".lab-outbox"


@dataclass
class StationDrill:
    """An assigned drill, ready to run: the rubric and persona files fetched from the lab."""

    client: LabClient
    user: str
    drill: dict
    rubric_file: Path
    persona_file: Path
    outbox: Path

    @property
    def persona(self) -> str:
        return self.drill["persona"]


def describe(d: dict) -> str:
    due = f", due {d['due']}" if d.get("due") else ""
    left = d.get("attempts_left", d["attempts_allowed"])
    return (
        f"#{d['id']} {d['persona']} (rubric {d['rubric']}, pass mark {d['pass_mark']:g}{due}, "
        f"{left} of {d['attempts_allowed']} attempts left)"
    )


def choose_drill(
    drills: list[dict], wanted: int | None, ask: Callable[[list[dict]], dict] | None = None
) -> dict:
    """The drill to run: ``wanted`` by id, else the only one with attempts left, else ``ask``
    (a prompt on a terminal). Without a terminal several open drills are a usage error."""
    if wanted is not None:
        chosen = next((d for d in drills if d["id"] == wanted), None)
        if chosen is None:
            mine = "; ".join(describe(d) for d in drills) or "none"
            raise VoicesimError(f"drill #{wanted} is not assigned to you (yours: {mine})")
        if chosen.get("attempts_left", 1) <= 0:
            raise VoicesimError(
                f"no attempts left for drill #{wanted} "
                f"({chosen['attempts_allowed']} of {chosen['attempts_allowed']} used)"
            )
        return chosen
    open_ = [d for d in drills if d.get("attempts_left", 1) > 0]
    if not open_:
        why = "no drills are assigned to you" if not drills else "all your drills are used up"
        raise VoicesimError(f"nothing to run: {why}; ask your trainer")
    if len(open_) == 1:
        return open_[0]
    if ask is None:
        raise VoicesimError(
            "several drills are assigned to you; choose one with --drill N: "
            + "; ".join(describe(d) for d in open_)
        )
    return ask(open_)


def ask_on_terminal(drills: list[dict]) -> dict:
    """A numbered choice on the terminal (used when stdin is one)."""
    for i, d in enumerate(drills, 1):
        print(f"  {i}. {describe(d)}", file=sys.stderr)
    while True:
        try:
            answer = input(f"which drill (1-{len(drills)})? ").strip()
        except EOFError:
            raise VoicesimError("no drill chosen; use --drill N") from None
        if answer.isdigit() and 1 <= int(answer) <= len(drills):
            return drills[int(answer) - 1]
        print(f"type a number from 1 to {len(drills)}", file=sys.stderr)


def prepare(
    url: str,
    user: str,
    password: str,
    wanted: int | None = None,
    outbox: str | Path = DEFAULT_OUTBOX,
    *,
    ask: Callable[[list[dict]], dict] | None = None,
    say: Callable[[str], None] = print,
) -> StationDrill:
    """Sign in, send the outbox, choose the drill and fetch its rubric and persona. Every
    failure here comes before any audio is opened, so it costs the trainee nothing."""
    client = LabClient(url)
    client.login(user, password)  # LabError (a VoicesimError) names the lab and the reason
    outbox = Path(outbox)
    earlier = flush_outbox(client, outbox, retries=1)
    if earlier.sent:
        say(f"sent {len(earlier.sent)} earlier session(s) from the outbox to the lab")
    if earlier.pending:
        say(f"{len(earlier.pending)} earlier session(s) still wait in {outbox}")
    for path, why in earlier.rejected:
        say(
            f"the lab refused an earlier session ({why}); it is kept as {path.with_suffix('.rejected')}"
        )
    try:
        drills = client.assignments()
        drill = choose_drill(drills, wanted, ask)
        fetched = client.drill_rubric(drill["id"])
        persona = client.drill_persona(drill["id"])
    except urllib.error.HTTPError as exc:
        raise LabError(f"the lab refused: {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise LabError(f"lost the lab at {url}: {exc}") from None
    if drill.get("due") and _dt.date.fromisoformat(drill["due"]) < _dt.date.today():
        say(f"note: drill #{drill['id']} was due on {drill['due']}")
    rubric_file = _kept(outbox.parent / ".lab-rubrics", fetched.get("name") or "rubric", fetched)
    persona_file = _kept(outbox.parent / ".lab-personas", drill["persona"], persona)
    return StationDrill(client, user, drill, rubric_file, persona_file, outbox)


def _kept(folder: Path, name: object, fetched: dict) -> Path:
    """The fetched text as a file named by its name and digest (one file per version): the
    session's meta names the file the call ran with."""
    text = fetched["text"]
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    folder.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", str(name))[:64]
    path = folder / f"{safe}-{digest}.yaml"
    if not path.exists():
        path.write_text(text, encoding="utf-8")
    return path


def upload(station: StationDrill, session_dir: str | Path) -> tuple[Outcome, Path]:
    """Queue the finished session in the outbox and send it (with anything left from before).
    Returns the outcome and this session's outbox file (a key of ``Outcome.arrived``)."""
    path = enqueue(session_dir, station.outbox, station.drill["id"])
    return flush_outbox(station.client, station.outbox), path
