"""Customer lines rendered while the call goes on: streamed sentence by sentence, and rendered
ahead of time into the cache.

A neural line takes about half its length to render on one busy core, so a reply rendered
whole would start a second or more after it was chosen. Two things make it start at once:

* ``LineRenderer`` streams a line: its first piece (speech/tts.py ``Piece``) is played as soon
  as it is rendered, and the rest follows it through an ``AudioFeed`` on the playout while it
  plays. A cancelled line (a reply prepared and then dropped) renders no further piece.
* ``Prerenderer`` renders, on one low-priority thread, the lines the customer is likely to say
  next (the dialogue engine predicts them) into the disk cache, first pieces first: a predicted
  line then starts from a file read.

Both render the same pieces into the same cache: a line sounds the same however it came.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from ..audio.playout import AudioFeed
from .tts import Piece, Synthesizer, VoiceSettings, loudest

PRERENDER_NICE = 10  # the background renderer yields the cores to the call (Whisper, replies)


class Rendering:
    """One line under way: ``first()`` waits for its first piece, ``more`` brings the rest.

    ``chosen_at``, ``first_at``: wall-clock (perf_counter) times the line was asked for and
    its first piece was ready; ``cached``: the first piece came from the cache."""

    def __init__(self, text: str, voice: VoiceSettings, pieces: list[Piece]) -> None:
        self.text, self.voice, self.pieces = text, voice, pieces
        self.chosen_at = time.perf_counter()
        self.first_at: float | None = None
        self.cached: bool | None = None
        self.rendered = 0  # pieces an engine rendered (the rest came from the cache)
        self.more: AudioFeed | None = AudioFeed() if len(pieces) > 1 else None
        self._first: np.ndarray | None = None
        self._error: BaseException | None = None
        self._ready = threading.Event()
        self._cancelled = threading.Event()
        self.done = threading.Event()  # every piece handled (rendered, failed or cancelled)

    def first(self) -> np.ndarray:
        """The first piece in the analysis format (waits for it); a render error is raised."""
        self._ready.wait()
        if self._error is not None:
            raise self._error
        assert self._first is not None
        return self._first

    @property
    def first_audio_s(self) -> float | None:
        """Seconds from asking for the line to its first audio being ready."""
        return None if self.first_at is None else self.first_at - self.chosen_at

    def cancel(self) -> None:
        """The line will not be said: render no further piece."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def _deliver(self, index: int, audio: np.ndarray, cached: bool) -> None:
        if index == 0:
            self._first, self.cached, self.first_at = audio, cached, time.perf_counter()
            self._ready.set()
        elif self.more is not None:
            self.more.put(audio)

    def _fail(self, exc: BaseException) -> None:
        self._error = self._error or exc
        self._ready.set()

    def _finish(self) -> None:
        if self.more is not None:
            self.more.close()
        self._ready.set()  # a line cancelled before its first piece: nobody waits for it
        self.done.set()


