"""The terminal view of a call as it happens, and the scorecard at its end."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from ..events import (
    CALL_END,
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
        elif ev.type == CALL_END:
            c.print(f"{t} [bold]call ended[/]: {ev.get('end_state')}")


def print_scorecard(card: Scorecard, console: Console | None = None, evidence: bool = True) -> None:
    console = console or Console(highlight=False)
    verdict = "[bold green]PASS[/]" if card.passed else "[bold red]FAIL[/]"
    console.print()
    console.print(
        f"[bold]Scorecard[/] ({card.rubric['name']} v{card.rubric['version']}): "
        f"[bold]{card.overall:.0f}[/]/100, pass mark {card.pass_mark:.0f} -> {verdict}"
    )
    table = Table(show_header=True, header_style="bold")
    table.add_column("family")
    table.add_column("score", justify="right")
    table.add_column("criterion", no_wrap=True)
    table.add_column("points", justify="right")
    table.add_column("evidence")
    for fam in card.families:
        first = True
        for c in fam.criteria:
            # Show what moved the score; repeats beyond a criterion's cap add nothing.
            scored = [e for e in c.evidence if e.points != 0] if evidence else []
            ev = "; ".join(f'{clock(e.start or 0)} "{e.words}" ({e.points:+g})' for e in scored[:2])
            if len(scored) > 2:
                ev += f"; +{len(scored) - 2} more"
            table.add_row(
                fam.name if first else "",
                f"{fam.score:.0f}" if first else "",
                c.id,
                f"{c.earned:g}/{c.points:g}" if c.applies else "[dim]n/a[/dim]",
                ev or "[dim]-[/dim]",
            )
            first = False
    console.print(table)
    s, o = card.stats, card.outcome
    console.print(
        f"outcome: [bold]{o.get('end_state')}[/], final mood {o.get('final_mood')}; "
        f"talk ratio {s['talk_ratio']:.0%} trainee, {s['words_per_minute']:.0f} wpm, "
        f"overtalk {s['overtalk_count']} ({s['overtalk_s']:.1f} s), "
        f"longest silence {s['longest_silence_s']:.1f} s"
    )
