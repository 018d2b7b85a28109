"""Words and the text types every part of the rubric shares: tokens, hits and context.

The bottom of the rubric package: nothing here knows about moves, models or rubrics. A trainee's
words (Whisper's, or a typed sentence split on spaces) become normalised text and tokens that
know their clause, their sentence, whether they end a question and whether they are somebody
else's words: inside quotation marks, or reported speech (what follows "you said", "he told you
to", "you were told", ... up to the end of the clause), so repeating the customer's words is
never the trainee's own move. Apostrophe-less contractions from a transcriber ("im", "dont",
"thats") are read as the contractions.
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
    "weren't",
    "won't",
    "can't",
    "cannot",
    "wouldn't",
    "shouldn't",
    "couldn't",
    "haven't",
    "hasn't",
    "nothing",
    "none",
    "nobody",
    "neither",
    "nor",
}
# A negator that starts one of these does not negate what follows ("no problem, I'll ...").
NEGATION_EXEMPT = {
    ("no", "problem"),
    ("no", "worries"),
    ("no", "wonder"),
    ("no", "doubt"),
    ("no", "trouble"),
    ("not", "only"),
    ("not", "surprised"),
    ("never", "mind"),
    ("nothing", "stops"),
    ("can't", "stress"),
    ("can't", "thank"),
}
NEGATION_WINDOW = 5  # words before a phrase, within its clause, that can negate it
# A negation does not reach past these ("I can't refund it but I can send a new one").
SCOPE_BREAKS = {"but", "and", "so", "because", "though", "although", "however", "yet", "while"}
# Leading words that do not stop a phrase from being at the start of its clause.
FILLERS = {"so", "and", "but", "okay", "ok", "alright", "well", "oh", "right", "um", "uh", "now"}
# Reported speech: what follows one of these is somebody else's words (unless "I"/"we" said it).
REPORTING = {
    "said",
    "says",
    "saying",
    "told",
    "tells",
    "asked",
    "asks",
    "mentioned",
    "wrote",
    "claimed",
    "claims",
    "called",
}
FIRST_PERSON = {"i", "we", "i've", "we've", "i'd", "we'd", "i'm", "i'll", "we'll", "let"}
REPORTED_MAX = 12  # words a reported clause can run without punctuation
STOPWORDS = set(
    "a an the and or but if so to of in on at for with from by about as is are was were be been "
    "am i you your yours my me we our us it its this that these those there here what which who "
    "how why when where can could would should will just not no do does did have has had get got "
    "very really too also then than out up down over under again more most some any all one two "
    "let me him her his she he they them their im ive youre dont cant wont "
    "i'm i've i'll i'd you're you've you'll it's that's there's don't can't won't didn't isn't "
    "today time times want wanted need needs needed still even every thing things know said "
    "going come came sort sorted right well please thank thanks like because since never nobody "
    "anything something everything someone back after before into onto only frankly hello first "
    "last call problem now yes yeah okay way keep kept make made take took day "
    "new see saw look looked thing put give gave say tell way lot much many".split()
)
# Transcribers often drop apostrophes; read these as the contractions they are.
_CONTRACTIONS = {
    "im": "i'm",
    "ive": "i've",
    "id": "i'd",
    "youre": "you're",
    "youve": "you've",
    "youll": "you'll",
    "dont": "don't",
    "doesnt": "doesn't",
    "didnt": "didn't",
    "cant": "can't",
    "wont": "won't",
    "isnt": "isn't",
    "wasnt": "wasn't",
    "arent": "aren't",
    "werent": "weren't",
    "couldnt": "couldn't",
    "shouldnt": "shouldn't",
    "wouldnt": "wouldn't",
    "havent": "haven't",
    "hasnt": "hasn't",
    "thats": "that's",
    "theres": "there's",
    "whats": "what's",
    "hows": "how's",
    "itll": "it'll",
    "theyre": "they're",
    "weve": "we've",
}

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})
_WORD = re.compile(r"[a-z0-9]+(?:['\-][a-z0-9]+)*")
_WORD_RX = r"[a-z0-9]+(?:['\-][a-z0-9]+)*"
QUOTES = '"\u201c\u201d'
_CLAUSE_BREAK = re.compile(r"[.,;:!?\u2014]")
SEP = r"[\s,.;:!?\"\u201c\u201d\u2014\-]+"


@dataclass
class Token:
    text: str  # normalised (lower-case) word
    start: int  # character span in the normalised text
    end: int
    clause: int  # index of the clause (split at punctuation) the word belongs to
    quoted: bool  # inside quotation marks: the customer's words, not the trainee's
    source: int  # index into the caller's word list (for word timestamps)
    reported: bool = False  # reported speech ("you said ..."): not the trainee's own words
    question: bool = False  # its clause ends with a question mark
    sentence_question: bool = False  # its sentence ends with a question mark
    clause_start: bool = False  # first word of its clause, leading fillers skipped
    sentence_start: bool = False  # first word of its sentence (after . ! ?), fillers skipped
    sentence: int = 0  # index of the sentence (split at . ! ?) the word belongs to

    @property
    def foreign(self) -> bool:
        """Somebody else's words: quoted or reported."""
        return self.quoted or self.reported


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


