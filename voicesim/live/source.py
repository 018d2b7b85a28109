"""The live source: one full-duplex sounddevice stream, customer out, microphone in.

Playback and capture run in one PortAudio stream, so they share one sample clock. The call
clock counts microphone samples (converted to the 16 kHz analysis rate); the customer's audio is
written to the device ``output_delay`` ahead of the microphone, the output buffering of the
stream, so that a customer sample placed at call-clock sample ``s`` is heard when the microphone
captures sample ``s``. Overtalk is then measured from what was actually played.

The audio callback only moves frames: it copies the microphone block into a queue and fills the
output block from device-rate copies of the customer's clips that the reading side prepared,
honouring a clip's ``stop`` the moment the conductor sets it. It never resamples, decodes or
waits. ``read(n)`` is where the live call waits: it blocks on the queue and resamples with a
streaming soxr resampler.

PortAudio's ALSA host API on PulseAudio's ALSA plugin (the usual Linux desktop) has two known
failure modes for duplex callback streams, both measured here: the stream can die while the
server settles at start-up, and PortAudio's poll loop can busy-wait a whole CPU core. The
source watches for both and reopens the stream (the call clock carries on); it prefers 48 kHz
in 10 ms blocks, the server's own rate, where both are rare.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..audio.echo import EchoGuard
from ..audio.formats import RATE, resample
from ..audio.playout import Clip, Playout
from ..audio.sources import Frame
from ..events import Event
from .devices import Device, DeviceError, _quiet_stderr, sounddevice

DEVICE = "device"  # event type: audio device trouble (a stream that died)

PREFERRED_RATES = (48_000, 44_100)  # tried before the device's own default
FALLBACK_RATES = (32_000, 16_000)
BLOCK_S = 0.01  # one callback block: 10 ms
HISTORY_S = 30  # microphone audio kept for partial transcripts
MAX_RESTARTS = 10  # a stream that dies or spins is reopened at most this often ...
RESTART_WINDOW_S = 60  # ... within this much call time (then the device counts as lost)
UNDERFLOW_BURST = 3  # the speaker ran dry this often ...
UNDERFLOW_WINDOW_S = 5  # ... within this much call time: reopen the stream with more buffering
REOPEN_PAUSE_S = 0.2  # let the server drop the old stream before the new one joins
RESTART_LATENCIES = (0.05, 0.08, 0.12)  # a reopened stream gets more buffering each time
SPIN_CORES = 0.6  # the callback thread using this much CPU is PortAudio busy-waiting


_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class CallStopped(KeyboardInterrupt):
    """Ends a live call through run_call's interrupt path, so the session is finalised.

    A KeyboardInterrupt on purpose: the call loop already turns one into a complete session
    (status ``interrupted``); ``reason`` says why (a lost device, the --max-seconds cap).
    """

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(eq=False)  # holds audio: compared by identity, never by value
class LiveFrame(Frame):
    raw_mic: np.ndarray | None = None  # the microphone before echo suppression


@dataclass(eq=False)  # holds audio: compared by identity, never by value
class _DevClip:
    clip: Clip
    start: int  # device-rate output sample of this audio's first sample
    audio: np.ndarray  # the clip (or a piece of a streamed clip) at the device rate
    offset: int = 0  # where in the clip this audio starts (analysis-rate samples)

    def end(self, rate: int) -> int:
        full = self.start + self.audio.size
        stop = self.clip.stop  # read live: a barge-in cut applies to the very next block
        if stop is None:
            return full
        cut = stop - self.clip.start - self.offset
        return min(full, self.start + int(round(cut * rate / RATE)))


@dataclass
class StreamSettings:
    input_device: Device
    output_device: Device
    samplerate: int | None = None  # None: the output device's default rate
    latency: str | float = "high"
    margin_ms: float = 8.0  # play_floor safety margin beyond the samples already handed over
    stall_s: float = 2.0  # no microphone data for this long: the device is gone


@dataclass
class DeviceStats:
    callbacks: int = 0
    input_overflow: int = 0  # microphone samples lost
    input_underflow: int = 0  # no microphone samples yet (PortAudio gave silence)
    output_underflow: int = 0  # the speaker ran dry
    spins: int = 0  # streams reopened because PortAudio busy-waited a core
    late_clips: int = 0  # clips scheduled where the speaker had already played (shifted later)
    max_backlog_s: float = 0.0  # the most microphone audio waiting to be read
    restarts: int = 0  # streams reopened: died, stalled, spun or ran dry
    buffer_raises: int = 0  # streams reopened with more buffering after the speaker ran dry
    flags: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(vars(self))


class LiveSource:
    """A Source (``position``, ``read``, ``play_floor``) on a full-duplex audio device."""

    def __init__(
        self,
        playout: Playout,
        settings: StreamSettings,
        echo: bool = True,
        max_seconds: float | None = None,
    ):
        self.sd = sounddevice()
        self.playout = playout
        self.settings = settings
        self.position = 0
        self.stats = DeviceStats()
        self.rate = self._pick_rate()
        self.block = max(16, int(round(self.rate * BLOCK_S)))
        self.in_channels = 1 if self._ok("input", 1) else min(2, settings.input_device.inputs)
        self.out_channels = 1 if self._ok("output", 1) else min(2, settings.output_device.outputs)
        self._queue: queue.Queue[np.ndarray] = queue.Queue()
        self._pending = np.zeros(0, dtype=np.float32)
        self._resampler = None
        self._dev_clips: list[_DevClip] = []
        self._known: set[Clip] = set()  # clips handed to the callback (by identity)
        self._out_pos = 0  # device-rate output samples handed to the device
        self._in_pos = 0  # device-rate input samples read by the call
        self._io_in = 0  # device-rate input samples the audio thread received
        self._anchor: tuple[int, float] | None = None
        self._muted = False
        self._started = False
        self._cb_tid: int | None = None
        self._spin_mark: tuple[float, float] | None = None
        self._last_data = 0.0
        self._notices: list[Event] = []
        self._producers: list[Callable[[], list[Event]]] = []
        self.max_samples = int(max_seconds * RATE) if max_seconds else None
        self.echo = EchoGuard(self._reference) if echo else None
        self.level_db = -120.0  # microphone level of the last frame (dBFS RMS), for meters
        self._history = np.zeros(HISTORY_S * RATE, dtype=np.float32)  # the mic as the VAD heard
        self.error: CallStopped | None = None
        self._base = 0  # call-clock sample of the current stream's first input sample
        self._restarts = 0
        self._restarted_at: list[int] = []  # call-clock samples of the restarts
        self._underflows_seen = 0
        self._underflow_at: list[int] = []  # call-clock samples where the speaker ran dry
        self.stream = self._open_stream()
        self._margin = int(settings.margin_ms * RATE / 1000)
        playout.on_schedule = lambda _clip: self._sync_clips()  # no frame's delay in between

    # -- set-up -------------------------------------------------------------------------------
    def _open_stream(self):
        s = self.settings
        self._finished = threading.Event()
        self._stop_request: KeyboardInterrupt | None = None  # set by a signal handler
        try:
            with _quiet_stderr():
                stream = self.sd.Stream(
                    device=(s.input_device.index, s.output_device.index),
                    samplerate=self.rate,
                    channels=(self.in_channels, self.out_channels),
                    dtype="float32",
                    latency=s.latency,
                    blocksize=self.block,
                    callback=self._callback,
                    finished_callback=self._finished.set,
                )
        except (self.sd.PortAudioError, ValueError) as exc:
            raise DeviceError(
                f"cannot open {s.input_device.label()} -> {s.output_device.label()} at "
                f"{self.rate} Hz: {exc}"
            ) from None
        in_lat, out_lat = stream.latency
        self.input_latency_s = float(in_lat)
        self.output_latency_s = float(out_lat)
        # Customer audio is written this far ahead of the microphone position.
        self.output_delay = int(round(self.output_latency_s * RATE))
        return stream

    def _ok(self, kind: str, channels: int, rate: float | None = None) -> bool:
        dev = self.settings.input_device if kind == "input" else self.settings.output_device
        check = self.sd.check_input_settings if kind == "input" else self.sd.check_output_settings
        try:
            with _quiet_stderr():
                check(
                    device=dev.index,
                    channels=channels,
                    dtype="float32",
                    samplerate=rate or getattr(self, "rate", None) or dev.samplerate,
                )
            return True
        except (self.sd.PortAudioError, ValueError):
            return False

    def _pick_rate(self) -> int:
        s = self.settings
        wanted = [s.samplerate] if s.samplerate else list(PREFERRED_RATES)
        wanted += [int(s.output_device.samplerate), int(s.input_device.samplerate)]
        wanted += list(FALLBACK_RATES)
        for rate in dict.fromkeys(r for r in wanted if r):
            if self._ok("input", 1, rate) or self._ok("input", 2, rate):
                if self._ok("output", 1, rate) or self._ok("output", 2, rate):
                    return int(rate)
            if s.samplerate:
                raise DeviceError(
                    f"{s.input_device.label()} / {s.output_device.label()} cannot run at "
                    f"{s.samplerate} Hz"
                )
        raise DeviceError(
            f"no common sample rate for {s.input_device.label()} and {s.output_device.label()}"
        )

    def describe(self) -> dict:
        """For meta.json: the devices and the stream as opened."""
        return {
            "input_device": self.settings.input_device.name,
            "output_device": self.settings.output_device.name,
            "hostapi": self.settings.input_device.hostapi,
            "device_rate": self.rate,
            "block": self.block,
            "channels": [self.in_channels, self.out_channels],
            "latency": self.settings.latency,
            "restarts": self._restarts,
            "input_latency_s": round(self.input_latency_s, 4),
            "output_latency_s": round(self.output_latency_s, 4),
            "echo_check": self.echo is not None,
        }

    # -- the audio callback (PortAudio's thread): moves frames, nothing else ------------------
    def _callback(self, indata, outdata, frames, time_info, status) -> None:
        st = self.stats
        st.callbacks += 1
        if self._cb_tid is None:
            self._cb_tid = threading.get_native_id()
        if status:
            st.input_overflow += bool(status.input_overflow)
            st.input_underflow += bool(status.input_underflow)
            st.output_underflow += bool(status.output_underflow)
            if len(st.flags) < 50:
                st.flags.append(f"{self._base / RATE + self._io_in / self.rate:.2f}s {status}")
        self._queue.put_nowait(indata.copy())
        self._io_in += frames
        self._anchor = (self._io_in, time.time())  # wall time this much input had arrived
        pos, end = self._out_pos, self._out_pos + frames
        outdata.fill(0.0)
        if not self._muted:
            out = outdata[:, 0]
            for dc in self._dev_clips:
                a, b = max(pos, dc.start), min(end, dc.end(self.rate))
                if a < b:
                    out[a - pos : b - pos] += dc.audio[a - dc.start : b - dc.start]
            if outdata.shape[1] > 1:
                outdata[:, 1:] = out[:, None]
        self._out_pos = end

    def _start_io(self) -> None:
        self._cb_tid = None
        self._spin_mark = None
        try:
            with _quiet_stderr():
                self.stream.start()
        except self.sd.PortAudioError as exc:
            raise DeviceError(f"cannot start the audio stream: {exc}") from None
        self._last_data = time.monotonic()

    def _stop_stream(self) -> None:
        try:
            with _quiet_stderr():
                self.stream.abort()
                self.stream.close()
        except Exception:  # noqa: BLE001 - a dead device may refuse even that
            pass

    def _spinning(self) -> bool:
        """Is PortAudio's callback thread busy-waiting? (checked twice a second)"""
        tid = self._cb_tid
        if tid is None:
            return False
        try:
            with open(f"/proc/self/task/{tid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return False
        cpu = (int(fields[11]) + int(fields[12])) / _CLK_TCK
        now = time.monotonic()
        mark, self._spin_mark = self._spin_mark, (now, cpu)
        if mark is None or now - mark[0] < 0.5:
            if mark is not None:
                self._spin_mark = mark  # keep measuring over at least half a second
            return False
        return (cpu - mark[1]) / (now - mark[0]) > SPIN_CORES

    # -- clock mapping --------------------------------------------------------------------------
    def _played_to(self) -> int:
        """Call-clock sample of the next output sample the device has not been handed yet."""
        return self._base + math.ceil(self._out_pos * RATE / self.rate) + self.output_delay

    def play_floor(self) -> int:
        """New or cut customer audio can start here: past what the speaker already holds."""
        return max(self.position, self._played_to() + self._margin)

    def _reference(self, start: int, n: int) -> np.ndarray:
        """The customer as played on the call clock (zero before the call)."""
        if start >= 0:
            return self.playout.read(start, n)
        out = np.zeros(n, dtype=np.float32)
        if start + n > 0:
            out[-start:] = self.playout.read(0, start + n)
        return out

    def _sync_clips(self) -> None:
        """Give the callback a device-rate copy of every newly scheduled customer clip."""
        fresh = [c for c in self.playout.clips if c not in self._known]
        if not fresh:
            return
        self._known.intersection_update(self.playout.clips)  # forget pruned or cancelled ones
        self._known.update(fresh)
        self._hand_over(fresh, unplayed=True)

    def _hand_over(self, clips: list[Clip], unplayed: bool) -> None:
        """Device-rate copies of ``clips`` for the callback.

        ``unplayed`` clips must be heard whole: when the speaker has already played past the
        first one's start (the conductor was slow, or a new stream starts later), they all move
        later by the same amount, keeping their order and gaps, so the timeline stays true. A
        clip that was already playing when its stream was reopened carries on where it is.
        """
        keep = [dc for dc in self._dev_clips if dc.end(self.rate) > self._out_pos]
        floor = self._played_to() + self._margin
        if unplayed and clips:
            late = [c for c in clips if c.start < floor]
            if late:
                self.stats.late_clips += len(late)
                shift = floor - min(c.start for c in clips)
                for clip in clips:
                    clip.start += shift
        for clip in clips:
            audio = resample(clip.audio, RATE, self.rate)
            start = int(round((clip.start - self._base - self.output_delay) * self.rate / RATE))
            keep.append(_DevClip(clip, start, np.ascontiguousarray(audio, dtype=np.float32)))
        self._dev_clips = keep  # one assignment: the callback sees the old list or the new one

    def _settle_clips(self) -> None:
        """Hand the speaker the pieces of streamed lines rendered since the last frame: each
        follows its line seamlessly, or from the play floor when it came too late."""
        grown = self.playout.settle(self.play_floor())
        if not grown:
            return
        keep = [dc for dc in self._dev_clips if dc.end(self.rate) > self._out_pos]
        for clip, offset in grown:
            audio = resample(clip.audio[offset:], RATE, self.rate)
            at = clip.start + offset - self._base - self.output_delay
            start = int(round(at * self.rate / RATE))
            keep.append(_DevClip(clip, start, np.ascontiguousarray(audio), offset))
        self._dev_clips = keep

    # -- reading --------------------------------------------------------------------------------
    def start(self) -> None:
        if not self._started:
            self._started = True
            self._start_io()

    def _may_restart(self) -> bool:
        """A stream may be reopened MAX_RESTARTS times within RESTART_WINDOW_S of call time."""
        recent = [t for t in self._restarted_at if self.position - t < RESTART_WINDOW_S * RATE]
        return len(recent) < MAX_RESTARTS

    def _drain(self) -> None:
        """Resample what the old stream captured and the call has not read yet: kept, and
        read before the new stream's first sample."""
        if self._resampler is None:
            self._resampler = self._new_resampler()
        parts = [self._pending]
        while True:
            try:
                block = self._queue.get_nowait()
            except queue.Empty:
                break
            self._in_pos += block.shape[0]
            parts.append(self._resampler.resample_chunk(self._mono(block)))
        parts.append(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True))
        self._pending = np.concatenate(parts).astype(np.float32, copy=False)

    def _restart(self, why: str, cause: str = "died") -> None:
        """Reopen a stream that died, stalled or busy-waits, and carry on with the call.

        Nothing the microphone captured is lost, and the call clock goes on where it was: the
        new stream's first input sample follows the last one read from the old. Customer
        audio the speaker had not played yet is handed to the new stream (later, whole, when
        the new stream cannot play it in time); a line that was playing carries on. Raises
        DeviceError when the device cannot be opened again.
        """
        old_played = self._played_to()
        self._restarts += 1
        self.stats.restarts += 1
        self.stats.spins += cause == "spin"
        self.stats.buffer_raises += cause == "underflow"
        self._restarted_at.append(self.position)
        self._stop_stream()
        self._drain()
        time.sleep(REOPEN_PAUSE_S)
        # Deaths, spins and a speaker running dry come with buffers too small for a busy
        # machine (measured with both cores saturated: ~100 underflows in a 30 s call at 50 ms,
        # none to a few at 120 ms): the new stream gets more.
        bigger = [x for x in RESTART_LATENCIES if x > self.output_latency_s + 0.005]
        if bigger:
            self.settings.latency = bigger[0]
        self._base = self.position + self._pending.size
        self._resampler = None
        self._out_pos = self._in_pos = self._io_in = 0
        self._anchor = None
        self._dev_clips = []
        if self.echo is not None:
            self.echo.path_changed()
        self.stream = self._open_stream()
        now_playable = self._played_to()
        clips = [c for c in self.playout.clips if c.end > now_playable]
        self._known = set(self.playout.clips)
        self._hand_over([c for c in clips if c.start < old_played], unplayed=False)
        self._hand_over([c for c in clips if c.start >= old_played], unplayed=True)
        self._notices.append(
            Event(DEVICE, self.position / RATE, {"problem": "restarted", "detail": why})
        )
        self._start_io()

    def _speaker_ran_dry(self) -> None:
        """The speaker ran dry (the machine is busy): the rest of the playback is heard later
        than planned. The echo path moved; and when it keeps happening, the stream is reopened
        with more buffering (between frames, like a spin), at most up to the largest step."""
        self._underflows_seen = self.stats.output_underflow
        if self.echo is not None:
            self.echo.path_changed()
        window = int(UNDERFLOW_WINDOW_S * RATE)
        recent = [t for t in self._underflow_at if self.position - t < window] + [self.position]
        self._underflow_at = recent
        if (
            len(recent) >= UNDERFLOW_BURST
            and self.output_latency_s + 0.005 < RESTART_LATENCIES[-1]
            and self._may_restart()
        ):
            self._underflow_at = []
            try:
                self._restart(f"the speaker ran dry {len(recent)} times", "underflow")
            except DeviceError as exc:
                self._lost(f"the audio stream could not be reopened ({exc})")

    def _next_block(self) -> np.ndarray:
        """The next microphone block (device rate); raises CallStopped if the device died."""
        while True:
            try:
                block = self._queue.get(timeout=0.1)
                self._last_data = time.monotonic()
                return block
            except queue.Empty:
                pass
            self._stop_if_asked()
            dead = self._finished.is_set() or not self.stream.active
            silent_for = time.monotonic() - self._last_data
            if not dead and silent_for <= self.settings.stall_s:
                continue
            what = (
                "the audio stream stopped"
                if dead
                else f"no audio from the microphone for {silent_for:.1f} s"
            )
            if self._may_restart():
                try:
                    self._restart(what)
                    continue
                except DeviceError as exc:
                    what = f"{what}, and it cannot be reopened ({exc})"
            self._lost(what)

    def _lost(self, what: str) -> None:
        """End the call: the device is gone (the session is finalised by the call loop)."""
        err = CallStopped(
            "device_lost", f"audio device lost: {what}; headset unplugged or sound server gone?"
        )
        self.error = err
        self._notices.append(
            Event(DEVICE, self.position / RATE, {"problem": "lost", "detail": what})
        )
        raise err

    def _new_resampler(self):  # noqa: ANN202 - soxr is imported on first use
        import soxr

        return soxr.ResampleStream(self.rate, RATE, 1, dtype="float32")

    @staticmethod
    def _mono(block: np.ndarray) -> np.ndarray:
        return block[:, 0] if block.shape[1] == 1 else block.mean(axis=1)

    def request_stop(self, stop: KeyboardInterrupt) -> None:
        """Stop the call at the next safe point (a signal handler calls this).

        Raising from the handler itself could land inside a queue's lock that the audio
        callback needs (the interrupted acquire leaks it): the callback then blocks for good
        and closing the stream waits for it, a hang seen once on Ctrl-C. ``read`` raises
        ``stop`` between two microphone blocks instead, within 0.1 s."""
        self._stop_request = stop

    def _stop_if_asked(self) -> None:
        stop, self._stop_request = self._stop_request, None
        if stop is not None:
            raise stop

    def read(self, n: int) -> Frame:
        self._stop_if_asked()
        if self.max_samples is not None and self.position >= self.max_samples:
            self.error = CallStopped(
                "max_seconds", f"the call reached --max-seconds ({self.max_samples / RATE:g} s)"
            )
            raise self.error
        self.start()
        if self.position % (RATE // 2) < n and self._may_restart() and self._spinning():
            try:  # between two frames: the call clock does not notice
                self._restart("PortAudio busy-waited a CPU core", "spin")
            except DeviceError as exc:
                self._lost(f"the audio stream could not be reopened ({exc})")
        self._sync_clips()
        self._settle_clips()
        if self.stats.output_underflow > self._underflows_seen:
            self._speaker_ran_dry()
        while self._pending.size < n:
            block = self._next_block()
            if self._resampler is None:  # new for every stream
                self._resampler = self._new_resampler()
            self._in_pos += block.shape[0]
            chunk = self._resampler.resample_chunk(self._mono(block))
            self._pending = np.concatenate([self._pending, chunk])
        mic, self._pending = self._pending[:n], self._pending[n:]
        self.stats.max_backlog_s = max(self.stats.max_backlog_s, self.lag_s)
        start = self.position
        customer = self.playout.read(start, n)
        rms = float(np.sqrt(np.mean(np.square(mic, dtype=np.float64)))) if n else 0.0
        self.level_db = 20 * math.log10(max(rms, 1e-6))
        heard = mic
        if self.echo is not None:
            heard, evs = self.echo.process(start, mic)
            self._notices += evs
        idx = np.arange(start, start + n) % self._history.size
        self._history[idx] = heard
        self.position += n
        return LiveFrame(start=start, customer=customer, mic=heard, raw_mic=mic)

    def heard(self, start: int, end: int) -> np.ndarray:
        """The microphone as the pipeline heard it (echo removed), call-clock ``start`` to
        ``end``, for the last HISTORY_S seconds."""
        start = max(start, self.position - self._history.size + 1, 0)
        end = min(end, self.position)
        if end <= start:
            return np.zeros(0, dtype=np.float32)
        return self._history[np.arange(start, end) % self._history.size]

    # -- what the call loop and the view ask --------------------------------------------------
    def add_event_source(self, producer: Callable[[], list[Event]]) -> None:
        self._producers.append(producer)

    def take_events(self) -> list[Event]:
        """Events the source noticed since the last call (echo, device trouble, partials)."""
        out, self._notices = self._notices, []
        for producer in self._producers:
            out += producer()
        return out

    @property
    def lag_s(self) -> float:
        """How far the reader is behind the microphone (received, not yet read)."""
        return max(0, self._io_in - self._in_pos) / self.rate

    @property
    def now(self) -> int:
        """Call-clock sample the microphone has delivered up to (read or waiting)."""
        return self._base + int(self._io_in * RATE / self.rate)

    def clock_zero_unix(self) -> float | None:
        """Wall-clock time of call-clock 0, from the latest callback (diagnostics and tests: it
        relates the call clock to outside events, such as a test playing into the mic)."""
        if self._anchor is None:
            return None
        frames, wall = self._anchor
        return wall - self._base / RATE - frames / self.rate

    def mute(self) -> None:
        """Silence the speaker (the call is over; finalising must not keep the customer talking)."""
        self._muted = True

    def close(self) -> None:
        self._muted = True
        if self._started:
            self._stop_stream()
        else:
            try:
                self.stream.close()
            except Exception:  # noqa: BLE001
                pass
