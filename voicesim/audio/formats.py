"""One internal analysis format: 16 kHz mono float32. The call clock counts these samples."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from ..errors import AudioFileError, OutputError

RATE = 16_000  # samples per second of the analysis format and of the call clock


def seconds(samples: int, rate: int = RATE) -> float:
    return samples / rate


def samples(secs: float, rate: int = RATE) -> int:
    return int(round(secs * rate))


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Average channels; a (frames, channels) array becomes (frames,)."""
    if audio.ndim == 1:
        return audio
    return audio.mean(axis=1)


def resample(audio: np.ndarray, rate_in: int, rate_out: int = RATE) -> np.ndarray:
    """Convert sample rate with soxr (a real band-limited resampler), keeping float32."""
    audio = np.asarray(audio, dtype=np.float32)
    if rate_in == rate_out or audio.size == 0:
        return audio
    import soxr

    return soxr.resample(audio, rate_in, rate_out, quality="HQ").astype(np.float32, copy=False)


def read_audio_file(path: str | Path) -> tuple[np.ndarray, int]:
    """Read any libsndfile format as (frames, channels) float32; clear errors for bad files."""
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise AudioFileError(f"{path}: no such audio file")
    if path.is_dir():
        raise AudioFileError(f"{path}: is a folder, not an audio file")
    try:
        _check_wav_length(path)
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioFileError(f"{path}: not a readable audio file ({exc})") from None
    except OSError as exc:
        raise AudioFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if data.shape[0] == 0:
        raise AudioFileError(f"{path}: the file holds no audio (zero length)")
    check_samples(data, path)
    return data, int(rate)


MAX_PEAK = 100.0  # 40 dB over full scale: beyond this a float file is not audio at a usable level


def check_samples(data: np.ndarray, path: str | Path) -> None:
    """Refuse NaN, infinite or absurdly large samples (a float file at 1e30 would overflow every
    measurement downstream) with a clear error."""
    if data.size == 0:
        return
    if not np.all(np.isfinite(data)):
        raise AudioFileError(f"{path}: the audio contains NaN or infinite samples")
    peak = float(np.max(np.abs(data)))
    if peak > MAX_PEAK:
        raise AudioFileError(
            f"{path}: samples reach {peak:.3g}, far outside the audio range of -1..1 "
            "(a damaged float file?)"
        )


def _check_wav_length(path: Path) -> None:
    """A RIFF/WAVE file shorter than its header declares was cut short (a copy or download that
    stopped): libsndfile would quietly read what is there, so it is refused here."""
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        size = path.stat().st_size
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            chunk = fh.read(8)
            declared = int.from_bytes(chunk[4:8], "little")
            if chunk[:4] == b"data":
                if declared in (0, 0xFFFFFFFF):  # a streaming writer that never knew the size
                    return
                have = size - pos - 8
                if have < declared:
                    raise AudioFileError(
                        f"{path}: truncated: the header declares {declared} bytes of audio, "
                        f"the file holds {have}"
                    )
                return
            pos += 8 + declared + (declared & 1)


def write_audio_file(path: str | Path, audio: np.ndarray, rate: int, **kw) -> None:  # noqa: ANN003
    """``soundfile.write`` whose failures (missing folder, disk full, read-only) are one
    OutputError naming the file (libsndfile itself says only "System error.")."""
    import soundfile as sf

    path = Path(path)
    try:
        sf.write(str(path), audio, rate, **kw)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        folder = path.parent
        if not folder.is_dir():
            why = f"no folder {folder}"
        elif not os.access(folder, os.W_OK):
            why = "no permission to write there"
        elif shutil.disk_usage(folder).free < 1024 * 1024:
            why = "no space left on the device"
        else:
            why = str(exc)
        raise OutputError(f"{path}: cannot write ({why})") from None


def load_audio(path: str | Path, rate: int = RATE) -> np.ndarray:
    """Read an audio file as mono float32 at ``rate`` (default: the analysis format)."""
    data, sr = read_audio_file(path)
    return resample(to_mono(data), sr, rate)


def trim_silence(
    audio: np.ndarray,
    rate: int = RATE,
    floor_db: float = -45.0,
    lead: bool = True,
    trail: bool = True,
    peak: float | None = None,
) -> np.ndarray:
    """Cut leading and trailing near-silence (10 ms frames below ``floor_db`` of the peak).

    Rendered speech is trimmed so that a clip's first sample is its speech onset: the customer
    timeline then says exactly when the customer was audible. A line rendered in pieces trims
    its first piece at the ``lead`` only and its last at the ``trail``, against the ``peak``
    of the line so far.
    """
    if audio.size == 0:
        return audio
    hop = max(1, rate // 100)
    n = audio.size // hop
    if n == 0:
        return audio
    peak = max(peak or 0.0, float(np.max(np.abs(audio))))
    if peak < 1e-5:  # below -100 dBFS: nothing audible at all
        return audio[:0]
    frames = audio[: n * hop].reshape(n, hop)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1)) + 1e-12
    level = 20 * np.log10(rms / peak)
    loud = np.flatnonzero(level > floor_db)
    if loud.size == 0:
        return audio[:0]
    first = loud[0] * hop if lead else 0
    last = min(audio.size, (loud[-1] + 1) * hop) if trail else audio.size
    return audio[first:last]
