"""The session recorder: call.wav and events.jsonl written as the call happens.

Both files stay readable if the process dies: the WAV header is rewritten after every block
(libsndfile's auto header update) and each event line is flushed when it is logged.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import OutputError
from ..events import Event
from .formats import RATE
from .sources import Frame

SFC_SET_UPDATE_HEADER_AUTO = 0x1061  # libsndfile: rewrite the header after each write

SESSION_FORMAT = 1


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (temp file + rename): a crash leaves the old file or the new one,
    and a failed write (disk full, read-only) leaves no temp file and raises OutputError."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutputError.from_os(exc, path) from None


def _why(directory: Path, exc: Exception) -> str:
    """libsndfile says only "System error." when a write fails: name the likely cause."""
    try:
        if shutil.disk_usage(directory).free < 1024 * 1024:
            return os.strerror(errno.ENOSPC)
        if not os.access(directory, os.W_OK):
            return os.strerror(errno.EACCES)
    except OSError:
        pass
    return str(exc)


class SessionRecorder:
    """Writes one session directory: call.wav (L customer, R trainee), events.jsonl, meta.json.

    A write that fails (disk full, read-only, removed folder) raises OutputError, and so does
    every later one: the session keeps what was written before, and the call's end is never
    recorded under a made-up cause (the caller's clean-up cannot log a ``call_end``).
    """

    def __init__(self, directory: str | Path, rate: int = RATE, audio: bool = True):
        """``audio`` false: a call with no audio to keep (a written transcript), no call.wav."""
        import soundfile as sf
        from soundfile import _ffi, _snd

        self.dir = Path(directory)
        self.rate = rate
        self.failed: OutputError | None = None
        self.samples_written = 0
        self.closed = False
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._events = open(self.dir / "events.jsonl", "a", encoding="utf-8")
        except OSError as exc:
            raise OutputError.from_os(exc, self.dir) from None
        self._wav = None
        if not audio:
            return
        try:
            self._wav = sf.SoundFile(
                str(self.dir / "call.wav"), "w", samplerate=rate, channels=2, subtype="PCM_16"
            )
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            self._events.close()
            why = _why(self.dir, exc)
            raise OutputError(f"{self.dir / 'call.wav'}: cannot write ({why})") from None
        _snd.sf_command(self._wav._file, SFC_SET_UPDATE_HEADER_AUTO, _ffi.NULL, _snd.SF_TRUE)

    @contextlib.contextmanager
    def _writing(self, what: str):  # noqa: ANN202
        if self.failed is not None:
            raise self.failed
        try:
            yield
        except (OSError, RuntimeError) as exc:  # libsndfile reports a failed write as RuntimeError
            err = (
                OutputError.from_os(exc, self.dir / what)
                if isinstance(exc, OSError)
                else OutputError(f"{self.dir / what}: cannot write ({_why(self.dir, exc)})")
            )
            self.failed = err
            raise err from None

    def write(self, frame: Frame) -> None:
        if self._wav is None:
            raise ValueError("this session records no audio")
        block = np.stack([frame.customer, frame.mic], axis=1)
        with self._writing("call.wav"):
            written = self._wav.write(np.clip(block, -1.0, 1.0))
            if written is not None and written < len(block):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.samples_written += frame.mic.size

    def log(self, event: Event) -> None:
        with self._writing("events.jsonl"):
            self._events.write(event.to_json() + "\n")
            self._events.flush()

    def write_json(self, name: str, obj: Any) -> None:
        with self._writing(name):
            try:
                write_json(self.dir / name, obj)
            except OutputError as exc:
                self.failed = exc
                raise

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            if self._wav is not None:
                self._wav.close()
            self._events.flush()
            os.fsync(self._events.fileno())
        except (OSError, RuntimeError) as exc:
            if self.failed is None:
                self.failed = OutputError(f"{self.dir}: cannot finish writing ({exc})")
                raise self.failed from None
        finally:
            with contextlib.suppress(OSError):
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
