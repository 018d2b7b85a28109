"""The one detector library: what did the trainee just do, and in which words?

The persona engine asks it which moves a turn made (to react); the scorer asks it where each
move was made (to award points with evidence). Phrase lists live in the rubric file, never in code.

Phrase syntax (one phrase matches whole words, case-insensitive, in the trainee's own words):

- ``i will``            the words in order, separated by spaces or punctuation;
- ``*``                 any one word; ``**`` zero to four words and ``***`` zero to eight,
                        within one clause (``i ** sorry``);
- ``a|b|c``             one of these words; ``_`` joins words inside one choice
                        (``i'll|i_will call you``);
- ``apologi~``          a word starting with ``apologi`` (apologise, apologize, apologies);
- ``^phrase``           only at the start of a clause (after leading "so", "okay", "well"...);
                        ``^^phrase`` only at the start of a sentence;
- ``phrase ?``          only in a clause that ends with a question mark; ``phrase ??`` only in
                        a sentence that ends with one;
- ``ctx > words``       the hit is ``words``, and only counts after ``ctx`` (``will *** > today``);
- ``!phrase``           a veto: a hit that overlaps it does not count ("!i can't believe");
- ``re:...``            a regular expression over the lower-cased text.

What is never the trainee's own move: words inside quotation marks, and reported speech (what
follows "you said", "he told you to", "you were told", ... up to the end of the clause), so
repeating the customer's words does not count. For a negatable detector, a negator ("not",
"never", "don't", "no", ...) up to five words before the phrase in the same clause, or "not"
right after it ("I will not"), cancels the hit. Apostrophe-less contractions from a transcriber
("im", "dont", "thats") are read as the contractions.

Two detectors are read against the whole utterance: "backchannel" counts only when listening
signals are all that was said ("okay" opening an answer is not one), and "reflect" (the trainee
covers the customer's complaint terms, synonyms grouped by its phrase list) ignores the words of
a refusal's clause or of a blaming or dismissive sentence ("blenders do crack, it happens").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from . import moves
from .regexcheck import vet_regex
from .text import (
    NEGATION_EXEMPT,
    NEGATION_WINDOW,
    NEGATORS,
    SCOPE_BREAKS,
    SEP,
    STOPWORDS,
    Context,
    Hit,
    Token,
    normalise,
    stem,
    tokenize,
)

# Moves after which the complaint words in the same clause or sentence do not count as
# reflecting the problem back ("Blenders do sometimes crack, it happens" is no acknowledgement).
NOT_ACKNOWLEDGING = {
    "refusal": "clause",
    "blame": "sentence",
    "dismissal": "sentence",
    "defensiveness": "sentence",
    "condescension": "sentence",
}
_ANY_WORD = r"[a-z0-9'\-]+"
_GAPS = {"**": 4, "***": 8}  # wildcard gaps: up to this many words


def _word_rx(part: str) -> str:
    alts = []
    for alt in part.split("|"):
        words = []
        for w in alt.split("_"):  # "i_will" is the two words "i will"
            if w.endswith("~"):
                words.append(re.escape(normalise(w[:-1])) + r"[a-z0-9'\-]*")
            else:
                words.append(re.escape(normalise(w)))
        alts.append(SEP.join(words))
    return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"


@dataclass
class _Phrase:
    source: str
    pattern: re.Pattern[str]
    anchored: bool = False
    sentence: bool = False  # anchored at the start of a sentence ("^^")
    question: bool = False
    sentence_question: bool = False  # "??": the sentence ends with a question mark
    veto: bool = False
    gap: bool = False  # has a "**"/"***" gap: the match must stay within one clause


def _compile(phrase: str) -> re.Pattern[str]:
    return _parse(phrase).pattern


def _parse(phrase: str) -> _Phrase:
    src = phrase
    veto = phrase.startswith("!")
    if veto:
        phrase = phrase[1:].strip()
    if phrase.startswith("re:"):
        return _Phrase(src, vet_regex(phrase[3:], src), veto=veto)  # runs on RE2
    anchored = phrase.startswith("^")
    sentence = phrase.startswith("^^")
    phrase = phrase.lstrip("^").strip()
    parts = phrase.split()
    question = sentence_q = False
    if parts and parts[-1] == "??":
        sentence_q, parts = True, parts[:-1]
    elif parts and parts[-1] == "?":
        question, parts = True, parts[:-1]
    rx = ""
    focus = False
    for k, p in enumerate(parts):
        if p == ">":  # what follows is the hit; what precedes it is context it needs
            rx += "(?P<hit>"
            focus = True
            continue
        if p in _GAPS:
            rx += rf"(?:{_ANY_WORD}{SEP}){{0,{_GAPS[p]}}}"
            continue
        rx += _ANY_WORD if p == "*" else _word_rx(p)
        if k < len(parts) - 1 and parts[k + 1] != ">":
            rx += SEP
        elif k < len(parts) - 1:
            rx += SEP
    if focus:
        rx += ")"
    pattern = re.compile(r"(?<![a-z0-9'])" + rx + r"(?![a-z0-9'])")
    gap = any(p in _GAPS for p in parts)
    return _Phrase(src, pattern, anchored, sentence, question, sentence_q, veto, gap)


@dataclass
class Detector:
    id: str
    description: str = ""
    phrases: list[str] = field(default_factory=list)
    kind: str = "phrases"  # or "reflect": covers the customer's complaint terms
    negatable: bool = True
    min_terms: int = 2
    model: bool = True  # the move recogniser reads this move from meaning (when it knows it)
    customer_phrases: list[str] = field(default_factory=list)  # the customer's own words

    def __post_init__(self) -> None:
        parsed = [_parse(p) for p in self.phrases]
        self._patterns = [(p.source, p.pattern) for p in parsed if not p.veto]
        self._phrases = [p for p in parsed if not p.veto]
        self._vetoes = [p for p in parsed if p.veto]
        self._customer = [_parse(p) for p in self.customer_phrases]
        # For "reflect": each phrase is a group of words that mean the same complaint term.
        self._synonyms: dict[str, str] = {}
        if self.kind == "reflect":
            for p in self.phrases:
                words = [stem(w) for w in re.split(r"[|\s]+", p) if w]
                for w in words:
                    self._synonyms.setdefault(w, words[0])

    def find(self, text: str, tokens: list[Token], context: Context) -> list[Hit]:
        if self.kind == "reflect":
            return self._reflect(tokens, context)
        hits: list[Hit] = []
        taken: list[tuple[int, int]] = []
        vetoed: list[tuple[int, int]] = []
        for v in self._vetoes:
            for m in v.pattern.finditer(text):
                span = _span(tokens, m)
                if span and self._placed(v, span):
                    vetoed.append((m.start(), m.end()))
        for ph in self._phrases:
            for m in ph.pattern.finditer(text):
                span = _span(tokens, m)
                hit = ph.pattern.groupindex.get("hit")  # a number: RE2's spans take no names
                a0, b0 = m.span(hit) if hit is not None else m.span()
                if not span or any(a < b0 and a0 < b for a, b in taken + vetoed):
                    continue
                if any(t.foreign for t in span):
                    continue  # quoting or reporting the customer is not the trainee's own move
                if not self._placed(ph, span):
                    continue
                if self.negatable and self._negated(tokens, span):
                    continue
                taken.append((a0, b0))
                own = [t for t in span if t.end > a0 and t.start < b0]
                hits.append(
                    Hit(
                        self.id, text[a0:b0], f'phrase "{ph.source}"', own[0].source, own[-1].source
                    )
                )
        return hits

    def vetoed(self, text: str, tokens: list[Token]) -> list[tuple[int, int]]:
        """Character spans of this detector's vetoes ("!phrase"): no hit may overlap them."""
        spans = []
        for v in self._vetoes:
            for m in v.pattern.finditer(text):
                span = _span(tokens, m)
                if span and self._placed(v, span):
                    spans.append((span[0].source, span[-1].source))
        return spans

    def find_customer(self, text: str, tokens: list[Token]) -> bool:
        """Does the customer's line make this move (its phrases or ``customer_phrases``)?"""
        if self.kind == "reflect":
            return False
        if self.find(text, tokens, Context()):
            return True
        return any(ph.pattern.search(text) for ph in self._customer)

    @staticmethod
    def _placed(ph: _Phrase, span: list[Token]) -> bool:
        if ph.anchored and not span[0].clause_start:
            return False
        if ph.sentence and not span[0].sentence_start:
            return False
        if ph.gap and span[0].clause != span[-1].clause:
            return False
        if ph.sentence_question and not span[-1].sentence_question:
            return False
        return not (ph.question and not span[-1].question)

    @staticmethod
    def _negated(tokens: list[Token], span: list[Token]) -> bool:
        first, last = span[0], span[-1]
        idx = tokens.index(first)
        for k in range(idx - 1, max(-1, idx - 1 - NEGATION_WINDOW), -1):
            t = tokens[k]
            if t.clause != first.clause or t.text in SCOPE_BREAKS:
                break
            if t.text in NEGATORS or t.text.endswith("n't"):
                nxt = tokens[k + 1].text if k + 1 < len(tokens) else ""
                if (t.text, nxt) not in NEGATION_EXEMPT:
                    return True
        after = tokens.index(last) + 1
        return (
            after < len(tokens)
            and tokens[after].clause == last.clause
            and tokens[after].text in ("not", "never")
        )

    def _canon(self, stem: str) -> str:
        return self._synonyms.get(stem, stem)

    def _reflect(
        self, tokens: list[Token], context: Context, skip: frozenset[int] = frozenset()
    ) -> list[Hit]:
        terms = {self._canon(t) for t in context.complaint_terms}
        if not terms:
            return []
        found = []
        for i, t in enumerate(tokens):
            # Quoting the customer verbatim is not reflecting; "you're saying the parcel never
            # came" (reported, in the trainee's words) is.
            if t.quoted or i in skip:
                continue
            for piece in t.text.split("-"):
                root = stem(piece)
                if piece not in STOPWORDS and self._canon(root) in terms:
                    found.append((t, root))
                    break
        distinct = {c for _, c in found}
        if len(distinct) < self.min_terms:
            return []
        words = ", ".join(sorted(distinct))
        return [
            Hit(
                self.id,
                words,
                f"covers {len(distinct)} complaint terms ({words})",
                found[0][0].source,
                found[-1][0].source,
            )
        ]


