"""The call loop: source -> pipeline -> persona -> recorder, identical for every source.

``run_call`` pulls frames from a source, lets the pipeline turn them into events, lets the
conductor decide when the customer speaks, and records everything. Only the ``wait`` hook
differs: the simulated line may pause its virtual clock until transcripts are ready; a live
source never waits (its next frame arrives anyway).
"""

from __future__ import annotations

import datetime as _dt
import platform
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from .. import __version__
from ..audio.callsounds import load_call_sounds
from ..audio.formats import RATE
from ..audio.playout import Playout
from ..audio.recorder import SESSION_FORMAT, SessionRecorder, load_call_audio
from ..audio.sources import Frame
from ..events import CALL_END, CALL_START, MOOD, PARTIAL, SCORE, Event
from ..persona.engine import CustomerLine, DialogueEngine, TraineeTurn
from ..persona.persona import Persona
from ..rubric.grade import score_call
from ..rubric.rubric import Rubric
from ..rubric.scorer import Scorecard
from ..speech.streaming import LineRenderer, Planned, Prerenderer, Rendering
from ..speech.transcriber import (
    DeferredTranscriber,
    JobStat,
    TranscriberOptions,
    TranscriberWorker,
    describe_model,
)
from ..speech.tts import Synthesizer
from ..speech.turn import TurnConfig, TurnDetector, TurnGuess
from ..speech.vad import VadConfig
from .cues import GuidanceOptions
from .guidance import Guide
from .pipeline import Pipeline, sec

Listener = Callable[[Event], "list[Event] | None"]  # may answer with events of its own
# A turn this short ("Thank you.", "Thank you, Mr. Whitlock.", "Calm down.") usually leads into
# more: the customer waits for the rubric's response gap unless it asks something. On the
# shipped scripts' pauses, every turn under 6 words judged finished was an opener followed by
# more speech.
QUICK_ANSWER_MIN_WORDS = 6
PICKUP_PAUSE_S = 0.3  # between the connect sound and the customer's first words
# Rendered ahead after each customer line: the first pieces of the lines most likely next,
# the whole of the first few. A first piece costs about a second of one (idle) core; the
# reply to a trainee who handles the call (empathy, a question, an offer, the closing) came
# within the first 20 in 85 of 88 such turns on the shipped personas.
PLANNED_LINES = 20
PLANNED_WHOLE = 4


class Source(Protocol):
    """Anything that delivers call frames: the simulated line, a live device, a recording."""

    position: int  # call-clock sample of the next frame `read` returns

    def read(self, n: int) -> Frame: ...

    def play_floor(self) -> int:
        """The first sample not yet handed to the speaker: new or cut audio starts here."""
        ...


@dataclass
class CallOptions:
    seed: int = 0  # the customer's wording and timing; the commands draw one (session/seed.py)
    frame_ms: int = 30
    vad: VadConfig = field(default_factory=VadConfig)
    transcriber: TranscriberOptions = field(default_factory=TranscriberOptions)
    lead_in_s: float = 0.5  # quiet before the customer's first line
    tail_s: float = 0.6  # recording kept after the customer's last line
    reply_gap_s: float | None = None  # None: the rubric's response_gap_s
    call_sounds: bool = False  # ring and connect before the first line, hang-up after the last
    # Decode the trainee's speech after this much of a pause, before the endpointer's hangover
    # has passed (live: the final and the customer's answer come sooner). None: no guesses.
    speculate_s: float | None = None
    # In-call cues for the trainee (session/guidance.py); None: no guidance.
    guidance: GuidanceOptions | None = None
    # Render the customer's likely next lines into the cache while the call goes on (one
    # low-priority thread). None: when the customer's voice is a slow one (Kokoro) and the
    # call runs at speaking pace (a drill, a --realtime simulation); a simulated call whose
    # clock waits for its renders gave the thread no time to be ahead (measured once: no line
    # from it, and 14 % slower on the busy machine).
    prerender: bool | None = None


@dataclass
class CallResult:
    session_dir: Path
    end_state: str
    duration_s: float
    scorecard: Scorecard
    events: list[Event]
    transcription: list[JobStat] = field(default_factory=list)


