"""Tone from the voice: loudness, pitch, pace and fillers of each trainee utterance.

Measured against the trainee's own baseline in the same call (a naturally loud speaker is not
"raising their voice"), from the recorded trainee channel and the word timestamps. Loudness is
ITU-R BS.1770 (pyloudnorm); pitch is Praat's autocorrelation tracker (parselmouth).
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass

import numpy as np

from ..audio.formats import RATE

FILLERS = (
    "um",
    "uh",
    "umm",
    "uhm",
    "er",
    "erm",
    "hmm",
    "you know",
    "i mean",
    "like",
    "basically",
    "kind of",
    "sort of",
)
_FILLER_RE = re.compile(r"\b(" + "|".join(re.escape(f) for f in FILLERS) + r")\b")
# "like" is a filler only when it does not compare or want something.
_LIKE_KEEP = re.compile(
    r"\b(would|i'd|you'd|we'd|looks|look|feel|feels|sounds|seem|seems|just) like\b"
)


@dataclass
class UtteranceVoice:
    utterance: int
    start: float
    end: float
    text: str
    loudness_lufs: float | None  # None when too short to measure (under 0.4 s)
    pitch_median_hz: float | None  # None when unvoiced
    pitch_range_st: float | None  # 10th..90th percentile spread, in semitones
    words: int
    wpm: float | None  # words per minute over the spoken span
    fillers: list[str]

    def to_dict(self) -> dict:
        def r(x, n=2):
            return None if x is None else round(x, n)

        return {
            "utterance": self.utterance,
            "start": r(self.start, 3),
            "end": r(self.end, 3),
            "loudness_lufs": r(self.loudness_lufs, 1),
            "pitch_median_hz": r(self.pitch_median_hz, 1),
            "pitch_range_st": r(self.pitch_range_st),
            "words": self.words,
            "wpm": r(self.wpm, 1),
            "fillers": self.fillers,
        }


def loudness_lufs(audio: np.ndarray, rate: int = RATE) -> float | None:
    """Integrated loudness (LUFS), or None for audio too short or too quiet to measure."""
    import pyloudnorm

    if audio.size < int(0.4 * rate) + 1:
        return None
    value = pyloudnorm.Meter(rate).integrated_loudness(audio.astype(np.float64))
    return float(value) if np.isfinite(value) else None


def pitch_track(audio: np.ndarray, rate: int = RATE, floor: float = 75.0) -> np.ndarray:
    """Voiced F0 values in Hz (10 ms steps) from Praat's pitch tracker. Frames below
    ``floor`` count as unvoiced: lower it (50) to measure a deep voice without bias."""
    import parselmouth

    if audio.size < int(0.1 * rate):
        return np.zeros(0)
    sound = parselmouth.Sound(audio.astype(np.float64), sampling_frequency=rate)
    f0 = sound.to_pitch(time_step=0.01, pitch_floor=floor, pitch_ceiling=500.0).selected_array[
        "frequency"
    ]
    return f0[f0 > 0]


def fillers_in(text: str) -> list[str]:
    lowered = text.lower().replace("\u2019", "'")
    kept = {m.start() + m.group().rfind("like") for m in _LIKE_KEEP.finditer(lowered)}
    return [
        m.group()
        for m in _FILLER_RE.finditer(lowered)
        if not (m.group() == "like" and m.start() in kept)
    ]


def utterance_voices(
    trainee: np.ndarray, finals: list[dict], rate: int = RATE
) -> list[UtteranceVoice]:
    """Measure every transcribed trainee utterance (``final`` events as dicts with t/end/words)."""
    out = []
    for f in finals:
        start, end = float(f["t"]), float(f.get("end", f["t"]))
        clip = trainee[int(start * rate) : int(end * rate)]
        words = f.get("words") or []
        n = len(words) if words else len(f.get("text", "").split())
        span = (words[-1]["end"] - words[0]["start"]) if len(words) >= 2 else end - start
        f0 = pitch_track(clip, rate)
        out.append(
            UtteranceVoice(
                utterance=int(f.get("utterance", len(out))),
                start=start,
                end=end,
                text=f.get("text", ""),
                loudness_lufs=loudness_lufs(clip, rate),
                pitch_median_hz=float(np.median(f0)) if f0.size >= 10 else None,
                pitch_range_st=float(12 * np.log2(np.percentile(f0, 90) / np.percentile(f0, 10)))
                if f0.size >= 10
                else None,
                words=n,
                wpm=60.0 * n / span if n >= 4 and span > 0.5 else None,
                fillers=fillers_in(f.get("text", "")),
            )
        )
    return out


def baseline(values: list[float | None]) -> float | None:
    """The trainee's own typical value in this call (median of what could be measured)."""
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if len(vals) >= 2 else None
