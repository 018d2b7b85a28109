"""The terminal view of a call as it happens, and the scorecard at its end."""

from __future__ import annotations

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from ..events import (
    CALL_END,
    CALL_SOUND,
    CUSTOMER_LINE_START,
    FINAL,
    MOOD,
    OVERTALK,
    OVERTALK_START,
    SILENCE,
    SPEECH_START,
    Event,
)
from ..rubric.scorer import Scorecard

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
    """The three things to work on first, each with its moment and better wording."""
    focus = coaching.get("focus") or []
    if focus:
        console.print()
        console.print("[bold]Work on these first[/]")
    for i, tip in enumerate(focus, 1):
        head = Text()
        head.append(f"{i}. {tip.get('label') or tip.get('criterion')}", style="bold")
        gain = f" (up to +{tip.get('gain', 0):g} points"
        head.append(gain + ("; the lesson of this call)" if tip.get("lesson") else ")"), "dim")
        console.print(Padding(head, (0, 0, 0, 1)))
        status = {"missed": "Missed", "partly": "Only partly", "penalised": "Lost points"}
        why = f"{status.get(tip.get('status', ''), '')}: {tip.get('why', '')}"
        console.print(Padding(Text(why), (0, 0, 0, 4)))
        m = tip.get("moment") or {}
        if m.get("t") is not None:
            console.print(Padding(Text(f"At {clock(m['t'])}", style="dim"), (0, 0, 0, 4)))
            if m.get("customer"):
                console.print(Padding(Text(f'Customer: "{m["customer"]}"'), (0, 0, 0, 6)))
            console.print(Padding(Text(f"You: {_quoted(m.get('trainee', ''))}"), (0, 0, 0, 6)))
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
    verdict = "[bold green]PASS[/]" if d.get("passed") else "[bold red]FAIL[/]"
    rub = d.get("rubric") or {}
    console.print()
    console.print(f"[bold]Scorecard[/] ({rub.get('name')} v{rub.get('version')})")
    if d.get("scorable", True) is False:
        console.print(
            Text.assemble(
                ("Not scorable", "bold red"), f": {d.get('not_scorable') or 'too little to judge'}"
            )
        )
        console.print(f"pass mark {d.get('pass_mark', 0):g} -> {verdict}")
    else:
        console.print(
            # one decimal, as stored: 69.6 must not read as a failed 70
            f"[bold]{float(d.get('overall') or 0):.1f}".removesuffix(".0")
            + f"[/]/100, pass mark {d.get('pass_mark', 0):g} "
            f"-> {verdict}"
        )
    for fam in d.get("families", []):
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
            scored = [e for e in c.get("evidence", []) if e.get("points")] if evidence else []
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
    s, o = d.get("stats") or {}, d.get("outcome") or {}
    console.print()
    console.print(
        f"outcome: [bold]{o.get('end_state')}[/], final mood {o.get('final_mood')}; "
        f"talk ratio {s.get('talk_ratio', 0):.0%} trainee, {s.get('words_per_minute', 0):.0f} wpm, "
        f"overtalk {s.get('overtalk_count', 0)} ({s.get('overtalk_s', 0):.1f} s), "
        f"longest silence {s.get('longest_silence_s', 0):.1f} s"
    )
    print_coaching(d.get("coaching") or {}, console)
