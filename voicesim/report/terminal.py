"""The terminal view of a call as it happens, and the scorecard at its end."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from ..events import (
    CALL_END,
    CALL_SOUND,
    CUSTOMER_LINE_START,
    FINAL,
    GUIDANCE,
    MOOD,
    OVERTALK,
    OVERTALK_START,
    SILENCE,
    SPEECH_START,
    Event,
)
from ..rubric.scorer import Scorecard
from .numbers import call_numbers

SOUND_WORDS = {"ring": "ringing...", "connect": "connected", "hangup": "the customer hung up"}


def clock(t: float) -> str:
    m, s = divmod(max(0.0, t), 60)
    return f"{int(m):02d}:{s:04.1f}"


class LivePrinter:
    """Prints who speaks, the transcript and overtalk as events arrive; sparse on purpose."""

    def __init__(self, console: Console | None = None, show_vad: bool = False):
        self.console = console or Console(highlight=False)
        self.show_vad = show_vad

    def __call__(self, ev: Event) -> None:
        c, t = self.console, f"[dim]{clock(ev.t)}[/dim]"
        if ev.type == CUSTOMER_LINE_START:
            c.print(f"{t} [bold magenta]CUSTOMER[/] {ev.get('text', '')}")
        elif ev.type == FINAL:
            text = ev.get("text") or "[dim](no words)[/dim]"
            c.print(f"{t} [bold cyan]TRAINEE [/] {text}")
        elif ev.type == SPEECH_START and self.show_vad:
            c.print(f"{t} [dim]trainee speaking...[/dim]")
        elif ev.type == OVERTALK_START:
            who = (
                "trainee talks over the customer"
                if ev.get("by") == "trainee"
                else "customer talks over the trainee"
            )
            c.print(f"{t} [bold yellow]! overtalk[/]: {who}")
        elif ev.type == OVERTALK:
            c.print(f"[dim]{clock(ev.t)}-{clock(ev['end'])} overtalk {ev['duration']:.1f} s[/dim]")
        elif ev.type == SILENCE:
            c.print(f"{t} [yellow]dead air[/] {ev['duration']:.1f} s")
        elif ev.type == MOOD and ev.get("reason") not in (None, "opening"):
            c.print(f"[dim]        mood {ev['mood']:.2f} ({ev.get('reason')})[/dim]")
        elif ev.type == CALL_SOUND and ev.get("sound") in SOUND_WORDS:
            c.print(f"{t} [dim]{SOUND_WORDS[ev['sound']]}[/dim]")
        elif ev.type == GUIDANCE:
            c.print(f"{t} [bold reverse blue] CUE [/] [bold blue]{escape(ev.get('text', ''))}[/]")
        elif ev.type == CALL_END:
            c.print(f"{t} [bold]call ended[/]: {ev.get('end_state')}")


def _ev_line(e: dict) -> Text:
    """One piece of evidence on its own line: when, what was said, points, and the rule in words."""
    pts = float(e.get("points") or 0)
    line = Text()
    line.append(clock(e.get("start") or 0), style="dim")
    line.append(f' "{e.get("words", "")}" ')
    line.append(f"{pts:+g}", style="green" if pts > 0 else "red")
    if e.get("rule"):
        line.append(f": {e['rule']}", style="dim")
    return line


def print_coaching(coaching: dict, console: Console) -> None:
    """What went well, then the things to work on first (harm first, each saying why it comes
    where it does), each with its moment and better wording, then the lesson."""
    praise = coaching.get("praise") or []
    if praise:
        console.print()
        console.print("[bold]Well done[/]")
    for p in praise:
        line = Text(f"- {p.get('label') or p.get('criterion')}")
        if p.get("words"):
            line.append(f': "{p["words"]}"', style="green")
        if isinstance(p.get("t"), int | float):
            line.append(f" ({clock(p['t'])})", style="dim")
        console.print(Padding(line, (0, 0, 0, 1)))
    focus = coaching.get("focus") or []
    if focus:
        console.print()
        near = coaching.get("near_perfect")
        console.print("[bold]One thing to refine[/]" if near else "[bold]Work on these first[/]")
    for i, tip in enumerate(focus, 1):
        head = Text()
        head.append(f"{i}. {tip.get('label') or tip.get('criterion')}", style="bold")
        notes = []
        if isinstance(tip.get("gain"), int | float):
            notes.append(f"up to +{tip['gain']:g} points")
        if tip.get("lesson"):
            notes.append("the lesson of this call")
        if notes:
            head.append(f" ({'; '.join(notes)})", "dim")
        console.print(Padding(head, (0, 0, 0, 1)))
        if tip.get("first_because"):
            console.print(Padding(Text(tip["first_because"], style="dim"), (0, 0, 0, 4)))
        status = {"missed": "Missed", "partly": "Only partly", "penalised": "Lost points"}
        why = f"{status.get(tip.get('status', ''), '')}: {tip.get('why', '')}"
        console.print(Padding(Text(why), (0, 0, 0, 4)))
        m = tip.get("moment") or {}
        if m.get("t") is not None:
            console.print(Padding(Text(f"At {clock(m['t'])}", style="dim"), (0, 0, 0, 4)))
            if m.get("customer"):
                console.print(Padding(Text(f'Customer: "{m["customer"]}"'), (0, 0, 0, 6)))
            console.print(Padding(Text(f"You: {_quoted(m.get('trainee', ''))}"), (0, 0, 0, 6)))
            if m.get("reaction"):
                console.print(Padding(Text(f'Customer then: "{m["reaction"]}"'), (0, 0, 0, 6)))
        for ex in (tip.get("examples") or [])[:1]:
            console.print(Padding(Text(f"Try: {_quoted(ex)}", style="green"), (0, 0, 0, 4)))
    if coaching.get("lesson"):
        console.print()
        console.print(
            Padding(Text.assemble(("Lesson: ", "bold"), coaching["lesson"]), (0, 0, 0, 0))
        )


def _quoted(s: str) -> str:
    return s if s.startswith("(") else f'"{s}"'


def print_scorecard(
    card: Scorecard | dict, console: Console | None = None, evidence: bool = True
) -> None:
    """The scorecard by family, one criterion per line with its evidence on lines of its own
    (readable at 80 columns), then the coaching."""
    console = console or Console(highlight=False)
    d = card.to_dict() if isinstance(card, Scorecard) else card
    rub = d.get("rubric") or {}
    console.print()
    name = rub.get("name") or rub.get("id") or "rubric"
    version = f" v{rub['version']}" if rub.get("version") is not None else ""
    console.print(f"[bold]Scorecard[/] ({name}{version})")
    scorable = d.get("scorable", True) is not False
    if not scorable:  # no verdict and no family scores: there is nothing to judge
        console.print(
            Text.assemble(
                ("Not scorable", "bold red"), f": {d.get('not_scorable') or 'too little to judge'}"
            )
        )
    else:
        verdict = "[bold green]PASS[/]" if d.get("passed") else "[bold red]FAIL[/]"
        console.print(
            # one decimal, as stored: 69.6 must not read as a failed 70
            f"[bold]{float(d.get('overall') or 0):.1f}".removesuffix(".0")
            + f"[/]/100, pass mark {d.get('pass_mark', 0):g} "
            f"-> {verdict}"
        )
    for fam in d.get("families", []) if scorable else []:
        console.print()
        if fam.get("applies", True):
            console.print(f"[bold]{fam['name']}[/] {fam['score']:.0f}/100")
        else:
            console.print(f"[bold]{fam['name']}[/] [dim]n/a: nothing in this call to judge[/]")
        grid = Table.grid(expand=True, padding=(0, 1))
        grid.add_column(width=1, no_wrap=True)
        grid.add_column(ratio=1)
        grid.add_column(justify="right", no_wrap=True)
        skipped = []
        rows = []
        for c in fam["criteria"]:
            label = c.get("label") or c["id"]
            if not c.get("applies", True):
                skipped.append(label)
                continue
            full = c["earned"] >= c["points"]
            mark = "[green]+[/]" if full else "[red]-[/]" if c["earned"] <= 0 else "[yellow]~[/]"
            # a penalty's every hit (also those past the points it could lose: the numbers
            # below count them all); a reward's hits that earned points
            hit = [e for e in c.get("evidence", []) if e.get("points") or c["kind"] == "penalty"]
            scored = hit if evidence else []
            rows.append((mark, label, f"{c['earned']:g}/{c['points']:g}", scored))
        for mark, label, pts, scored in rows:
            grid.add_row(mark, label, pts)
            for e in scored[:2]:
                grid.add_row("", Padding(_ev_line(e), (0, 0, 0, 2)), "")
            if len(scored) > 2:
                grid.add_row("", Text(f"  +{len(scored) - 2} more", style="dim"), "")
        console.print(Padding(grid, (0, 0, 0, 1)))
        if skipped:
            console.print(
                Padding(Text(f"Not in this call: {', '.join(skipped)}", style="dim"), (0, 0, 0, 2))
            )
    print_numbers(d, console)
    print_coaching(d.get("coaching") or {}, console)


def print_numbers(card: dict, console: Console) -> None:
    """The call's numbers, as every view shows them (``numbers.call_numbers``)."""
    console.print()
    for label, value in call_numbers(card):
        console.print(Text.assemble((f"{label}: ", "bold"), value))
