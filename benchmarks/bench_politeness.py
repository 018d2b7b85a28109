"""Tone against people: the politeness score from the detector library vs human judgements.

On the Stanford Politeness Corpus (Wikipedia requests, ``shared/data/politeness/
wikipedia.annotated.csv``: five annotators each, and a normalised mean score), this prints the
Spearman rank correlation between ``voicesim.rubric.tone.politeness_score`` and the human
``Normalized Score``:

- on the held-out half (odd rows): the shipped weights were fitted on the even rows only;
- on the whole file;
- for the detector library alone and, when it is installed, with the optional semantic layer
  (a MiniLM sentence embedding on onnxruntime, ``voicesim.rubric.semantic``);
- for orientation, one annotator against the mean of the other four (the human ceiling), and
  the weights refitted on the even rows now (they should match the shipped ones);
- outside Wikipedia: on the held-out agent utterances (``tests/data/moves/heldout.jsonl``),
  the AUC of the score between lines labelled courteous and lines labelled rude (and sarcastic
  alone): how often a courteous line scores higher.

    python benchmarks/bench_politeness.py [--quick]   # --quick: the first 1,000 rows only
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report  # noqa: E402

CSV = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "politeness"
    / ("wikipedia.annotated.csv")
)


def ranks(values) -> np.ndarray:
    """Ranks 0..n-1, ties sharing their mean rank."""
    a = np.asarray(values, dtype=float)
    order = np.argsort(a, kind="mergesort")
    r = np.empty(len(a))
    s = a[order]
    i = 0
    while i < len(a):
        j = i
        while j + 1 < len(a) and s[j + 1] == s[i]:
            j += 1
        r[order[i : j + 1]] = (i + j) / 2
        i = j + 1
    return r


def spearman(x, y) -> float:
    return float(np.corrcoef(ranks(x), ranks(y))[0, 1])


def load(path: Path = CSV) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def human_ceiling(rows: list[dict]) -> float:
    """Mean Spearman of each annotator slot against the mean of the other four."""
    scores = np.array([[float(r[f"Score{k}"]) for k in range(1, 6)] for r in rows])
    out = []
    for k in range(5):
        others = np.delete(scores, k, axis=1).mean(axis=1)
        out.append(spearman(scores[:, k], others))
    return float(np.mean(out))


RUDE_MOVES = {"blame", "dismissal", "condescension", "sarcasm", "profanity", "defensiveness"}
WARM_MOVES = {"empathy", "apology", "gratitude", "greeting", "closing"}
HELDOUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "moves" / "heldout.jsonl"


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Probability that a random courteous line scores above a random discourteous one."""
    if not len(pos) or not len(neg):
        return float("nan")
    r = ranks(np.concatenate([pos, neg]))
    return float((r[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def agent_tone(library) -> dict:
    """Tone outside Wikipedia: on the held-out agent utterances (other industries and styles,
    never fitted on), does the score put lines labelled courteous (warm moves, no rude one)
    above lines labelled rude, sarcastic or condescending? Reported as an AUC (0.5 = chance),
    for all rude lines and for sarcasm alone (polite words, mocking meaning)."""
    import json

    from voicesim.rubric.tone import politeness_scores

    if not HELDOUT.exists():
        return {}
    rows = [json.loads(x) for x in HELDOUT.read_text(encoding="utf-8").splitlines() if x]
    courteous = [
        r["text"] for r in rows if set(r["moves"]) & WARM_MOVES and not set(r["moves"]) & RUDE_MOVES
    ]
    rude = [r["text"] for r in rows if set(r["moves"]) & RUDE_MOVES]
    sarcastic = [r["text"] for r in rows if "sarcasm" in r["moves"]]
    score = np.array(politeness_scores(courteous + rude, library))
    pos, neg = score[: len(courteous)], score[len(courteous) :]
    sarc = np.array(politeness_scores(sarcastic, library)) if sarcastic else np.array([])
    return {
        "agent_heldout_courteous": len(courteous),
        "agent_heldout_rude": len(rude),
        "agent_auc_courteous_vs_rude": round(auc(pos, neg), 4),
        "agent_auc_courteous_vs_sarcasm": round(auc(pos, sarc), 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="first 1,000 rows only")
    args = ap.parse_args()

    from voicesim.rubric.rubric import load_rubric
    from voicesim.rubric.semantic import available
    from voicesim.rubric.tone import POLITENESS_WEIGHTS, fit_weights, politeness_scores

    if not CSV.exists():
        print(f"skipped: {CSV} not found")
        return
    library = load_rubric().library
    rows = load()
    if args.quick:
        rows = rows[:1000]
    texts = [r["Request"] for r in rows]
    human = np.array([float(r["Normalized Score"]) for r in rows])
    held = np.arange(len(rows)) % 2 == 1
    t0 = time.perf_counter()
    score = np.array(politeness_scores(texts, library, semantic=False))
    per_text_ms = 1000 * (time.perf_counter() - t0) / len(texts)
    refit, _ = fit_weights(
        [t for t, h in zip(texts, held, strict=True) if not h], human[~held], library
    )
    result = {
        "rows": len(rows),
        "spearman_heldout": round(spearman(score[held], human[held]), 4),
        "spearman_all": round(spearman(score, human), 4),
        "spearman_dev": round(spearman(score[~held], human[~held]), 4),
        "human_one_vs_rest": round(human_ceiling(rows), 4),
        "ms_per_text": round(per_text_ms, 2),
    }
    if available():
        t0 = time.perf_counter()
        sem = np.array(politeness_scores(texts, library, semantic=True))
        result["semantic_spearman_heldout"] = round(spearman(sem[held], human[held]), 4)
        result["semantic_spearman_all"] = round(spearman(sem, human), 4)
        result["semantic_spearman_dev"] = round(spearman(sem[~held], human[~held]), 4)
        result["semantic_ms_per_text"] = round(1000 * (time.perf_counter() - t0) / len(texts), 2)
    else:
        result["semantic"] = "off (VOICESIM_SEMANTIC=0) or the shipped model is missing"
    result.update(agent_tone(library))
    result["weights"] = POLITENESS_WEIGHTS
    result["refit_max_abs_diff"] = round(
        max(abs(refit[k] - POLITENESS_WEIGHTS[k]) for k in POLITENESS_WEIGHTS), 3
    )
    rows_out = [(k, str(v)) for k, v in result.items() if k != "weights"]
    report("politeness", result, rows_out)
    print("| feature | weight |")
    print("|---|---|")
    for k, v in POLITENESS_WEIGHTS.items():
        print(f"| {k} | {v:+.3f} |")


if __name__ == "__main__":
    main()