@dataclass(eq=False)  # holds audio: compared by identity, never by value
class _Prepared:
    """A reply chosen, and rendering, while the trainee's turn may still be ending."""

    text: str  # the trainee's words it answers
    interrupted: bool
    line: CustomerLine
    rendering: Rendering
    before: dict  # the engine's state before choosing it, to put back if the trainee goes on


class Conductor:
    """Turn-taking: when the trainee's turn is over, ask the persona engine what to say.

    The turn is over when the trainee has been quiet for the persona's answer delay and the
    end-of-turn detector (speech/turn.py) reads the words and the voice as finished, or in any
    case after the rubric's response gap. With a speculative decode (live) the reply can be
    chosen and rendered during the endpointer's hangover; it is dropped, and the persona's state
    put back, when the trainee speaks again before it is said.
    """

    def __init__(
        self,
        floor: Callable[[], int],
        engine: DialogueEngine,
        synth: Synthesizer,
        playout: Playout,
        pipeline: Pipeline,
        reply_gap_s: float,
        backchannel_words: int = 3,
        seed: int = 0,
        prerender: bool = False,
    ):
        self.floor = floor
        self.engine = engine
        self.synth = synth
        self.renderer = LineRenderer(synth)  # a line plays while its later sentences render
        # The lines likely next, rendered into the cache while the call goes on.
        self.prerenderer = Prerenderer(synth) if prerender else None
        self._planned_for: tuple[int, bool] | None = None
        self.line_log: list[dict] = []  # per line: how soon its first audio was ready
        self.playout = playout
        self.pipeline = pipeline
        self.gap = int(reply_gap_s * RATE)
        timing = engine.persona.timing
        self.turns = TurnDetector(
            TurnConfig(
                floor_s=min(timing.answer_after_s, reply_gap_s),
                threshold=1.0 - timing.eagerness,
                fallback_s=reply_gap_s,
            )
        )
        self._timing_rng = random.Random(f"{seed}:timing")  # apart from the persona's choices
        self._delay = self._draw_delay()
        self._judged: dict[tuple, TurnGuess] = {}
        self._prepared: _Prepared | None = None
        self.turn_log: list[dict] = []  # per answered turn: silence, p_end, why (benchmarks)
        self.patience = int(engine.persona.mood.patience_s * RATE)
        self.time_limit = int(engine.persona.time_limit_s * RATE)
        self.backchannel_words = backchannel_words
        self.yield_after = int(engine.persona.talked_over.yield_after_s * RATE)
        self.interjected_turn: int | None = None
        self.lines = 0
        self.timed_out = False

    def _draw_delay(self) -> int:
        """This turn's answer delay: the persona's, plus a seeded share of its spread."""
        t = self.engine.persona.timing
        return int((t.answer_after_s + self._timing_rng.random() * t.spread_s) * RATE)

    def say(
        self,
        line: CustomerLine,
        at: int,
        keeps_turn: bool = False,
        rendering: Rendering | None = None,
    ) -> Event:
        """Play ``line`` from ``at`` (or as soon as its first piece is rendered); the rest of
        a streamed line follows on the playout as it renders."""
        r = rendering or self.renderer.stream(line.text, line.voice)
        audio = r.first()
        at = max(at, self.floor())  # a live device may have played past `at` (while rendering)
        self.line_log.append(
            {
                "line": self.lines,
                "reason": line.reason,
                "first_audio_s": round(r.first_audio_s or 0.0, 4),
                "cached": bool(r.cached),
                "pieces": len(r.pieces),
            }
        )
        clip = self.playout.schedule(
            at,
            audio,
            more=r.more,
            line=self.lines,
            text=line.text,
            reason=line.reason,
            mood=line.mood,
            prosody=line.voice.prosody(),  # how the mood was heard (persona prosody)
            keeps_turn=keeps_turn,
        )
        self.lines += 1
        self.plan()
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

    def plan(self) -> None:
        """Have the lines likely next rendered ahead (after each line, and when the trainee
        starts talking over the customer, who would then say so first)."""
        interrupted = self.pipeline.state.turn_interrupted
        if self.prerenderer is None or self._planned_for == (self.lines, interrupted):
            return
        self._planned_for = (self.lines, interrupted)
        self._plan(self.engine.likely_lines(interrupted=interrupted))

    def _plan(self, likely: list[CustomerLine]) -> None:
        assert self.prerenderer is not None
        lines = [Planned(x.text, x.voice) for x in likely[:PLANNED_LINES]]
        self.prerenderer.plan(lines, whole=PLANNED_WHOLE)

    def heard(self, partial: str) -> None:
        """A partial transcript of the trainee's speech under way (live): the first piece of
        the reply it would get renders now, at normal priority, seconds before the turn ends
        (the call is left as it is: the engine's state is put back)."""
        if self.prerenderer is None or self._prepared is not None or self.finished:
            return
        st = self.pipeline.state
        text = " ".join([*(st.finals[k]["text"] for k in st.turn_utterances if k in st.finals)])
        text = f"{text} {partial}".strip()
        if not self._is_turn(text):
            return
        before = self.engine.snapshot()
        try:
            reply = self.engine.respond(TraineeTurn(text, interrupted=st.turn_interrupted))
        finally:
            self.engine.restore(before)
        self.renderer.warm(reply.text, reply.voice)

    def close(self) -> None:
        """The call is over: stop rendering (what was rendered stays in the cache); ``join``
        waits for the pieces under way."""
        if self._prepared is not None:
            self._prepared.rendering.cancel()
        self.renderer.close()
        if self.prerenderer is not None:
            self.prerenderer.close()

    def join(self) -> None:
        self.renderer.join()
        if self.prerenderer is not None:
            self.prerenderer.join()

    @property
    def finished(self) -> bool:
        # A reply prepared but not said may carry an end state that has not happened yet.
        return self.engine.end_state is not None and self._prepared is None

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
        self._drop_prepared()  # the engine's state moves on from here
        line = self.engine.interject()
        return [self.say(line, now, keeps_turn=True)] if line else []

    # -- the end of the trainee's turn ----------------------------------------------------
    def _turn_text(self, extra: str = "") -> str | None:
        """The trainee's words this turn (None while a transcript is still to come)."""
        st = self.pipeline.state
        if any(k not in st.finals for k in st.turn_utterances):
            return None
        return " ".join([*(st.finals[k]["text"] for k in st.turn_utterances), extra]).strip()

    def _is_turn(self, text: str) -> bool:
        return bool(text) and not self.engine.library.is_backchannel(text, self.backchannel_words)

    def _over(self, verdict: TurnGuess, text: str, quiet: int) -> bool:
        """Is the turn over after ``quiet`` samples of silence? The detector decides, except
        that a short turn without a question waits for the fallback."""
        if quiet < self.gap and len(text.split()) < QUICK_ANSWER_MIN_WORDS:
            if not text.rstrip().endswith("?"):
                return False
        return self.turns.over(verdict, sec(quiet))

    def _judge(self, key: tuple, text: str, voice: np.ndarray | None) -> TurnGuess:
        """The detector's reading of this turn so far (once per turn state: it costs ms)."""
        if key not in self._judged:
            empty = np.zeros(0, dtype=np.float32)
            self._judged = {key: self.turns.judge(text, voice if voice is not None else empty)}
        return self._judged[key]

    def _prepare(self, text: str) -> _Prepared:
        """Choose and render the reply to ``text`` now; kept until the turn is known over. A
        reply prepared from a guess is used as it is when the final says the same words."""
        interrupted = self.pipeline.state.turn_interrupted
        p = self._prepared
        if p is not None and (p.text, p.interrupted) == (text, interrupted):
            return p
        self._drop_prepared()
        before = self.engine.snapshot()
        line = self.engine.respond(TraineeTurn(text, interrupted=interrupted))
        rendering = self.renderer.stream(line.text, line.voice)  # renders while the turn ends
        self._prepared = _Prepared(text, interrupted, line, rendering, before)
        return self._prepared

    def _drop_prepared(self) -> None:
        """The trainee went on: the prepared reply was never said, so it never happened (and
        the rest of it is not rendered)."""
        if self._prepared is not None:
            self._prepared.rendering.cancel()
            self.engine.restore(self._prepared.before)
            self._prepared = None

    def _answer(
        self, text: str, now: int, quiet: int, guess: TurnGuess | None, early: bool
    ) -> Event:
        st = self.pipeline.state
        p = self._prepare(text)
        self._prepared = None  # committed: the engine's state stays as the reply left it
        st.turn_utterances = []
        self._judged = {}
        self.turn_log.append(
            {
                "t": round(sec(now), 3),
                "silence_s": round(sec(quiet), 3),
                "p_end": None if guess is None else round(guess.p_end, 3),
                "why": "fallback" if quiet >= self.gap else "detector",
                "early": early,
                "line": self.lines,  # the line it was answered with (line_log)
            }
        )
        self._delay = self._draw_delay()
        return self.say(p.line, now, rendering=p.rendering)

    def _answer_early(self, now: int) -> list[Event] | None:
        """During the endpointer's hangover: answer from the speculative transcript when the
        trainee has been quiet long enough and the turn reads as finished."""
        pipe, ep = self.pipeline, self.pipeline.endpointer
        guess = pipe.guess
        transcript = None if guess is None else guess.result.transcript
        if transcript is None or not ep.in_speech:
            if guess is None and ep.in_speech:
                self._drop_prepared()  # the trainee spoke again after the guess
            return None
        text = self._turn_text(transcript.text)
        if text is None or not self._is_turn(text):
            return None
        key = (*pipe.state.turn_utterances, guess.key)
        verdict = self._judge(key, text, guess.utterance.voice)
        quiet = ep.position - guess.voiced_end
        if not self._over(verdict, text, quiet):
            return None
        self._prepare(text)  # ready the moment the delay has passed
        if quiet < self._delay:
            return None
        pipe.state.answered.add(guess.utterance.index)  # its endpoint comes after the answer
        return [self._answer(text, now, quiet, verdict, early=True)]

    def step(self, now: int) -> tuple[str, list[Event]]:
        """'idle', 'wait' (needs transcripts first), 'said', or 'done' (call is over)."""
        if self.finished:
            return ("done" if self.playout.busy_until() <= now else "idle"), []
        self._barge_in(now)
        self.plan()  # the trainee may have started talking over the customer
        interjection = self._interject(now)
        if interjection:
            return "said", interjection
        if self.playout.busy_until() > now:
            return "idle", []
        early = self._answer_early(now)
        if early:
            return "said", early
        if self.pipeline.endpointer.hearing:
            return "idle", []
        st = self.pipeline.state
        if now >= self.time_limit and not self.timed_out:
            self.timed_out = True
            self._drop_prepared()
            return "said", [self.say(self.engine.on_time_limit(), now)]
        if st.turn_utterances:
            quiet = now - max(st.last_trainee_end, st.last_customer_end)
            if quiet < min(self._delay, self.gap):
                return "idle", []
            text = self._turn_text()
            if text is None:
                return "wait", []
            if self._is_turn(text):
                key = (*st.turn_utterances, None)
                verdict = None
                # The trainee spoke over the customer's line and the line has ended since: the
                # floor is the trainee's, and the customer waits the rubric's gap for them.
                trainee_last = st.last_trainee_end > st.last_customer_end
                if quiet < self.gap and not trainee_last:
                    return "idle", []
                if quiet < self.gap:
                    verdict = self._judge(key, text, st.last_voice)
                    if not self._over(verdict, text, quiet):
                        return "idle", []
                return "said", [self._answer(text, now, quiet, verdict, early=False)]
            st.turn_utterances = []  # noise or "mm-hmm": the trainee has not taken the turn
        quiet_since = max(st.last_customer_end, st.last_trainee_end)
        if now - quiet_since >= self.patience:
            self._drop_prepared()
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
    start: dict | None = None,
) -> CallResult:
    """Run one call to its end; the session directory is complete even on Ctrl-C.
    ``start``: what the source cannot show, for ``call_start`` (``{"overlap": False}``).

    With a dialogue ``engine`` the customer reacts (drill, simulation) and the call ends at the
    persona's end state. Without one (a recording) the customer's audio is already on the
    ``playout`` and the call ends when the source is exhausted.
    """
    th = rubric.thresholds
    gap = options.reply_gap_s if options.reply_gap_s is not None else th.response_gap_s
    pipeline = Pipeline(
        playout,
        worker,
        options.vad,
        th.overtalk_min_s,
        th.dead_air_s,
        gap,
        speculate_s=options.speculate_s,
    )
    conductor = None
    if engine is not None:
        conductor = Conductor(
            source.play_floor,
            engine,
            synth,
            playout,
            pipeline,
            gap,
            th.backchannel_max_words,
            seed=options.seed,
            prerender=synth.streams(engine.persona.voice) and wait is None
            if options.prerender is None
            else options.prerender,
        )
    persona = engine.persona if engine else None
    guide = None
    if engine is not None and options.guidance is not None:
        guide = Guide(rubric, options.guidance, context=engine.context)
    opening = None
    if conductor is not None:
        # The opening renders (and the voice's model loads) while the move recogniser loads.
        line = engine.opening()
        opening = (line, conductor.renderer.stream(line.text, line.voice))
    if engine is not None:
        engine.library.warm()  # the model loads before the call, not in the first reply
    events: list[Event] = []
    hop = RATE * options.frame_ms // 1000
    hard_stop = int((persona.time_limit_s + 60) * RATE) if persona else None

    def emit(evs: list[Event]) -> None:
        for ev in evs:
            events.append(ev)
            recorder.log(ev)
            if guide is not None:
                guide.observe(ev)
            if conductor is not None and ev.type == PARTIAL:
                conductor.heard(ev["text"])
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
                    **(start or {}),
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
        line, rendering = opening
        emit([conductor.say(line, first_line_at, rendering=rendering)])
    noticed = getattr(source, "take_events", None)  # a source's own events (live: echo, device)
    interrupted = False
    failure: Exception | None = None
    end_at = None
    try:
        while True:
            frame = source.read(hop)
            recorder.write(frame)
            emit(pipeline.process(frame))
            if guide is not None and wait is not None and pipeline.awaiting:
                wait()  # a simulated line cues what was said as soon as a live one would
                emit(pipeline.collect())
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
            if guide is not None:
                emit(guide.tick(now))
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
        if conductor is not None:
            conductor.close()
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
                **({"turn_taking": _turn_taking(pipeline, conductor)} if conductor else {}),
                **({"error": f"{type(failure).__name__}: {failure}"} if failure else {}),
            },
        )
        recorder.close()
        if conductor is not None:
            conductor.join()  # a render under way ends before the model can be torn down
    if failure is not None:
        raise failure
    if interrupted:
        raise KeyboardInterrupt
    return CallResult(recorder.dir, end_state, sec(end), scorecard, events, list(worker.completed))


