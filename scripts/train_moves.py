"""Fit the move recogniser's heads on the labelled training corpus and write the weights.

    .venv/bin/python scripts/train_moves.py            # fit, write models/moves.{npz,json}
    .venv/bin/python scripts/train_moves.py --check    # refit and compare with what is shipped

Reads only the TRAINING files (tests/data/moves/train_*.jsonl and tests/data/utterances.jsonl);
the held-out file (tests/data/moves/heldout.jsonl) is never read here: benchmarks/bench_detectors.py
measures on it. Each row becomes two instances: its text as written, and the same text as a
speech recogniser writes it (lower case, no punctuation), so the heads hold on transcripts; a
row with contractions also becomes a third, with them spelled out ("I am sure").

Per move: an L2-regularised logistic regression on [MiniLM embedding, surface features], with
positives weighted up to balance; the decision threshold is the one that maximises F1 in 3-fold
cross-validation. ``reflect`` also gets a 3-parameter combiner of its head with the similarity
to the customer's words (fitted on rows with a ``customer``, plus the same rows paired with
another customer's complaint as negatives).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicesim.rubric import moves as mv  # noqa: E402
from voicesim.rubric.detectors import Context  # noqa: E402
from voicesim.rubric.semantic import DIM, SentenceEmbedder, model_path  # noqa: E402

DATA = ROOT / "tests" / "data"
TRAIN_FILES = sorted((DATA / "moves").glob("train_*.jsonl")) + [DATA / "utterances.jsonl"]
L2 = 1.0
SEED = 7
FOLDS = 3


def load_rows(files: list[Path]) -> list[dict]:
    rows = []
    for f in files:
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            row = json.loads(line)
            moves = [m for m in row.get("moves", []) if m in mv.MOVES]
            rows.append({**row, "moves": moves, "file": f.name, "line": n})
    return rows


def as_transcript(text: str) -> str:
    """The text as Whisper might write it: lower case, no punctuation but apostrophes."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s']", " ", text.lower())).strip()


_FULL = {
    "i'm": "I am", "you're": "you are", "we're": "we are", "they're": "they are",
    "it's": "it is", "that's": "that is", "there's": "there is", "i'll": "I will",
    "we'll": "we will", "you'll": "you will", "they'll": "they will", "it'll": "it will",
    "i've": "I have", "we've": "we have", "you've": "you have", "i'd": "I would",
    "can't": "cannot", "won't": "will not", "don't": "do not", "doesn't": "does not",
    "didn't": "did not", "isn't": "is not", "aren't": "are not", "wasn't": "was not",
    "haven't": "have not", "shouldn't": "should not", "wouldn't": "would not",
    "couldn't": "could not",
}  # fmt: skip
_CONTRACTION = re.compile(r"\b(" + "|".join(re.escape(k) for k in _FULL) + r")\b", re.I)


def in_full(text: str) -> str:
    """The text with its contractions spelled out ("I'm sure" -> "I am sure"): people and
    Whisper write both, and a head must not hang on the apostrophe."""
    return _CONTRACTION.sub(lambda m: _FULL[m.group(1).lower()], text.replace("\u2019", "'"))


