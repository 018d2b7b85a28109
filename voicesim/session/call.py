"""The call loop: source -> pipeline -> persona -> recorder, identical for every source.

``run_call`` pulls frames from a source, lets the pipeline turn them into events, lets the
conductor decide when the customer speaks, and records everything. Only the ``wait`` hook
differs: the simulated line may pause its virtual clock until transcripts are ready; a live
source never waits (its next frame arrives anyway).
"""

from __future__ import annotations

import datetime as _dt
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from .. import __version__
from ..audio.callsounds import load_call_sounds
from ..audio.formats import RATE
from ..audio.playout import Playout
from ..audio.recorder import SESSION_FORMAT, SessionRecorder, load_call_audio
from ..audio.sources import Frame
from ..events import CALL_END, CALL_START, MOOD, SCORE, Event
from ..persona.engine import CustomerLine, DialogueEngine, TraineeTurn
from ..persona.persona import Persona
from ..rubric.rubric import Rubric
from ..rubric.scorer import Scorecard, score_call
from ..speech.transcriber import (
    DeferredTranscriber,
    JobStat,
    TranscriberOptions,
    TranscriberWorker,
    describe_model,
)
from ..speech.tts import Synthesizer
from ..speech.vad import VadConfig
from .pipeline import Pipeline, sec

Listener = Callable[[Event], "list[Event] | None"]  # may answer with events of its own
PICKUP_PAUSE_S = 0.3  # between the connect sound and the customer's first words


class Source(Protocol):
    """Anything that delivers call frames: the simulated line, a live device, a recording."""

    position: int  # call-clock sample of the next frame `read` returns

    def read(self, n: int) -> Frame: ...

    def play_floor(self) -> int:
        """The first sample not yet handed to the speaker: new or cut audio starts here."""
        ...


@dataclass
class CallOptions:
    seed: int = 0
    frame_ms: int = 30
    vad: VadConfig = field(default_factory=VadConfig)
    transcriber: TranscriberOptions = field(default_factory=TranscriberOptions)
    lead_in_s: float = 0.5  # quiet before the customer's first line
    tail_s: float = 0.6  # recording kept after the customer's last line
    reply_gap_s: float | None = None  # None: the rubric's response_gap_s
    call_sounds: bool = False  # ring and connect before the first line, hang-up after the last


@dataclass
class CallResult:
    session_dir: Path
    end_state: str
    duration_s: float
    scorecard: Scorecard
    events: list[Event]
    transcription: list[JobStat] = field(default_factory=list)


