"""Who spoke when in a mono recording: two speakers told apart by their voices.

Each stretch of speech is embedded by Resemblyzer's speaker encoder (GE2E, a 3-layer LSTM on
40 mel bands; Apache-2.0, weights from the `resemblyzer` wheel, converted by
scripts/convert_voice_encoder.py and run here in NumPy, no torch); the embeddings of 1.6 s
windows every 0.4 s are split into two voices (k-means on the cosine), and each 10 ms of speech
takes the voice of the windows around it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..audio.formats import RATE

WEIGHTS = Path(__file__).parent / "models" / "voice_encoder.npz"
N_FFT, HOP, N_MELS = 400, 160, 40  # 25 ms windows every 10 ms, as the encoder was trained
WINDOW = 160  # mel frames in one embedding: 1.6 s
STEP = 40  # a window every 0.4 s (every 0.8 s: 89 % on phone_call.wav, not 94 %)
SPECTRAL_MAX = 1000  # windows in the spectral split (its affinity matrix is n x n)
MAX_WINDOWS = 3000  # more (20 minutes of speech) are thinned evenly: bounded time and memory
BATCH = 128  # windows through the LSTM at once
VAD_MS = 30
MIN_SPEECH = 0.5  # a window needs this share of speech to be embedded
TARGET_DBFS = -30.0


@lru_cache(maxsize=1)
def _mel_filters() -> np.ndarray:
    """Slaney-style mel filterbank (librosa's default), (N_MELS, N_FFT // 2 + 1)."""

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, dtype=np.float64)
        lin = f / (200.0 / 3)
        log = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
        return np.where(f >= 1000.0, log, lin)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        lin = m * (200.0 / 3)
        log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0))
        return np.where(m >= 15.0, log, lin)

    fft_hz = np.linspace(0, RATE / 2, N_FFT // 2 + 1)
    mel_hz = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(RATE / 2), N_MELS + 2))
    fdiff = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    return weights * (2.0 / (mel_hz[2:] - mel_hz[:-2]))[:, None]


def mel_frames(audio: np.ndarray, chunk: int = 6000) -> np.ndarray:
    """Mel power spectrogram, (frames, 40): a centred STFT with a Hann window, every 10 ms;
    ``chunk`` frames at a time, so a long call never holds its whole STFT."""
    padded = np.pad(audio.astype(np.float32), N_FFT // 2)
    n = 1 + (padded.size - N_FFT) // HOP
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
    filters = _mel_filters().T.astype(np.float32)
    out = np.empty((n, N_MELS), np.float32)
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        idx = np.arange(N_FFT)[None, :] + HOP * np.arange(a, b)[:, None]
        spec = np.abs(np.fft.rfft(padded[idx] * window, axis=1)) ** 2
        out[a:b] = spec @ filters
    return out


class VoiceEncoder:
    """A 256-dimensional unit vector per 1.6 s of speech; close vectors, the same voice."""

    def __init__(self, path: Path = WEIGHTS):
        with np.load(path) as z:
            w = {k: z[k].astype(np.float32) for k in z.files}
        self.layers = [
            (w[f"lstm_weight_ih_l{i}"].T, w[f"lstm_weight_hh_l{i}"].T,
             w[f"lstm_bias_ih_l{i}"] + w[f"lstm_bias_hh_l{i}"])
            for i in range(3)
        ]  # fmt: skip
        self.linear = (w["linear_weight"].T, w["linear_bias"])

    def embed(self, mels: np.ndarray) -> np.ndarray:
        """(batch, frames, 40) mel windows -> (batch, 256) embeddings."""
        x = mels
        for w_ih, w_hh, b in self.layers:
            batch, steps, _ = x.shape
            hidden = w_hh.shape[0]
            pre = x @ w_ih + b  # (batch, steps, 4 * hidden), gates i, f, g, o
            h = np.zeros((batch, hidden), np.float32)
            c = np.zeros((batch, hidden), np.float32)
            out = np.empty((batch, steps, hidden), np.float32)
            for t in range(steps):
                g = pre[:, t] + h @ w_hh
                i, f = _sigmoid(g[:, :hidden]), _sigmoid(g[:, hidden : 2 * hidden])
                cand, o = np.tanh(g[:, 2 * hidden : 3 * hidden]), _sigmoid(g[:, 3 * hidden :])
                c = f * c + i * cand
                h = o * np.tanh(c)
                out[:, t] = h
            x = out
        e = np.maximum(0.0, x[:, -1] @ self.linear[0] + self.linear[1])
        return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-8)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@lru_cache(maxsize=1)
def get_encoder() -> VoiceEncoder:
    """The shared encoder, loaded on first use."""
    return VoiceEncoder()


