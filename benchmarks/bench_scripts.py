"""Every shipped persona against each of its trainee scripts: do good calls pass and bad ones fail?

For each persona in ``personas/`` and each script kind (``good``, ``natural``: good handling in
everyday words; ``bad``, ``polite-bad``: courteous words, bad substance) the whole simulated
call runs in-process through ``simulate`` (what ``voicesim simulate`` runs), once per seed.
Reported per call: overall score, pass/fail, end state. The summary says whether every good
and natural call passed and resolved, whether every bad and polite-bad call failed, and per
persona the margin between its worst good-or-natural score and its best bad-or-polite-bad one
(negative: the rubric cannot tell them apart). This measures the move recogniser and the
rubric together on realistic wording; it is reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, peak_rss_mb, report  # noqa: E402

from voicesim.session.script import persona_script_name  # noqa: E402

KINDS = ("good", "natural", "bad", "polite-bad", "silent", "evasive")
# Trainees who do nothing (never a word; "I don't know", "can't say"): they must score below
# every bad script (issue 14), so they are neither good nor bad here.
IDLE_KINDS = frozenset({"silent", "evasive"})
# --quick (make bench-quick): three personas that test different lessons, seed 0 (12 calls).
QUICK_PERSONAS = ("terrible-day", "missed-callback", "refund-out-of-policy")
GOOD_KINDS = frozenset({"good", "natural"})


def script_name(persona_id: str, kind: str) -> str:
    if kind in IDLE_KINDS:
        return f"{kind}-trainee"
    return persona_script_name(persona_id, kind)


def summarise(rows: list[dict]) -> tuple[dict, dict]:
    """The verdict over all calls, and each persona's good-versus-bad score margin."""
    good = [r for r in rows if r["kind"] in GOOD_KINDS]
    bad = [r for r in rows if r["kind"] not in GOOD_KINDS | IDLE_KINDS]
    idle = [r for r in rows if r["kind"] in IDLE_KINDS]
    margins: dict[str, dict] = {}
    for pid in sorted({r["persona"] for r in rows}):
        g = [r["overall"] for r in good if r["persona"] == pid]
        b = [r["overall"] for r in bad if r["persona"] == pid]
        worst, best = (min(g) if g else None), (max(b) if b else None)
        margin = round(worst - best, 1) if g and b else None
        margins[pid] = {"worst_good": worst, "best_bad": best, "margin": margin}
    known = [m["margin"] for m in margins.values() if m["margin"] is not None]
    by_kind = {
        k: f"{sum(r['passed'] for r in rows if r['kind'] == k)}/"
        f"{sum(1 for r in rows if r['kind'] == k)}"
        for k in KINDS
    }
    verdict = {
        "good_calls_ok": sum(r["passed"] and r["end_state"] == "resolved" for r in good),
        "good_calls": len(good),
        "bad_calls_failed": sum(not r["passed"] for r in bad),
        "bad_calls": len(bad),
        "all_good_passed_and_resolved": all(
            r["passed"] and r["end_state"] == "resolved" for r in good
        ),
        "all_bad_failed": not any(r["passed"] for r in bad),
        "passed_by_kind": by_kind,
        "idle_best": max((r["overall"] for r in idle), default=None),
        "bad_worst": min((r["overall"] for r in bad), default=None),
        "idle_below_every_bad": bool(idle and bad)
        and max(r["overall"] for r in idle) < min(r["overall"] for r in bad),
        "smallest_margin": min(known) if known else None,
        "smallest_margin_persona": min(
            (p for p, m in margins.items() if m["margin"] is not None),
            key=lambda p: margins[p]["margin"],
            default=None,
        ),
    }
    return verdict, margins