def _span(tokens: list[Token], m: re.Match[str]) -> list[Token]:
    return [t for t in tokens if t.end > m.start() and t.start < m.end()]


class DetectorLibrary:
    """All detectors of a rubric; ``detect`` finds every move in one utterance."""

    def __init__(self, detectors: dict[str, Detector], use_model: bool = True):
        self.detectors = detectors
        self.use_model = use_model  # False: exact phrases only (the recogniser's own lexicon)

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
        skip: frozenset[int] | None = None
        model_moves = self._model_hits(text, tokens, context, wanted, words)
        last = ("reflect",)  # read after the moves that keep words from reflecting
        for det in sorted(self.detectors.values(), key=lambda d: d.kind in last or d.id in last):
            if wanted is not None and det.id not in wanted:
                continue
            model_hits = (model_moves or {}).get(det.id, []) if det.model else []
            if (det.kind == "reflect" or det.id == "reflect") and skip is None:
                skip = self._not_acknowledging(text, tokens, context, model_moves)
            if det.kind == "reflect":
                found = det._reflect(tokens, context, skip)
            else:
                found = det.find(text, tokens, context)
            if det.id == "reflect" or det.kind == "reflect":
                model_hits = [h for h in model_hits if not _mostly_in(h, tokens, skip)]
            if model_hits:
                found = _merge(found, model_hits, det.vetoed(text, tokens))
            if det.id == "backchannel" and not _covers(found, tokens):
                continue  # "okay" opening a real answer is not a listening signal
            for hit in found:
                if times:
                    hit.start = times[hit.first_word][0]
                    hit.end = times[hit.last_word][1]
                hits.append(hit)
        hits.sort(key=lambda h: (h.first_word, h.move))
        return hits

    def _model_hits(
        self,
        text: str,
        tokens: list[Token],
        context: Context,
        wanted: set[str] | None,
        words: Sequence[str],
    ) -> dict[str, list[Hit]] | None:
        """The move recogniser's hits for the moves this library lets it read, by move."""
        asked = {
            d.id
            for d in self.detectors.values()
            if d.model and d.id in moves.MOVES and (wanted is None or d.id in wanted)
        }
        if not asked or not tokens or not self.use_model or not moves.enabled():
            return None
        by_move: dict[str, list[Hit]] = {m: [] for m in asked}
        for hit in moves.get_recogniser().recognise(text, tokens, context, asked, words):
            by_move[hit.move].append(hit)
        return by_move

    def warm(self) -> None:
        """Load what reading a turn needs (the recogniser, the lexicon) now, before a call, so
        the customer's first reply does not wait for it."""
        said = Context.from_text("My order still hasn't arrived.")
        self.detect_text("So your order still hasn't come, I'm sorry about the wait.", said)

    def customer_moves(self, text: str) -> set[str]:
        """The customer's moves in one line (swearing, asking for a manager...): exact phrases
        only, since the recogniser reads agents, not customers."""
        text_n, toks = tokenize(text.split())
        return {d.id for d in self.detectors.values() if toks and d.find_customer(text_n, toks)}

    def _not_acknowledging(
        self,
        text: str,
        tokens: list[Token],
        context: Context,
        model_moves: dict[str, list[Hit]] | None = None,
    ) -> frozenset[int]:
        """Tokens whose words do not reflect the problem back: the clause of a refusal ("we
        don't take sofas back once delivered"), the sentence of a blame or a dismissal, whether
        a phrase or the recogniser found it ("two weeks isn't too bad really" restates the
        delay only to wave it away)."""
        by_source: dict[int, list[int]] = {}
        for i, t in enumerate(tokens):
            by_source.setdefault(t.source, []).append(i)
        skip: set[int] = set()
        for move, scope in NOT_ACKNOWLEDGING.items():
            det = self.detectors.get(move)
            if det is None:
                continue
            hits = det.find(text, tokens, context) + (model_moves or {}).get(move, [])
            for hit in hits:
                anchor = tokens[by_source[hit.first_word][0]]
                key = "clause" if scope == "clause" else "sentence"
                skip.update(
                    i for i, t in enumerate(tokens) if getattr(t, key) == getattr(anchor, key)
                )
        return frozenset(skip)

    def detect_text(self, text: str, context: Context | None = None) -> list[Hit]:
        return self.detect(text.split(), None, context)

    def moves(self, text: str, context: Context | None = None) -> set[str]:
        return {h.move for h in self.detect_text(text, context)}

    def is_backchannel(self, text: str, max_words: int = 3) -> bool:
        """True for a short listening signal ("mm-hmm", "okay, right") and nothing more."""
        text_n, toks = tokenize(text.split())
        if not toks or len(toks) > max_words or "backchannel" not in self.detectors:
            return False
        return _covers(self.detectors["backchannel"].find(text_n, toks, Context()), toks)


def _merge(
    phrase_hits: list[Hit], model_hits: list[Hit], vetoes: list[tuple[int, int]]
) -> list[Hit]:
    """A trainer's exact phrases first; the model's hits where no phrase hit or veto overlaps."""
    out = list(phrase_hits)
    for hit in model_hits:
        span = (hit.first_word, hit.last_word)
        if any(a <= span[1] and span[0] <= b for a, b in vetoes):
            continue
        if any(h.first_word <= span[1] and span[0] <= h.last_word for h in out):
            continue
        out.append(hit)
    return out


def _mostly_in(hit: Hit, tokens: list[Token], skip: frozenset[int]) -> bool:
    """Are most of the hit's tokens among ``skip``?"""
    mine = [i for i, t in enumerate(tokens) if hit.first_word <= t.source <= hit.last_word]
    return bool(mine) and 2 * sum(i in skip for i in mine) > len(mine)


def _covers(hits: list[Hit], tokens: list[Token]) -> bool:
    covered: set[int] = set()
    for hit in hits:
        covered.update(range(hit.first_word, hit.last_word + 1))
    return bool(tokens) and covered >= {t.source for t in tokens}
