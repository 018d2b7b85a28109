"""The live drill's Whisper worker: final transcripts first, partial ones only when idle.

The same interface as ``speech.transcriber.TranscriberWorker`` (``submit``, ``results``,
``pending``, ``completed``, ``wait_idle``, ``close``), so the pipeline cannot tell them apart,
plus ``submit_partial``: a transcript of the speech still under way, for the trainee to watch
their words appear. One thread runs Whisper; a final transcript is never queued behind a
partial one (a partial is only started when no final is waiting, and a newer partial replaces
one not yet started). When finals pile up (a slow machine), they are decoded in packs, one
Whisper pass for several utterances, so the drill catches up instead of staying behind.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from ..audio.formats import RATE
from ..speech.transcriber import Job, JobResult, JobStat, Transcriber, Transcript


@dataclass
class PartialResult:
    onset: float  # call-clock seconds where the speech began
    upto: float  # call-clock seconds the audio reached
    transcript: Transcript | None
    decode_s: float


class LiveTranscriber:
    def __init__(self, transcriber: Transcriber):
        self.transcriber = transcriber
        self.results: queue.Queue[JobResult] = queue.Queue()
        self.partials: queue.Queue[PartialResult] = queue.Queue()
        self.completed: list[JobStat] = []
        self.partial_decode_s: list[float] = []
        self._finals: deque[Job] = deque()
        self._partial: tuple[float, np.ndarray, float] | None = None
        self._running_final = 0  # finals being decoded right now
        self._partial_running = False
        self._closed = False
        self._cv = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="transcriber", daemon=True)
        self._thread.start()

    # -- the worker interface -----------------------------------------------------------------
    def submit(self, key: int, audio: np.ndarray, offset: float) -> None:
        with self._cv:
            self._finals.append(Job(key, audio, offset, time.perf_counter()))
            self._partial = None  # that speech has ended: its partial is moot
            self._cv.notify_all()

    def submit_partial(self, onset: float, audio: np.ndarray, offset: float) -> bool:
        """Ask for a partial transcript; refused (False) while any final is waiting or the
        worker is busy."""
        with self._cv:
            if self._finals or self._running_final or self._busy:
                return False
            self._partial = (onset, audio, offset)
            self._cv.notify_all()
            return True

    @property
    def pending(self) -> int:
        with self._cv:
            return len(self._finals) + self._running_final

    @property
    def _busy(self) -> bool:
        return self._running_final > 0 or self._partial_running

    def wait_idle(self, timeout: float | None = None) -> bool:
        with self._cv:
            return self._cv.wait_for(lambda: not self._finals and not self._running_final, timeout)

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        self._thread.join(timeout=30)

    # -- the thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._finals or self._partial or self._closed)
                if self._finals:
                    jobs = list(self._finals)
                    self._finals.clear()
                    self._running_final = len(jobs)
                    partial = None
                elif self._partial is not None:
                    jobs, partial, self._partial = [], self._partial, None
                    self._partial_running = True
                else:
                    return  # closed, nothing left
            if jobs:
                self._decode_finals(jobs)
            else:
                self._decode_partial(partial)
            with self._cv:
                self._running_final = 0
                self._partial_running = False
                self._cv.notify_all()

    def _decode_finals(self, jobs: list[Job]) -> None:
        began = time.perf_counter()
        try:
            if len(jobs) == 1:
                trs = [self.transcriber.transcribe(jobs[0].audio, jobs[0].offset)]
            else:  # a backlog: one Whisper pass for several utterances
                trs = self.transcriber.transcribe_many([(j.audio, j.offset) for j in jobs])
            err = None
        except Exception as exc:  # keep the call alive; the result says what failed
            trs, err = [None] * len(jobs), f"{type(exc).__name__}: {exc}"
        done = time.perf_counter()
        for job, tr in zip(jobs, trs, strict=True):
            result = JobResult(job.key, tr, err, began - job.submitted, done - began)
            self.completed.append(
                JobStat(job.key, job.audio.size / RATE, result.queued_s, result.decode_s)
            )
            self.results.put(result)

    def _decode_partial(self, partial: tuple[float, np.ndarray, float]) -> None:
        onset, audio, offset = partial
        began = time.perf_counter()
        try:
            tr = self.transcriber.transcribe(audio, offset)
        except Exception:  # noqa: BLE001 - a failed partial is simply not shown
            tr = None
        took = time.perf_counter() - began
        self.partial_decode_s.append(took)
        self.partials.put(PartialResult(onset, offset + audio.size / RATE, tr, took))
