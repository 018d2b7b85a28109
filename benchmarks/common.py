"""Shared helpers for benchmarks: JSON line + markdown table output, the shared data folder."""

from __future__ import annotations

import json
import resource
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's voicesim, whatever is installed

from voicesim.speech.wer import normalise_words, wer  # noqa: E402, F401 (one source of truth)

SHARED_DATA = ROOT.parent / "shared" / "data"


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def report(name: str, result: dict, rows: list[tuple[str, str]]) -> None:
    """Print one JSON line (machine-readable) and a markdown table (for people)."""
    print(json.dumps({"benchmark": name, **result}))
    print()
    print(f"| {name} | value |")
    print("|---|---|")
    for key, value in rows:
        print(f"| {key} | {value} |")
    print()


def stm_text(path: Path) -> str:
    """The reference text of an STM file (file channel speaker start end text), in time order."""
    rows = []
    for line in path.read_text().splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6:
            rows.append((float(parts[3]), parts[5]))
    return " ".join(t for _, t in sorted(rows))


def rttm_frames(path: Path, duration_s: float, hop_s: float = 0.01):
    """Frame-level speech truth (any speaker) from an RTTM file."""
    import numpy as np

    n = int(duration_s / hop_s)
    truth = np.zeros(n, dtype=bool)
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "SPEAKER":
            start, dur = float(parts[3]), float(parts[4])
            truth[int(start / hop_s) : min(n, int((start + dur) / hop_s))] = True
    return truth


JFK = "And so my fellow Americans ask not what your country can do for you, ask what you can do for your country."
LEFT = "He began a confused complaint against the wizard, who had vanished behind the curtain on the left."
RIGHT = "The horizon seems extremely distant."


def real_speech() -> list[tuple[str, object, str]]:
    """(name, 16 kHz mono audio, reference text) of the shared real speech with a reference:
    jfk.flac, each side of stereo_diarization.wav, phone_call.wav against its STM."""
    from voicesim.audio.formats import load_audio, read_audio_file, resample

    speech = SHARED_DATA / "speech"
    stereo, sr = read_audio_file(speech / "stereo_diarization.wav")
    return [
        ("jfk.flac", load_audio(speech / "jfk.flac"), JFK),
        ("stereo_diarization left", resample(stereo[:, 0], sr), LEFT),
        ("stereo_diarization right", resample(stereo[:, 1], sr), RIGHT),
        (
            "phone_call.wav",
            load_audio(speech / "phone_call.wav"),
            stm_text(speech / "phone_call.stm"),
        ),
    ]
