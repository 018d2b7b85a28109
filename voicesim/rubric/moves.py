"""The move recogniser: which moves the trainee's words make, read from their meaning.

Each sentence of an utterance (a long unpunctuated transcript is cut at its conjunctions) is
embedded with the local MiniLM sentence model (``semantic.SentenceEmbedder``: the mean and the
max of its token states, so one telling word is not averaged away) and scored by one
logistic head per move, trained on a labelled corpus of agent utterances
(``tests/data/moves/``, fitted by ``scripts/train_moves.py``; weights and provenance in
``models/moves.npz`` and ``models/moves.json``). A few surface features go in beside the
embedding (a question mark, a time expression, a negator, "I'll"), because sentence embeddings
blur exactly those, and the hits of the lexicon (``models/lexicon.yaml``, the phrase lists of
voicesim 0.1) as one more input per move: the fitted weight says how far a stock phrase is to
be trusted, so "the repair team are busy" no longer counts as a repair offered.

Context: ``reflect`` needs the customer's words. A sentence reflects the problem when its
"restating" head is high AND it is close in meaning to something this customer said (cosine
of the two embeddings), combined by a small fitted model; no per-persona word lists.

Cancellation: a warm move taken back in the same breath does not count ("I understand, but
there's nothing I can do" is a dismissal; "sorry, but that's not our fault" is defensiveness),
and a sarcastic sentence earns none of the warm moves its words imitate.

Evidence: every hit names the clause that carries it (the clause of its sentence with the
highest score for that move), so the scorecard still points at words and seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from .semantic import DIM

if TYPE_CHECKING:
    import numpy as np

    from .detectors import Context, Hit, Token

MODEL_DIR = Path(__file__).with_name("models")
MODEL_FILE = MODEL_DIR / "moves.npz"
PROVENANCE_FILE = MODEL_DIR / "moves.json"
LEXICON_FILE = MODEL_DIR / "lexicon.yaml"  # the v1 phrase lists: one input among others

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
CACHE_TEXTS = 8192  # embeddings kept between calls (a call repeats its lines): about 25 MB
CONTRAST = frozenset({"but", "however", "though", "although", "unfortunately", "still"})
# Sentences longer than this (a transcript without punctuation) are cut at conjunctions.
MAX_UNIT_WORDS = 22
_BREAK_WORDS = frozenset({"but", "so", "and", "because", "however", "although", "though"})

# Surface features beside the embedding (names are the model file's contract).
_WH = frozenset({"what", "how", "when", "where", "which", "why", "who", "what's", "how's"})
_TIME = frozenset(
    "today tonight tomorrow morning afternoon evening noon midday weekend monday tuesday "
    "wednesday thursday friday saturday sunday hour hours minute minutes day days week weeks "
    "month months o'clock am pm within by january february march april may june july august "
    "september october november december".split()
)
_FUTURE = frozenset({"i'll", "we'll", "i'm", "let", "will", "gonna", "going"})
_NEG = frozenset(
    {"not", "never", "no", "nothing", "cannot", "can't", "won't", "don't", "isn't", "nobody"}
)
FEATURES = (
    "question",
    "wh_start",
    "time",
    "digit",
    "future",
    "negation",
    "you_start",
    "length",
    "counterfactual_you",  # "if you'd ...", "had you ...", "you should have": polite blame
    "contrast",  # "..., but ...": a warm start taken back
)
_COUNTERFACTUAL = re.compile(
    r"\b(?:if you'?d|if you had|had you|you should(?:'ve| have)|you could(?:'ve| have)|"
    r"you'?d have|if only you)\b"
)


@dataclass(frozen=True)
class Unit:
    """A stretch of tokens the model reads as one: a sentence, or a clause within one."""

    first: int  # token indices, inclusive
    last: int
    sentence: int  # index of the detection unit it belongs to


def surface_features(tokens: Sequence[Token]) -> list[float]:
    """The surface features of one unit, in ``FEATURES`` order."""
    words = [t.text for t in tokens]
    lead = next((w for w in words if w not in ("so", "and", "okay", "ok", "well", "um")), "")
    return [
        float(bool(tokens) and tokens[-1].question),
        float(lead in _WH),
        float(any(w in _TIME for w in words)),
        float(any(w[:1].isdigit() for w in words)),
        float(any(w in _FUTURE for w in words)),
        float(any(w in _NEG or w.endswith("n't") for w in words)),
        float(lead in ("you", "your", "you're", "you've")),
        min(len(words), 30) / 30.0,
        float(bool(_COUNTERFACTUAL.search(" ".join(words)))),
        float(any(w in CONTRAST for w in words[1:])),
    ]


_LEXICON = None


def lexicon():  # noqa: ANN201
    """The phrase lexicon as an exact-phrase library (never the model: no recursion)."""
    global _LEXICON
    if _LEXICON is None:
        from .rubric import load_rubric

        lib = load_rubric(LEXICON_FILE).library
        lib.use_model = False
        _LEXICON = lib
    return _LEXICON


# Two words the lexicon's phrases write as one ("I am sure someone will" is "i'm sure someone
# will"): people and Whisper write both, and the stock phrase must count either way.
_CONTRACT = {
    ("i", "am"): "i'm", ("you", "are"): "you're", ("we", "are"): "we're",
    ("they", "are"): "they're", ("it", "is"): "it's", ("that", "is"): "that's",
    ("there", "is"): "there's", ("i", "will"): "i'll", ("we", "will"): "we'll",
    ("you", "will"): "you'll", ("they", "will"): "they'll", ("it", "will"): "it'll",
    ("i", "have"): "i've", ("we", "have"): "we've", ("you", "have"): "you've",
    ("do", "not"): "don't", ("does", "not"): "doesn't", ("did", "not"): "didn't",
    ("is", "not"): "isn't", ("are", "not"): "aren't", ("was", "not"): "wasn't",
    ("will", "not"): "won't", ("can", "not"): "can't", ("have", "not"): "haven't",
}  # fmt: skip


def contracted(words: Sequence[str]) -> tuple[list[str], list[int]]:
    """``words`` with spelled-out pairs joined as the lexicon writes them, and for each
    resulting word the index of its first source word."""
    out: list[str] = []
    first: list[int] = []
    i = 0
    while i < len(words):
        a = words[i].lower()
        b = words[i + 1].lower() if i + 1 < len(words) else ""
        joined = _CONTRACT.get((a, b.rstrip(".,;:!?")))
        if joined and not any(c in a for c in ".,;:!?"):
            if words[i][:1].isupper():
                joined = joined[0].upper() + joined[1:]
            out.append(joined + b[len(b.rstrip(".,;:!?")) :])
            first.append(i)
            i += 2
            continue
        if a == "cannot":
            out.append(words[i][:3] + "'t" + words[i][6:])
        else:
            out.append(words[i])
        first.append(i)
        i += 1
    return out, first


def lexicon_features(words: Sequence[str], spans: Sequence[tuple[int, int]]) -> list[list[float]]:
    """For each span of source words (first, last), 1.0 per move whose lexicon phrase is in it."""
    joined, origin = contracted(words)
    ends = [
        origin[k + 1] - 1 if k + 1 < len(origin) else len(words) - 1 for k in range(len(origin))
    ]
    hits = lexicon().detect(joined)
    out = []
    for first, last in spans:
        found = {
            h.move for h in hits if origin[h.first_word] <= last and first <= ends[h.last_word]
        }
        out.append([float(m in found) for m in MOVES])
    return out


def unit_text(text: str) -> tuple[str, list[float]]:
    """A whole text read as one unit, normalised and featured exactly as ``recognise`` reads a
    sentence (the training script's view of a labelled row)."""
    from .detectors import tokenize

    words = text.split()
    norm, tokens = tokenize(words)
    if not tokens:
        return "", surface_features([]) + [0.0] * len(MOVES)
    lex = lexicon_features(words, [(0, len(words) - 1)])[0]
    return norm[tokens[0].start : tokens[-1].end], surface_features(tokens) + lex


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


@dataclass(eq=False)  # holds arrays: compared by identity
class MoveModel:
    """Trained heads: ``probs = sigmoid(X @ W.T + b)`` with X = [embedding, surface features]."""

    moves: tuple[str, ...]
    weights: np.ndarray  # (moves, dim + features)
    bias: np.ndarray  # (moves,)
    thresholds: np.ndarray  # (moves,)
    reflect: np.ndarray  # [w_head_logit, w_similarity, bias]: the context combiner
    digest: str = ""

    def probs(self, x: np.ndarray) -> np.ndarray:
        import numpy as np

        return 1.0 / (1.0 + np.exp(-(x @ self.weights.T + self.bias)))

    def save(self, path: Path = MODEL_FILE) -> str:
        import numpy as np

        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            np.savez(
                fh,
                moves=np.array(self.moves),
                weights=self.weights.astype(np.float32),
                bias=self.bias.astype(np.float32),
                thresholds=self.thresholds.astype(np.float32),
                reflect=self.reflect.astype(np.float32),
            )
        return file_digest(path)

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> MoveModel:
        import numpy as np

        if not path.exists():
            raise ConfigError(str(path), "the move recogniser's weights are missing (reinstall)")
        with np.load(path, allow_pickle=False) as z:
            return cls(
                tuple(str(m) for m in z["moves"]),
                z["weights"],
                z["bias"],
                z["thresholds"],
                z["reflect"],
                file_digest(path),
            )


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def provenance() -> dict:
    """What the shipped weights were fitted on (corpus digests, sizes, figures)."""
    return json.loads(PROVENANCE_FILE.read_text(encoding="utf-8"))


class MoveRecogniser:
    """Moves of one utterance from meaning, in the context of what the customer said."""

    def __init__(self, model: MoveModel, embedder) -> None:  # noqa: ANN001
        import threading

        self.model = model
        self.embedder = embedder
        self.index = {m: i for i, m in enumerate(model.moves)}
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts``, computed once per distinct text (a call repeats lines)."""
        import numpy as np

        with self._lock:
            have = {t: self._cache[t] for t in texts if t in self._cache}
            todo = [t for t in dict.fromkeys(texts) if t not in have]
            if todo:
                fresh = self.embedder.embed(todo, with_max=True)
                if len(self._cache) + len(todo) > CACHE_TEXTS:
                    self._cache.clear()  # bounded memory; what this call needs is in ``have``
                for t, vec in zip(todo, fresh, strict=True):
                    self._cache[t] = have[t] = vec
            vecs = [have[t] for t in texts]
        return np.stack(vecs) if vecs else np.zeros((0, 2 * DIM), dtype=np.float32)

    def features(self, texts: Sequence[str], surface: Sequence[Sequence[float]]) -> np.ndarray:
        import numpy as np

        return np.hstack([self.embed(texts), np.asarray(surface, dtype=np.float32)])

    def recognise(
        self,
        text: str,
        tokens: Sequence[Token],
        context: Context,
        wanted: set[str],
        words: Sequence[str] | None = None,
    ) -> list[Hit]:
        """Model hits for the moves in ``wanted`` (those the rubric declares)."""

        from .detectors import Hit

        own = [i for i, t in enumerate(tokens) if not t.foreign]
        if not own or not (wanted & set(self.index)):
            return []
        units = detection_units(tokens)
        pieces: list[Unit] = []
        for u in units:
            cl = clauses(tokens, u)
            if len(cl) > 1:
                pieces.extend(cl)
        spans = units + pieces
        texts = [_span_text(text, tokens, u) for u in spans]
        if words is None:
            words = [text[t.start : t.end] for t in tokens]
        lex = lexicon_features(
            words, [(tokens[u.first].source, tokens[u.last].source) for u in spans]
        )
        surface = [
            surface_features(tokens[u.first : u.last + 1]) + lx
            for u, lx in zip(spans, lex, strict=True)
        ]
        probs = self.model.probs(self.features(texts, surface))
        lexical = [row[len(FEATURES) :] for row in surface]
        contrast = [row[FEATURES.index("contrast")] > 0 for row in surface]
        n = len(units)
        sims = self._context_similarity(texts, context)
        hits: list[Hit] = []
        found: dict[int, set[str]] = {}
        for k, u in enumerate(units):
            if all(tokens[i].foreign for i in range(u.first, u.last + 1)):
                found[k] = set()
                continue  # quoting or reporting the customer is not the trainee's move
            # A warm or helpful move may sit in one clause of a longer sentence ("I'm sorry
            # about the charge, I understand it's urgent"): its clauses of three words or more
            # count too. A penalised move must hold for the whole sentence (precision first).
            own = [
                n + i
                for i, pc in enumerate(pieces)
                if pc.sentence == u.sentence and pc.last - pc.first >= 2
            ]
            short = u.last - u.first + 1 < SHORT_WORDS
            moves = set()
            for m in wanted & set(self.index):
                j = self.index[m]
                if m in NEGATIVE and short and not lexical[k][j]:
                    continue  # "Great." alone is no sarcasm: a short unit needs a listed phrase
                if m == "sarcasm" and not lexical[k][j] and not _CHEER.search(texts[k]):
                    continue
                rows = [k] if m in NEGATIVE else [k, *own]
                if m == "reflect":
                    p = max(self._reflect_prob(float(probs[r, j]), sims[r]) for r in rows)
                else:
                    p = max(float(probs[r, j]) for r in rows)
                bar = float(self.model.thresholds[j])
                if m in TAKES_BACK and contrast[k]:
                    bar -= CONTRAST_EASE  # "I hear you, but ...": what follows the but weighs more
                if p >= bar:
                    moves.add(m)
            found[k] = moves
        _take_back(tokens, units, found)
        for k, u in enumerate(units):
            for m in sorted(found[k]):
                j = self.index[m]
                best = u
                own_pieces = [(i, p) for i, p in enumerate(pieces) if p.sentence == u.sentence]
                turned = [ip for ip in own_pieces if tokens[ip[1].first].text in CONTRAST]
                if m in TAKES_BACK and turned:
                    own_pieces = turned  # the brush-off is what follows the "but"
                if own_pieces:
                    i_best = max(own_pieces, key=lambda ip: probs[n + ip[0], j])[0]
                    best = pieces[i_best]
                span = [t for t in tokens[best.first : best.last + 1] if not t.foreign] or [
                    tokens[best.first]
                ]
                score = float(probs[k, j])
                if m == "reflect":
                    score = self._reflect_prob(score, sims[k])
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

    def _context_similarity(self, texts: Sequence[str], context: Context) -> list[float]:
        """For each unit, the closest cosine to any sentence the customer said."""

        said = context.sentences()
        if not said or not texts:
            return [0.0] * len(texts)
        a = self.embed(list(texts))[:, :DIM]  # the mean-pooled sentence vectors
        b = self.embed(said)[:, :DIM]
        return [float(v) for v in (a @ b.T).max(axis=1)]

    def _reflect_prob(self, head: float, sim: float) -> float:
        import math

        w_head, w_sim, bias = (float(v) for v in self.model.reflect)
        head = min(max(head, 1e-6), 1 - 1e-6)
        z = w_head * math.log(head / (1 - head)) + w_sim * sim + bias
        return 1.0 / (1.0 + math.exp(-z))


def _span_text(text: str, tokens: Sequence[Token], u: Unit) -> str:
    return text[tokens[u.first].start : tokens[u.last].end]


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
_FAILED: str | None = None


def get_recogniser() -> MoveRecogniser:
    """The shared recogniser, loaded on first use (about 0.7 s)."""
    global _RECOGNISER, _FAILED
    if _RECOGNISER is None:
        from .semantic import SentenceEmbedder, get_embedder, model_path

        path = model_path()
        if path is None:
            raise ConfigError(
                "voicesim/rubric/models/minilm-l6-v2-int8dyn.onnx",
                "the move recogniser's sentence model is missing (reinstall voicesim)",
            )
        # One ONNX session (about 40 MB) for the recogniser and the tone score alike.
        embedder = get_embedder() or SentenceEmbedder(path)
        _RECOGNISER = MoveRecogniser(MoveModel.load(), embedder)
    return _RECOGNISER


def enabled() -> bool:
    """``VOICESIM_RECOGNISER=phrases`` turns the model off (phrase rules only), for comparison."""
    return os.environ.get("VOICESIM_RECOGNISER", "model") != "phrases"
