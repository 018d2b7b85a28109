"""Run every benchmark (benchmarks/bench_*.py), each in its own process, and collect results.

Each benchmark prints one JSON line and a markdown table; this prints them as they come and
writes all JSON lines to benchmarks/results.jsonl.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="everyday mode: under two minutes")
    ap.add_argument("names", nargs="*", help="only these benchmarks (e.g. call)")
    args = ap.parse_args()
    benches = sorted(HERE.glob("bench_*.py"))
    if args.names:
        benches = [b for b in benches if b.stem.removeprefix("bench_") in args.names]
    lines: list[str] = []
    failed = 0
    for bench in benches:
        print(f"## {bench.stem}", flush=True)
        cmd = [sys.executable, str(bench)] + (["--quick"] if args.quick else [])
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        print(proc.stdout, end="", flush=True)
        print(f"({bench.stem}: {time.perf_counter() - t0:.0f} s)\n", flush=True)
        if proc.returncode != 0:
            failed += 1
            print(f"{bench.name} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        lines += [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    (HERE / "results.jsonl").write_text("\n".join(lines) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