class Conductor:
    """Turn-taking: when the trainee's turn is over, ask the persona engine what to say."""

    def __init__(
        self,
        floor: Callable[[], int],
        engine: DialogueEngine,
        synth: Synthesizer,
        playout: Playout,
        pipeline: Pipeline,
        reply_gap_s: float,
        backchannel_words: int = 3,
    ):
        self.floor = floor
        self.engine = engine
        self.synth = synth
        self.playout = playout
        self.pipeline = pipeline
        self.gap = int(reply_gap_s * RATE)
        self.patience = int(engine.persona.mood.patience_s * RATE)
        self.time_limit = int(engine.persona.time_limit_s * RATE)
        self.backchannel_words = backchannel_words
        self.yield_after = int(engine.persona.talked_over.yield_after_s * RATE)
        self.interjected_turn: int | None = None
        self.lines = 0
        self.timed_out = False

    def say(self, line: CustomerLine, at: int, keeps_turn: bool = False) -> Event:
        audio = self.synth.render(line.text, line.voice)
        at = max(at, self.floor())  # a live device may have played past `at` (while rendering)
        clip = self.playout.schedule(
            at,
            audio,
            line=self.lines,
            text=line.text,
            reason=line.reason,
            mood=line.mood,
            keeps_turn=keeps_turn,
        )
        self.lines += 1
        return Event(
            MOOD,
            sec(clip.start),  # a live source may have moved the line later to be heard whole
            {
                "mood": line.mood,
                "reason": line.reason,
                "moves": line.moves,
                "end_state": line.end_state,
            },
        )

    @property
    def finished(self) -> bool:
        return self.engine.end_state is not None

    def _barge_in(self, now: int) -> None:
        """A persona that yields stops talking once the trainee talks over it."""
        talked_over = self.engine.persona.talked_over
        onset = self.pipeline.trainee_onset
        if talked_over.behavior != "stop" or onset is None:
            return
        clip = self.playout.playing_at(now - 1)
        if clip is None or clip.stop is not None:
            return  # a cut already made stays where it is (a live floor runs ahead of `now`)
        if onset > clip.start and now - onset >= self.yield_after:
            clip.stop = max(now, self.floor())  # the speaker goes quiet from this sample
            self.pipeline.state.turn_interrupted = True  # so the persona says "let me finish"

    def _interject(self, now: int) -> list[Event]:
        """The customer cuts into a trainee monologue (once per turn)."""
        inter = self.engine.persona.interrupts
        st = self.pipeline.state
        if (
            inter is None
            or st.turn_started is None
            or self.interjected_turn == st.turn_started
            or self.playout.busy_until() > now
            or not self.pipeline.endpointer.in_speech
            or now - st.turn_started < inter.after_s * RATE
        ):
            return []
        self.interjected_turn = st.turn_started
        line = self.engine.interject()
        return [self.say(line, now, keeps_turn=True)] if line else []

    def step(self, now: int) -> tuple[str, list[Event]]:
        """'idle', 'wait' (needs transcripts first), 'said', or 'done' (call is over)."""
        if self.finished:
            return ("done" if self.playout.busy_until() <= now else "idle"), []
        self._barge_in(now)
        interjection = self._interject(now)
        if interjection:
            return "said", interjection
        if self.playout.busy_until() > now or self.pipeline.endpointer.hearing:
            return "idle", []
        st = self.pipeline.state
        if now >= self.time_limit and not self.timed_out:
            self.timed_out = True
            return "said", [self.say(self.engine.on_time_limit(), now)]
        if st.turn_utterances:
            if now - max(st.last_trainee_end, st.last_customer_end) < self.gap:
                return "idle", []
            if any(k not in st.finals for k in st.turn_utterances):
                return "wait", []
            text = " ".join(st.finals[k]["text"] for k in st.turn_utterances).strip()
            if text and not self.engine.library.is_backchannel(text, self.backchannel_words):
                turn = TraineeTurn(text, interrupted=st.turn_interrupted)
                st.turn_utterances = []
                return "said", [self.say(self.engine.respond(turn), now)]
            st.turn_utterances = []  # noise or "mm-hmm": the trainee has not taken the turn
        quiet_since = max(st.last_customer_end, st.last_trainee_end)
        if now - quiet_since >= self.patience:
            return "said", [self.say(self.engine.on_silence(), now)]
        return "idle", []


