"""The terminal during a live drill: sparse on purpose; the full feedback comes after the call.

Lines scroll as things happen (the customer's lines, the trainee's final words, overtalk, dead
air, mood changes, an echo warning) through the simulated call's ``LivePrinter``. On a terminal,
one status line stays at the bottom: who is speaking, a microphone level meter, the words being
recognised, the customer's mood and any transcription backlog.
"""

from __future__ import annotations

from rich.console import Console
from rich.live import Live
from rich.text import Text

from ..audio.echo import ECHO
from ..audio.formats import RATE
from ..events import (
    CALL_END,
    CUSTOMER_LINE_END,
    CUSTOMER_LINE_START,
    FINAL,
    GUIDANCE,
    MOOD,
    PARTIAL,
    SPEECH_END,
    SPEECH_START,
    Event,
)
from ..report.terminal import LivePrinter, clock
from .source import DEVICE

METER_WIDTH = 20
METER_FLOOR_DB = -60.0


def meter(level_db: float, width: int = METER_WIDTH) -> Text:
    """A level bar from -60 dBFS to 0 dBFS: green, yellow from -12, red from -3 (clipping)."""
    frac = min(1.0, max(0.0, (level_db - METER_FLOOR_DB) / -METER_FLOOR_DB))
    n = int(round(frac * width))
    bar = Text()
    for i in range(width):
        db = METER_FLOOR_DB * (1 - (i + 1) / width)
        style = "red" if db > -3 else "yellow" if db > -12 else "green"
        bar.append("█" if i < n else "·", style=style if i < n else "dim")
    return bar


CUE_SHOWN_S = 6.0  # a guidance cue stays on the status line this long


class LiveView:
    """A run_call listener plus a status line. Use as a context manager around the call."""

    def __init__(self, source, worker, console: Console | None = None, status: bool | None = None):
        self.source = source
        self.worker = worker
        self.console = console or Console(highlight=False)
        self.printer = LivePrinter(self.console)
        self.status = self.console.is_terminal if status is None else status
        self.customer = False
        self.trainee = False
        self.mood: float | None = None
        self.partial = ""
        self.cue: Event | None = None  # the latest guidance cue, kept on the status line a while
        self._live: Live | None = None
        self._backlog_shown = 0
        self.silent = False  # the terminal is gone (hang-up): print nothing more

    def silence(self) -> None:
        self.silent = True
        self._stop_status()

    # -- listener -----------------------------------------------------------------------------
    def __call__(self, ev: Event) -> None:
        if self.silent:
            return
        try:
            self._show(ev)
        except OSError:  # the terminal went away mid-call: the session matters, not the view
            self.silence()

    def _show(self, ev: Event) -> None:
        if ev.type == CUSTOMER_LINE_START:
            self.customer = True
        elif ev.type == CUSTOMER_LINE_END:
            self.customer = False
        elif ev.type == SPEECH_START:
            self.trainee = True
        elif ev.type == SPEECH_END:
            self.trainee = False
        elif ev.type == FINAL:
            self.partial = ""
        elif ev.type == PARTIAL:
            self.partial = ev.get("text", "")
            return  # partials live in the status line only
        elif ev.type == MOOD:
            self.mood = ev.get("mood")
        elif ev.type == GUIDANCE:
            self.cue = ev
        elif ev.type == ECHO:
            self.console.print(
                f"[dim]{clock(ev.t)}[/dim] [bold red]! echo[/]: the microphone hears the "
                f"customer ({ev['delay_ms']:.0f} ms late). Use a headset; until then the echo is "
                "filtered out and never counted as your speech."
            )
            return
        elif ev.type == DEVICE:
            more = "; reopened, the call goes on" if ev.get("problem") == "restarted" else ""
            self.console.print(
                f"[dim]{clock(ev.t)}[/dim] [bold red]! audio device[/]: {ev.get('detail')}{more}"
            )
            return
        if ev.type == CALL_END and self._live is not None:
            self._stop_status()
        self.printer(ev)
        backlog = self.worker.pending
        if not self.status and backlog >= 3 and backlog > self._backlog_shown:
            self.console.print(f"[dim]transcription is {backlog} utterances behind[/dim]")
        self._backlog_shown = backlog

    # -- status line --------------------------------------------------------------------------
    def __rich__(self) -> Text:
        who = (
            "both talking"
            if self.customer and self.trainee
            else "customer"
            if self.customer
            else "you"
            if self.trainee
            else "-"
        )
        line = Text()
        line.append(f"{clock(self.source.position / 16000)} ", style="dim")
        style = (
            "bold yellow"
            if who == "both talking"
            else "magenta"
            if who == "customer"
            else "cyan"
            if who == "you"
            else "dim"
        )
        line.append(f"{who:<12}", style=style)
        line.append(" mic ")
        line.append_text(meter(self.source.level_db))
        if self.mood is not None:
            line.append(f"  mood {self.mood:.2f}")
        backlog = self.worker.pending
        lag = self.source.lag_s
        if backlog >= 2 or lag > 0.5:
            line.append(f"  catching up: {backlog} to transcribe", style="yellow")
            if lag > 0.5:
                line.append(f", {lag:.1f} s of audio", style="yellow")
        elif backlog:
            line.append("  transcribing", style="dim")
        if self.partial:
            line.append(f"  … {self.partial[-60:]}", style="italic cyan")
        if self.cue is not None and self.source.position / RATE - self.cue.t < CUE_SHOWN_S:
            line.append(f"  ▶ {self.cue.get('text', '')}", style="bold reverse blue")
        return line

    def __enter__(self) -> LiveView:
        if self.status:
            self._live = Live(
                self, console=self.console, refresh_per_second=8, transient=True, auto_refresh=True
            )
            self._live.start()
        return self

    def _stop_status(self) -> None:
        if self._live is not None:
            live, self._live = self._live, None
            live.stop()

    def __exit__(self, *exc) -> None:
        self._stop_status()
