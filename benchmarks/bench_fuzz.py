"""Bad input, fuzzed at scale: how many cases were tried, and how many broke the contract.

Runs the same checks as tests/test_fuzz.py with many more examples: structural mutations and
textual damage of a shipped persona, rubric and trainee script (each must load or give a
ConfigError naming the file; whatever loads must run), plus the hand-made audio cases through
`voicesim score` (a clear error, exit 2, or a correct result; never a traceback or a hang).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from common import report  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="40 examples per target, no audio cases")
    ap.add_argument("--examples", type=int, default=None, help="examples per target (default 1000)")
    args = ap.parse_args()
    from fuzzcases import PERSONA, RUBRIC, SCRIPT, mangled_text, mutated_yaml
    from hypothesis import HealthCheck, given, settings
    from test_fuzz import audio_cases, check_persona, check_rubric, check_script

    n = args.examples or (40 if args.quick else 1000)
    counts: dict[str, int] = {}
    failures: dict[str, str] = {}
    targets = [
        ("persona", PERSONA, check_persona),
        ("rubric", RUBRIC, check_rubric),
        ("trainee script", SCRIPT, check_script),
    ]
    t0 = time.perf_counter()

    def make(check, key, strategy):
        @settings(
            max_examples=n, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        @given(strategy)
        def run(text):
            counts[key] += 1
            check(text)

        return run

    for name, source, check in targets:
        for kind, strategy in (
            ("mutated", mutated_yaml(source)),
            ("damaged text", mangled_text(source)),
        ):
            key = f"{name}, {kind}"
            counts[key] = 0
            try:
                make(check, key, strategy)()
            except Exception as exc:  # noqa: BLE001 - a contract break is the finding
                failures[key] = f"{type(exc).__name__}: {exc}"[:300]
    audio_tried = audio_failed = 0
    if not args.quick:
        with tempfile.TemporaryDirectory() as tmp:
            for case, path, ok in audio_cases(Path(tmp)):
                audio_tried += 1
                try:
                    proc = subprocess.run(
                        [
                            sys.executable,
                            "-m",
                            "voicesim",
                            "score",
                            str(path),
                            "--out",
                            str(Path(tmp) / f"s-{path.stem}"),
                            "--quiet",
                        ],
                        capture_output=True,
                        text=True,
                        timeout=600,
                    )
                    if proc.returncode not in ok or "Traceback" in proc.stderr:
                        audio_failed += 1
                        failures[f"audio: {case}"] = proc.stderr[-300:]
                except subprocess.TimeoutExpired:
                    audio_failed += 1
                    failures[f"audio: {case}"] = "hang (over 600 s)"
    total = sum(counts.values()) + audio_tried
    result = {
        "cases": total,
        "config_cases": counts,
        "audio_cases": audio_tried,
        "failures": len(failures),
        "failure_detail": failures,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    rows = [(k, f"{v} cases") for k, v in counts.items()]
    rows.append(
        (
            "audio files through `voicesim score`",
            f"{audio_tried} cases, {audio_failed} broke the contract",
        )
    )
    rows.append(("total", f"{total} cases, {len(failures)} contract breaks"))
    report("fuzz", result, rows)


if __name__ == "__main__":
    main()
