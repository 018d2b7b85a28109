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
- a very short sentence carries a penalty only when it also does read with its neighbour
  ("Brilliant." before a recap is sincere, after bad news mocking); a whole turn of three
  words or fewer ("Great.", "Step by step.": often a fragment Whisper
  cut off) carries a penalised move only when the model is very sure;
- sarcasm is mock cheer or mock surprise: without such a word it is not read as sarcasm;
- a sentence that sets a calm boundary ("please don't use that language with me so we can sort
  this out") is condescending only when the model is very sure: no training sentence is both;
- "I don't know what to tell you" is no open question: a statement of not knowing without a
  question mark asks nothing;
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

from . import pairmodel, semantic
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
# A statement of not knowing ("I don't know what to tell you") reads like the start of an open
# question; without a question mark it is none.
_NOT_KNOWING = re.compile(
    r"^\W*(?:(?:um|erm|er|uh|well|hmm|so|look|honestly)\W+)*"
    r"(?:i\s+(?:really\s+)?(?:do\s*not|don'?t)\s+(?:really\s+)?know|i'?m\s+not\s+(?:really\s+)?sure|"
    r"not\s+sure|no\s+idea|(?:i\s+)?can'?t\s+say|dunno|(?:i\s+)?couldn'?t\s+(?:tell|say))\b",
    re.IGNORECASE,
)
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
# Sentences longer than this (a transcript without punctuation) are cut at conjunctions, into
# pieces of at least MIN_PIECE_WORDS: the model reads up to about 50 words at once.
MAX_UNIT_WORDS = 40
MIN_PIECE_WORDS = 12
_BREAK_WORDS = frozenset({"but", "so", "and", "because", "however", "although", "though"})


@dataclass(frozen=True)
class Unit:
    """A stretch of tokens the model reads as one: a sentence, or a piece of an over-long one."""

    first: int  # token indices, inclusive
    last: int

    @property
    def words(self) -> int:
        return self.last - self.first + 1


def detection_units(tokens: Sequence[Token]) -> list[Unit]:
    """Sentences, with over-long ones cut before a conjunction (Whisper may not punctuate)."""
    units: list[Unit] = []
    start = 0
    for i, t in enumerate(tokens):
        last = i == len(tokens) - 1 or tokens[i + 1].sentence != t.sentence
        if last:
            units.extend(_cut(tokens, start, i))
            start = i + 1
    return units


def neighbour(units: Sequence[Unit], k: int) -> Unit | None:
    """The unit a very short one is read with for its penalties: the next, or at the end the
    previous ("Brilliant." is sincere before a recap and mocking after bad news)."""
    if units[k].words >= SHORT_WORDS or len(units) < 2:
        return None
    other = units[k + 1] if k + 1 < len(units) else units[k - 1]
    return Unit(min(units[k].first, other.first), max(units[k].last, other.last))


def _cut(tokens: Sequence[Token], first: int, last: int) -> list[Unit]:
    """A sentence as one unit; an over-long one (a transcript without full stops) in pieces
    that start at a conjunction, each at least ``MIN_PIECE_WORDS`` long."""
    if last - first + 1 <= MAX_UNIT_WORDS:
        return [Unit(first, last)]
    out: list[Unit] = []
    start = first
    for i in range(first + 1, last + 1):
        if i - start >= MIN_PIECE_WORDS and tokens[i].text in _BREAK_WORDS:
            if last - i >= 4:
                out.append(Unit(start, i - 1))
                start = i
    out.append(Unit(start, last))
    return out


# A short unit's penalised move needs at least this probability (see the module doc).
SHORT_BAR = 0.9


# A restatement must be about what this customer said: the sentence vectors of their recent
# lines and the trainee's words are at least this close (cosine). The pair model alone credits
# "So the parcel turned up damaged" after a complaint about a bill; on people's dialogue the
# gate leaves reflect F1 unchanged (tests/test_moves.py, docs/judgement.md).
RELATED = 0.2


def about_the_same(said: str, unit: str) -> bool:
    """Whether the trainee's words and the customer's are about the same thing; True when the
    sentence model is off (``VOICESIM_SEMANTIC=0``) or not installed."""
    embedder = semantic.get_embedder()
    if embedder is None:
        return True
    vectors = embedder.embed([said, unit])
    return float(vectors[0] @ vectors[1]) >= RELATED


class MoveRecogniser:
    """Moves of one utterance from meaning, in the context of what the customer said."""

    def __init__(self, classifier: pairmodel.MoveClassifier) -> None:
        self.classifier = classifier
        self.index = {m: i for i, m in enumerate(classifier.moves)}
        self._reflect = self.index.get("reflect")
        self._penalties = [i for m, i in self.index.items() if m in NEGATIVE]

    def _read(self, said: str, unit: str) -> list[float]:
        """Every move from the agent's words alone, and reflect from the pair: whether a
        restatement restates *this* customer is the one thing the customer's words decide
        (read with them, "I'll follow up until it's done" after a customer quoting an empty
        promise would take on the customer's words). A restatement's penalty must also hold read
        with the customer's words: "the light comes on but the water never boils, is that
        right?" alone may sound like a challenge, after the customer said just that it is a
        check."""
        own = [float(v) for v in self.classifier.probs("", unit)]
        if self._reflect is None:
            return own
        if not said:
            own[self._reflect] = 0.0  # nothing said yet: nothing to reflect
            return own
        pair = self.classifier.probs(said, unit)
        own[self._reflect] = self._reflection(said, unit, pair)
        if own[self._reflect] >= float(self.classifier.thresholds[self._reflect]):
            for j in self._penalties:
                own[j] = min(own[j], float(pair[j]))
        return own

    def _reflection(self, said: str, words: str, pair: Sequence[float] | None = None) -> float:
        """How surely ``words`` restate what this customer said (0 with nothing said, or
        when they are about something else); ``pair``: the pair's probabilities, if read."""
        if not said:
            return 0.0
        p = float((self.classifier.probs(said, words) if pair is None else pair)[self._reflect])
        if p >= float(self.classifier.thresholds[self._reflect]) and not about_the_same(
            said, words
        ):
            return 0.0
        return p

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
        found: dict[int, set[str]] = {}
        scores: dict[int, list[float]] = {}
        where: dict[int, dict[str, Unit]] = {}
        for k, u in enumerate(units):
            if all(tokens[i].foreign for i in range(u.first, u.last + 1)):
                found[k] = set()
                continue  # quoting or reporting the customer is not the trainee's move
            scores[k], where[k] = self._unit_probs(text, tokens, units, k, said)
            found[k] = self._decide(text, tokens, units, k, scores[k], readable, said)
        _take_back(tokens, units, found)
        hits: list[Hit] = []
        for k, u in enumerate(units):
            for m in sorted(found[k]):
                span = _evidence(tokens, where[k].get(m, u), m)
                hits.append(
                    Hit(
                        m,
                        text[span[0].start : span[-1].end],
                        f"recognised ({scores[k][self.index[m]]:.2f})",
                        span[0].source,
                        span[-1].source,
                    )
                )
        return hits

    def _unit_probs(
        self, text: str, tokens: Sequence[Token], units: Sequence[Unit], k: int, said: str
    ) -> tuple[list[float], dict[str, Unit]]:
        """A unit's probability of each move, and for a helpful move found in one of its
        clauses, that clause (its evidence)."""
        u = units[k]
        probs = self._read(said, _text(text, tokens, u))
        if any(tokens[i].foreign for i in range(u.first, u.last + 1)):
            # Somebody else's words ('you said "this is a joke"') are read for what the
            # trainee does with them (a restatement), never as the trainee's own penalty.
            own_words = " ".join(
                tokens[i].text for i in range(u.first, u.last + 1) if not tokens[i].foreign
            )
            probs = self._penalties_at_most(probs, self._read(said, own_words))
        pair = neighbour(units, k)
        if pair is not None:
            probs = self._penalties_at_most(probs, self._read(said, _text(text, tokens, pair)))
        # A helpful move may sit in one clause of a longer sentence ("I'll book the repair
        # for Thursday, and I'll ring you tomorrow to confirm"): each clause of three words
        # or more is read too. A penalty must hold for the whole sentence (precision first).
        evidence: dict[str, Unit] = {}
        pieces = clauses(tokens, u)
        for piece in pieces if len(pieces) > 1 else []:
            if piece.words < 3 or all(
                tokens[i].foreign for i in range(piece.first, piece.last + 1)
            ):
                continue
            words = _text(text, tokens, piece)
            clause = [float(v) for v in self.classifier.probs("", words)]
            if self._reflect is not None:  # "I'm sorry, so your jug arrived cracked"
                clause[self._reflect] = self._reflection(said, words)
            for j, m in enumerate(self.classifier.moves):
                if m not in NEGATIVE and clause[j] > probs[j]:
                    probs[j] = clause[j]
                    evidence[m] = piece
        return probs, evidence

    def _penalties_at_most(self, probs: list[float], other: Sequence[float]) -> list[float]:
        return [
            min(p, float(q)) if m in NEGATIVE else p
            for m, p, q in zip(self.classifier.moves, probs, other, strict=True)
        ]

    def _decide(
        self,
        text: str,
        tokens: Sequence[Token],
        units: Sequence[Unit],
        k: int,
        probs: Sequence[float],
        readable: set[str],
        said: str,
    ) -> set[str]:
        """The moves a unit makes: each probability against its move's threshold, with the
        rules the module doc gives."""
        u = units[k]
        unit = _text(text, tokens, u)
        short = u.words < SHORT_WORDS and neighbour(units, k) is None
        contrast = any(tokens[i].text in CONTRAST for i in range(u.first + 1, u.last + 1))
        after = tokens[u.last + 1].start if u.last + 1 < len(tokens) else len(text)
        asks = "?" in text[tokens[u.first].start : after]  # the unit's text ends before its "?"
        boundary = self.index.get("boundary")
        firm = boundary is not None and probs[boundary] >= self.classifier.thresholds[boundary]
        moves = set()
        for m in readable:
            j = self.index[m]
            p, bar = probs[j], float(self.classifier.thresholds[j])
            if m == "reflect" and not said:
                continue  # nothing said by the customer yet: nothing to reflect
            if m in NEGATIVE and short:
                bar = max(bar, SHORT_BAR)
            if m == "sarcasm" and not _CHEER.search(unit):
                continue
            if m == "open_question" and not asks and _NOT_KNOWING.match(unit):
                continue
            if m in TAKES_BACK and contrast:
                bar -= CONTRAST_EASE  # "I hear you, but ...": what follows the but weighs more
            if m == "condescension" and firm:
                bar = max(bar, SHORT_BAR)  # a calm boundary is firm, not talking down
            if p >= bar:
                moves.add(m)
        return moves


def clauses(tokens: Sequence[Token], unit: Unit) -> list[Unit]:
    """The clauses of a unit (split at punctuation)."""
    out: list[Unit] = []
    start = unit.first
    for i in range(unit.first, unit.last + 1):
        if i == unit.last or tokens[i + 1].clause != tokens[i].clause:
            out.append(Unit(start, i))
            start = i + 1
    return out


def _text(text: str, tokens: Sequence[Token], unit: Unit) -> str:
    return text[tokens[unit.first].start : tokens[unit.last].end]


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
    """Rules across the sentences of one turn: drop warm moves that the same breath takes back
    and those a sarcastic unit fakes, and an owned promise that the same turn gives a time
    for; an offer after a no or a rule is an alternative."""
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
    # An offer made after a no or a rule in the same turn is the alternative to what cannot
    # be done ("Our policy is that the refund follows the return. What I can do is send a
    # label today."), as it is within one sentence ("I can't refund it, but I can swap it").
    for k in range(1, len(units)):
        if "solution" in found[k] and any(found[kk] & {"refusal", "policy"} for kk in range(k)):
            found[k].add("alternative")


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
