"""The live drill: a persona on the headset, the trainee on the microphone, one call.

Wired exactly like the simulated call (``session/simulate.py``): the same run_call, pipeline,
conductor, transcriber worker and recorder. Only the source differs: a LiveSource on a
full-duplex device stream instead of a virtual line.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio.formats import RATE
from ..audio.playout import Playout
from ..audio.recorder import SFC_SET_UPDATE_HEADER_AUTO, SessionRecorder
from ..audio.sources import Frame
from ..events import CALL_END, FINAL, PARTIAL, SPEECH_END, SPEECH_START, Event
from ..persona.engine import DialogueEngine
from ..persona.persona import Persona
from ..rubric.rubric import Rubric
from ..session.call import CallOptions, CallResult, Listener, run_call, session_meta
from ..speech.transcriber import Transcriber, TranscriberWorker
from ..speech.tts import Synthesizer
from . import devices as _devices
from .source import LiveSource, StreamSettings

RAW_MIC = "mic_raw.wav"


@dataclass
class DrillOptions:
    input_device: str | None = None
    output_device: str | None = None
    samplerate: int | None = None
    latency: str | float = "high"
    echo_check: bool = True
    max_seconds: float | None = None
    partials: bool = True  # partial transcripts while the trainee speaks


class PartialFeed:
    """Partial transcripts of the trainee's speech under way, when the worker is idle.

    A partial is asked for once the speech has run ``first_s`` and then every ``every_s``,
    only while the trainee is audibly speaking: a decode started then is over before the VAD's
    end-of-speech hangover has passed, so the final transcript never waits behind it.
    """

    def __init__(self, source: LiveSource, worker: TranscriberWorker, first_s=1.0, every_s=1.5):
        self.source, self.worker = source, worker
        self.first, self.every = int(first_s * RATE), int(every_s * RATE)
        self.onset: int | None = None
        self.asked: int | None = None
        self.done: set[float] = set()  # onsets whose final transcript is out

    def on_event(self, ev: Event) -> None:
        if ev.type == SPEECH_START:
            self.onset, self.asked = int(round(ev.t * RATE)), None
        elif ev.type == SPEECH_END:
            self.onset = None
        elif ev.type == FINAL:
            self.done.add(round(ev.t, 3))

    def produce(self) -> list[Event]:
        out = []
        while True:
            try:
                res = self.worker.partials.get_nowait()
            except queue.Empty:
                break
            if res.transcript is None or round(res.onset, 3) in self.done:
                continue  # the final is already out: a late partial would only confuse
            out.append(
                Event(
                    PARTIAL,
                    res.onset,
                    {
                        "who": "trainee",
                        "text": res.transcript.text,
                        "upto": round(res.upto, 3),
                        "words": [w.to_dict() for w in res.transcript.words],
                    },
                )
            )
        now = self.source.position
        onset = self.onset
        if (
            onset is not None
            and now - onset >= self.first
            and (self.asked is None or now - self.asked >= self.every)
            and self.source.level_db > -45  # speaking right now, not trailing off
        ):
            pre = int(0.3 * RATE)
            audio = self.source.heard(onset - pre, now)
            if self.worker.submit_partial(onset / RATE, audio, (now - audio.size) / RATE):
                self.asked = now
        return out


class LiveRecorder(SessionRecorder):
    """The session recorder, plus ``mic_raw.wav``: the microphone before echo suppression."""

    def __init__(self, directory: str | Path, rate: int = RATE):
        super().__init__(directory, rate)
        import soundfile as sf
        from soundfile import _ffi, _snd

        self._raw = sf.SoundFile(
            str(self.dir / RAW_MIC), "w", samplerate=rate, channels=1, subtype="PCM_16"
        )
        _snd.sf_command(self._raw._file, SFC_SET_UPDATE_HEADER_AUTO, _ffi.NULL, _snd.SF_TRUE)

    def write(self, frame: Frame) -> None:
        super().write(frame)
        raw = getattr(frame, "raw_mic", None)
        self._raw.write(np.clip(frame.mic if raw is None else raw, -1.0, 1.0))

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


def open_source(playout: Playout, drill: DrillOptions) -> LiveSource:
    """Resolve the devices and open (not start) the duplex stream; DeviceError when impossible."""
    found = _devices.list_devices()
    inp = _devices.resolve(drill.input_device, "input", found)
    out = _devices.resolve(drill.output_device, "output", found)
    settings = StreamSettings(inp, out, samplerate=drill.samplerate, latency=drill.latency)
    return LiveSource(playout, settings, echo=drill.echo_check, max_seconds=drill.max_seconds)


def drill(
    persona: Persona,
    rubric: Rubric,
    out_dir: str | Path,
    options: CallOptions | None = None,
    drill_options: DrillOptions | None = None,
    listeners: list[Listener] = (),
    transcriber: Transcriber | None = None,
    synth: Synthesizer | None = None,
    on_ready: Callable[[LiveSource, TranscriberWorker], list[Listener]] | None = None,
) -> CallResult:
    """Run one live call and write its session directory.

    Raises DeviceError before anything is written when the devices cannot be opened, and
    KeyboardInterrupt (a ``CallStopped`` in ``source.error`` when the device died or the time
    cap was reached) after the session was finalised.
    """
    options = options or CallOptions()
    drill_options = drill_options or DrillOptions()
    playout = Playout()
    source = open_source(playout, drill_options)
    try:
        synth = synth or Synthesizer()
        transcriber = transcriber or Transcriber(options.transcriber)
        worker = TranscriberWorker(transcriber, pack=True)
        engine = DialogueEngine(persona, rubric.library, seed=options.seed)
        recorder = LiveRecorder(out_dir)
        meta = session_meta(
            persona,
            rubric,
            options,
            source={"kind": "live", **source.describe()},
            voices={"customer": synth.describe(persona.voice)},
        )

        latency: list[dict] = []

        def at_call_end(ev: Event) -> list[Event] | None:
            if ev.type == FINAL and not ev.get("error"):
                # From the end of the trainee's speech to this transcript, on the audio clock:
                # the microphone has captured up to source.now by the time it is shown.
                behind = (source.now - int(round(ev["end"] * RATE))) / RATE
                latency.append({"utterance": ev["utterance"], "s": round(behind, 3)})
            if ev.type == CALL_END:
                meta["source"]["final_latency"] = latency
                meta["source"]["transcription"] = [
                    {
                        "utterance": j.key,  # negative: a speculative decode (a guess)
                        "audio_s": round(j.audio_s, 3),
                        "queued_s": round(j.queued_s, 3),
                        "decode_s": round(j.decode_s, 3),
                    }
                    for j in list(worker.completed)
                ]
                meta["source"]["partial_decode_s"] = [round(x, 3) for x in worker.partial_decode_s]
                source.mute()  # finalising must not keep the customer talking
                meta["source"].update(source.describe())  # a restarted stream has new latency
                meta["source"]["device_stats"] = source.stats.as_dict()
                meta["source"]["clock_zero_unix"] = source.clock_zero_unix()
                if source.echo is not None:
                    meta["source"]["echo"] = {
                        "detected": source.echo.detected_at is not None,
                        "delay_ms": None
                        if source.echo.delay is None
                        else round(source.echo.delay * 1000 / RATE, 1),
                        "suppressed_s": round(source.echo.suppressed_s, 2),
                    }
                if source.error is not None:
                    meta["source"]["stopped"] = source.error.reason
                return source.take_events()  # what the source noticed as the call broke off
            return None

        feed = None
        if drill_options.partials:
            feed = PartialFeed(source, worker)
            source.add_event_source(feed.produce)

        def follow(ev: Event) -> None:
            if feed is not None:
                feed.on_event(ev)

        extra = on_ready(source, worker) if on_ready else []
        try:
            return run_call(
                source,
                playout,
                engine,
                rubric,
                worker,
                synth,
                recorder,
                meta,
                options,
                listeners=[at_call_end, follow, *extra, *listeners],
                wait=None,  # a live device never waits: its next frame arrives anyway
            )
        finally:
            worker.close()
    finally:
        source.close()