def cached_embeddings(embedder: SentenceEmbedder, texts: list[str]) -> np.ndarray:
    """Embeddings, kept per text in the temp folder between runs (a refit after adding rows
    embeds only the new ones)."""
    import tempfile

    model = hashlib.sha256(Path(model_path()).read_bytes()).hexdigest()[:12]
    cache = (
        Path(tempfile.gettempdir()) / f"voicesim-train-single-{model}.npz"
    )  # per model, one text per run
    known: dict[str, np.ndarray] = {}
    if cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            known = dict(zip(z["texts"].tolist(), z["emb"], strict=True))
    todo = sorted({t for t in texts if t not in known})
    if todo:
        for t, vec in zip(todo, embedder.embed(todo, with_max=True), strict=True):
            known[t] = vec
        keys = list(known)
        np.savez(cache, texts=np.array(keys), emb=np.stack([known[k] for k in keys]))
    return np.stack([known[t] for t in texts])


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """All heads at once: ``y`` is (instances, moves); returns weights (moves, dim) and biases.
    Positives are weighted up (at most 8x) so that rare moves are not drowned."""
    n, d = x.shape
    k = y.shape[1]
    pos = np.maximum(1.0, y.sum(axis=0))
    w_pos = np.minimum(8.0, (n - pos) / pos)
    sw = np.where(y > 0, w_pos, 1.0)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w = theta[: d * k].reshape(d, k)
        b = theta[d * k :]
        z = x @ w + b
        p = 1 / (1 + np.exp(-np.clip(z, -30, 30)))
        eps = 1e-9
        ll = -(sw * (y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))).sum() / n
        g = sw * (p - y) / n
        grad_w = x.T @ g + l2 * w / n
        return ll + 0.5 * l2 * float((w * w).sum()) / n, np.concatenate(
            [grad_w.ravel(), g.sum(axis=0)]
        )

    res = minimize(loss, np.zeros(d * k + k), jac=True, method="L-BFGS-B", options={"maxiter": 300})
    return res.x[: d * k].reshape(d, k).T, res.x[d * k :]


# Moves a customer punishes: a false hit costs a good trainee the call, so their thresholds
# favour precision (F0.5) over recall. Blame and empty promises are the exceptions (F1): they
# are the polite-sounding bad handling ("to be fair, if you'd rung on Tuesday...", "someone
# will be in touch") that F0.5 let through.
PRECISION_FIRST = frozenset(
    {
        "dismissal",
        "condescension",
        "defensiveness",
        "sarcasm",
        "profanity",
        "refusal",
    }
)