def _turn_taking(pipeline: Pipeline, conductor: Conductor) -> dict:
    """How the customer took the turn: per answer the trainee's silence before it, the
    end-of-turn detector's reading and why (detector or fallback); the speculative decodes."""
    return {
        "timing": asdict(conductor.engine.persona.timing),
        "speculative_decodes": dict(pipeline.guesses),
        "answers": conductor.turn_log,
        # Per customer line: seconds from choosing it to its first audio, and whether that
        # came from the cache (wall clock: what a live call waits; bench_live.py reports it).
        "lines": conductor.line_log,
    }


def _model_meta(options: CallOptions) -> dict:
    """The Whisper model and how it was run, for meta.json."""
    t = options.transcriber
    return {
        "name": describe_model(t),
        "device": t.device,
        "compute_type": t.compute_type,
        "min_window_s": t.min_window_s,
    }


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
        "model": _model_meta(options),
        "source": source,
        "voices": voices,
        "seed": options.seed,
        "guidance": None if options.guidance is None else asdict(options.guidance),
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
        "model": _model_meta(options),
        "source": {"kind": "recorded", "files": files, "customer_channel": customer_channel},
        "voices": None,
        "seed": None,
        "audio": {"file": "call.wav", "sample_rate": RATE, "channels": ["customer", "trainee"]},
        "vad": asdict(options.vad),
    }
