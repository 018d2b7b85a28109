"""In-call guidance: short cues for the trainee while the call goes on.

Real-time agent assist nudges an agent during the call ("you're talking over the customer",
"long silence"). Everything a cue needs is already on the timeline: overtalk from the pipeline,
dead air from the customer's line ends, the trainee's words and their times from the finals,
the moves the one recogniser reads in them, the customer's mood. The guide watches those events
and, on the call clock, emits a ``guidance`` event with the cue, its reason and its evidence; it
never speaks into the headset. Each kind of cue has a cooldown and the call a cap, so the view
never nags. Like the pipeline it never sleeps or reads the wall clock, so a simulated call gets
the same cues a live one would, on its virtual clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..audio.formats import RATE
from ..events import (
    CUSTOMER_LINE_END,
    CUSTOMER_LINE_START,
    FINAL,
    GUIDANCE,
    MOOD,
    OVERTALK_START,
    SPEECH_END,
    SPEECH_START,
    Event,
)
from ..persona.persona import END_STATES
from ..rubric.rubric import Rubric, excuses
from ..rubric.scorer import MIN_PACE_WORDS, TurnPace
from ..rubric.text import Context
from .cues import (
    ACKNOWLEDGE,
    DEAD_AIR,
    MOOD_RISING,
    MOVE,
    OVERTALK,
    PACE,
    PRIORITY,
    GuidanceOptions,
)

# Moves that acknowledge how the customer feels (the rubric's "Empathises first"): restating
# the problem alone does not ("two weeks isn't too bad really" restates it to wave it away).
ACKNOWLEDGING = ("empathy", "apology")
ACKNOWLEDGE_TURNS = 2  # the cue comes after one of the first answers to the complaint
PACE_WINDOW_S = 10.0  # pace is judged over the trainee's last words this long
# ... and cued above the rubric's limit by this factor (about 220 words a minute by default):
# a cue is for a clear case, the scorecard for the rest.
PACE_MARGIN = 1.15
# What the trainee reads for a penalised move; a rubric's own penalty moves fall back to the
# criterion's label.
MOVE_CUES = {
    "blame": "That sounded like blame: it's the problem, not the customer.",
    "dismissal": "That sounded dismissive: take the problem seriously.",
    "condescension": "That sounded like talking down.",
    "defensiveness": "That sounded defensive: deal with the problem.",
    "sarcasm": "That could sound sarcastic.",
    "profanity": "Careful: no swearing.",
    "empty_promise": "Vague promise: say who does what, and when.",
    "refusal": "A bare no: offer what you can do instead.",
}


@dataclass
class _Pending:
    """A cue whose condition held from ``since``; shown at the next tick the limits allow."""

    cue: str
    since: float
    text: str
    reason: str
    evidence: dict = field(default_factory=dict)


class Guide:
    """Watches a call's events and decides, on the call clock, which cue to show and when.

    ``observe`` is a run_call listener; ``tick(now)`` runs once per frame and returns the
    ``guidance`` events due. A condition waits in the queue while the cap, the gap or a
    cooldown holds it back, and is dropped when the call has moved on (a newer cue of the
    same kind replaces it).
    """

    def __init__(
        self,
        rubric: Rubric,
        options: GuidanceOptions | None = None,
        context: Callable[[], Context] | None = None,
    ):
        self.options = options or GuidanceOptions()
        self.library = rubric.library
        th = rubric.thresholds
        self.dead_air = self.options.dead_air_s or th.dead_air_s
        self.max_wpm = th.wpm_range[1]
        self.context = context
        self.excuses = excuses(rubric)
        self.penalised = self._penalised_moves(rubric)
        self.shown: list[Event] = []
        self._last: dict[str, float] = {}
        self._pending: dict[str, _Pending] = {}
        self._said: list[str] = []  # the customer's lines so far
        self._quiet_from: float | None = None  # the customer's line ended, nobody spoke since
        self._speaking = False  # the trainee is talking
        self._over = False  # the customer said goodbye: nothing more to guide
        self._turn: list[dict] = []  # this turn's final events
        self._turn_moves: dict[str, dict] = {}  # penalised move -> its evidence, this turn
        self._turn_found: set[str] = set()  # every move read this turn (excuses included)
        self._lines = 0  # customer lines that open a turn
        self._acknowledged = False
        self._mood: float | None = None
        self._paced = False  # pace is cued once a call: the trainee knows after that
        self._cued_moves: set[str] = set()  # penalised moves cued this turn

    @staticmethod
    def _penalised_moves(rubric: Rubric) -> dict[str, tuple[str, float]]:
        """Each move a penalty criterion of the rubric reads: that criterion's label, and what
        one hit costs."""
        out: dict[str, tuple[str, float]] = {}
        for fam in rubric.families:
            for c in fam.criteria:
                if c.kind == "penalty":
                    for move in c.detectors:
                        out.setdefault(move, (c.label or c.id, c.per_hit))
        return out

    # -- listener -------------------------------------------------------------------------
    def observe(self, ev: Event) -> None:
        if ev.type == CUSTOMER_LINE_START:
            self._line_starts(ev)
        elif ev.type == CUSTOMER_LINE_END:
            if not self._over and not self._speaking:
                self._quiet_from = ev.t
        elif ev.type in (SPEECH_START, SPEECH_END):
            self._speaking = ev.type == SPEECH_START
            self._quiet_from = None
        elif ev.type == OVERTALK_START and ev.get("by") == "trainee":
            self._want(
                OVERTALK,
                ev.t,
                "You're talking over the customer: let them finish.",
                "the trainee started talking while the customer was speaking",
                {"start": round(ev.t, 3)},
            )
        elif ev.type == FINAL and ev.get("text"):
            self._final(ev)
        elif ev.type == MOOD:
            self._customer_answers(ev)

    def _line_starts(self, ev: Event) -> None:
        self._quiet_from = None
        if ev.get("text"):
            self._said.append(ev["text"])

    def _customer_answers(self, ev: Event) -> None:
        """The customer's reply is chosen (its mood event comes as it is said): the trainee's
        turn is over, unless the customer only cut in."""
        reason = ev.get("reason")
        if ev.get("end_state") or reason in END_STATES:
            self._over = True  # a goodbye: nothing more to guide
            self._pending.clear()
            return
        if reason == "interjection":
            self._acknowledgement_due(ev.t)  # cut off mid-explanation, still unacknowledged
            self._mood_changed(ev)
            return
        self._turn_over(ev.t)
        self._mood_changed(ev)
        self._lines += 1
        self._turn, self._turn_moves, self._cued_moves = [], {}, set()
        self._turn_found = set()

    def _turn_over(self, t: float) -> None:
        """The customer answers: judge what could only be judged over the whole turn."""
        if not self._turn:
            return
        end = max(float(f.get("end", f["t"])) for f in self._turn)
        for move, evidence in self._turn_moves.items():
            if self.excuses.get(move, set()) & self._turn_found:
                continue  # "we can't refund it, but I can exchange it": no bare refusal
            if move in self.excuses:
                self._want_move(move, end, evidence)
        self._acknowledgement_due(t)

    def _acknowledgement_due(self, t: float) -> None:
        """After the complaint, the trainee's first answers had no empathy or apology."""
        if (
            self._turn
            and self._lines <= ACKNOWLEDGE_TURNS
            and not self._acknowledged
            and ACKNOWLEDGE not in self._last  # shown once is enough
        ):
            self._want(
                ACKNOWLEDGE,
                t,
                "Acknowledge how the customer feels before you fix it.",
                "no empathy or apology since the customer's complaint",
                {"said": " ".join(f["text"] for f in self._turn)[:200]},
            )

    def _final(self, ev: Event) -> None:
        self._turn.append(ev.data | {"t": ev.t})
        words = ev["text"].split()
        found = self._read(words)
        if any(m in found for m in ACKNOWLEDGING):
            self._acknowledged = True
            self._pending.pop(ACKNOWLEDGE, None)
        end = float(ev.get("end", ev.t))
        self._turn_found |= set(found)
        said = [m for m in self.penalised if m in found]
        for move in said:
            self._turn_moves.setdefault(move, found[move])
        now = [m for m in said if m not in self.excuses]  # excusable ones wait for the turn
        if now:  # one cue for one sentence: the move the rubric charges most for
            worst = max(now, key=lambda m: self.penalised[m][1])
            self._want_move(worst, end, found[worst])
        self._pace(end)

    def _read(self, words: list[str]) -> dict[str, dict]:
        """The moves the rubric's one recogniser reads in these words, with their evidence."""
        wanted = set(self.penalised) | set(ACKNOWLEDGING)
        for unless in self.excuses.values():
            wanted |= unless
        context = self.context() if self.context else Context.from_text(*self._said)
        hits = self.library.detect(words, None, context, only=wanted & set(self.library.detectors))
        found: dict[str, dict] = {}
        for hit in hits:
            found.setdefault(hit.move, {"move": hit.move, "words": hit.words})
        return found

    def _want_move(self, move: str, since: float, evidence: dict) -> None:
        label = self.penalised[move][0]
        text = MOVE_CUES.get(move, f"Careful: {label.lower()}.")
        evidence = {**evidence, "criterion": label}
        self._cued_moves.add(move)
        self._want(MOVE, since, text, f"{move}: {label}", evidence, key=f"{MOVE}:{move}")

    def _pace(self, since: float) -> None:
        """The trainee's pace over the last ``PACE_WINDOW_S`` of this turn's words, cued when it
        is clearly over the rubric's limit (a cue is for a clear case, the score for the rest)."""
        words = [w for f in self._turn for w in (f.get("words") or [])]
        if self._paced or not words:
            return
        last = float(words[-1]["end"])
        recent = [w for w in words if float(w["start"]) >= last - PACE_WINDOW_S]
        if len(recent) < MIN_PACE_WORDS:
            return
        pace = TurnPace(self._lines, len(recent), float(recent[0]["start"]), last, "")
        if pace.wpm > self.max_wpm * PACE_MARGIN:
            self._paced = True
            self._want(
                PACE,
                since,
                f"Slow down: {pace.wpm} words a minute.",
                f"the last {last - pace.start:.0f} s ran at {pace.wpm} words a minute, "
                f"over {self.max_wpm:g}",
                {"wpm": pace.wpm, "start": round(pace.start, 3), "end": round(pace.end, 3)},
            )

    def _mood_changed(self, ev: Event) -> None:
        mood = ev.get("mood")
        if not isinstance(mood, (int, float)):
            return
        before, self._mood = self._mood, float(mood)
        reason = ev.get("reason")
        if before is None:
            return
        if reason in self._cued_moves:
            return  # the move that angered them has its own cue
        if mood - before >= self.options.mood_rise:
            self._want(
                MOOD_RISING,
                ev.t,
                "The customer is getting angrier: slow down and acknowledge them.",
                f"the customer's mood rose from {before:.2f} to {mood:.2f} ({ev.get('reason')})",
                {"mood": round(float(mood), 3), "before": round(before, 3)},
            )

    def _want(
        self, cue: str, since: float, text: str, reason: str, evidence: dict, key: str = ""
    ) -> None:
        """Queue a cue; ``key`` tells apart cues of one kind that cool down separately (each
        penalised move). A newer condition of the same key replaces an older one."""
        if cue in self.options.cues and not self._over:
            self._pending[key or cue] = _Pending(cue, since, text, reason, evidence)

    # -- per frame ------------------------------------------------------------------------
    def tick(self, now: int) -> list[Event]:
        """The cues due at call-clock sample ``now`` (at most one per tick)."""
        t = now / RATE
        if self._quiet_from is not None and t - self._quiet_from >= self.dead_air:
            self._want(
                DEAD_AIR,
                self._quiet_from + self.dead_air,
                "Long silence: tell the customer what you're doing.",
                f"nobody has spoken for {self.dead_air:g} s since the customer stopped",
                {"start": round(self._quiet_from, 3)},
            )
            self._quiet_from = None  # one cue per silence
        o = self.options
        for key, p in list(self._pending.items()):
            if p.cue != ACKNOWLEDGE and t - p.since > o.stale_s:  # no acknowledgement: stands
                del self._pending[key]  # too late to help: the call has moved on
        if not self._pending or len(self.shown) >= o.cap:
            return []
        if self.shown and t - self.shown[-1].t < o.gap_s:
            return []
        ready = [
            (key, p)
            for key, p in self._pending.items()
            if key not in self._last or t - self._last[key] >= o.cooldown_s
        ]
        if not ready:
            return []
        key, p = min(ready, key=lambda kp: (PRIORITY.index(kp[1].cue), kp[1].since))
        del self._pending[key]
        self._last[key] = t
        ev = Event(
            GUIDANCE,
            t,
            {
                "cue": p.cue,
                "text": p.text,
                "reason": p.reason,
                "since": round(p.since, 4),
                "evidence": p.evidence,
            },
        )
        self.shown.append(ev)
        return [ev]
