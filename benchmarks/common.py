"""Shared helpers for benchmarks: JSON line + markdown table output, the shared data folder."""

from __future__ import annotations

import json
import resource
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def report(name: str, result: dict, rows: list[tuple[str, str]]) -> None:
    """Print one JSON line (machine-readable) and a markdown table (for people)."""
    print(json.dumps({"benchmark": name, **result}))
    print()
    print(f"| {name} | value |")
    print("|---|---|")
    for key, value in rows:
        print(f"| {key} | {value} |")
    print()