def best_threshold(p: np.ndarray, y: np.ndarray, beta: float = 1.0) -> tuple[float, float]:
    """The threshold with the best F-beta, and the F1 there."""
    best = (0.5, -1.0, 0.0)
    for t in np.arange(0.2, 0.91, 0.025):
        pred = p >= t
        tp = float((pred & (y > 0)).sum())
        prec = tp / max(1.0, float(pred.sum()))
        rec = tp / max(1.0, float(y.sum()))
        fb = (1 + beta**2) * prec * rec / max(1e-9, beta**2 * prec + rec)
        if fb > best[1] + 1e-9:
            best = (float(t), fb, 2 * tp / max(1.0, pred.sum() + y.sum()))
    return best[0], best[2]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="refit and compare with the shipped model")
    ap.add_argument("--l2", type=float, default=L2)
    args = ap.parse_args(argv)

    rows = load_rows(TRAIN_FILES)
    print(f"train_moves: {len(rows)} rows from {', '.join(f.name for f in TRAIN_FILES)}")
    texts, surface, labels, groups = [], [], [], []
    for i, r in enumerate(rows):
        full = in_full(r["text"])
        variants = [r["text"], as_transcript(r["text"])] + ([full] if full != r["text"] else [])
        for variant in variants:
            t, s = mv.unit_text(variant)
            if t:
                texts.append(t)
                surface.append(s)
                labels.append(r["moves"])
                groups.append(i)
    embedder = SentenceEmbedder(model_path())
    print(f"train_moves: embedding {len(texts)} instances ...", flush=True)
    emb = cached_embeddings(embedder, texts)
    print(f"train_moves: fitting {FOLDS} folds and the final heads ...", flush=True)
    x = np.hstack([emb, np.asarray(surface, dtype=np.float32)])
    y = np.array([[m in lab for m in mv.MOVES] for lab in labels], dtype=float)
    groups_a = np.array(groups)

    rng = np.random.default_rng(SEED)
    fold_of_row = rng.integers(0, FOLDS, size=len(rows))
    fold = fold_of_row[groups_a]
    cv = np.zeros_like(y)
    trained = y.sum(axis=0) > 0
    for k in range(FOLDS):
        tr, te = fold != k, fold == k
        w, b = fit_logistic(x[tr], y[tr][:, trained], args.l2)
        cv[np.ix_(te, trained)] = 1 / (1 + np.exp(-(x[te] @ w.T + b)))
        print(f"train_moves: fold {k + 1}/{FOLDS} fitted", flush=True)
    weights = np.zeros((len(mv.MOVES), x.shape[1]))
    bias = np.full(len(mv.MOVES), -10.0)
    thresholds = np.full(len(mv.MOVES), 1.1)  # a move without training rows is never read
    weights[trained], bias[trained] = fit_logistic(x, y[:, trained], args.l2)
    figures = {}
    for j, m in enumerate(mv.MOVES):
        if not trained[j]:
            print(f"  {m:15s} no training rows: never recognised")
            continue
        beta = 0.5 if m in PRECISION_FIRST else 1.0
        thresholds[j], f1 = best_threshold(cv[:, j], y[:, j], beta)
        figures[m] = {"positives": int(y[:, j].sum()), "cv_f1": round(f1, 3), "beta": beta}
        print(f"  {m:15s} {int(y[:, j].sum()):5d} positives  cv F1 {f1:.3f}  t={thresholds[j]:.3f}")

    # reflect: combine the head (cross-validated) with the similarity to the customer's words
    j = mv.MOVES.index("reflect")
    with_customer = [k for k, g in enumerate(groups) if rows[g].get("customer")]
    customers = [rows[groups[k]]["customer"] for k in with_customer]
    cust_sent = {c: Context.from_text(c).sentences() or [c.lower()] for c in set(customers)}
    cust_emb = {c: embedder.embed(s, with_max=True) for c, s in cust_sent.items()}
    feats, ys = [], []
    others = list(cust_emb)
    for k in with_customer:
        c = rows[groups[k]]["customer"]
        head = float(np.clip(cv[k, j], 1e-6, 1 - 1e-6))
        logit = np.log(head / (1 - head))
        feats.append([logit, float((cust_emb[c][:, :DIM] @ emb[k, :DIM]).max())])
        ys.append(y[k, j])
        if y[k, j]:  # the same restatement against another customer's complaint
            other = others[int(rng.integers(len(others)))]
            if other != c:
                feats.append([logit, float((cust_emb[other][:, :DIM] @ emb[k, :DIM]).max())])
                ys.append(0.0)
    fx, fy = np.array(feats), np.array(ys)
    wr2, br2 = fit_logistic(fx, fy[:, None], 0.01)
    wr, br = wr2[0], float(br2[0])
    comb = 1 / (1 + np.exp(-(fx @ wr + br)))
    thresholds[j], f1 = best_threshold(comb, fy)
    reflect = np.array([wr[0], wr[1], br])
    figures["reflect"] = {
        "positives": int(fy.sum()),
        "pairs": len(fy),
        "cv_f1": round(f1, 3),
        "combiner": [round(float(v), 3) for v in reflect],
    }
    print(f"  reflect combiner head={wr[0]:.2f} sim={wr[1]:.2f} bias={br:.2f}  F1 {f1:.3f}")

    model = mv.MoveModel(mv.MOVES, weights, bias, thresholds, reflect)
    if args.check:
        shipped = mv.MoveModel.load()
        diff = float(np.abs(shipped.thresholds - thresholds.astype(np.float32)).max())
        print(f"train_moves: largest threshold difference from the shipped model {diff:.3f}")
        return 0 if diff < 0.05 else 1
    digest = model.save()
    prov = {
        "model": "moves.npz",
        "sha256": digest,
        "fitted": dt.date.today().isoformat(),
        "embedder": {
            "file": "voicesim/rubric/models/minilm-l6-v2-int8dyn.onnx",
            "file_sha256": hashlib.sha256(Path(model_path()).read_bytes()).hexdigest(),
        },
        "corpus": [
            {
                "file": str(f.relative_to(ROOT)),
                "sha256": mv.file_digest(f),
                "rows": sum(1 for r in rows if r["file"] == f.name),
            }
            for f in TRAIN_FILES
        ],
        "instances": len(texts),
        "l2": args.l2,
        "features": ["minilm-mean"] * DIM
        + ["minilm-max"] * DIM
        + list(mv.FEATURES)
        + [f"lexicon:{m}" for m in mv.MOVES],
        "moves": figures,
    }
    mv.PROVENANCE_FILE.write_text(json.dumps(prov, indent=1) + "\n", encoding="utf-8")
    print(f"train_moves: wrote {mv.MODEL_FILE.relative_to(ROOT)} ({digest[:12]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
