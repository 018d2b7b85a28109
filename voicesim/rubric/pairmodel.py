"""The move classifier: a fine-tuned MiniLM cross-encoder, read by onnxruntime.

It reads a pair, what the customer said last and one sentence of the agent, and gives one
probability per move. Reading both at once is what lets it tell a restatement of *this*
customer's problem from a restatement of another, and an answer from a change of subject.

The network is all-MiniLM-L6-v2 (Apache-2.0) fine-tuned end to end as a multi-label classifier
by ``scripts/train_recogniser.py`` (torch, CPU), exported to ONNX and quantised to int8
weights. ``models/recogniser.json`` is its model card: the moves in output order, the decision
threshold of each, how the pair is cut to length, the data it was trained on (with digests and
licences) and its figures. The product never needs torch: only onnxruntime and tokenizers.

``encode_pair`` is the one definition of the model's input: the training script imports it, so
what was trained is exactly what runs.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

MODEL_DIR = Path(__file__).with_name("models")
MODEL_FILE = MODEL_DIR / "recogniser-int8.onnx"
CARD_FILE = MODEL_DIR / "recogniser.json"
VOCAB = Path(__file__).with_name("minilm_vocab.txt")  # bert-base-uncased WordPiece, Apache-2.0

# The pair is [CLS] customer [SEP] agent [SEP]. The customer side keeps its LAST tokens (what
# was said most recently); the agent side its first. Short enough for about 5 ms a pair.
MAX_CONTEXT_TOKENS = 48
MAX_AGENT_TOKENS = 64
CACHE_PAIRS = 4096  # a call repeats lines; bounded memory
CONTEXT_LINES = 2  # the customer's last lines the model reads (the newest last)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})


def context_text(lines: Sequence[str]) -> str:
    """The customer side of the pair: their last lines, joined, newest last."""
    said = [line.strip() for line in lines if line and line.strip()]
    return " ".join(said[-CONTEXT_LINES:]).translate(_APOSTROPHES).lower()


def _tokenizer():  # noqa: ANN202
    from tokenizers import BertWordPieceTokenizer

    return BertWordPieceTokenizer(str(VOCAB), lowercase=True)


@dataclass(frozen=True)
class PairIds:
    ids: list[int]
    types: list[int]


class PairEncoder:
    """Token ids of a (customer, agent) pair, cut to length the same way everywhere."""

    def __init__(self) -> None:
        self.tok = _tokenizer()
        self.cls = self.tok.token_to_id("[CLS]")
        self.sep = self.tok.token_to_id("[SEP]")

    def pieces(self, text: str) -> list[int]:
        # Undecodable input (lone surrogates) is replaced, never handed to the tokenizer.
        clean = text.encode("utf-8", "replace").decode("utf-8")
        return self.tok.encode(clean, add_special_tokens=False).ids

    def encode(self, context: str, agent: str) -> PairIds:
        ctx = self.pieces(context)[-MAX_CONTEXT_TOKENS:]
        own = self.pieces(agent)[:MAX_AGENT_TOKENS]
        ids = [self.cls, *ctx, self.sep, *own, self.sep]
        types = [0] * (len(ctx) + 2) + [1] * (len(own) + 1)
        return PairIds(ids, types)


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class MoveClassifier:
    """Probabilities of every move for one (customer, agent sentence) pair.

    One pair per run: the int8 model quantises its activations with one scale per run, so a
    pair batched with others would score slightly differently, and the same call must score
    the same whatever else was read with it."""

    def __init__(self, model: Path = MODEL_FILE, card: Path = CARD_FILE) -> None:
        import numpy as np
        import onnxruntime as ort

        for path in (model, card, VOCAB):
            if not path.exists():
                raise ConfigError(str(path), "the move recogniser is missing (reinstall voicesim)")
        meta = json.loads(card.read_text(encoding="utf-8"))
        self.card = meta
        self.moves: tuple[str, ...] = tuple(meta["moves"])
        self.thresholds = np.asarray([meta["thresholds"][m] for m in self.moves], np.float32)
        self.digest = file_digest(model)
        if meta.get("sha256") and meta["sha256"] != self.digest:
            raise ConfigError(str(model), "does not match its model card (reinstall voicesim)")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(model), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self.encoder = PairEncoder()
        self._cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def probs(self, context: str, agent: str) -> np.ndarray:
        """One probability per move (in ``self.moves`` order)."""
        import numpy as np

        key = (context, agent)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
            pair = self.encoder.encode(context, agent)
            ids = np.asarray([pair.ids], dtype=np.int64)
            feed = {
                "input_ids": ids,
                "attention_mask": np.ones_like(ids),
                "token_type_ids": np.asarray([pair.types], dtype=np.int64),
            }
            logits = self.session.run(None, feed)[0][0].astype(np.float32)
            out = 1.0 / (1.0 + np.exp(-logits))
            self._cache[key] = out
            while len(self._cache) > CACHE_PAIRS:
                self._cache.popitem(last=False)
            return out


_CLASSIFIER: MoveClassifier | None = None
_LOAD = threading.Lock()


def get_classifier() -> MoveClassifier:
    """The shared classifier, loaded on first use (about 0.3 s, 40 MB)."""
    global _CLASSIFIER
    with _LOAD:
        if _CLASSIFIER is None:
            _CLASSIFIER = MoveClassifier()
        return _CLASSIFIER


def card() -> dict:
    """The model card: moves, thresholds, training data, licences, figures."""
    return json.loads(CARD_FILE.read_text(encoding="utf-8"))
