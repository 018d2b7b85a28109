"""The simulated call: a persona and a scripted trainee on a virtual line, faster than real time."""

from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass
from pathlib import Path

from ..audio.formats import samples
from ..audio.playout import Clip, Playout
from ..audio.recorder import SessionRecorder
from ..audio.sources import SimulatedLine
from ..events import CUSTOMER_LINE_END, CUSTOMER_LINE_START, SCRIPTED, Event
from ..persona.engine import DialogueEngine
from ..persona.persona import END_STATES, Persona
from ..rubric.rubric import Rubric, excuses
from ..speech.transcriber import Transcriber, TranscriberWorker
from ..speech.tts import Synthesizer
from .call import CallOptions, CallResult, Listener, run_call, session_meta
from .pipeline import sec
from .script import ScriptTurn, TraineeScript


@dataclass(eq=False)  # holds audio: compared by identity, never by value
class _Pending:
    turn: ScriptTurn
    clip: Clip | None = None  # scheduled reply not yet started
    waiting_for_line: int | None = None  # reply goes `after` seconds after this line ends


class TraineeDriver:
    """Plays the trainee script: listens for the customer's lines, schedules replies."""

    def __init__(
        self, script: TraineeScript, synth: Synthesizer, playout: Playout, line: SimulatedLine
    ):
        self.script = script
        self.synth = synth
        self.playout = playout
        self.line = line
        self.turns = list(script.turns)
        self.pending: _Pending | None = None
        self.out: list[Event] = []

    def _schedule(self, text: str, at: int, kind: str) -> Clip:
        at = max(at, self.line.position)  # never in the past of the virtual clock
        audio = self.synth.render(text, self.script.voice)
        clip = self.playout.schedule(at, audio, text=text, kind=kind)
        self.out.append(
            Event(
                SCRIPTED,
                sec(at),
                {"kind": kind, "text": text, "end": round(sec(at + audio.size), 4)},
            )
        )
        return clip

    def on_event(self, ev: Event) -> None:
        if ev.type == CUSTOMER_LINE_START:
            self._line_starts(ev)
        elif ev.type == CUSTOMER_LINE_END:
            self._line_ends(ev)

    def _line_starts(self, ev: Event) -> None:
        if ev.get("reason") in END_STATES or ev.get("reason") == "interjection":
            return  # a goodbye needs no answer; a cut-in does not end the trainee's turn
        start, end = samples(ev.t), samples(ev["end"])
        p = self.pending
        if p is not None and p.clip is not None and p.clip.start >= start:
            # The customer spoke first: hold the reply until they finish, as a person would.
            self.playout.cancel(p.clip)
            self.out = [
                e for e in self.out if not (e.type == SCRIPTED and samples(e.t) == p.clip.start)
            ]
            self.pending = _Pending(p.turn, waiting_for_line=ev["line"])
            return
        if p is not None and p.waiting_for_line is not None:
            p.waiting_for_line = ev["line"]
            return
        if not self.turns:
            return
        turn = self.turns.pop(0)
        for bc in turn.backchannels:
            self._schedule(bc.say, start + samples(bc.at), "backchannel")
        if turn.say is None:
            return  # a silent turn: let the line go unanswered
        if turn.interrupt is not None and start + samples(turn.interrupt) < end:
            self._schedule(turn.say, start + samples(turn.interrupt), "interrupt")
            self.pending = None
        else:
            self.pending = _Pending(turn, waiting_for_line=ev["line"])

    def _line_ends(self, ev: Event) -> None:
        p = self.pending
        if p is None or p.waiting_for_line != ev.get("line"):
            return
        at = samples(ev.t + (p.turn.after if p.turn.interrupt is None else 0.4))
        p.clip = self._schedule(p.turn.say or "", at, "reply")
        p.waiting_for_line = None
        self.pending = p

    def drain(self) -> list[Event]:
        out, self.out = self.out, []
        # A reply that has started playing can no longer be held back.
        if self.pending and self.pending.clip and self.pending.clip.start < self.line.position:
            self.pending = None
        return out


def simulate(
    persona: Persona,
    script: TraineeScript,
    rubric: Rubric,
    out_dir: str | Path,
    options: CallOptions | None = None,
    listeners: list[Listener] = (),
    transcriber: Transcriber | None = None,
    synth: Synthesizer | None = None,
    realtime: bool = False,
) -> CallResult:
    """Run a whole simulated call and write its session directory.

    By default the virtual clock runs as fast as the machine allows and pauses only when the
    customer needs a transcript to answer. ``realtime`` paces the line like a sound card and
    never pauses for Whisper, as a live drill would.
    """
    options = options or CallOptions()
    synth = synth or Synthesizer()
    transcriber = transcriber or Transcriber(options.transcriber)
    customer, trainee = Playout(), Playout()
    line = SimulatedLine(customer, trainee, seed=options.seed, realtime=realtime)
    engine = DialogueEngine(persona, rubric.library, seed=options.seed, excuses=excuses(rubric))
    driver = TraineeDriver(script, synth, trainee, line)
    recorder = SessionRecorder(out_dir)
    worker = TranscriberWorker(transcriber)

    def forward(ev: Event) -> list[Event]:
        driver.on_event(ev)
        return driver.drain()

    meta = session_meta(
        persona,
        rubric,
        options,
        source={"kind": "simulated", "script": script.name, "script_file": script.path},
        voices={"customer": synth.describe(persona.voice), "trainee": asdict(script.voice)},
    )
    try:
        return run_call(
            line,
            customer,
            engine,
            rubric,
            worker,
            synth,
            recorder,
            meta,
            options,
            listeners=[forward, *listeners],
            wait=None if realtime else worker.wait_idle,
        )
    finally:
        worker.close()


def default_session_dir(persona_id: str, root: str | Path = "sessions") -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{stamp}-{persona_id}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path