def _expand(word: str) -> str:
    """One transcribed word, lower-cased, with a dropped apostrophe restored."""
    w = normalise(word)
    core = w.strip('.,;:!?"\u201c\u201d()')
    if core in _CONTRACTIONS:
        w = w.replace(core, _CONTRACTIONS[core], 1)
    return w


def tokenize(words: Sequence[str]) -> tuple[str, list[Token]]:
    """Join words (Whisper's, or a split sentence) into normalised text with per-token spans."""
    text_parts: list[str] = []
    tokens: list[Token] = []
    clause_end: dict[int, str] = {}
    pos = 0
    clause = 0
    quoted = False
    for i, raw in enumerate(words):
        w = _expand(raw)
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
        brk = [ch for ch in w if _CLAUSE_BREAK.match(ch)]
        if brk:
            clause_end[clause] = brk[-1]
            clause += 1
        text_parts.append(w)
        pos += len(w) + 1
    _mark(tokens, clause_end)
    return " ".join(text_parts), tokens


def _mark(tokens: list[Token], clause_end: dict[int, str]) -> None:
    """Clause starts, question clauses and reported speech."""
    prev_clause = -1
    sentence = -1
    at_start = at_sentence = False
    for t in tokens:
        t.question = clause_end.get(t.clause) == "?"
        if t.clause != prev_clause:
            new_sentence = prev_clause < 0 or clause_end.get(prev_clause) in (".", "!", "?")
            prev_clause, at_start = t.clause, True
            at_sentence = at_sentence or new_sentence
            sentence += new_sentence
        t.sentence = sentence
        t.clause_start = at_start
        t.sentence_start = at_sentence
        if at_start and t.text not in FILLERS:
            at_start = at_sentence = False
    last_clause: dict[int, int] = {}
    for t in tokens:
        last_clause[t.sentence] = t.clause
    for t in tokens:
        t.sentence_question = clause_end.get(last_clause[t.sentence]) == "?"
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if _reports(tokens, i):
            j = i + 1
            while j < len(tokens) and tokens[j].clause == t.clause and j - i <= REPORTED_MAX:
                nxt = tokens[j]
                if nxt.text in SCOPE_BREAKS and j + 1 < len(tokens):
                    if tokens[j + 1].text in FIRST_PERSON:
                        break
                nxt.reported = True
                j += 1
            i = j
        else:
            i += 1


def _reports(tokens: list[Token], i: int) -> bool:
    """Does token i open somebody else's words ("you said", "told you to", "were told")?"""
    t = tokens[i]
    if t.foreign:
        return False
    before = [x.text for x in tokens[max(0, i - 2) : i] if x.clause == t.clause]
    after = [x.text for x in tokens[i + 1 : i + 3]]
    if t.text in ("tell", "telling") and after[:2] in (["you", "to"], ["me", "to"]):
        return True
    if t.text in ("say", "saying", "tell") and any(
        b in NEGATORS or b.endswith("n't") for b in before
    ):
        return True  # "I'd never say it's not a big deal": the words are not said
    if t.text not in REPORTING:
        return False
    if t.text == "called" and after[:1] != ["you"]:
        return False  # "I called the depot" reports nothing; "he called you a ..." does
    if before and before[-1] in ("that", "as", "like"):
        return False  # "that said", "as I said" (the condescension phrase keeps its words)
    subject = before[-1] if before else ""
    if subject in ("i", "we") or (len(before) == 2 and before[0] in ("i", "we")):
        return False  # the trainee reporting their own words still says them
    return True


@dataclass
class Context:
    """What the customer said: the move recogniser reads the trainee's words against the
    customer's latest lines (``recent``); the phrase rule for reflecting the problem back
    against the complaint's terms."""

    complaint_terms: set[str] = field(default_factory=set)
    said: tuple[str, ...] = ()  # what the customer said (and the persona's situation)
    recent: tuple[str, ...] = ()  # the customer's own lines so far, oldest first

    @classmethod
    def from_text(
        cls, *texts: str, extra_terms: Iterable[str] = (), recent: Sequence[str] | None = None
    ) -> Context:
        """``texts``: what the customer said (and any description of their situation);
        ``recent``: their lines in order, when ``texts`` holds more than those lines."""
        terms = {stem(t) for t in extra_terms}
        for text in texts:
            for m in _WORD.finditer(normalise(text)):
                for w in m.group().split("-"):
                    if len(w) >= 3 and w not in STOPWORDS and not w.isdigit():
                        terms.add(stem(w))
        said = tuple(t for t in texts if t)
        lines = said if recent is None else tuple(t for t in recent if t)
        return cls(terms, said, lines)


def stem(word: str) -> str:
    """A light stemmer so that "refunded" reflects "refund" and "boxes" reflects "box"."""
    w = normalise(word).strip("'")
    if w.endswith("'s"):
        w = w[:-2]
    for suffix in ("ing", "ed", "es", "s"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 4:
            return w[: -len(suffix)]
    return w
