"""Soak: a 60-minute simulated call, run faster than real time.

A patient customer who never resolves and never hangs up talks with a trainee who keeps
answering, for an hour of call time. Reported: how fast it ran, resident memory sampled every
simulated minute (first ten minutes against the last ten: it must not grow), and whether every
sample reached call.wav (no dropped audio: frames written == the call clock, both channels).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, report  # noqa: E402

REPLIES = [
    "I understand, thank you for explaining that. Let me look into it for you.",
    "Thank you for your patience. I can see the order on my screen now.",
    "I'm sorry about the wait. Could you tell me a little more about what happened?",
    "That makes sense. I will make a note of it on your account.",
]


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="a 90-second call instead of an hour")
    ap.add_argument("--minutes", type=float, default=None)
    args = ap.parse_args()
    minutes = args.minutes or (1.5 if args.quick else 60)
    os.environ.setdefault("VOICESIM_CACHE", tempfile.mkdtemp(prefix="voicesim-bench-cache-"))
    import soundfile as sf

    from voicesim.events import Event
    from voicesim.persona.persona import load_persona
    from voicesim.rubric.rubric import load_rubric
    from voicesim.session.script import load_script
    from voicesim.session.simulate import simulate

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        persona = yaml.safe_load((ROOT / "personas" / "damaged-blender.yaml").read_text())
        persona.update(id="soak-customer", time_limit_s=minutes * 60)
        persona["mood"].update(
            start=0.5, baseline=0.5, resolve_below=0.0, hang_up_at=1.0, patience_s=20
        )
        persona["reactions"] = {k: {**v, "mood": 0.0} for k, v in persona["reactions"].items()}
        persona["resolutions"]["accept"] = ["escalation"]
        (tmp / "p.yaml").write_text(yaml.safe_dump(persona))
        turns = int(minutes * 60 / 8) + 20
        script = {
            "format": 1,
            "name": "soak trainee",
            "voice": {"engine": "hibari", "rate": 165},
            "turns": [{"say": REPLIES[i % len(REPLIES)], "after": 0.6} for i in range(turns)],
        }
        (tmp / "t.yaml").write_text(yaml.safe_dump(script))
        rubric = load_rubric()
        samples: list[tuple[float, float]] = []

        def sample(ev: Event) -> None:
            if not samples or ev.t - samples[-1][0] >= 60:
                samples.append((ev.t, rss_mb()))

        t0 = time.perf_counter()
        res = simulate(
            load_persona(tmp / "p.yaml"),
            load_script(tmp / "t.yaml"),
            rubric,
            tmp / "s",
            listeners=[sample],
        )
        wall = time.perf_counter() - t0
        info = sf.info(str(tmp / "s" / "call.wav"))
        expected = round(res.duration_s * 16000)
    early = [m for t, m in samples if 60 <= t <= 600] or [samples[0][1]]
    late = [m for t, m in samples if t >= res.duration_s - 600] or [samples[-1][1]]
    result = {
        "call_minutes": round(res.duration_s / 60, 1),
        "end_state": res.end_state,
        "x_realtime": round(res.duration_s / wall, 1),
        "utterances": len(res.transcription),
        "rss_mb_first_10_min": round(max(early), 1),
        "rss_mb_last_10_min": round(max(late), 1),
        "rss_growth_mb": round(max(late) - max(early), 1),
        "rss_samples": [(round(t / 60, 1), round(m, 1)) for t, m in samples],
        "frames_written": info.frames,
        "frames_expected": expected,
        "dropped_samples": expected - info.frames,
        "channels": info.channels,
    }
    report(
        "soak",
        {k: v for k, v in result.items()},
        [
            (
                "call length",
                f"{result['call_minutes']} min ({result['end_state']}), {result['utterances']} utterances",
            ),
            ("speed", f"{result['x_realtime']}x real time"),
            (
                "resident memory, first 10 min / last 10 min",
                f"{result['rss_mb_first_10_min']} / "
                f"{result['rss_mb_last_10_min']} MB "
                f"(growth {result['rss_growth_mb']} MB)",
            ),
            (
                "audio samples written / call clock",
                f"{info.frames} / {expected} (dropped {expected - info.frames})",
            ),
        ],
    )


if __name__ == "__main__":
    main()
