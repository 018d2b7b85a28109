"""The move recogniser: which moves the trainee's words make, read from their meaning.

One recogniser serves the persona engine (what did the trainee just do?) and the rubric (how
well, in which words?). Each sentence of an utterance (a long unpunctuated transcript is cut at
its conjunctions) is read together with what the customer said last by a fine-tuned MiniLM
cross-encoder (``pairmodel``: one probability per move, trained by
``scripts/train_recogniser.py`` on the project's own labelled lines, as written and as Whisper
heard them, with a model card in ``models/recogniser.json``). Reading the pair is what makes a
restatement of *this* customer's problem a reflection and a restatement of another's not.

A few rules stay on top, each for a reason the model cannot see from one sentence:
- no customer words yet, no reflection (there is nothing to reflect);
- a unit of three words or fewer ("Great.", "Step by step.": often a fragment Whisper cut off)
  carries a penalised move only when the model is very sure: too little to read mockery from;
- sarcasm is mock cheer or mock surprise: without such a word it is not read as sarcasm;
- a warm move taken back in the same breath does not count ("I understand, but there's nothing
  I can do" is a dismissal) and a sarcastic sentence earns none of the warm moves it imitates;
- a vague lead-in followed at once by who does what is no empty promise, and an owned promise
  in a turn that also names the follow-up and its time is not empty either.

Evidence: every hit names its sentence (or, for a brush-off after "but", what follows the
"but"), with the model's probability, so the scorecard still points at words and seconds.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from . import pairmodel
from .text import Context, Hit, Token

# Every move the model knows; a rubric uses the ones it declares as detectors.
MOVES = (
    "greeting",
    "gratitude",
    "apology",
    "empathy",
    "reflect",
    "open_question",
    "ownership",
    "solution",
    "timeframe",
    "alternative",
    "policy",
    "boundary",
    "escalation",
    "summary",
    "follow_up",
    "closing",
    "hold",
    "backchannel",
    "blame",
    "dismissal",
    "condescension",
    "defensiveness",
    "refusal",
    "profanity",
    "sarcasm",
    "empty_promise",
)
# Warm moves that a following "but ..." with a negative move takes back, and that sarcasm fakes.
WARM = frozenset({"empathy", "apology", "gratitude", "reflect", "greeting"})
TAKES_BACK = frozenset({"dismissal", "defensiveness", "blame", "sarcasm", "condescension"})
NEGATIVE = TAKES_BACK | {"profanity", "refusal", "empty_promise"}
# A unit of fewer words than this ("Great.", "Step by step.": often a fragment Whisper cut off)
# carries a penalised move only when the lexicon lists it: too little to read mockery or blame.
SHORT_WORDS = 4
# Sarcasm is mock cheer or mock surprise: a unit without one of these words ("A bill that's
# suddenly doubled." restating a complaint) is not read as sarcasm, however it sounds.
_CHEER = re.compile(
    r"\b(?:wonderful|great|brilliant|thrill\w*|lovely|fantastic|perfect|lov\w+|amazing|super|"
    r"delight\w*|excit\w*|fun|joy|pleas\w*|lucky|congrat\w*|bravo|well done|sunshine|nice|"
    r"marvel\w*|fab\w*|awesome|terrific|splendid|cool|sweet|charming|glorious|best|favou?rite|"
    r"treat|overjoyed|genius|impressi\w+|fascinat\w*|riveting|shock\w*|surpris\w*|gift|dream|"
    r"happy|glad|grateful|thanks?|sure|right|totally|obviously|clearly|course|wow|oh|ooh|ah|yay|"
    r"hooray|gosh|really|let me guess|what a|how \w+|original|generous|fortunate|terribly|"
    r"meant to|this time|finally|a first|yeah)\b"
)
# In a sentence that turns on a contrast word, a brush-off needs this much less confidence.
CONTRAST_EASE = 0.1
CONTRAST = frozenset({"but", "however", "though", "although", "unfortunately", "still"})
# Sentences longer than this (a transcript without punctuation) are cut at conjunctions.
MAX_UNIT_WORDS = 22
_BREAK_WORDS = frozenset({"but", "so", "and", "because", "however", "although", "though"})


@dataclass(frozen=True)
class Unit:
    """A stretch of tokens the model reads as one: a sentence, or a clause within one."""

    first: int  # token indices, inclusive
    last: int
    sentence: int  # index of the detection unit it belongs to


def detection_units(tokens: Sequence[Token]) -> list[Unit]:
    """Sentences, with over-long ones cut before a conjunction (Whisper may not punctuate)."""
    units: list[Unit] = []
    start = 0
    for i, t in enumerate(tokens):
        last = i == len(tokens) - 1 or tokens[i + 1].sentence != t.sentence
        if last:
            units.extend(_cut(tokens, start, i, len(units)))
            start = i + 1
    return units


def _cut(tokens: Sequence[Token], first: int, last: int, base: int) -> list[Unit]:
    out: list[Unit] = []
    start = first
    for i in range(first + 1, last + 1):
        if i - start >= MAX_UNIT_WORDS // 2 and tokens[i].text in _BREAK_WORDS:
            if last - i >= 4:
                out.append(Unit(start, i - 1, base + len(out)))
                start = i
    out.append(Unit(start, last, base + len(out)))
    return out


def clauses(tokens: Sequence[Token], unit: Unit) -> list[Unit]:
    """The clauses of a unit (split at punctuation), for placing evidence."""
    out: list[Unit] = []
    start = unit.first
    for i in range(unit.first, unit.last + 1):
        if i == unit.last or tokens[i + 1].clause != tokens[i].clause:
            out.append(Unit(start, i, unit.sentence))
            start = i + 1
    return out


# A short unit's penalised move needs at least this probability (see the module doc).
SHORT_BAR = 0.9


class MoveRecogniser:
    """Moves of one utterance from meaning, in the context of what the customer said."""

    def __init__(self, classifier: pairmodel.MoveClassifier) -> None:
        self.classifier = classifier
        self.index = {m: i for i, m in enumerate(classifier.moves)}

    def recognise(
        self,
        text: str,
        tokens: Sequence[Token],
        context: Context,
        wanted: set[str],
        words: Sequence[str] | None = None,
    ) -> list[Hit]:
        """Model hits for the moves in ``wanted`` (those the rubric declares)."""
        readable = wanted & set(self.index)
        if not readable or all(t.foreign for t in tokens):
            return []
        units = detection_units(tokens)
        said = pairmodel.context_text(context.recent)
        thresholds = self.classifier.thresholds
        found: dict[int, set[str]] = {}
        scores: dict[int, list[float]] = {}
        for k, u in enumerate(units):
            if all(tokens[i].foreign for i in range(u.first, u.last + 1)):
                found[k] = set()
                continue  # quoting or reporting the customer is not the trainee's move
            unit = text[tokens[u.first].start : tokens[u.last].end]
            probs = self.classifier.probs(said, unit)
            if any(tokens[i].foreign for i in range(u.first, u.last + 1)):
                # Somebody else's words ('you said "this is a joke"') are read for what the
                # trainee does with them (a restatement), never as the trainee's own penalty.
                own_words = " ".join(
                    tokens[i].text for i in range(u.first, u.last + 1) if not tokens[i].foreign
                )
                mine = self.classifier.probs(said, own_words)
                probs = [
                    min(float(p), float(q)) if m in NEGATIVE else float(p)
                    for m, p, q in zip(self.classifier.moves, probs, mine, strict=True)
                ]
            scores[k] = [float(v) for v in probs]
            short = u.last - u.first + 1 < SHORT_WORDS
            contrast = any(tokens[i].text in CONTRAST for i in range(u.first + 1, u.last + 1))
            moves = set()
            for m in readable:
                j = self.index[m]
                p, bar = float(probs[j]), float(thresholds[j])
                if m == "reflect" and not said:
                    continue  # nothing said by the customer yet: nothing to reflect
                if m in NEGATIVE and short:
                    bar = max(bar, SHORT_BAR)
                if m == "sarcasm" and not _CHEER.search(unit):
                    continue
                if m in TAKES_BACK and contrast:
                    bar -= CONTRAST_EASE  # "I hear you, but ...": what follows the but weighs more
                if p >= bar:
                    moves.add(m)
            found[k] = moves
        _take_back(tokens, units, found)
        hits: list[Hit] = []
        for k, u in enumerate(units):
            for m in sorted(found[k]):
                span = _evidence(tokens, u, m)
                score = scores[k][self.index[m]]
                hits.append(
                    Hit(
                        m,
                        text[span[0].start : span[-1].end],
                        f"recognised ({score:.2f})",
                        span[0].source,
                        span[-1].source,
                    )
                )
        return hits


def _evidence(tokens: Sequence[Token], unit: Unit, move: str) -> list[Token]:
    """The words a hit points at: the unit's own words; for a brush-off after a contrast word
    ("I hear you, but rules are rules"), what follows the contrast."""
    own = [t for t in tokens[unit.first : unit.last + 1] if not t.foreign] or [tokens[unit.first]]
    if move in TAKES_BACK:
        turn = next(
            (i for i, t in enumerate(own) if i > 0 and t.text in CONTRAST and t.clause_start),
            None,
        )
        if turn is not None:
            return own[turn:]
    return own


def _take_back(tokens: Sequence[Token], units: Sequence[Unit], found: dict[int, set[str]]) -> None:
    """Drop warm moves that the same breath takes back and those a sarcastic unit fakes, and
    an owned promise that the same turn gives a time for."""
    for k, u in enumerate(units):
        if "sarcasm" in found[k]:
            found[k] -= WARM
        bad = found[k] & TAKES_BACK
        later = [
            kk
            for kk in range(k + 1, min(k + 2, len(units)))
            if tokens[units[kk].first].text in CONTRAST and found[kk] & TAKES_BACK
        ]
        # Within one unit: a contrast word after the warm words ("I hear you, but ...").
        inside = bad and any(tokens[i].text in CONTRAST for i in range(u.first + 1, u.last + 1))
        if inside or later:
            found[k] -= WARM
    # A vague lead-in followed at once by who does what ("Here's what we can do. I'll swap it
    # for a heavier coat.") is a preface, not an empty promise.
    for k in range(len(units) - 1):
        nxt = found[k + 1]
        if "empty_promise" in found[k] and "ownership" in nxt and nxt & {"solution", "alternative"}:
            found[k].discard("empty_promise")
    # A promise the trainee owns, in a turn that also names the follow-up and its time ("I'll
    # call you tomorrow by noon. I'll follow up until it's done."), is not an empty one.
    if any({"follow_up", "timeframe"} <= moves for moves in found.values()):
        for moves in found.values():
            if "empty_promise" in moves and moves & {"ownership", "follow_up"}:
                moves.discard("empty_promise")


_RECOGNISER: MoveRecogniser | None = None


def get_recogniser() -> MoveRecogniser:
    """The shared recogniser, loaded on first use (about 0.3 s)."""
    global _RECOGNISER
    if _RECOGNISER is None:
        _RECOGNISER = MoveRecogniser(pairmodel.get_classifier())
    return _RECOGNISER


def enabled() -> bool:
    """``VOICESIM_RECOGNISER=phrases`` turns the model off (phrase rules only), for comparison."""
    return os.environ.get("VOICESIM_RECOGNISER", "model") != "phrases"
