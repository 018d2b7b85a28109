"""Terminal replay: the call audio with captions, mood and events at the moment they happened.

The playback position (the sound card's sample count, or a virtual clock with --no-audio) drives
the captions, so they stay in time with what is heard. Keys: space pause, n next event,
b back 5 s, q quit.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import sys
import threading
import time
from collections.abc import Iterable

import numpy as np
from rich.console import Console

from ..audio.formats import RATE, resample
from ..errors import VoicesimError
from ..events import (
    CALL_END,
    CALL_SOUND,
    CUSTOMER_LINE_START,
    FINAL,
    GUIDANCE,
    MOOD,
    OVERTALK_START,
    SILENCE,
    Event,
)
from .session import load_session
from .terminal import LivePrinter, clock

MAX_SPEED = 10_000.0  # --speed: beyond this a call is over before the first caption
SHOWN = (
    CALL_SOUND,
    CUSTOMER_LINE_START,
    FINAL,
    OVERTALK_START,
    SILENCE,
    MOOD,
    GUIDANCE,
    CALL_END,
)


def shown(events: Iterable[Event]) -> list[Event]:
    """What a replay shows, in the order it happened: a recording's trainee transcripts are
    logged after the customer's (they are decoded at the end), so the time decides."""
    return sorted((e for e in events if e.type in SHOWN), key=lambda e: e.t)


def print_transcript(events: Iterable[Event], console: Console) -> None:
    """The whole call at once, as ``replay`` shows it (``score`` prints this)."""
    printer = LivePrinter(console)
    for ev in shown(events):
        printer(ev)


class VirtualClock:
    """Captions only: time runs at ``speed`` times the wall clock."""

    def __init__(self, duration: float, speed: float = 1.0):
        self.duration, self.speed = duration, speed
        self._t, self._since, self.paused = 0.0, time.monotonic(), False

    def time(self) -> float:
        if self.paused:
            return self._t
        return self._t + (time.monotonic() - self._since) * self.speed

    def toggle(self) -> None:
        self._t, self._since, self.paused = self.time(), time.monotonic(), not self.paused

    def seek(self, t: float) -> None:
        self._t, self._since = max(0.0, t), time.monotonic()

    def close(self) -> None:
        pass


class AudioClock:
    """Plays the stereo call; time is the count of samples handed to the sound card."""

    def __init__(self, customer: np.ndarray, trainee: np.ndarray, device: str | None):
        import sounddevice as sd

        try:
            info = sd.query_devices(device, "output")
        except (ValueError, sd.PortAudioError) as exc:
            raise VoicesimError(f"no usable audio output ({exc})") from None
        self.rate = int(info["default_samplerate"])
        stereo = np.stack(
            [resample(customer, RATE, self.rate), resample(trainee, RATE, self.rate)], axis=1
        )
        self.audio = np.ascontiguousarray(stereo, dtype=np.float32)
        self.pos, self.paused, self._lock = 0, False, threading.Lock()
        self.stream = sd.OutputStream(
            samplerate=self.rate,
            channels=2,
            dtype="float32",
            device=device,
            callback=self._callback,
            latency="high",
        )
        self.stream.start()

    def _callback(self, outdata, frames, _time, _status) -> None:
        with self._lock:
            if self.paused:
                outdata[:] = 0
                return
            chunk = self.audio[self.pos : self.pos + frames]
            outdata[: len(chunk)] = chunk
            outdata[len(chunk) :] = 0
            self.pos += len(chunk)

    def time(self) -> float:
        return self.pos / self.rate

    def toggle(self) -> None:
        with self._lock:
            self.paused = not self.paused

    def seek(self, t: float) -> None:
        with self._lock:
            self.pos = int(max(0.0, t) * self.rate)

    def close(self) -> None:
        self.stream.stop()
        self.stream.close()


@contextlib.contextmanager
def _keys():
    """Single key presses from a terminal (None when stdin is not one)."""
    if not sys.stdin.isatty():
        yield lambda: None
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    old = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    try:
        yield (
            lambda: (
                os.read(fd, 1).decode(errors="ignore")
                if select.select([fd], [], [], 0)[0]
                else None
            )
        )
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)


def replay(
    session_dir: str, audio: bool = True, speed: float = 1.0, device: str | None = None
) -> int:
    if not (math.isfinite(speed) and 0 < speed <= MAX_SPEED):
        raise VoicesimError(f"--speed must be a number above 0 and at most {MAX_SPEED:g}")
    session = load_session(session_dir)  # the reader bounds every time to the call's length
    console = Console(highlight=False)
    customer, trainee = session.audio()
    duration = max(session.duration_s, customer.size / RATE)
    player = None
    if audio and customer.size == 0:  # a written transcript, or a call cut short before audio
        console.print("[dim]no call audio in this session; showing captions only[/]")
    elif audio:
        try:
            player = AudioClock(customer, trainee, device)
        except (VoicesimError, OSError) as exc:
            console.print(f"[yellow]no sound ({exc}); showing captions only[/]")
    clock_ = player or VirtualClock(duration, speed)
    events = shown(session.events)
    printer = LivePrinter(console)
    written = (session.meta.get("source") or {}).get("kind") == "transcript"
    title = (session.meta.get("persona") or {}).get("name") or (
        "written call" if written else "recorded call"
    )
    console.print(
        f"[bold]replay[/]: {title}, {clock(duration)}  "
        + ("[dim](space pause, n next event, b back 5 s, q quit)[/]" if sys.stdin.isatty() else "")
    )
    i = 0
    try:
        with _keys() as key:
            while True:
                t = clock_.time()
                while i < len(events) and events[i].t <= t:
                    printer(events[i])
                    i += 1
                k = key()
                if k == "q":
                    console.print(f"[dim]stopped at {clock(t)}[/]")
                    break
                if k == " ":
                    clock_.toggle()
                    console.print(
                        f"[dim]{'paused' if clock_.paused else 'playing'} at {clock(t)}[/]"
                    )
                elif k == "n" and i < len(events):
                    clock_.seek(events[i].t)
                elif k == "b":
                    clock_.seek(t - 5)
                    i = next((j for j, e in enumerate(events) if e.t >= t - 5), len(events))
                if t >= duration and i >= len(events):
                    break
                time.sleep(0.02)
    except KeyboardInterrupt:
        pass
    finally:
        clock_.close()
    card = session.scorecard
    if card.get("scorable", True) is False:  # no score and no verdict: nothing to judge
        why = card.get("not_scorable") or "too little to judge"
        console.print(f"not scorable: {why}; full report: voicesim report {session.dir}")
    elif card.get("overall") is not None:
        verdict = "PASS" if card.get("passed") else "FAIL"
        console.print(
            f"score [bold]{card['overall']:.0f}[/]/100 ({verdict}); "
            f"full report: voicesim report {session.dir}"
        )
    return 0
