"""Tone from words: the politeness part of the tone score, built from the detector library.

``politeness_score`` reads detector hits (the one phrase library): gratitude, a greeting at the
start, "please" inside a sentence, an apology, indirect requests and asking for help ("could
you", "would you mind", "can you help"), hedges, deference and speaking for oneself ("I ...")
raise it; a sentence that starts with "you"/"your", blunt questions ("why ...?", "what ...?"),
a sentence opening with "so"/"and"/"but", insisting ("actually", "really", "in fact"), negative
words, negation, many questions, and the rude moves (blame, dismissal, condescension, profanity,
defensiveness, a refusal) lower it.

The weights are linear models fitted once on the even rows of the Stanford Politeness Corpus
(Wikipedia requests, ``shared/data/politeness/wikipedia.annotated.csv``) and checked on the odd
rows by ``benchmarks/bench_politeness.py``. The score is in the units of the corpus' normalised
human score (about one standard deviation of human judgement per point, 0 for a plain request).

With the optional semantic layer installed (``voicesim.rubric.semantic``: a MiniLM sentence
embedding on onnxruntime), the score adds a learned projection of the utterance's embedding to
the detector features (weights in ``models/tone_semantic.json``, fitted by
``scripts/fit_tone.py``; what they were fitted on in ``models/tone_semantic.provenance.json``),
which follows people more closely;
without it, the detector-only weights below are used. Pass ``semantic=False`` to force those.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from .detectors import DetectorLibrary
from .rubric import lexicon
from .semantic import get_embedder
from .text import NEGATORS, Hit, tokenize

# feature -> weight, fitted by ``fit_weights`` on the even rows of the corpus (see module doc).
POLITENESS_WEIGHTS: dict[str, float] = {
    "gratitude": 0.905,
    "greeting_start": 0.409,
    "please": 0.217,
    "please_start": -0.061,
    "apology": 0.345,
    "polite_request": 0.336,
    "hedge": 0.122,
    "deference": 0.44,
    "first_person_start": 0.175,
    "you_start": -0.252,
    "direct_question": -0.306,
    "direct_start": -0.254,
    "emphasis": -0.261,
    "negative_words": -0.144,
    "rude": -0.277,
    "negation": -0.176,
    "questions": -0.123,
}
POLITENESS_BIAS = 0.097
RUDE = ("blame", "dismissal", "condescension", "profanity", "defensiveness", "refusal")
# Detectors whose hits are the features of the same name (presence, 0 or 1).
MARKERS = (
    "gratitude",
    "apology",
    "polite_request",
    "hedge",
    "deference",
    "first_person_start",
    "you_start",
    "direct_question",
    "direct_start",
    "emphasis",
    "negative_words",
)
TONE_DETECTORS = ("greeting", "please", *MARKERS, *RUDE)


def politeness_features(
    words: str | Sequence[str], library: DetectorLibrary, hits: Sequence[Hit] | None = None
) -> dict[str, float]:
    """The politeness markers of one utterance: which tone detectors fired (0/1), how many rude
    moves, whether a negator is said, and how many questions (up to 3)."""
    words = words.split() if isinstance(words, str) else list(words)
    # The markers are the lexicon's phrases, as when the weights were fitted; ``library`` and
    # ``hits`` (the recogniser's reading) only decide the penalised moves (``penalised``).
    lex = lexicon()
    hits = lex.detect(words, only=[d for d in TONE_DETECTORS if d in lex])
    _, tokens = tokenize(words)
    first = {t.source: t for t in reversed(tokens)}  # first token of each source word
    lead = tokens[0].source if tokens else 0
    f = dict.fromkeys(POLITENESS_WEIGHTS, 0.0)
    rude: set[str] = set()
    for h in hits:
        if h.move == "greeting":
            if h.first_word <= lead + 1:
                f["greeting_start"] = 1.0
        elif h.move == "please":
            tok = first.get(h.first_word)
            f["please_start" if tok is not None and tok.sentence_start else "please"] = 1.0
        elif h.move in RUDE:
            rude.add(h.move)
        elif h.move in MARKERS:
            f[h.move] = 1.0
    f["rude"] = float(len(rude))
    f["negation"] = float(any(t.text in NEGATORS or t.text.endswith("n't") for t in tokens))
    f["questions"] = float(min(3, len({t.clause for t in tokens if t.question})))
    return f


# Tone beyond Wikipedia requests: each penalised move the recogniser reads (sarcasm, talking
# down, blame, brushing off, defensiveness, swearing) takes this much off the score (in SDs of
# human judgement), whatever polite words carry it. Chosen as the trade-off between people's
# ratings of Wikipedia requests (Spearman on the test's 400 odd rows: 0.64 without, 0.59 at
# 0.4, 0.55 at 0.6) and courteous-versus-rude agent lines of the training corpus (AUC 0.79
# without, 0.89 at 0.4, 0.91 at 0.6); measured again on held-out text by
# benchmarks/bench_politeness.py (agent_tone).
PENALISED = ("sarcasm", "condescension", "blame", "dismissal", "defensiveness", "profanity")
AGENT_PENALTY = 0.4


def penalised_moves(
    words: str | Sequence[str], library: DetectorLibrary, hits: Sequence[Hit] | None = None
) -> set[str]:
    """The penalised moves the recogniser reads in one utterance."""
    if hits is None:
        words = words.split() if isinstance(words, str) else list(words)
        hits = library.detect(words, only=[m for m in PENALISED if m in library])
    return {h.move for h in hits if h.move in PENALISED}


def politeness_score(
    text: str | Sequence[str],
    library: DetectorLibrary,
    hits: Sequence[Hit] | None = None,
    semantic: bool | None = None,
) -> float:
    """How polite the words are: 0 for a plain request, + more polite, - less (about 1 per SD).

    ``semantic``: None uses the semantic layer when it is installed, False never, True requires
    it (RuntimeError when missing)."""
    return float(politeness_scores([text], library, [hits] if hits else None, semantic)[0])


def politeness_scores(
    texts: Sequence[str | Sequence[str]],
    library: DetectorLibrary,
    hits: Sequence[Sequence[Hit] | None] | None = None,
    semantic: bool | None = None,
) -> list[float]:
    """``politeness_score`` for many utterances at once (embeddings are computed in batches)."""
    feats = [
        politeness_features(t, library, hits[i] if hits else None) for i, t in enumerate(texts)
    ]
    penalty = [
        AGENT_PENALTY * len(penalised_moves(t, library, hits[i] if hits else None))
        for i, t in enumerate(texts)
    ]
    embedder = _embedder(semantic)
    if embedder is None:
        return [
            POLITENESS_BIAS + sum(POLITENESS_WEIGHTS[k] * v for k, v in f.items()) - pen
            for f, pen in zip(feats, penalty, strict=True)
        ]
    sw = semantic_weights()
    projection = _projection()
    joined = [t if isinstance(t, str) else " ".join(t) for t in texts]
    vectors = embedder.embed(joined)
    out = []
    for f, vec, pen in zip(feats, vectors, penalty, strict=True):
        linear = sum(sw["feature_weights"][k] * v for k, v in f.items())
        out.append(sw["bias"] + linear + float(vec @ projection) - pen)
    return out


def _embedder(semantic: bool | None):
    if semantic is False:
        return None

    embedder = get_embedder()
    if embedder is None and semantic:
        raise RuntimeError("the sentence model is missing (reinstall voicesim)")
    return embedder


SEMANTIC_MODEL_FILE = Path(__file__).with_name("models") / "tone_semantic.json"
SEMANTIC_PROVENANCE_FILE = SEMANTIC_MODEL_FILE.with_name("tone_semantic.provenance.json")


@cache
def semantic_weights() -> dict:
    """The semantic model's learned weights (``feature_weights``, ``embedding_weights``,
    ``bias``), read once from the data file ``scripts/fit_tone.py`` writes."""
    return json.loads(SEMANTIC_MODEL_FILE.read_text(encoding="utf-8"))


def semantic_provenance() -> dict:
    """What the shipped semantic weights were fitted on (corpus digest, rows, alpha)."""
    return json.loads(SEMANTIC_PROVENANCE_FILE.read_text(encoding="utf-8"))


@cache
def _projection():
    import numpy as np

    return np.asarray(semantic_weights()["embedding_weights"], dtype=np.float32)


def fit_weights(
    texts: Sequence[str], targets: Sequence[float], library: DetectorLibrary, ridge: float = 1.0
) -> tuple[dict[str, float], float]:
    """Least-squares weights (with a small ridge) for ``politeness_features`` -> targets."""
    import numpy as np

    names = list(POLITENESS_WEIGHTS)
    feats = [politeness_features(t, library) for t in texts]
    x = np.array([[f[n] for n in names] for f in feats])
    y = np.asarray(targets, dtype=float)
    xb = np.hstack([x, np.ones((len(x), 1))])
    reg = ridge * np.eye(xb.shape[1])
    reg[-1, -1] = 0.0  # the bias is not shrunk
    w = np.linalg.solve(xb.T @ xb + reg, xb.T @ y)
    return {n: round(float(v), 3) for n, v in zip(names, w[:-1], strict=True)}, round(
        float(w[-1]), 3
    )