def run_call(
    source: Source,
    playout: Playout,
    engine: DialogueEngine | None,
    rubric: Rubric,
    worker: TranscriberWorker | DeferredTranscriber,
    synth: Synthesizer | None,
    recorder: SessionRecorder,
    meta: dict,
    options: CallOptions,
    listeners: list[Listener] = (),
    wait: Callable[[], None] | None = None,
) -> CallResult:
    """Run one call to its end; the session directory is complete even on Ctrl-C.

    With a dialogue ``engine`` the customer reacts (drill, simulation) and the call ends at the
    persona's end state. Without one (a recording) the customer's audio is already on the
    ``playout`` and the call ends when the source is exhausted.
    """
    th = rubric.thresholds
    gap = options.reply_gap_s if options.reply_gap_s is not None else th.response_gap_s
    pipeline = Pipeline(playout, worker, options.vad, th.overtalk_min_s, th.dead_air_s, gap)
    conductor = None
    if engine is not None:
        conductor = Conductor(
            source.play_floor, engine, synth, playout, pipeline, gap, th.backchannel_max_words
        )
    persona = engine.persona if engine else None
    if engine is not None:
        engine.library.warm()  # the model loads before the call, not in the first reply
    events: list[Event] = []
    hop = RATE * options.frame_ms // 1000
    hard_stop = int((persona.time_limit_s + 60) * RATE) if persona else None

    def emit(evs: list[Event]) -> None:
        for ev in evs:
            events.append(ev)
            recorder.log(ev)
            for listener in listeners:
                more = listener(ev)
                if more:
                    emit(more)

    recorder.write_json("meta.json", {**meta, "status": "running"})
    emit(
        [
            Event(
                CALL_START,
                0.0,
                {
                    "persona": persona.id if persona else None,
                    "rubric": rubric.id,
                    "sample_rate": RATE,
                },
            )
        ]
    )
    sounds = load_call_sounds() if options.call_sounds and conductor is not None else None
    first_line_at = int(options.lead_in_s * RATE)
    if sounds is not None:  # the line rings, is picked up, and the customer speaks
        ring = playout.schedule(max(first_line_at, source.play_floor()), sounds.ring, sound="ring")
        connect = playout.schedule(ring.end, sounds.connect, sound="connect")
        first_line_at = connect.end + int(PICKUP_PAUSE_S * RATE)
    if conductor is not None:
        emit([conductor.say(engine.opening(), first_line_at)])
    noticed = getattr(source, "take_events", None)  # a source's own events (live: echo, device)
    interrupted = False
    failure: Exception | None = None
    end_at = None
    try:
        while True:
            frame = source.read(hop)
            recorder.write(frame)
            emit(pipeline.process(frame))
            if noticed is not None:
                emit(noticed())
            now = frame.end
            if conductor is None:
                if getattr(source, "exhausted", False):
                    break
                continue
            if end_at is not None:
                if now >= end_at:
                    break
                continue
            state, evs = conductor.step(now)
            if state == "wait" and wait is not None:
                wait()
                emit(pipeline.collect())
                state, evs = conductor.step(now)
            emit(evs)
            if state == "done":
                end_at = now + int(options.tail_s * RATE)
                if sounds is not None:  # the customer hangs up: the trainee hears it
                    hangup = playout.schedule(
                        max(now, source.play_floor()), sounds.hangup, sound="hangup"
                    )
                    end_at = hangup.end + int(options.tail_s * RATE)
            elif hard_stop is not None and now >= hard_stop:
                break
    except KeyboardInterrupt:
        interrupted = True
    except Exception as exc:  # a defect: keep what was recorded, never call it complete
        failure, interrupted = exc, True
    finally:
        end = source.position
        emit(pipeline.flush(end))
        worker.wait_idle(timeout=120)
        emit(pipeline.collect())
        if interrupted:
            end_state = "interrupted"
        elif engine is None:
            end_state = "recorded"
        else:
            end_state = engine.end_state or "time_limit"
        emit([Event(CALL_END, sec(end), {"end_state": end_state, "duration": round(sec(end), 4)})])
        _, trainee_audio = load_call_audio(recorder.dir)
        scorecard = score_call(events, rubric, persona, trainee_audio)
        emit(
            [
                Event(
                    SCORE,
                    sec(end),
                    {
                        "overall": scorecard.overall,
                        "passed": scorecard.passed,
                        "scorable": scorecard.scorable,
                        "families": {f.id: f.score for f in scorecard.families},
                    },
                )
            ]
        )
        recorder.write_json("scorecard.json", scorecard.to_dict())
        recorder.write_json(
            "meta.json",
            {
                **meta,
                "status": "interrupted" if interrupted else "complete",
                "duration_s": round(sec(end), 3),
                "end_state": end_state,
                **({"error": f"{type(failure).__name__}: {failure}"} if failure else {}),
            },
        )
        recorder.close()
    if failure is not None:
        raise failure
    if interrupted:
        raise KeyboardInterrupt
    return CallResult(recorder.dir, end_state, sec(end), scorecard, events, list(worker.completed))


def session_meta(
    persona: Persona, rubric: Rubric, options: CallOptions, source: dict, voices: dict
) -> dict:
    return {
        "format": SESSION_FORMAT,
        "software": {"voicesim": __version__, "python": platform.python_version()},
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "persona": {
            "id": persona.id,
            "name": persona.name,
            "version": persona.version,
            "file": persona.path,
        },
        "rubric": {"id": rubric.id, "version": rubric.version, "file": rubric.path},
        "model": {
            "name": describe_model(options.transcriber),
            "device": options.transcriber.device,
            "compute_type": options.transcriber.compute_type,
        },
        "source": source,
        "voices": voices,
        "seed": options.seed,
        "audio": {"file": "call.wav", "sample_rate": RATE, "channels": ["customer", "trainee"]},
        "vad": asdict(options.vad),
    }


def session_meta_recorded(
    rubric: Rubric, options: CallOptions, files: list[str], customer_channel: str | None
) -> dict:
    """meta.json for a scored recording: no persona; the source names the files."""
    return {
        "format": SESSION_FORMAT,
        "software": {"voicesim": __version__, "python": platform.python_version()},
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "persona": None,
        "rubric": {"id": rubric.id, "version": rubric.version, "file": rubric.path},
        "model": {
            "name": describe_model(options.transcriber),
            "device": options.transcriber.device,
            "compute_type": options.transcriber.compute_type,
        },
        "source": {"kind": "recorded", "files": files, "customer_channel": customer_channel},
        "voices": None,
        "seed": None,
        "audio": {"file": "call.wav", "sample_rate": RATE, "channels": ["customer", "trainee"]},
        "vad": asdict(options.vad),
    }
