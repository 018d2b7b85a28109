"""The session recorder: call.wav and events.jsonl written as the call happens.

Both files stay readable if the process dies: the WAV header is rewritten after every block
(libsndfile's auto header update) and each event line is flushed when it is logged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..events import Event
from .formats import RATE
from .sources import Frame

SFC_SET_UPDATE_HEADER_AUTO = 0x1061  # libsndfile: rewrite the header after each write

SESSION_FORMAT = 1


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (temp file + rename): a crash leaves the old file or the new one."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class SessionRecorder:
    """Writes one session directory: call.wav (L customer, R trainee), events.jsonl, meta.json."""

    def __init__(self, directory: str | Path, rate: int = RATE):
        import soundfile as sf
        from soundfile import _ffi, _snd

        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.rate = rate
        self._wav = sf.SoundFile(
            str(self.dir / "call.wav"), "w", samplerate=rate, channels=2, subtype="PCM_16"
        )
        _snd.sf_command(self._wav._file, SFC_SET_UPDATE_HEADER_AUTO, _ffi.NULL, _snd.SF_TRUE)
        self._events = open(self.dir / "events.jsonl", "a", encoding="utf-8")
        self.samples_written = 0
        self.closed = False

    def write(self, frame: Frame) -> None:
        block = np.stack([frame.customer, frame.mic], axis=1)
        self._wav.write(np.clip(block, -1.0, 1.0))
        self.samples_written += frame.mic.size

    def log(self, event: Event) -> None:
        self._events.write(event.to_json() + "\n")
        self._events.flush()

    def write_json(self, name: str, obj: Any) -> None:
        write_json(self.dir / name, obj)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._wav.close()
        self._events.flush()
        os.fsync(self._events.fileno())
        self._events.close()


def load_call_audio(session_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The (customer, trainee) channels of a session's call.wav, also while it is being written."""
    import soundfile as sf

    audio, rate = sf.read(str(Path(session_dir) / "call.wav"), dtype="float32", always_2d=True)
    if rate != RATE or audio.shape[1] != 2:
        raise ValueError(
            f"call.wav must be {RATE} Hz stereo (got {rate} Hz, {audio.shape[1]} channels)"
        )
    return audio[:, 0], audio[:, 1]
