"""The dialogue and mood engine: how the customer reacts to what the trainee did.

It reads the trainee's moves through the rubric's detector library (one phrase library for both),
moves the mood within the persona's bounds, and picks the next line. Seeded: the same seed gives
the same call; another seed varies the wording.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field

from ..rubric.answers import ANSWERED, UNANSWERED, QuestionTracker
from ..rubric.detectors import DetectorLibrary
from ..rubric.text import Context, tokenize
from ..speech.tts import VoiceSettings
from .persona import Persona

NEGATIVE_FIRST = (
    "profanity",
    "blame",
    "sarcasm",
    "dismissal",
    "condescension",
    "defensiveness",
    "empty_promise",
    "refusal",
)


@dataclass
class TraineeTurn:
    """What the trainee said since the customer's last line, and how."""

    text: str
    interrupted: bool = False  # the trainee talked over the customer during this turn


@dataclass
class CustomerLine:
    text: str
    reason: str  # which reaction chose it: "opening", a move, "silence", an end state
    mood: float
    voice: VoiceSettings
    moves: list[str] = field(default_factory=list)
    end_state: str | None = None  # set on the customer's last line


class DialogueEngine:
    def __init__(
        self,
        persona: Persona,
        library: DetectorLibrary,
        seed: int = 0,
        excuses: dict[str, set[str]] | None = None,
    ):
        self.persona = persona
        self.library = library
        self.excuses = excuses or {}  # move -> moves that excuse it in the same turn (rubric)
        self.rng = random.Random(seed)
        self.mood = persona.mood.start
        self.agreed = False
        self.end_state: str | None = None
        self.silences = 0
        self.said: list[str] = []
        self.seen: set[str] = set()  # every move the trainee has made so far in the call
        self.questions = QuestionTracker()  # the customer's open question (the rubric's too)
        self.answered: set[str] = set()  # questions the trainee answered: not asked again

    # -- trying a reply before committing to it ---------------------------------------------
    _SHARED = ("persona", "library", "excuses")  # configuration, never changed by a call

    def snapshot(self) -> dict:
        """The call's state so far, for choosing a reply speculatively (the trainee may not
        have finished): ``restore`` puts it back when the guess turns out wrong."""
        return copy.deepcopy({k: v for k, v in vars(self).items() if k not in self._SHARED})

    def restore(self, state: dict) -> None:
        """Put back a ``snapshot``; a copy of it, so the same snapshot can be put back again
        (the random generator and the lists it holds stay as they were when it was taken)."""
        vars(self).update(copy.deepcopy(state))

    # -- lines -------------------------------------------------------------------------------
    def _fresh(self, options: list[str]) -> list[str]:
        """The wordings the seed picks from: not said yet, nor asking what was answered."""
        if not options:  # a reaction that only moves the mood: say the default line
            default = self.persona.reactions.get("default")
            options = (default.say if default and default.say else None) or self.persona.opening
        settled = [o for o in options if not any(q in o for q in self.answered)]
        options = settled or options  # "So what happens now?" once the trainee has said
        fresh = [o for o in options if o not in self.said]
        if not fresh:  # all used: the one said longest ago, never the same line twice running
            last = {o: max(i for i, x in enumerate(self.said) if x == o) for o in options}
            fresh = [min(options, key=lambda o: last[o])]
        return fresh

    def _pick(self, options: list[str]) -> str:
        text = self.rng.choice(self._fresh(options))
        self.said.append(text)
        self.questions.customer_said(text)
        return text

    def _voice(self) -> VoiceSettings:
        """Mood shapes the voice (the persona's prosody: pace, pitch, loudness, pauses)."""
        return self.persona.prosody.voice(self.persona.voice, self.mood)

    def _line(
        self,
        options: list[str],
        reason: str,
        moves: list[str] | None = None,
        end_state: str | None = None,
    ) -> CustomerLine:
        if end_state:
            self.end_state = end_state
        return CustomerLine(
            self._pick(options), reason, round(self.mood, 3), self._voice(), moves or [], end_state
        )

    def _end(self, state: str, moves: list[str] | None = None) -> CustomerLine:
        options = self.persona.endings.get(state) or self.persona.endings["hung_up"]
        return self._line(options, state, moves, end_state=state)

    def _shifted(self, mood: float, delta: float) -> float:
        m = self.persona.mood
        mood += max(-m.max_step, min(m.max_step, delta))
        mood += m.drift * (m.baseline - mood)
        return max(0.0, min(1.0, mood))

    def _shift(self, delta: float) -> None:
        self.mood = self._shifted(self.mood, delta)

    # -- what comes next (for rendering it ahead) ---------------------------------------------
    def _candidates(self, interrupted: bool) -> list[tuple[str, list[str], list[float]]]:
        """(reason, wordings, mood changes it may come with) of every line the next reply can
        be, in a rough order of likelihood: the customer's answers and what a trainee who
        handles the call earns first (alone, or with more good moves in the same turn: the
        most one turn moves), the objections after, the endings last."""
        p = self.persona
        if self.end_state is not None:
            return []
        if not self.said:
            return [("opening", p.opening, [0.0])]
        r, step = p.reactions, p.mood.max_step
        more = [-step / 2, -step]  # with other good moves in the same turn
        good = [("answer", a.say, [0.0, *more]) for a in p.answers]
        good += [(m, x.say, [x.mood, *more]) for m, x in r.items() if x.say and x.mood <= 0]
        if self.agreed:
            good.insert(0, ("resolved", p.endings.get("resolved", []), [0.0, *more]))
        elif p.accept:
            good.append(("agreed", p.agreed, [*more, 0.0]))
        default = r.get("default")  # whatever it does not react to: often
        good.append(
            ("default", default.say if default and default.say else p.opening, [0.0, *more])
        )
        good.sort(key=lambda c: c[0] in self.seen)  # a move made already is seldom made again
        bad = [(m, x.say, [x.mood, step]) for m, x in r.items() if x.say and x.mood > 0]
        bad += [(f"refused {m}", x.say or p.opening, [x.mood]) for m, x in p.refuse.items()]
        if p.interrupts is not None and p.interrupts.say:
            bad.append(("interjection", p.interrupts.say, [p.interrupts.mood]))
        if interrupted:  # talked over: the customer says so first
            good = [c for c in bad if c[0] == "interrupted"] + good
        ends = [(state, lines, [step]) for state, lines in p.endings.items() if state != "resolved"]
        return [c for c in good + bad + ends if c[1]]

    def likely_lines(
        self, interrupted: bool = False, neighbours: bool = True
    ) -> list[CustomerLine]:
        """The lines the customer may say next, most likely first, the call left as it is:
        each in the wording this call's seed would pick, in the voice of each mood it may
        leave; with ``neighbours`` all of them again a tenth of mood calmer and angrier.
        ``interrupted``: the trainee is talking over the customer, who will say so first."""
        state = self.rng.getstate()
        lines, seen = [], set()
        for step in (0.0, -0.1, 0.1) if neighbours else (0.0,):
            for reason, options, deltas in self._candidates(interrupted):
                rng = random.Random()
                rng.setstate(state)
                text = rng.choice(self._fresh(options))
                for delta in deltas:
                    mood = max(0.0, min(1.0, self._shifted(self.mood, delta) + step))
                    voice = self.persona.prosody.voice(self.persona.voice, mood)
                    if (text, voice) not in seen:
                        seen.add((text, voice))
                        lines.append(CustomerLine(text, reason, round(mood, 3), voice))
        return lines

    # -- the conversation --------------------------------------------------------------------
    def opening(self) -> CustomerLine:
        return self._line(self.persona.opening, "opening")

    def context(self) -> Context:
        return Context.from_text(
            *self.said,
            self.persona.summary,
            extra_terms=self.persona.complaint_terms,
            recent=self.said,
        )

    def respond(self, turn: TraineeTurn) -> CustomerLine:
        """The customer's answer to one trainee turn.

        Order of precedence: demanding a manager or hanging up; reacting to a negative move or
        to being talked over; closing once a resolution was agreed; refusing, accepting or
        deferring an offer; giving an asked-for fact; reacting to the move that moved the mood
        most; a default line.
        """
        p = self.persona
        self.silences = 0
        words = turn.text.split()
        hits = self.library.detect(words, None, self.context())
        found = {h.move for h in hits}
        reply = self.questions.trainee_said(words, hits)
        if reply is not None and reply.verdict == ANSWERED:
            self.answered.add(reply.question.text)
            found.add(ANSWERED)
        elif reply is not None and reply.verdict == UNANSWERED:
            found.add(UNANSWERED)
        # A move the rubric excuses in context is not made: "I can't refund it, but I can
        # exchange it" is no bare refusal (the rubric's `unless`, not a list of our own).
        found = {m for m in found if not (self.excuses.get(m, set()) & found)}
        earlier = [m for m in p.accept if m in self.seen]  # offers made in earlier turns
        self.seen |= found
        known = set(p.reactions) | set(p.accept) | set(p.refuse) | set(p.requires)
        moves = sorted(found & known)
        reactions = [m for m in moves if m in p.reactions]
        if turn.interrupted and "interrupted" in p.reactions:
            reactions.append("interrupted")
        refused = [m for m in p.refuse if m in found]
        # A vague promise in the same turn makes an offer no offer ("someone will sort a
        # replacement at some point"): the customer wants who, what and when.
        offered = [] if "empty_promise" in found else [m for m in p.accept if m in found]
        if not offered and "summary" in found and "empty_promise" not in found:
            offered = earlier  # a recap restates the fix already on the table
        missing = [m for m in p.requires if m not in self.seen]
        delta = sum(p.reactions[m].mood for m in reactions) + sum(p.refuse[m].mood for m in refused)
        deferred = None
        if offered and not refused and not self.agreed:
            if missing and "not_ready" in p.reactions:
                deferred = "not_ready"
            elif self.mood + delta > p.mood.resolve_below and "premature_solution" in p.reactions:
                deferred = "premature_solution"
            if deferred:
                delta += p.reactions[deferred].mood
        before = self.mood
        self._shift(delta)
        esc = p.mood.escalate_at
        if esc is not None and before < esc <= self.mood:
            return self._end("escalated", moves)  # the first threshold crossed wins
        if self.mood >= p.mood.hang_up_at:
            return self._end("hung_up", moves)
        if esc is not None and self.mood >= esc:
            return self._end("escalated", moves)
        negative = [m for m in NEGATIVE_FIRST if m in reactions]
        if negative or (turn.interrupted and "interrupted" in reactions):
            chosen = negative[0] if negative else "interrupted"
            if p.reactions[chosen].say:
                return self._line(p.reactions[chosen].say, chosen, moves)
        if self.agreed:
            return self._end("resolved", moves)
        if refused:
            return self._line(p.refuse[refused[0]].say or p.opening, f"refused {refused[0]}", moves)
        if offered:
            if not missing and self.mood <= p.mood.resolve_below:
                self.agreed = True
                return self._line(p.agreed, offered[0], moves)
            if deferred:
                return self._line(p.reactions[deferred].say, deferred, moves)
        for answer in p.answers:
            if answer.detector.find(*_tokens(turn.text), self.context()):
                return self._line(answer.say, "answer", moves)
        speaking = [m for m in reactions if p.reactions[m].say]
        if speaking:
            # The move that moved the customer most is the one they answer.
            chosen = max(speaking, key=lambda m: abs(p.reactions[m].mood))
            return self._line(p.reactions[chosen].say, chosen, moves)
        default = p.reactions.get("default")
        options = default.say if default and default.say else p.opening
        return self._line(options, "default", moves)

    def every_line(self, low: float, high: float) -> list[CustomerLine]:
        """Every wording of every line the persona has, in the voice of each tenth of mood
        from ``low`` to ``high`` at which it can be said (an agreement or a goodbye when calm
        enough, hanging up or demanding a manager from the mood that does it), nearest the
        start mood first: what ``voicesim personas prerender`` renders ahead of a session."""
        p, m = self.persona, self.persona.mood
        tenths = [t / 10 for t in range(11)]
        band = [t for t in tenths if low - 1e-9 <= t <= high + 1e-9]
        calm = [t for t in band if t <= m.resolve_below + 0.05]
        lines: list[tuple[str, list[str], list[float]]] = [("opening", p.opening, [m.start])]
        lines += [(k, r.say, band) for k, r in p.reactions.items() if r.say]
        lines += [(f"refused {k}", r.say, band) for k, r in p.refuse.items() if r.say]
        lines += [("answer", a.say, band) for a in p.answers]
        if p.interrupts is not None:
            lines.append(("interjection", p.interrupts.say, band))
        lines.append(("agreed", p.agreed, calm))
        at = {"hung_up": m.hang_up_at, "escalated": m.escalate_at}
        for state, said in p.endings.items():
            if state == "resolved":
                lines.append((state, said, calm))
            elif at.get(state) is not None:
                lines.append((state, said, [t for t in tenths if t >= at[state] - 0.05]))
            else:
                lines.append((state, said, band))
        out = [
            CustomerLine(text, reason, mood, self.persona.prosody.voice(p.voice, mood))
            for reason, said, moods in lines
            for mood in moods
            for text in said
        ]
        return sorted(out, key=lambda x: abs(x.mood - m.start))  # stable: file order kept

    def interject(self) -> CustomerLine | None:
        """The customer cuts into a trainee who has talked too long, if upset enough."""
        inter = self.persona.interrupts
        if inter is None or self.mood < inter.mood_at_least:
            return None
        self._shift(inter.mood)
        return self._line(inter.say, "interjection")

    def on_silence(self) -> CustomerLine:
        """The trainee has said nothing for longer than the customer's patience."""
        p = self.persona
        self.silences += 1
        react = p.reactions.get("silence")
        self._shift(react.mood if react else 0.1)
        if self.silences >= p.mood.max_silences or self.mood >= p.mood.hang_up_at:
            return self._end("hung_up", ["silence"])
        options = react.say if react and react.say else ["Hello? Are you still there?"]
        return self._line(options, "silence", ["silence"])

    def on_time_limit(self) -> CustomerLine:
        return self._end("time_limit")


def _tokens(text: str) -> tuple[str, list]:
    return tokenize(text.split())
