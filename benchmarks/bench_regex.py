"""Trainers' `re:` rubric phrases on RE2 against Python's backtracking `re`, on the patterns that
froze the lab (issue 27): time to scan one transcribed line of `a`s (no match: the worst case)
at lengths up to the session reader's 5,000-character limit. `re` runs in a child process with
a time limit, since it can take minutes; RE2 is linear in the line whatever the pattern."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from common import report  # noqa: E402

PATTERNS = ["a*a*c", "(a|b)*(a|b)*c", "a{0,1000}a{0,1000}a{0,1000}c"]
PROBE = "import re,sys,time;p=re.compile(sys.argv[1]);s='a'*int(sys.argv[2]);t=time.perf_counter();p.search(s);print(time.perf_counter()-t)"  # noqa: E501


def time_re(pattern: str, n: int, limit: float) -> float | None:
    """Seconds ``re`` takes to search a line of ``n`` a's, or None past ``limit`` seconds."""
    try:
        out = subprocess.run(
            [sys.executable, "-c", PROBE, pattern, str(n)],
            capture_output=True,
            text=True,
            timeout=limit,
        )
    except subprocess.TimeoutExpired:
        return None
    return float(out.stdout)


def time_re2(pattern: str, n: int) -> float:
    from voicesim.rubric.regexcheck import vet_regex

    compiled, line = vet_regex(pattern), "a" * n
    t = time.perf_counter()
    for _ in range(100):
        compiled.search(line)
    return (time.perf_counter() - t) / 100


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="lines of 500 and 1,000 characters")
    ap.add_argument("--limit", type=float, default=60.0, help="seconds allowed to re per search")
    args = ap.parse_args()
    lengths = [500, 1000] if args.quick else [500, 1000, 5000]
    result: dict = {"lengths": lengths, "patterns": {}}
    rows = []
    for pattern in PATTERNS:
        per = {}
        for n in lengths:
            slow, fast = time_re(pattern, n, args.limit), time_re2(pattern, n)
            per[n] = {"re_s": slow, "re2_s": fast}
            shown = f"> {args.limit:g} s" if slow is None else f"{slow:.3f} s"
            cell = pattern.replace("|", "\\|")  # a table cell
            rows.append((f"`{cell}`, {n} chars", f"re {shown}, RE2 {fast * 1e6:.0f} µs"))
        result["patterns"][pattern] = per
    report("regex", result, rows)


if __name__ == "__main__":
    main()
