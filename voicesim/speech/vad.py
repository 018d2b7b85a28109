"""Streaming voice activity detection and endpointing with webrtcvad.

The endpointer turns a stream of microphone samples into utterances with sample-exact start and
end times. Hysteresis keeps single noisy frames from starting or ending speech; pre-roll and
trailing padding keep Whisper from clipping the first or last word (it drops a first word that
starts with no silence before it).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from ..audio.formats import RATE

SPLIT_SEARCH_S = 3.0  # an over-long utterance is cut at the quietest frame of its last 3 s
# (or of its second half, for a short limit)


@dataclass
class VadConfig:
    frame_ms: int = 30  # webrtcvad accepts 10, 20 or 30 ms frames
    aggressiveness: int = 2  # 0 (keeps most) .. 3 (rejects most non-speech)
    start_frames: int = 3  # voiced frames needed ...
    start_window: int = 5  # ... among this many recent frames to start speech
    hangover_ms: int = 450  # this much unvoiced audio ends an utterance
    preroll_ms: int = 300  # audio kept before the onset
    tail_ms: int = 200  # audio kept after the last voiced frame
    min_speech_ms: int = 120  # shorter bursts are dropped as clicks
    max_utterance_s: float = 25.0  # split longer speech (Whisper decodes 30 s windows)
    min_level_db: float = -55.0  # frames quieter than this (dBFS RMS) are never speech

    def validate(self) -> None:
        if self.frame_ms not in (10, 20, 30):
            raise ValueError("frame_ms must be 10, 20 or 30 (webrtcvad's frame sizes)")
        if not 0 <= self.aggressiveness <= 3:
            raise ValueError("aggressiveness must be 0, 1, 2 or 3")
        if not 1 <= self.start_frames <= self.start_window:
            raise ValueError("start_frames must be between 1 and start_window")
        if self.tail_ms > self.hangover_ms:
            raise ValueError("tail_ms cannot exceed hangover_ms")


@dataclass(eq=False)  # holds audio: compared by identity, never by value
class Utterance:
    """One endpointed stretch of speech. ``audio`` includes the pre-roll and tail padding."""

    index: int
    start: int  # call-clock sample of the speech onset
    end: int  # call-clock sample just after the last voiced frame
    audio: np.ndarray
    audio_start: int  # call-clock sample of audio[0] (start minus pre-roll)
    forced: bool = False  # cut at max_utterance_s, speech continues

    @property
    def voice(self) -> np.ndarray:
        """The speech up to its last voiced frame, without the tail: what the end-of-turn cues
        read."""
        return self.audio[: self.end - self.audio_start]


@dataclass(eq=False)  # holds audio: compared by identity, never by value
class VadEvent:
    kind: str  # "start" or "end"
    sample: int
    utterance: Utterance | None = None


class Endpointer:
    """Feed any number of samples; get speech start and end events as they are decided."""

    def __init__(self, config: VadConfig | None = None, rate: int = RATE):
        import webrtcvad

        self.cfg = config or VadConfig()
        self.cfg.validate()
        self.rate = rate
        self.vad = webrtcvad.Vad(self.cfg.aggressiveness)
        self.frame = rate * self.cfg.frame_ms // 1000
        self._pending = np.zeros(0, dtype=np.float32)
        self._pos = 0  # call-clock sample of _pending[0]
        self._recent: deque[tuple[int, bool]] = deque(maxlen=self.cfg.start_window)
        n_pre = (
            self.cfg.preroll_ms + self.cfg.frame_ms * self.cfg.start_window
        ) // self.cfg.frame_ms
        self._history: deque[tuple[int, np.ndarray]] = deque(maxlen=n_pre + 1)
        self._hang = self.cfg.hangover_ms // self.cfg.frame_ms
        self.in_speech = False
        self._onset = 0
        self._last_voiced_end = 0
        self._unvoiced_run = 0
        self._buffer: list[np.ndarray] = []
        self._buffer_start = 0
        self._preroll_from = 0
        self._count = 0

    @property
    def last_voiced_end(self) -> int:
        """End sample of the most recent voiced frame (speech may still be in its hangover)."""
        return self._last_voiced_end

    @property
    def position(self) -> int:
        """Call-clock sample just after the last frame judged."""
        return self._pos

    @property
    def hearing(self) -> bool:
        """Speech is under way, or voiced frames are arriving that may start it."""
        return self.in_speech or any(v for _, v in self._recent)

    def _is_speech(self, frame: np.ndarray) -> bool:
        rms = float(np.sqrt(np.mean(np.square(frame, dtype=np.float64)))) + 1e-12
        if 20 * np.log10(rms) < self.cfg.min_level_db:
            return False
        pcm = (np.clip(frame, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        return self.vad.is_speech(pcm, self.rate)

    def process(self, audio: np.ndarray) -> list[VadEvent]:
        """Consume samples that follow on from the previous call; return decided events."""
        self._pending = np.concatenate([self._pending, np.asarray(audio, dtype=np.float32)])
        events: list[VadEvent] = []
        while self._pending.size >= self.frame:
            frame, self._pending = self._pending[: self.frame], self._pending[self.frame :]
            start = self._pos
            self._pos += self.frame
            events.extend(self._step(start, frame))
        return events

    def _step(self, start: int, frame: np.ndarray) -> list[VadEvent]:
        voiced = self._is_speech(frame)
        self._history.append((start, frame))
        self._recent.append((start, voiced))
        if not self.in_speech:
            n_voiced = sum(v for _, v in self._recent)
            if n_voiced < self.cfg.start_frames:
                return []
            onset = next(s for s, v in self._recent if v)
            return [self._begin(onset)]
        if voiced:
            self._last_voiced_end = start + self.frame
            self._unvoiced_run = 0
        else:
            self._unvoiced_run += 1
        self._buffer.append(frame)
        if self._unvoiced_run >= self._hang:
            return self._finish(forced=False)
        if self._last_voiced_end - self._onset >= self.cfg.max_utterance_s * self.rate:
            return self._split()
        return []

    def _split(self) -> list[VadEvent]:
        """Cut an over-long utterance at its quietest moment in the last few seconds, so the
        cut falls between words rather than through one; the rest starts the next utterance."""
        search_s = min(SPLIT_SEARCH_S, self.cfg.max_utterance_s / 2)
        window = min(len(self._buffer) - 1, int(search_s * self.rate) // self.frame)
        tail_start = len(self._buffer) - window
        levels = [float(np.mean(np.square(f))) for f in self._buffer[tail_start:-1]]
        k = tail_start + int(np.argmin(levels)) + 1 if levels else len(self._buffer)
        carried = self._buffer[k:]
        cut = self._pos - self.frame * len(carried)
        kept_end = self._last_voiced_end
        self._buffer = self._buffer[:k]
        self._last_voiced_end = min(kept_end, cut)
        out = self._finish(forced=True)
        # The speech goes on: no pre-roll, or Whisper would hear the last words twice.
        out.append(self._begin(cut, preroll=False))
        self._buffer = carried
        self._buffer_start = cut
        self._last_voiced_end = max(kept_end, cut)
        return out

    def _begin(self, onset: int, preroll: bool = True) -> VadEvent:
        self.in_speech = True
        self._onset = onset
        self._unvoiced_run = 0
        pre = onset - (self.cfg.preroll_ms * self.rate // 1000 if preroll else 0)
        kept = [(s, f) for s, f in self._history if s + f.size > pre]
        self._buffer = [f for _, f in kept]
        self._buffer_start = kept[0][0] if kept else onset
        self._preroll_from = pre
        voiced = [s for s, v in self._recent if v]
        self._last_voiced_end = (voiced[-1] + self.frame) if voiced else onset
        return VadEvent("start", onset)

    def _utterance(self, forced: bool = False) -> Utterance | None:
        """The speech under way cut at its last voiced frame plus the tail (or what of the
        tail has been heard); None when it is too short to be words."""
        end = self._last_voiced_end
        if end - self._onset < self.cfg.min_speech_ms * self.rate // 1000:
            return None  # a click or a breath
        audio = np.concatenate(self._buffer) if self._buffer else np.zeros(0, np.float32)
        pre = max(self._buffer_start, self._preroll_from)
        stop = min(self._buffer_start + audio.size, end + self.cfg.tail_ms * self.rate // 1000)
        audio = audio[pre - self._buffer_start : stop - self._buffer_start]
        return Utterance(self._count, self._onset, end, audio, pre, forced)

    def peek(self) -> Utterance | None:
        """The utterance under way as it ends if no more speech comes (the trainee has paused):
        what a speculative decode transcribes before the hangover has passed. Its index is
        the one the utterance will have; nothing changes in the endpointer."""
        return self._utterance() if self.in_speech else None

    def _finish(self, forced: bool) -> list[VadEvent]:
        self.in_speech = False
        self._recent.clear()
        utt = self._utterance(forced)
        self._buffer = []
        if utt is None:
            return [VadEvent("end", self._last_voiced_end, None)]
        self._count += 1
        return [VadEvent("end", utt.end, utt)]

    def flush(self) -> list[VadEvent]:
        """End the stream: close an utterance still open."""
        if self.in_speech:
            return self._finish(forced=False)
        return []
