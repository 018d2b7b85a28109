"""The move recogniser on held-out agent utterances: precision, recall, F1 per move, next to the
phrase-list recogniser it replaced; and its speed and memory.

Data: ``tests/data/moves/heldout.jsonl`` (written separately from the training files, in other
industries and speaking styles, 40 % as a speech recogniser writes; nothing is fitted on it) and
``tests/data/utterances.jsonl`` (the older labelled set, a part of the training data: fit, not
generalisation). The phrase recogniser is the v1 default rubric
(``voicesim/rubric/models/lexicon.yaml``) with the model turned off.

Speed: recognition time per utterance on one core (median over the 15-word utterances of the
held-out set, each once, cache cold), model load time (warm: files in the page cache) and the
memory the model adds.

    python benchmarks/bench_detectors.py [--quick] [--errors] [--move M]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, peak_rss_mb, report  # noqa: E402

HELDOUT = ROOT / "tests" / "data" / "moves" / "heldout.jsonl"
OLD_SET = ROOT / "tests" / "data" / "utterances.jsonl"
PHRASE_RUBRIC = ROOT / "voicesim" / "rubric" / "models" / "lexicon.yaml"


def load_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def predict(rows: list[dict], library) -> list[set[str]]:
    from voicesim.rubric.detectors import Context

    out = []
    for r in rows:
        ctx = Context.from_text(r["customer"]) if r.get("customer") else None
        out.append(library.moves(r["text"], ctx))
    return out


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def scores(rows: list[dict], preds: list[set[str]], moves: list[str]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for m in moves:
        tp = fp = fn = 0
        for r, pred in zip(rows, preds, strict=True):
            truth, got = m in r["moves"], m in pred
            tp += truth and got
            fp += got and not truth
            fn += truth and not got
        p, rc, f = prf(tp, fp, fn)
        out[m] = {"p": p, "r": rc, "f1": f, "n": tp + fn}
    return out


def macro(per: dict[str, dict]) -> float:
    vals = [v["f1"] for v in per.values()]
    return sum(vals) / len(vals) if vals else 0.0


def timing(rows: list[dict], library) -> dict:
    from voicesim.rubric import moves

    t0 = time.perf_counter()
    rec = moves.get_recogniser()
    load_s = time.perf_counter() - t0
    rec.embed(["warm up"])
    fifteen = [r for r in rows if 12 <= len(r["text"].split()) <= 18]
    times = []
    for r in fifteen:
        rec._cache.clear()  # noqa: SLF001 - cold: every utterance embedded afresh
        t = time.perf_counter()
        library.moves(r["text"])
        times.append(time.perf_counter() - t)
    return {
        "load_s": round(load_s, 3),
        "utterances_timed": len(times),
        "ms_median_15_words": round(1000 * statistics.median(times), 1),
        "ms_p95_15_words": round(1000 * sorted(times)[int(0.95 * (len(times) - 1))], 1),
    }


def reply_timing(rubric) -> dict:
    """How long the customer takes to choose a reply (``DialogueEngine.respond``: the move
    recogniser, the question tracker and the mood) per trainee turn of every shipped script,
    in one process, as a drill or a lab runs it (lines seen before stay embedded). The customer waits its response gap
    (1.0 s by default) after the trainee stops anyway: this is the part of it spent thinking."""
    from voicesim.persona.engine import DialogueEngine, TraineeTurn
    from voicesim.persona.persona import load_persona
    from voicesim.rubric import moves
    from voicesim.rubric.rubric import excuses
    from voicesim.session.script import load_script

    if moves.enabled():
        moves.get_recogniser()  # loaded once per process, before the call
    times = []
    for path in sorted((ROOT / "personas" / "scripts").glob("*.yaml")):
        script = load_script(path)
        if not script.persona:
            continue
        persona = load_persona(
            ROOT / "personas" / f"{script.persona}.yaml", set(rubric.library.detectors)
        )
        engine = DialogueEngine(persona, rubric.library, seed=0, excuses=excuses(rubric))
        line = engine.opening()
        for turn in script.turns:
            say = getattr(turn, "say", None)
            if line.end_state or not say:
                continue
            t = time.perf_counter()  # every script line is new to the cache, as live
            line = engine.respond(TraineeTurn(say))
            times.append(time.perf_counter() - t)
    times.sort()
    return {
        "turns": len(times),
        "ms_median": round(1000 * statistics.median(times), 1),
        "ms_p95": round(1000 * times[int(0.95 * (len(times) - 1))], 1),
        "ms_max": round(1000 * times[-1], 1),
    }


def answer_accuracy() -> dict:
    """The question tracker (``rubric/answers.py``) on the question-and-reply pairs."""
    from voicesim.rubric.answers import customer_question, judge
    from voicesim.rubric.detectors import Context
    from voicesim.rubric.rubric import load_rubric

    lib = load_rubric().library
    out = {}
    for name in ("answers.jsonl", "answers_heldout.jsonl"):
        rows = load_rows(HELDOUT.with_name(name))
        right = 0
        for r in rows:
            words = r["reply"].split()
            q = customer_question(r["question"])
            hits = lib.detect(words, None, Context.from_text(r["question"]))
            right += q is not None and judge(q, words, hits).verdict == r["label"]
        out[name] = f"{right}/{len(rows)}"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="accepted; the sets are small")
    ap.add_argument("--errors", action="store_true", help="list the model's held-out mistakes")
    ap.add_argument("--move", help="only list mistakes on this move")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from voicesim.rubric import moves
    from voicesim.rubric.rubric import load_rubric

    rss0 = peak_rss_mb()
    heldout, old = load_rows(HELDOUT), load_rows(OLD_SET)
    labelled = sorted({m for r in heldout for m in r["moves"]})
    model_lib = load_rubric().library
    speed = timing(heldout, model_lib)
    rss_model = peak_rss_mb()
    model_reply = reply_timing(load_rubric())
    answers = answer_accuracy()
    model_h = [p & set(labelled) for p in predict(heldout, model_lib)]
    model_o = [p & set(labelled) for p in predict(old, model_lib)]
    os.environ["VOICESIM_RECOGNISER"] = "phrases"
    phrase_lib = load_rubric(PHRASE_RUBRIC).library
    phrase_h = [p & set(labelled) for p in predict(heldout, phrase_lib)]
    phrase_reply = reply_timing(load_rubric())
    os.environ.pop("VOICESIM_RECOGNISER")
    assert moves.enabled()

    res_m, res_p = scores(heldout, model_h, labelled), scores(heldout, phrase_h, labelled)
    res_o = scores(old, model_o, sorted({m for r in old for m in r["moves"]} & set(labelled)))
    if args.errors:
        for r, pred in zip(heldout, model_h, strict=True):
            truth = set(r["moves"])
            if truth != pred and (not args.move or args.move in truth ^ pred):
                print(f"[{r['kind']}/{r['style']}] {r['text']!r}")
                print(f"    missed={sorted(truth - pred)} extra={sorted(pred - truth)}")
        print()
    exact_m = sum(set(r["moves"]) == p for r, p in zip(heldout, model_h, strict=True))
    exact_p = sum(set(r["moves"]) == p for r, p in zip(heldout, phrase_h, strict=True))
    result = {
        "heldout_utterances": len(heldout),
        "macro_f1_model": round(macro(res_m), 4),
        "macro_f1_phrases": round(macro(res_p), 4),
        "exact_match_model": round(exact_m / len(heldout), 4),
        "exact_match_phrases": round(exact_p / len(heldout), 4),
        "macro_f1_model_training_set_v1": round(macro(res_o), 4),
        **speed,
        "added_peak_rss_mb": round(rss_model - rss0, 1),
        "customer_reply_ms_model": model_reply,
        "customer_reply_ms_phrases": phrase_reply,
        "answers_right": answers,
        "per_move": {
            m: {
                "model": [round(res_m[m][k], 3) for k in ("p", "r", "f1")],
                "phrases": [round(res_p[m][k], 3) for k in ("p", "r", "f1")],
                "n": res_m[m]["n"],
            }
            for m in labelled
        },
    }
    rows_out = [(k, str(v)) for k, v in result.items() if k != "per_move"]
    report("detectors", result, rows_out)
    print("| move | n | model P | model R | model F1 | phrases P | phrases R | phrases F1 |")
    print("|---|---|---|---|---|---|---|---|")
    for m in labelled:
        a, b = res_m[m], res_p[m]
        print(
            f"| {m} | {a['n']} | {a['p']:.2f} | {a['r']:.2f} | {a['f1']:.2f} "
            f"| {b['p']:.2f} | {b['r']:.2f} | {b['f1']:.2f} |"
        )
    print(f"| **macro** | | | | {macro(res_m):.3f} | | | {macro(res_p):.3f} |")


if __name__ == "__main__":
    main()
