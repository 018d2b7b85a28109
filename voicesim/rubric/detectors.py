"""The one detector library: what did the trainee just do, and in which words?

The persona engine asks it which moves a turn made (to react); the scorer asks it where each
move was made (to award points with evidence). Phrase lists live in the rubric file, never in code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

NEGATORS = {
    "not",
    "never",
    "no",
    "don't",
    "doesn't",
    "didn't",
    "isn't",
    "wasn't",
    "aren't",
    "won't",
    "can't",
    "cannot",
    "wouldn't",
    "shouldn't",
    "couldn't",
    "nothing",
}
NEGATION_WINDOW = 3  # words before a phrase, within its clause, that can negate it
STOPWORDS = set(
    "a an the and or but if so to of in on at for with from by about as is are was were be been "
    "am i you your yours my me we our us it its this that these those there here what which who "
    "how why when where can could would should will just not no do does did have has had get got "
    "very really too also then than out up down over under again more most some any all one two "
    "let me him her his she he they them their im ive youre dont cant wont".split()
)

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})
_WORD = re.compile(r"[a-z0-9]+(?:['\-][a-z0-9]+)*")
QUOTES = '"\u201c\u201d'
_CLAUSE_BREAK = re.compile(r"[.,;:!?\u2014]")


@dataclass
class Token:
    text: str  # normalised (lower-case) word
    start: int  # character span in the normalised text
    end: int
    clause: int  # index of the clause (split at punctuation) the word belongs to
    quoted: bool  # inside quotation marks: the customer's words, not the trainee's
    source: int  # index into the caller's word list (for word timestamps)


@dataclass
class Hit:
    """One detector firing: the move, the exact words, where they are, and the rule."""

    move: str
    words: str
    rule: str
    first_word: int  # index into the utterance's word list
    last_word: int
    start: float | None = None  # call-clock seconds, when word times are known
    end: float | None = None

    def to_dict(self) -> dict:
        out = {"move": self.move, "words": self.words, "rule": self.rule}
        if self.start is not None:
            out["start"] = round(self.start, 3)
            out["end"] = round(self.end if self.end is not None else self.start, 3)
        return out


def normalise(text: str) -> str:
    return text.translate(_APOSTROPHES).lower()


def tokenize(words: Sequence[str]) -> tuple[str, list[Token]]:
    """Join words (Whisper's, or a split sentence) into normalised text with per-token spans."""
    text_parts: list[str] = []
    tokens: list[Token] = []
    pos = 0
    clause = 0
    quoted = False
    for i, raw in enumerate(words):
        w = normalise(raw)
        # Walk the word: a quote mark toggles the state for the tokens after it, so in
        # `said "calm down"` both "calm" and "down" are quoted, and so is `"relax"`.
        state_at: list[bool] = []
        for ch in w:
            if ch in QUOTES:
                quoted = not quoted
            state_at.append(quoted)
        for m in _WORD.finditer(w):
            inside = state_at[m.start()]
            tokens.append(Token(m.group(), pos + m.start(), pos + m.end(), clause, inside, i))
        if _CLAUSE_BREAK.search(w):
            clause += 1
        text_parts.append(w)
        pos += len(w) + 1
    return " ".join(text_parts), tokens


def _compile(phrase: str) -> re.Pattern[str]:
    if phrase.startswith("re:"):
        return re.compile(phrase[3:])
    parts = [r"[a-z0-9'\-]+" if p == "*" else re.escape(normalise(p)) for p in phrase.split()]
    return re.compile(r"(?<![a-z0-9'])" + r"[\s,.;:!?\"]+".join(parts) + r"(?![a-z0-9'])")


@dataclass
class Detector:
    id: str
    description: str = ""
    phrases: list[str] = field(default_factory=list)
    kind: str = "phrases"  # or "reflect": covers the customer's complaint terms
    negatable: bool = True
    min_terms: int = 2

    def __post_init__(self) -> None:
        self._patterns = [(p, _compile(p)) for p in self.phrases]

    def find(self, text: str, tokens: list[Token], context: Context) -> list[Hit]:
        if self.kind == "reflect":
            return self._reflect(tokens, context)
        hits: list[Hit] = []
        taken: list[tuple[int, int]] = []
        for phrase, pattern in self._patterns:
            for m in pattern.finditer(text):
                span = [t for t in tokens if t.end > m.start() and t.start < m.end()]
                if not span or any(a < m.end() and m.start() < b for a, b in taken):
                    continue
                if all(t.quoted for t in span):
                    continue  # quoting the customer is not the trainee's own move
                if self.negatable and self._negated(tokens, span[0]):
                    continue
                taken.append((m.start(), m.end()))
                hits.append(
                    Hit(self.id, m.group(), f'phrase "{phrase}"', span[0].source, span[-1].source)
                )
        return hits

    @staticmethod
    def _negated(tokens: list[Token], first: Token) -> bool:
        idx = tokens.index(first)
        window = [
            t for t in tokens[max(0, idx - NEGATION_WINDOW) : idx] if t.clause == first.clause
        ]
        return any(t.text in NEGATORS or t.text.endswith("n't") for t in window)

    def _reflect(self, tokens: list[Token], context: Context) -> list[Hit]:
        terms = context.complaint_terms
        if not terms:
            return []
        found = [t for t in tokens if not t.quoted and _stem(t.text) in terms]
        distinct = {_stem(t.text) for t in found}
        if len(distinct) < self.min_terms:
            return []
        words = ", ".join(sorted(distinct))
        return [
            Hit(
                self.id,
                words,
                f"covers {len(distinct)} complaint terms ({words})",
                found[0].source,
                found[-1].source,
            )
        ]


@dataclass
class Context:
    """What the customer said, so that reflecting the problem back can be recognised."""

    complaint_terms: set[str] = field(default_factory=set)

    @classmethod
    def from_text(cls, *texts: str, extra_terms: Iterable[str] = ()) -> Context:
        terms = {_stem(t) for t in extra_terms}
        for text in texts:
            for m in _WORD.finditer(normalise(text)):
                w = m.group()
                if len(w) > 3 and w not in STOPWORDS and not w.isdigit():
                    terms.add(_stem(w))
        return cls(terms)


def _stem(word: str) -> str:
    """A light stemmer so that "refunded" reflects "refund" and "boxes" reflects "box"."""
    w = normalise(word).strip("'")
    for suffix in ("ing", "ed", "es", "s"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 4:
            return w[: -len(suffix)]
    return w


class DetectorLibrary:
    """All detectors of a rubric; ``detect`` finds every move in one utterance."""

    def __init__(self, detectors: dict[str, Detector]):
        self.detectors = detectors

    def __contains__(self, move: str) -> bool:
        return move in self.detectors

    def detect(
        self,
        words: Sequence[str],
        times: Sequence[tuple[float, float]] | None = None,
        context: Context | None = None,
        only: Iterable[str] | None = None,
    ) -> list[Hit]:
        """Find moves in ``words`` (with optional per-word times on the call clock)."""
        context = context or Context()
        text, tokens = tokenize(words)
        wanted = set(only) if only is not None else None
        hits: list[Hit] = []
        for det in self.detectors.values():
            if wanted is not None and det.id not in wanted:
                continue
            for hit in det.find(text, tokens, context):
                if times:
                    hit.start = times[hit.first_word][0]
                    hit.end = times[hit.last_word][1]
                hits.append(hit)
        hits.sort(key=lambda h: (h.first_word, h.move))
        return hits

    def detect_text(self, text: str, context: Context | None = None) -> list[Hit]:
        return self.detect(text.split(), None, context)

    def moves(self, text: str, context: Context | None = None) -> set[str]:
        return {h.move for h in self.detect_text(text, context)}

    def is_backchannel(self, text: str, max_words: int = 3) -> bool:
        """True for a short listening signal ("mm-hmm", "okay, right") and nothing more."""
        _, tokens = tokenize(text.split())
        if not tokens or len(tokens) > max_words or "backchannel" not in self.detectors:
            return False
        det = self.detectors["backchannel"]
        covered = set()
        text_n, toks = tokenize(text.split())
        for hit in det.find(text_n, toks, Context()):
            covered.update(range(hit.first_word, hit.last_word + 1))
        return covered >= {t.source for t in toks}
