"""Whole simulated calls: speed, endpoint-to-final latency, peak memory.

Runs each shipped trainee script (model and poor agent) against its persona:
1. as fast as possible (the simulate command's mode): how many times faster than real time;
2. paced like a sound card (``realtime``): endpoint-to-final-transcript latency per utterance,
   as a live drill would see it, and the CPU used per second of call.
Peak RSS is this process's peak over everything above.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import peak_rss_mb, percentile, report  # noqa: E402

SCRIPTS = [("damaged-blender", "model-agent"), ("damaged-blender", "poor-agent")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="one fast run per script, no paced run")
    args = ap.parse_args()
    os.environ.setdefault("VOICESIM_CACHE", tempfile.mkdtemp(prefix="voicesim-bench-cache-"))

    from voicesim.persona.persona import find_persona, load_persona
    from voicesim.rubric.rubric import load_rubric
    from voicesim.session.script import find_script, load_script
    from voicesim.session.simulate import simulate
    from voicesim.speech.transcriber import Transcriber
    from voicesim.speech.tts import Synthesizer

    rubric = load_rubric()
    transcriber = Transcriber()
    synth = Synthesizer()
    fast_runs = 1 if args.quick else 3
    speed: list[float] = []
    cold_speed = None
    latencies: list[float] = []
    decode: list[float] = []
    cpu_per_s: list[float] = []
    utterance_s: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (pid, sid) in enumerate(SCRIPTS):
            persona = load_persona(find_persona(pid), set(rubric.library.detectors))
            script = load_script(find_script(sid))
            for r in range(fast_runs):
                t0 = time.perf_counter()
                res = simulate(
                    persona,
                    script,
                    rubric,
                    Path(tmp) / f"fast-{sid}-{r}",
                    transcriber=transcriber,
                    synth=synth,
                )
                factor = res.duration_s / (time.perf_counter() - t0)
                if i == 0 and r == 0:
                    cold_speed = factor  # includes rendering every voice line once
                else:
                    speed.append(factor)
            if args.quick:  # no paced call: decode time per utterance stands in for latency
                latencies += [j.decode_s for j in res.transcription]
                decode += [j.decode_s for j in res.transcription]
                utterance_s += [j.audio_s for j in res.transcription]
            if not args.quick:
                c0 = time.process_time()
                res = simulate(
                    persona,
                    script,
                    rubric,
                    Path(tmp) / f"paced-{sid}",
                    transcriber=transcriber,
                    synth=synth,
                    realtime=True,
                )
                cpu_per_s.append((time.process_time() - c0) / res.duration_s)
                latencies += [j.latency_s for j in res.transcription]
                decode += [j.decode_s for j in res.transcription]
                utterance_s += [j.audio_s for j in res.transcription]
    speed = speed or [cold_speed]
    result = {
        "utterances": len(latencies),
        "latency_median_s": round(statistics.median(latencies), 3),
        "latency_p95_s": round(percentile(latencies, 95), 3),
        "decode_median_s": round(statistics.median(decode), 3),
        "utterance_median_s": round(statistics.median(utterance_s), 2),
        "realtime_factor_median": round(statistics.median(speed), 1),
        "realtime_factor_min": round(min(speed), 1),
        "realtime_factor_cold_cache": round(cold_speed, 1),
        "cpu_cores_used_paced": round(statistics.mean(cpu_per_s), 3) if cpu_per_s else None,
        "latency_measured": "decode only (--quick)"
        if args.quick
        else "paced line, endpoint to final",
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "targets": {"latency_median_s": 0.6, "realtime_factor": 3.0, "peak_rss_mb": 600},
    }
    report(
        "simulated_call",
        result,
        [
            ("utterances (paced runs)", str(result["utterances"])),
            (
                "endpoint-to-final latency, median",
                f"{result['latency_median_s']:.3f} s (target <= 0.6)",
            ),
            ("endpoint-to-final latency, p95", f"{result['latency_p95_s']:.3f} s"),
            ("Whisper decode per utterance, median", f"{result['decode_median_s']:.3f} s"),
            ("utterance length, median", f"{result['utterance_median_s']:.2f} s"),
            (
                "simulated call speed, median",
                f"{result['realtime_factor_median']}x real time (target >= 3)",
            ),
            ("simulated call speed, slowest", f"{result['realtime_factor_min']}x"),
            ("first call, cold voice cache", f"{result['realtime_factor_cold_cache']}x"),
            ("CPU of a paced call", f"{result['cpu_cores_used_paced']} cores"),
            ("peak RSS", f"{result['peak_rss_mb']} MB (target <= 600)"),
        ],
    )


if __name__ == "__main__":
    main()
