"""Fit the semantic politeness model's weights on the politeness corpus and write them.

    .venv/bin/python scripts/fit_tone.py            # refit, compare with what is shipped (exit 1 if not equal)
    .venv/bin/python scripts/fit_tone.py --write    # refit and write models/tone_semantic*.json

Reads the EVEN rows of ``../shared/data/politeness/wikipedia.annotated.csv`` (the Stanford
Politeness Corpus, Wikipedia requests; the odd rows are the held-out half that
``benchmarks/bench_politeness.py`` measures on, never read here). The model is a ridge regression
of the human ``Normalized Score`` on the detector features of ``tone.politeness_features`` plus the
384 MiniLM sentence-embedding dimensions of ``semantic.SentenceEmbedder``; the ridge strength is
chosen by 2-fold cross-validation inside the even rows (least squared error); the bias is not
shrunk. Weights are rounded to 4 decimals.

The weights go to ``voicesim/rubric/models/tone_semantic.json`` and what they were fitted on
(the corpus file's sha256, rows, alpha, embedder) to ``tone_semantic.provenance.json``;
``tests/test_tone.py`` checks the shipped files against that record.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicesim.rubric import tone  # noqa: E402
from voicesim.rubric.pairmodel import file_digest  # noqa: E402
from voicesim.rubric.rubric import load_rubric  # noqa: E402
from voicesim.rubric.semantic import SentenceEmbedder, model_path  # noqa: E402

CSV = ROOT.parent / "shared" / "data" / "politeness" / "wikipedia.annotated.csv"
ALPHAS = (0.3, 1.0, 3.0, 10.0, 30.0)
DECIMALS = 4


def load_even_rows(path: Path) -> tuple[list[str], np.ndarray]:
    """The fitting half: rows 0, 2, 4, ... of the corpus (texts, human normalised scores)."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[::2]
    return [r["Request"] for r in rows], np.array([float(r["Normalized Score"]) for r in rows])


def ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """Ridge weights for [x, 1] -> y; the last entry is the (unshrunk) bias."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    reg = alpha * np.eye(xb.shape[1])
    reg[-1, -1] = 0.0
    return np.linalg.solve(xb.T @ xb + reg, xb.T @ y)


def choose_alpha(x: np.ndarray, y: np.ndarray) -> float:
    """The alpha with the least squared error over 2 folds (alternate rows)."""
    folds = np.arange(len(y)) % 2
    errors = {}
    for alpha in ALPHAS:
        err = 0.0
        for k in (0, 1):
            w = ridge(x[folds != k], y[folds != k], alpha)
            pred = np.hstack([x[folds == k], np.ones(((folds == k).sum(), 1))]) @ w
            err += float(((pred - y[folds == k]) ** 2).sum())
        errors[alpha] = err
    return min(errors, key=errors.get)


def fit(path: Path = CSV) -> tuple[dict, dict]:
    """(weights, provenance) refitted from the corpus."""
    model = model_path()
    if model is None:
        raise SystemExit("fit_tone: the shipped sentence model is missing")
    texts, y = load_even_rows(path)
    library = load_rubric().library
    names = list(tone.POLITENESS_WEIGHTS)
    feats = np.array(
        [[f[n] for n in names] for f in map(lambda t: tone.politeness_features(t, library), texts)]
    )
    emb = SentenceEmbedder(model).embed(texts).astype(np.float64)
    x = np.hstack([feats, emb])
    alpha = choose_alpha(x, y)
    w = ridge(x, y, alpha)
    weights = {
        "feature_weights": {
            n: round(float(v), DECIMALS) for n, v in zip(names, w[: len(names)], strict=True)
        },
        "embedding_weights": [round(float(v), DECIMALS) for v in w[len(names) : -1]],
        "bias": round(float(w[-1]), DECIMALS),
    }
    prov = {
        "model": tone.SEMANTIC_MODEL_FILE.name,
        "fitted": dt.date.today().isoformat(),
        "method": f"ridge, alpha chosen from {list(ALPHAS)} by 2-fold CV on the even rows",
        "alpha": alpha,
        "embedder": {
            "file": "voicesim/rubric/models/minilm-l6-v2-int8dyn.onnx",
            "file_sha256": file_digest(model),
        },
        "corpus": {
            "file": "../shared/data/politeness/wikipedia.annotated.csv",
            "sha256": file_digest(path),
            "rows_used": "even (0, 2, 4, ...)",
            "rows": len(texts),
        },
    }
    return weights, prov


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--write", action="store_true", help="write the refitted weights and provenance"
    )
    args = ap.parse_args()
    weights, prov = fit()
    shipped = tone.semantic_weights()
    old = np.array(
        list(shipped["feature_weights"].values()) + shipped["embedding_weights"] + [shipped["bias"]]
    )
    new = np.array(
        list(weights["feature_weights"].values()) + weights["embedding_weights"] + [weights["bias"]]
    )
    change = float(np.abs(old - new).max()) if len(old) == len(new) else float("inf")
    print(f"alpha {prov['alpha']}; largest change from the shipped weights: {change:.4f}")
    if not args.write and change > 0:
        raise SystemExit(
            "fit_tone: the refit differs from the shipped weights (--write to ship it)"
        )
    if args.write:
        text = json.dumps(weights, indent=1) + "\n"
        tone.SEMANTIC_MODEL_FILE.write_text(text, encoding="utf-8")
        prov["sha256"] = file_digest(tone.SEMANTIC_MODEL_FILE)
        tone.SEMANTIC_PROVENANCE_FILE.write_text(
            json.dumps(prov, indent=1) + "\n", encoding="utf-8"
        )
        print(f"wrote {tone.SEMANTIC_MODEL_FILE} and {tone.SEMANTIC_PROVENANCE_FILE}")


if __name__ == "__main__":
    main()