def speech_frames(audio: np.ndarray, aggressiveness: int = 2) -> np.ndarray:
    """webrtcvad's speech decision per 10 ms frame (each 30 ms decision covers three)."""
    import webrtcvad

    vad = webrtcvad.Vad(aggressiveness)
    n = RATE * VAD_MS // 1000
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    out = np.zeros(audio.size // (RATE // 100), bool)
    for k in range(audio.size // n):
        if vad.is_speech(pcm[k * n : (k + 1) * n].tobytes(), RATE):
            out[3 * k : 3 * k + 3] = True
    return out


@dataclass(eq=False)  # holds arrays: compared by identity
class Diarisation:
    """Per 10 ms frame: -1 no speech, 0 or 1 the speaker; and how far apart the voices are."""

    labels: np.ndarray
    separation: float  # cosine distance between the two voices' centres (0 the same, 1 far)
    windows: int  # embedded windows

    def mask(self, speaker: int) -> np.ndarray:
        """A sample mask of ``speaker``'s speech, for audio at 16 kHz."""
        return np.repeat(self.labels == speaker, RATE // 100)

    def first(self) -> int | None:
        """The speaker heard first."""
        voiced = np.flatnonzero(self.labels >= 0)
        return int(self.labels[voiced[0]]) if voiced.size else None


def diarise(audio: np.ndarray, encoder: VoiceEncoder | None = None) -> Diarisation:
    """Two speakers in 16 kHz mono ``audio``."""
    encoder = encoder or get_encoder()
    level = 10 * np.log10(np.mean(np.square(audio, dtype=np.float64)) + 1e-12)
    if level < TARGET_DBFS:  # the encoder was trained on speech brought up to -30 dBFS
        audio = audio * np.float32(10 ** ((TARGET_DBFS - level) / 20))
    speech = speech_frames(audio)
    mels = mel_frames(audio)
    n = min(speech.size, mels.shape[0])
    speech, mels = speech[:n], mels[:n]
    starts = [
        s
        for s in range(0, max(1, n - WINDOW + 1), STEP)
        if speech[s : s + WINDOW].mean() >= MIN_SPEECH
    ]
    if len(starts) > MAX_WINDOWS:
        starts = [starts[int(i)] for i in np.linspace(0, len(starts) - 1, MAX_WINDOWS)]
    labels = np.full(n, -1, int)
    if len(starts) < 2:  # too little speech to tell two voices apart
        labels[speech] = 0
        return Diarisation(labels, 0.0, len(starts))
    emb = np.concatenate(
        [encoder.embed(np.stack([mels[s : s + WINDOW] for s in starts[i : i + BATCH]]))
         for i in range(0, len(starts), BATCH)]
    )  # fmt: skip
    assign, centres = _two_means(emb)
    separation = float(1.0 - centres[0] @ centres[1])
    # each speech frame: the vote of the windows that cover it, weighted by how close they are
    votes = np.zeros((n, 2))
    for s, e, a in zip(starts, emb, assign, strict=True):
        votes[s : s + WINDOW, a] += max(1e-3, float(e @ centres[a]) - float(e @ centres[1 - a]))
    covered = votes.sum(axis=1) > 0
    labels[speech & covered] = np.argmax(votes[speech & covered], axis=1)
    near = _nearest_label(labels, speech & ~covered)
    labels[speech & ~covered] = near
    return Diarisation(labels, separation, len(starts))


def _two_means(emb: np.ndarray, iterations: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Two voices: a spectral split (the sign of the Fiedler vector of the windows' pruned
    cosine affinity, robust to windows that straddle a turn), refined by k-means on the sphere.
    On phone_call.wav (two similar voices on a telephone line) the spectral start takes the
    share of speech frames given to the right speaker from 61 % (k-means from the two farthest
    windows) to 94 %."""
    full, emb = emb, emb[:: max(1, len(emb) // SPECTRAL_MAX + 1)]  # the split on at most
    sim = np.clip(emb @ emb.T, 0.0, None)  # SPECTRAL_MAX windows; k-means then takes them all
    k = min(len(emb) - 1, max(3, len(emb) // 5))
    keep = -np.sort(-sim, axis=1)[:, k][:, None]  # each window's k strongest neighbours
    aff = np.where(sim >= keep, sim, 0.0)
    aff = np.maximum(aff, aff.T)
    inv = 1.0 / np.sqrt(aff.sum(axis=1) + 1e-9)
    lap = np.eye(len(emb)) - inv[:, None] * aff * inv[None, :]
    _, vectors = np.linalg.eigh(lap)
    assign = (vectors[:, 1] > 0).astype(int)
    if assign.min() == assign.max():  # no split: fall back to the two farthest windows
        i, j = np.unravel_index(np.argmin(emb @ emb.T), sim.shape)
        assign = np.argmax(emb @ emb[[i, j]].T, axis=1)
    centres = np.zeros((2, emb.shape[1]), emb.dtype)
    for c in (0, 1):
        if np.any(assign == c):
            m = emb[assign == c].mean(axis=0)
            centres[c] = m / max(np.linalg.norm(m), 1e-8)
    emb, assign = full, np.argmax(full @ centres.T, axis=1)
    for _ in range(iterations):
        for c in (0, 1):
            if np.any(assign == c):
                m = emb[assign == c].mean(axis=0)
                centres[c] = m / max(np.linalg.norm(m), 1e-8)
        new = np.argmax(emb @ centres.T, axis=1)
        if np.array_equal(new, assign):
            break
        assign = new
    return assign, centres


def _nearest_label(labels: np.ndarray, where: np.ndarray) -> np.ndarray:
    """For frames ``where``, the label of the nearest labelled frame."""
    known = np.flatnonzero(labels >= 0)
    targets = np.flatnonzero(where)
    if known.size == 0:
        return np.zeros(targets.size, int)
    pos = np.clip(np.searchsorted(known, targets), 1, known.size - 1) if known.size > 1 else None
    if pos is None:
        return np.full(targets.size, labels[known[0]])
    left, right = known[pos - 1], known[pos]
    pick = np.where(np.abs(targets - left) <= np.abs(right - targets), left, right)
    return labels[pick]