class LineRenderer:
    """Streams the customer's lines on one render thread (normal priority) next to the call,
    and renders the first piece of the line most likely next on another (``warm``)."""

    def __init__(self, synth: Synthesizer) -> None:
        self.synth = synth
        self._jobs: queue.Queue[tuple[Rendering, int, float] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._guess = Prerenderer(synth, urgent=True)  # the reply a partial transcript gets

    def warm(self, text: str, voice: VoiceSettings) -> None:
        """Render the line's first piece into the cache now, at normal priority: the reply
        the trainee's words so far would get (a partial transcript). When the line is asked
        for, its first piece is read from the cache, or waited for while it renders (never
        rendered twice). A newer guess replaces one not started."""
        self._guess.plan([Planned(text, voice)], whole=0)

    def wait_warm(self, timeout: float | None = None) -> bool:
        """Block until no guess is waiting or rendering (tests)."""
        return self._guess.wait_idle(timeout)

    def stream(self, text: str, voice: VoiceSettings) -> Rendering:
        """Start the line: pieces in the cache are read at once, the first piece missing and
        everything after it is rendered on the thread, in order."""
        r = Rendering(text, voice, self.synth.pieces(text, voice))
        index, peak = 0, 0.0
        while index < len(r.pieces) and self.synth.cached(r.pieces[index], voice):
            try:
                audio = self._piece(r, index, peak)
            except Exception as exc:  # noqa: BLE001 - the call loop raises it from first()
                r._fail(exc)
                r._finish()
                return r
            r._deliver(index, audio, cached=True)
            index, peak = index + 1, loudest(audio, peak)
        if index == len(r.pieces):
            r._finish()
        else:
            self._start()
            self._jobs.put((r, index, peak))
        return r

    def _piece(self, r: Rendering, index: int, peak: float) -> np.ndarray:
        last = index == len(r.pieces) - 1
        return self.synth.piece_audio(r.pieces[index], r.voice, index == 0, last, peak)

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="voicesim-lines", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            r, index, peak = job
            try:
                for i in range(index, len(r.pieces)):
                    if r.cancelled:
                        break
                    audio = self._piece(r, i, peak)
                    r.rendered += 1
                    r._deliver(i, audio, cached=False)
                    peak = loudest(audio, peak)
            except Exception as exc:  # noqa: BLE001 - handed to the call loop
                r._fail(exc)
            finally:
                r._finish()

    def close(self) -> None:
        """Stop the threads after the piece each is on; ``join`` waits for that."""
        if self._thread is not None:
            self._jobs.put(None)
        self._guess.close()

    def join(self) -> None:
        """Wait for the threads to end (after ``close``): the model must not be torn down
        under a render when the process exits (onnxruntime aborts the process then)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._guess.join()


@dataclass(frozen=True)
class Planned:
    """A line the customer may say: its text and its voice (the mood it would be said in)."""

    text: str
    voice: VoiceSettings


class Prerenderer:
    """Renders likely lines into the cache on one low-priority thread, best guesses first.

    ``plan`` replaces the work list (the call moved on: other lines are likely now); the
    first piece of every planned line is rendered before any line's later pieces, which can
    still stream while the first plays. ``urgent``: at normal priority, and a line asked for
    while its piece renders here waits for it (a guess at the very next reply)."""

    def __init__(
        self,
        synth: Synthesizer,
        on_piece: Callable[[Planned, Piece, bool], None] | None = None,
        urgent: bool = False,
    ) -> None:
        self.synth = synth
        self.on_piece = on_piece  # (line, piece, rendered) after each piece: progress
        self.urgent = urgent
        self._work: list[tuple[Planned, Piece]] = []
        self._cond = threading.Condition()
        self._busy = False
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.rendered = 0  # pieces rendered (not found in the cache)
        self.error: BaseException | None = None

    def plan(self, lines: Iterable[Planned], whole: int | None = None) -> None:
        """Render these lines next, in this order: the first pieces of all of them, then the
        later pieces of the first ``whole`` (None: all; the rest of a line can still stream
        while its first piece plays)."""
        lines = list(dict.fromkeys(lines))
        split = [(line, self.synth.pieces(line.text, line.voice)) for line in lines]
        work = [(line, pieces[0]) for line, pieces in split]
        work += [(line, piece) for line, pieces in split[:whole] for piece in pieces[1:]]
        with self._cond:
            self._work = work
            self._cond.notify_all()
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="voicesim-prerender", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        if not self.urgent and hasattr(os, "setpriority"):  # Linux: this thread's nice value
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PRERENDER_NICE)
            except OSError:
                pass
        while True:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
                self._cond.wait_for(lambda: self._work or self._stopped)
                if self._stopped:
                    return
                line, piece = self._work.pop(0)
                self._busy = True
            rendered = not self.synth.cached(piece, line.voice)
            try:
                if rendered:
                    self.synth.piece_native(piece, line.voice, share=self.urgent)
                    self.rendered += 1
            except Exception as exc:  # noqa: BLE001 - a line that cannot render is said later
                self.error = exc
                rendered = False
            if self.on_piece is not None:
                self.on_piece(line, piece, rendered)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until the plan is done (the ``prerender`` command; tests)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._work and not self._busy, timeout)

    def close(self) -> None:
        """Stop after the piece under way; what was rendered stays in the cache. ``join``
        waits for that."""
        with self._cond:
            self._stopped = True
            self._work = []
            self._cond.notify_all()

    def join(self) -> None:
        """Wait for the thread to end (after ``close``; see LineRenderer.join)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
