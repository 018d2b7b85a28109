"""End of turn on real and synthetic pauses: how often the customer would cut in on a pause
inside the trainee's turn, how often it would answer a finished turn at the silence floor.

Data: the held-out part of ``tests/data/turns/pauses.jsonl`` (made by scripts/make_pause_set.py;
the weights were fitted on the other part by scripts/fit_turns.py). For each pause the detector
judges the Whisper tiny.en text and the audio up to the pause, as a live drill would at the
floor (0.2 s of silence):

* mid judged over: the share of "mid" pauses (the speaker goes on) with p_end >= threshold, as if
  every pause lasted the floor (the target is 5 % at most); "cut in" uses each pause's real
  length: judged over and at least the floor long, or longer than the fallback (two of jfk.flac's
  pauses last 1.1 s: the fixed pause cuts in there too);
* end at floor: the share of "end" pauses (the turn is over) judged over at the floor, i.e.
  answered after 0.2 s rather than after the fallback 1.0 s;
* judge() time per call on one core, median and p95 (text+voice).

Variants: text+voice (the default), text only, voice only, and "fixed pause" (today: nothing is
over before 1.0 s of silence).

    python benchmarks/bench_turns.py [--quick] [--split heldout|train|all] [--errors]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, percentile, report  # noqa: E402

sys.path.insert(0, str(ROOT / "tests" / "data" / "turns"))
from pause_set import audio_for, load  # noqa: E402

VARIANTS = ("text+voice", "text", "voice", "fixed pause")
# As the call's conductor uses the detector (session/call.py): the persona's eagerness sets the
# threshold (1 - eagerness), and a turn under QUICK_ANSWER_MIN_WORDS words without a question
# waits for the fallback.
PERSONAS = {"impatient (eagerness 0.5)": 0.5, "default (0.3)": 0.3, "confused (0.2)": 0.2}


def share(flags: list[bool]) -> str:
    n = len(flags)
    return f"{sum(flags)}/{n} ({100 * sum(flags) / n:.0f} %)" if n else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="same work (it is quick)")
    ap.add_argument("--split", default="heldout", choices=("heldout", "train", "all"))
    ap.add_argument("--errors", action="store_true", help="list the misjudged pauses")
    args = ap.parse_args()
    from voicesim.speech.turn import TurnConfig, TurnDetector

    items = load(None if args.split == "all" else args.split)
    cache: dict = {}
    audios = [audio_for(item, cache=cache) for item in items]
    base = TurnConfig()
    guesses: dict[str, list[bool]] = {}
    p_end: list[float] = []
    times: list[float] = []
    for cues in VARIANTS[:3]:
        det = TurnDetector(TurnConfig(cues=cues))
        det.judge(items[0]["text"], audios[0])  # parselmouth's first call loads it
        over = []
        for item, audio in zip(items, audios, strict=True):
            t0 = time.perf_counter()
            guess = det.judge(item["text"], audio)
            took = time.perf_counter() - t0
            if cues == "text+voice":
                times.append(took * 1000)
                p_end.append(guess.p_end)
            over.append(guess.p_end >= base.threshold)
            wrong = over[-1] != (item["kind"] == "end")
            if args.errors and cues == "text+voice" and wrong:
                print(
                    f"{item['kind']:3} p={guess.p_end:.2f} {item['id']}: {item['text']!r} "
                    f"{guess.reasons}",
                    file=sys.stderr,
                )
        guesses[cues] = over
    guesses["fixed pause"] = [False] * len(items)
    from voicesim.session.call import QUICK_ANSWER_MIN_WORDS

    for name, eagerness in PERSONAS.items():
        guesses[name] = [
            p >= 1.0 - eagerness
            and (
                len(item["text"].split()) >= QUICK_ANSWER_MIN_WORDS
                or item["text"].rstrip().endswith("?")
            )
            for p, item in zip(p_end, items, strict=True)
        ]

    def pause_of(item: dict) -> float:
        return item["pause_s"] if item["pause_s"] is not None else 0.0

    result: dict = {"split": args.split, "pauses": len(items), "floor_s": base.floor_s}
    rows: list[tuple[str, str]] = []
    for variant in (*VARIANTS, *PERSONAS):
        result[variant] = {}
        for source in ("real", "synthetic", "all"):
            idx = [i for i, it in enumerate(items) if source in ("all", it["source"])]
            mid = [i for i in idx if items[i]["kind"] == "mid"]
            end = [i for i in idx if items[i]["kind"] == "end"]
            g = guesses[variant]
            mid_over = [g[i] for i in mid]
            cut_in = [
                (g[i] and pause_of(items[i]) >= base.floor_s)
                or pause_of(items[i]) >= base.fallback_s
                for i in mid
            ]
            end_fast = [g[i] for i in end]
            result[variant][source] = {
                "mid": len(mid),
                "mid_judged_over": round(sum(mid_over) / max(1, len(mid)), 3),
                "mid_cut_in": round(sum(cut_in) / max(1, len(mid)), 3),
                "end": len(end),
                "end_at_floor": round(sum(end_fast) / max(1, len(end)), 3),
            }
            rows.append(
                (
                    f"{variant}, {source}: mid judged over / cut in / end at floor",
                    f"{share(mid_over)} / {share(cut_in)} / {share(end_fast)}",
                )
            )
    result["judge_ms"] = {
        "median": round(statistics.median(times), 2),
        "p95": round(percentile(times, 95), 2),
    }
    rows.append(
        (
            "judge() ms, median / p95",
            f"{result['judge_ms']['median']} / {result['judge_ms']['p95']}",
        )
    )
    report("turns", result, rows)


if __name__ == "__main__":
    main()