def turn_taking(session: Path) -> dict:
    """How the customer took the turn in one simulated call: the trainee's silence before each
    answer to a trainee turn, how many the end-of-turn detector decided, and the cut-ins (a
    customer line starting while a scripted trainee line is still playing)."""
    meta = json.loads((session / "meta.json").read_text(encoding="utf-8"))
    answers = (meta.get("turn_taking") or {}).get("answers", [])
    events = [json.loads(line) for line in (session / "events.jsonl").open(encoding="utf-8")]
    said = [
        (e["t"], e["end"]) for e in events if e["type"] == "scripted" and e["kind"] != "backchannel"
    ]
    starts = [
        e["t"]
        for e in events
        if e["type"] == "customer_line_start" and e.get("reason") != "interjection"
    ]
    return {
        "answer_gaps": [a["silence_s"] for a in answers],
        "by_detector": sum(a["why"] == "detector" for a in answers),
        "cut_ins": sum(1 for t in starts if any(a + 0.1 < t < b - 0.1 for a, b in said)),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="default: 0 1 2")
    ap.add_argument("--personas", nargs="+", help="only these persona ids (default: all)")
    ap.add_argument(
        "--quick", action="store_true", help=f"seed 0 of {', '.join(QUICK_PERSONAS)} only"
    )
    ap.add_argument(
        "--recogniser",
        choices=["model", "phrases"],
        help="the move recogniser (sets VOICESIM_RECOGNISER; default: as the environment says)",
    )
    args = ap.parse_args()
    if args.recogniser:
        os.environ["VOICESIM_RECOGNISER"] = args.recogniser
    seeds = [0] if args.quick else args.seeds

    from voicesim.errors import VoicesimError
    from voicesim.persona.persona import find_persona, load_persona
    from voicesim.rubric.rubric import load_rubric
    from voicesim.session.call import CallOptions
    from voicesim.session.script import SCRIPT_DIR, load_script
    from voicesim.session.simulate import simulate
    from voicesim.speech.transcriber import Transcriber
    from voicesim.speech.tts import Synthesizer

    every = sorted(p.stem for p in (ROOT / "personas").glob("*.yaml"))
    persona_ids = args.personas or (list(QUICK_PERSONAS) if args.quick else every)
    try:
        rubric = load_rubric()
        personas = {
            pid: load_persona(find_persona(pid), set(rubric.library.detectors))
            for pid in persona_ids
        }
    except VoicesimError as exc:
        print(f"bench_scripts: error: {exc}", file=sys.stderr)
        return 2
    transcriber, synth = Transcriber(), Synthesizer()
    rows: list[dict] = []
    missing: list[str] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="voicesim-bench-scripts-") as tmp:
        for pid, persona in personas.items():
            for kind in KINDS:
                path = SCRIPT_DIR / f"{script_name(pid, kind)}.yaml"
                if not path.exists():
                    missing.append(path.name)
                    continue
                script = load_script(path)
                for seed in seeds:
                    out = Path(tmp) / f"{pid}-{kind}-{seed}"
                    res = simulate(
                        persona,
                        script,
                        rubric,
                        out,
                        CallOptions(seed=seed),
                        transcriber=transcriber,
                        synth=synth,
                    )
                    card = res.scorecard
                    turns = turn_taking(out)
                    rows.append(
                        {
                            "persona": pid,
                            "kind": kind,
                            "script": path.stem,
                            "seed": seed,
                            "overall": round(card.overall, 1),
                            "passed": card.passed,
                            "end_state": res.end_state,
                            "call_s": round(res.duration_s, 1),
                            **turns,
                        }
                    )
    elapsed = time.perf_counter() - t0
    verdict, margins = summarise(rows)
    gaps = [g for r in rows for g in r["answer_gaps"]]
    by_detector = sum(r["by_detector"] for r in rows)
    verdict["customer_answers"] = {
        "n": len(gaps),
        "silence_median_s": round(statistics.median(gaps), 3) if gaps else None,
        "by_detector": by_detector,
        "cut_ins": sum(r["cut_ins"] for r in rows),
        "cut_ins_good_natural": sum(r["cut_ins"] for r in rows if r["kind"] in ("good", "natural")),
    }
    result = {
        "recogniser": os.environ.get("VOICESIM_RECOGNISER", "model"),
        "seeds": seeds,
        "calls": len(rows),
        **verdict,
        "margins": margins,
        "missing_scripts": missing,
        "rows": rows,
        "wall_s": round(elapsed, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    report(
        "scripts",
        result,
        [
            ("recogniser", result["recogniser"]),
            ("calls (seeds)", f"{len(rows)} ({' '.join(map(str, seeds))})"),
            (
                "good + natural: passed and resolved",
                f"{verdict['good_calls_ok']}/{verdict['good_calls']}",
            ),
            ("bad + polite-bad: failed", f"{verdict['bad_calls_failed']}/{verdict['bad_calls']}"),
            (
                "passed, by kind",
                ", ".join(f"{k} {v}" for k, v in verdict["passed_by_kind"].items()),
            ),
            (
                "silent and evasive: best score vs worst bad/polite-bad",
                f"{verdict['idle_best']} vs {verdict['bad_worst']} "
                f"(below every bad: {'yes' if verdict['idle_below_every_bad'] else 'NO'})",
            ),
            (
                "smallest margin (worst good/natural - best bad/polite-bad)",
                f"{verdict['smallest_margin']} ({verdict['smallest_margin_persona']})",
            ),
            (
                "customer answers: silence before (median), by the detector / all, cut-ins "
                "(all calls; good + natural)",
                f"{verdict['customer_answers']['silence_median_s']} s, "
                f"{by_detector}/{len(gaps)}, {verdict['customer_answers']['cut_ins']}; "
                f"{verdict['customer_answers']['cut_ins_good_natural']}",
            ),
            ("missing scripts", ", ".join(missing) or "none"),
            ("wall time", f"{elapsed:.0f} s"),
        ],
    )
    print("| persona | script kind | seed | overall | result | end state |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        verdict_s = "pass" if r["passed"] else "FAIL"
        print(
            f"| {r['persona']} | {r['kind']} | {r['seed']} | {r['overall']:.1f} | {verdict_s} "
            f"| {r['end_state']} |"
        )
    print()
    print("| persona | worst good/natural | best bad/polite-bad | margin |")
    print("|---|---|---|---|")
    for pid, m in margins.items():
        print(f"| {pid} | {m['worst_good']} | {m['best_bad']} | {m['margin']} |")
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
