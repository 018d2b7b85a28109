"""Echo guard: keep the customer's own voice, heard back through the microphone, out of the
trainee's speech.

A trainee on laptop speakers instead of a headset puts the customer's playback into the
microphone. voicesim knows exactly what it played (the customer channel on the call clock), so
the echo is found by cross-correlating the microphone with that known signal (numpy FFT over a
sliding window): the lag of the correlation peak is the echo delay, the least-squares gain at
that lag the echo gain, and the normalised peak (coherence) says how much of the microphone the
echo explains.

Once an echo is found (one ``echo`` warning event), every frame is cleaned before the VAD hears
it. The aligned, scaled playback is subtracted; then the frame is judged:

* echo only: what is left after the subtraction is no more than the echo usually leaves, and
  the frame holds no energy the echo cannot account for: the frame is silenced;
* double talk (the trainee speaks over the echo): the residual stands well above the echo's
  usual residual, or a good share of the frame's energy sits in bands where the echo is weak:
  the cleaned frame passes, so a real interruption is still an interruption.

The echo's usual residual is a low percentile of the last seconds of frames, so it follows a
drifting echo path and cannot lock itself out. The guard works on frames and a reference
callable only, so any source can use it; the scorer never knows about it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np

from ..audio.formats import RATE
from ..events import Event

ECHO = "echo"  # event type: the microphone hears the customer's playback

TAPS = 9  # echo filter length around the delay (+-4 samples)
BAND_FFT = 512
# Band edges in FFT bins (31.25 Hz each at 16 kHz): roughly logarithmic from 60 Hz to 8 kHz.
BAND_EDGES = np.array([2, 4, 6, 8, 11, 14, 18, 23, 29, 36, 45, 56, 70, 87, 108, 135, 170, 257])


def _energy(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64))) if x.size else 0.0


class EchoGuard:
    """Detects and suppresses the playback echo in microphone frames.

    ``reference(start, n)`` returns the customer audio as played on the call clock (16 kHz,
    zeros outside what was played; future samples may be read for negative lags).
    """

    def __init__(
        self,
        reference: Callable[[int, int], np.ndarray],
        window_s: float = 0.6,
        min_delay_s: float = -0.1,
        max_delay_s: float = 0.4,
        detect_coherence: float = 0.5,
        update_coherence: float = 0.4,
        active_db: float = -50.0,
        residual_factor: float = 4.0,
        band_margin_db: float = 3.0,
        unexplained: float = 0.3,
        track_s: float = 0.016,
        near_s: float = 0.002,
        max_gain: float = float("inf"),
    ):
        self.reference = reference
        self.window = int(window_s * RATE)
        self.min_lag = int(min_delay_s * RATE)
        self.max_lag = int(max_delay_s * RATE)
        self.detect_coherence = detect_coherence
        self.update_coherence = update_coherence
        self.active = 10 ** (active_db / 10)  # reference energy that counts as the customer talking
        self.residual_factor = residual_factor  # double talk: residual this much above the echo's
        self.band_margin = 10 ** (band_margin_db / 10)
        self.unexplained = unexplained  # share of a frame's energy the echo must not explain
        self.track = int(track_s * RATE)  # how far the delay may move from frame to frame
        self.near = int(near_s * RATE)  # ... and within which the tracked lag is preferred
        # An echo louder than this times its source is not taken for one (two-channel bleed is
        # always fainter than the voice it copies; a speaker echo may be louder).
        self.max_gain = max_gain
        span = self.window + self.max_lag - self.min_lag
        self.nfft = 1 << int(np.ceil(np.log2(span + self.window)))
        self._mic = np.zeros(self.window, dtype=np.float32)  # the last `window` mic samples
        self.delay: int | None = None  # samples; the mic hears playback sample t at t + delay
        self.gain = 0.0  # least-squares amplitude gain of the echo (for the subtraction)
        self.power_gain = 0.0  # energy gain of the echo, coherent or not (for the judgement)
        self.coherence = 0.0
        self.detected_at: int | None = None
        self.suppressed_s = 0.0  # microphone time silenced as echo
        self._ratios: deque[float] = deque(maxlen=100)  # residual/mic of recent echo frames
        self._initial_ratio = 0.1
        self._quiet_run = 0
        self._local_rho = 1.0  # how well the tracked lag explains recent echo frames
        self._relock: list[int] = []
        self._unsure = 0  # frames left in which the echo path is being re-learnt
        self._windows: dict[int, np.ndarray] = {}

    def path_changed(self) -> None:
        """The audio stream was reopened: the echo delay may have moved. Keep suppressing
        while it is re-learnt (about half a second), trusting only clear double talk."""
        self._unsure = int(0.6 * RATE / 480)
        self._ratios.clear()
        self._relock = []

    @property
    def detected(self) -> bool:
        return self.delay is not None

    # -- estimation ---------------------------------------------------------------------------
    def _estimate(self, end: int) -> tuple[int, float, float, float, float] | None:
        """(lag, coherence, gain, power gain, residual share) of the best match of the window."""
        x = self._mic.astype(np.float64)
        ex = float(np.dot(x, x))
        if ex < 1e-9 * x.size:
            return None
        y0 = end - self.window - self.max_lag
        y = self.reference(y0, self.window + self.max_lag - self.min_lag).astype(np.float64)
        if _energy(y) < self.active * 0.1:
            return None
        fx = np.fft.rfft(x, self.nfft)
        fy = np.fft.rfft(y, self.nfft)
        corr = np.fft.irfft(np.conj(fx) * fy, self.nfft)[: y.size - x.size + 1]
        c2 = np.concatenate([[0.0], np.cumsum(y * y)])
        ey = c2[x.size :] - c2[: y.size - x.size + 1]  # energy of each lagged window
        rho = corr / np.sqrt(ex * np.maximum(ey, 1e-12))
        k = int(np.argmax(rho))
        if ey[k] < self.active * x.size * 0.1:
            return None
        g = corr[k] / ey[k]
        resid = max(ex - g * corr[k], 0.0) / ex
        return self.max_lag - k, float(rho[k]), float(g), ex / ey[k], resid

    def _update(self, end: int) -> list[Event]:
        est = self._estimate(end)
        if est is None:
            return []
        lag, rho, g, power, resid = est
        if g <= 0 or g > self.max_gain:
            return []
        if not self.detected:
            if rho < self.detect_coherence:
                return []
            self.delay, self.gain, self.coherence = lag, g, rho
            self.power_gain = max(power, g * g)
            self._initial_ratio = float(np.clip(resid, 1e-3, 1.0))
            self._ratios.clear()
            self.detected_at = end
            data = {
                "delay_ms": round(lag * 1000 / RATE, 1),
                "gain_db": round(float(20 * np.log10(max(g, 1e-6))), 1),
                "coherence": round(rho, 3),
                "action": "suppressed",
            }
            return [Event(ECHO, end / RATE, data)]
        if rho >= self.update_coherence:
            self.gain = 0.7 * self.gain + 0.3 * g
            self.coherence = rho
            # Re-lock on the window's peak only when the frame-by-frame tracking has lost the
            # echo and several windows in a row agree on a new lag (speech is periodic: a
            # single window can peak a pitch period away).
            if abs(lag - self.delay) <= self.track or self._local_rho >= 0.7 or rho < 0.6:
                self._relock = []
            else:
                self._relock = [x for x in self._relock if abs(x - lag) <= self.track] + [lag]
                if len(self._relock) >= (1 if self._unsure else 3):
                    self.delay, self._relock = lag, []
            if rho >= 0.8:  # nearly all echo: a fair window for the energy gain
                self.power_gain = 0.7 * self.power_gain + 0.3 * max(power, g * g)
        return []

    # -- per frame ----------------------------------------------------------------------------
    def process(self, start: int, mic: np.ndarray) -> tuple[np.ndarray, list[Event]]:
        """Clean one microphone frame that starts at call-clock sample ``start``."""
        n = mic.size
        self._mic = np.concatenate([self._mic[n:], mic]) if n < self.window else mic[-self.window :]
        events = self._update(start + n)
        if not self.detected:
            return mic, events
        return self._suppress(start, mic), events

    def _bands(self, x: np.ndarray) -> np.ndarray:
        """Energy in each analysis band of one frame (frames up to 32 ms)."""
        win = self._windows.get(x.size)
        if win is None:
            win = self._windows[x.size] = np.hanning(x.size)
        spec = np.abs(np.fft.rfft(x * win, BAND_FFT)) ** 2
        c = np.concatenate([[0.0], np.cumsum(spec)])
        return c[BAND_EDGES[1:]] - c[BAND_EDGES[:-1]]

    def _fit(self, start: int, n: int) -> tuple[np.ndarray, np.ndarray, int, float]:
        """Fit the echo to the last two frames: find the best lag within ``track`` samples of
        the current delay (echo paths drift: resamplers, clock skew), or anywhere an echo can
        be while the path is re-learnt after a change, then a short least-squares filter
        around it. Returns (taps, shifted playback rows, lag, coherence)."""
        h, two = TAPS // 2, self._mic[-2 * n :].astype(np.float64)
        if self._unsure:  # the stream was reopened: the delay may have moved anywhere
            lo, hi = self.min_lag, self.max_lag
        else:
            lo, hi = self.delay - self.track, self.delay + self.track
        seg = self.reference(start - n - hi - h, 2 * n + hi - lo + 2 * h).astype(np.float64)
        corr = np.correlate(seg, two, mode="valid")  # corr[k]: lag hi + h - k
        c2 = np.concatenate([[0.0], np.cumsum(seg * seg)])
        energy = c2[2 * n :] - c2[: c2.size - 2 * n]
        rho = corr / np.sqrt(max(float(np.dot(two, two)), 1e-12) * np.maximum(energy, 1e-12))
        inner = rho[h : rho.size - h]
        best = int(np.argmax(inner))
        # Speech is periodic: a pitch period away the correlation peaks nearly as high. Stay
        # near the tracked lag unless the far peak is clearly better.
        centre, near = min(max(hi - self.delay, self.near), inner.size - 1 - self.near), self.near
        k_near = centre - near + int(np.argmax(inner[centre - near : centre + near + 1]))
        k = h + (k_near if inner[best] - inner[k_near] < 0.05 else best)
        shifted = np.lib.stride_tricks.sliding_window_view(seg[k - h : k + h + 2 * n], 2 * n)
        gram = shifted @ shifted.T
        gram += np.eye(TAPS) * (1e-4 * np.trace(gram) / TAPS + 1e-12)
        taps = np.linalg.solve(gram, shifted @ two)
        return taps, shifted, hi + h - k, float(rho[k])

    def _suppress(self, start: int, mic: np.ndarray) -> np.ndarray:
        n = mic.size
        ref = self.reference(start - self.delay - n, 3 * n)  # the aligned frame and neighbours
        parts = [ref[i * n : (i + 1) * n] for i in range(3)]
        loudest = max(_energy(p) for p in parts)
        if loudest < self.active:
            return mic  # the customer is silent at this delay: nothing to remove
        e_mic = _energy(mic)
        if e_mic < 0.01 * self.power_gain * loudest:
            # Far quieter than the echo would be: the echo has gone (headset plugged in?).
            self._quiet_run += 1
            if self._quiet_run * n > 2 * RATE:
                self.delay, self.detected_at, self._quiet_run = None, None, 0
            return mic
        self._quiet_run = 0
        # How much of this frame can the playback explain at all? The fitted echo explains an
        # echo almost entirely; the trainee's voice, unrelated to the playback, stays behind.
        taps, shifted, lag, rho = self._fit(start, n)
        cleaned = (mic - taps @ shifted[:, n:]).astype(np.float32)
        self._local_rho = 0.8 * self._local_rho + 0.2 * rho
        if rho >= 0.5 and self.min_lag <= lag <= self.max_lag:
            self.delay = lag  # follow a drifting echo path, within the delays an echo can have
            if self._unsure and rho >= 0.7:
                self._unsure = 0  # the new path is found: judge double talk as usual again
        ratio = _energy(cleaned) / max(e_mic, 1e-12)
        self._ratios.append(ratio)
        usual = (
            float(np.percentile(self._ratios, 20))
            if len(self._ratios) >= 10
            else self._initial_ratio
        )
        # Energy in bands where even the loudest nearby echo is weak: someone else is talking.
        heard = self._bands(mic)
        expected = np.maximum.reduce([self._bands(p) for p in parts]) * self.power_gain
        unexplained = float(np.maximum(heard - self.band_margin * expected, 0.0).sum())
        share = unexplained / max(float(heard.sum()), 1e-12)
        if share > self.unexplained:
            return cleaned
        # Where the fit works (a coherent echo path) the trainee shows in what it leaves: most
        # of the frame, or a clear part of it backed by some unexplained band energy. (A
        # glitch in the echo path, a server adjusting its buffers, leaves a residual too, but
        # never band energy the echo cannot account for.)
        if self._unsure:
            self._unsure -= 1
        elif usual < 0.25:
            floor = self.residual_factor * usual
            if ratio > max(floor, 0.6) or (ratio > max(floor, 0.1) and share > 0.02):
                return cleaned
        self.suppressed_s += n / RATE
        return (cleaned * 0.001).astype(np.float32)


def find_bleed(
    signal: np.ndarray,
    other: np.ndarray,
    max_delay_s: float = 0.4,
    chunk_s: float = 30.0,
    min_coherence: float = 0.1,
) -> bool:
    """Does ``signal`` hold a delayed copy of ``other`` throughout? Bleed is one fixed path for
    the whole call, so the cross-correlation summed over the recording (in chunks, bounded
    memory) peaks clearly at its delay; two different voices never line up that way, where a
    0.6 s window of the live guard sometimes does by chance."""
    n = min(signal.size, other.size)
    lags, chunk = int(max_delay_s * RATE), int(chunk_s * RATE)
    nfft = 1 << int(np.ceil(np.log2(chunk + 2 * lags)))
    corr = np.zeros(lags + 1)
    ex = ey = 0.0
    for a in range(0, n, chunk):
        x = signal[a : a + chunk].astype(np.float64)  # hears other[t - lag] at t
        y = other[max(a - lags, 0) : a + x.size].astype(np.float64)
        pad = lags - (a - max(a - lags, 0))
        y = np.concatenate([np.zeros(pad), y])
        c = np.fft.irfft(np.fft.rfft(x[::-1], nfft) * np.fft.rfft(y, nfft), nfft)
        corr += c[x.size - 1 : x.size + lags][::-1]  # corr[lag] = sum x[t] y[t + lags - lag]
        ex += float(np.dot(x, x))
        ey += float(np.dot(y, y))
    if ex <= 0 or ey <= 0:
        return False
    return float(np.max(corr) / np.sqrt(ex * ey)) >= min_coherence


def remove_bleed(
    signal: np.ndarray, other: np.ndarray, frame: int = 480
) -> tuple[np.ndarray, EchoGuard]:
    """``signal`` (16 kHz, one side of a two-channel recording) with the other side's bleed
    removed: crosstalk, an open headset or a speakerphone put a delayed, fainter copy of
    ``other`` into it. The same guard as the live drill's, run over the whole recording with
    ``other`` as the known reference; the guard says what it found (``detected_at``, ``delay``,
    ``gain``, ``suppressed_s``). Bleed arrives after its source and fainter than it, which
    tells it from the source itself when each channel holds some of the other."""
    n = min(signal.size, other.size)
    signal, other = signal[:n].astype(np.float32), other[:n].astype(np.float32)

    def reference(start: int, count: int) -> np.ndarray:
        out = np.zeros(count, dtype=np.float32)
        a, b = max(start, 0), min(start + count, n)
        if b > a:
            out[a - start : b - start] = other[a:b]
        return out

    guard = EchoGuard(reference, min_delay_s=0.0, max_gain=1.0)
    if not find_bleed(signal, other):
        return signal, guard  # no bleed: leave the side as it is
    cleaned = np.empty_like(signal)
    for a in range(0, n, frame):
        cleaned[a : a + frame], _ = guard.process(a, signal[a : a + frame])
    return cleaned, guard
