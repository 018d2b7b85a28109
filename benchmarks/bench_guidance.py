"""In-call guidance on the shipped trainee scripts: how soon, how often, and for what.

A script does not listen, so whether a cue changes what a trainee says cannot be measured
here. What can be: every shipped persona's good, natural, bad and polite-bad scripts run as
simulated calls with ``--guidance`` (all cues, the persona's difficulty), and per call

- **latency**: each cue's time on the call clock minus the moment its condition began (the end
  of the words that earned it, the start of the overtalk or of the silence past the limit);
- **precision**: how many cues a good or natural call gets (target: at most one);
- **recall**: a bad call's *main fault* is the cue-able criterion of its scorecard that lost the
  most points (a penalised move, dead air, talking over, pace, no acknowledgement, the mood);
  it is cued when a cue of that kind (for a move: that move) was shown.

Reported, never asserted: the JSON line and the table, per call in ``--details``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scripts import GOOD_KINDS, QUICK_PERSONAS, script_name  # noqa: E402
from common import ROOT, peak_rss_mb, report  # noqa: E402

KINDS = ("good", "natural", "bad", "polite-bad")
# Scorecard criteria a cue speaks to (the default rubric's ids), by cue kind. Penalties read
# from moves map to the move cue of the same move.
EVENT_CUES = {
    "no_dead_air": "dead_air",
    "no_interruptions": "overtalk",
    "no_cutoffs": "overtalk",
    "steady_pace": "pace",
    "empathy": "acknowledge",
    "acknowledge": "acknowledge",
    "person_first": "acknowledge",
    "mood_improved": "mood",
}


def main_fault(card, rubric) -> tuple[str, str | None] | None:
    """(criterion id, move or None) of the cue-able criterion that lost the most points."""
    worst = None
    for fam in rubric.families:
        for c in fam.criteria:
            cue_move = c.kind == "penalty" and c.detectors
            if not cue_move and c.id not in EVENT_CUES:
                continue
            scored = card.criterion(c.id)
            if not scored.applies:
                continue
            lost = scored.points - scored.earned  # penalties start full and lose points
            if lost > 0 and (worst is None or lost > worst[0]):
                moves = {e.rule.split(":")[0] for e in scored.evidence} & set(c.detectors)
                worst = (lost, c.id, sorted(moves)[0] if cue_move and moves else None)
    return None if worst is None else (worst[1], worst[2])


def cued(fault: tuple[str, str | None], cues: list[dict], rubric) -> bool:
    cid, move = fault
    if cid in EVENT_CUES:
        return any(c["cue"] == EVENT_CUES[cid] for c in cues)
    detectors = next(c.detectors for f in rubric.families for c in f.criteria if c.id == cid)
    return any(
        c["cue"] == "move" and (c["evidence"].get("move") in ({move} if move else set(detectors)))
        for c in cues
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="default: 0")
    ap.add_argument("--personas", nargs="+", help="only these persona ids (default: all)")
    ap.add_argument("--details", action="store_true", help="print every call's cues")
    ap.add_argument(
        "--quick", action="store_true", help=f"only {', '.join(QUICK_PERSONAS)} (12 calls)"
    )
    args = ap.parse_args()

    from voicesim.events import GUIDANCE
    from voicesim.persona.persona import find_persona, load_persona
    from voicesim.rubric.rubric import load_rubric
    from voicesim.session.call import CallOptions
    from voicesim.session.cues import GuidanceOptions
    from voicesim.session.script import SCRIPT_DIR, load_script
    from voicesim.session.simulate import simulate
    from voicesim.speech.transcriber import Transcriber
    from voicesim.speech.tts import Synthesizer

    rubric = load_rubric()
    every = sorted(p.stem for p in (ROOT / "personas").glob("*.yaml"))
    transcriber, synth = Transcriber(), Synthesizer()
    rows: list[dict] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="voicesim-bench-guidance-") as tmp:
        for pid in args.personas or (list(QUICK_PERSONAS) if args.quick else every):
            persona = load_persona(find_persona(pid), set(rubric.library.detectors))
            guidance = GuidanceOptions.for_difficulty(persona.difficulty)
            for kind in KINDS:
                path = SCRIPT_DIR / f"{script_name(pid, kind)}.yaml"
                if not path.exists():
                    continue
                for seed in args.seeds:
                    res = simulate(
                        persona,
                        load_script(path),
                        rubric,
                        Path(tmp) / f"{pid}-{kind}-{seed}",
                        CallOptions(seed=seed, guidance=guidance),
                        transcriber=transcriber,
                        synth=synth,
                    )
                    cues = [{"t": e.t, **e.data} for e in res.events if e.type == GUIDANCE]
                    fault = None if kind in GOOD_KINDS else main_fault(res.scorecard, rubric)
                    rows.append(
                        {
                            "persona": pid,
                            "kind": kind,
                            "seed": seed,
                            "cues": [c["cue"] for c in cues],
                            "latency_s": [round(c["t"] - c["since"], 3) for c in cues],
                            "main_fault": None if fault is None else fault[0],
                            "fault_move": None if fault is None else fault[1],
                            "fault_cued": None if fault is None else cued(fault, cues, rubric),
                            "texts": [f"{c['t']:.1f} {c['text']}" for c in cues],
                        }
                    )
                    if args.details:
                        r = rows[-1]
                        print(
                            f"{pid} {kind} seed {seed}: fault {r['main_fault']} "
                            f"{r['fault_move'] or ''} cued={r['fault_cued']}",
                            file=sys.stderr,
                        )
                        for line in r["texts"]:
                            print(f"    {line}", file=sys.stderr)
    elapsed = time.perf_counter() - t0
    good = [r for r in rows if r["kind"] in GOOD_KINDS]
    bad = [r for r in rows if r["kind"] not in GOOD_KINDS]
    latencies = [x for r in rows for x in r["latency_s"]]
    faulted = [r for r in bad if r["main_fault"] is not None]
    by_cue: dict[str, int] = {}
    for r in rows:
        for c in r["cues"]:
            by_cue[c] = by_cue.get(c, 0) + 1
    result = {
        "calls": len(rows),
        "cues": len(latencies),
        "latency_median_s": round(statistics.median(latencies), 3) if latencies else None,
        "latency_max_s": max(latencies) if latencies else None,
        "good_calls": len(good),
        "good_calls_at_most_one_cue": sum(len(r["cues"]) <= 1 for r in good),
        "good_cues_max": max((len(r["cues"]) for r in good), default=None),
        "bad_calls": len(bad),
        "bad_calls_with_cueable_fault": len(faulted),
        "bad_main_fault_cued": sum(bool(r["fault_cued"]) for r in faulted),
        "by_cue": by_cue,
        "elapsed_s": round(elapsed, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "rows": rows,
    }
    missed = [
        f"{r['persona']} {r['kind']} ({r['main_fault']})" for r in faulted if not r["fault_cued"]
    ]
    noisy = [
        f"{r['persona']} {r['kind']} ({', '.join(r['cues'])})" for r in good if len(r["cues"]) > 1
    ]
    report(
        "bench_guidance",
        result,
        [
            ("calls (seeds)", f"{len(rows)} ({' '.join(map(str, args.seeds))})"),
            (
                "cue latency median / max",
                f"{result['latency_median_s']} s / {result['latency_max_s']} s",
            ),
            (
                "good and natural calls with at most one cue",
                f"{result['good_calls_at_most_one_cue']}/{len(good)}",
            ),
            (
                "bad and polite-bad calls: main fault cued",
                f"{result['bad_main_fault_cued']}/{len(faulted)}",
            ),
            ("cues by kind", ", ".join(f"{k} {v}" for k, v in sorted(by_cue.items()))),
            ("good calls with more than one cue", "; ".join(noisy) or "none"),
            ("bad calls whose main fault was not cued", "; ".join(missed) or "none"),
            ("time", f"{elapsed:.0f} s"),
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
