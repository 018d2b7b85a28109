"""Bad input, fuzzed at scale: how many cases were tried, and how many broke the contract.

Runs the same checks as tests/test_fuzz.py with many more examples: structural mutations and
textual damage of a shipped persona, rubric and trainee script (each must load or give a
ConfigError naming the file; whatever loads must run), plus the hand-made audio cases through
`voicesim score` (a clear error, exit 2, or a correct result; never a traceback or a hang),
plus the hostile corpus of sessions, lab uploads and YAML files (tests/fuzzcases.py): each
refused in one line (exit 2) or a 4xx that leaves no folder behind. Counts tracebacks, hangs
(over 60 s) and the run's peak memory.
"""

from __future__ import annotations

import argparse
import resource
import signal
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
    hostile = hostile_inputs(n, failures)
    total = sum(counts.values()) + audio_tried + sum(h["cases"] for h in hostile.values())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "cases": total,
        "config_cases": counts,
        "audio_cases": audio_tried,
        "hostile": hostile,
        "tracebacks": sum(h["tracebacks"] for h in hostile.values()),
        "hangs": sum(h["hangs"] for h in hostile.values()),
        "peak_rss_mb": round(peak_mb),
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
    for k, h in hostile.items():
        rows.append(
            (
                k,
                f"{h['cases']} cases, {h['tracebacks']} tracebacks, {h['hangs']} hangs, "
                f"slowest {h['slowest_s']} s",
            )
        )
    rows.append(("peak memory of the run (RSS)", f"{peak_mb:.0f} MB"))
    rows.append(("total", f"{total} cases, {len(failures)} contract breaks"))
    report("fuzz", result, rows)


class _Hang(Exception):
    pass


def _timed(fn, limit_s: int = 60):  # noqa: ANN001, ANN202
    """Run fn() under an alarm: (outcome, seconds); outcome is 'ok', 'hang' or the exception."""

    def alarm(*_):  # noqa: ANN002, ANN202
        raise _Hang

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(limit_s)
    t = time.perf_counter()
    try:
        fn()
        outcome = "ok"
    except _Hang:
        outcome = "hang"
    except BaseException as exc:  # noqa: BLE001 - a traceback is the finding
        outcome = exc
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return outcome, time.perf_counter() - t


def hostile_inputs(n: int, failures: dict) -> dict:
    """The hostile corpus of tests/fuzzcases.py through the CLI (in-process `main`, so a
    traceback is an escaping exception), the lab's upload endpoint and the YAML loaders."""
    import contextlib
    import io
    import shutil

    from fuzzcases import (
        damaged_events,
        hostile_configs,
        hostile_sessions,
        session_files,
    )
    from hypothesis import HealthCheck, given, settings
    from test_fuzz import upload, upload_cases, write_session

    from voicesim.cli import main
    from voicesim.errors import ConfigError
    from voicesim.persona.persona import load_persona
    from voicesim.rubric.rubric import load_rubric

    out: dict[str, dict] = {}

    def tally(key: str, name: str, outcome, seconds: float, ok) -> None:  # noqa: ANN001
        h = out.setdefault(key, {"cases": 0, "tracebacks": 0, "hangs": 0, "slowest_s": 0.0})
        h["cases"] += 1
        h["slowest_s"] = round(max(h["slowest_s"], seconds), 2)
        if outcome == "hang":
            h["hangs"] += 1
            failures[f"{key}: {name}"] = "hang"
        elif isinstance(outcome, BaseException):
            h["tracebacks"] += 1
            failures[f"{key}: {name}"] = f"{type(outcome).__name__}: {outcome}"[:300]
        elif not ok():
            failures[f"{key}: {name}"] = "broke the contract"

    tmp = Path(tempfile.mkdtemp(prefix="bench-fuzz-"))
    sink = io.StringIO()
    for name, files in hostile_sessions():
        d = write_session(tmp / f"s{len(list(tmp.iterdir()))}", files)
        for argv in (
            ["report", str(d)],
            ["replay", str(d), "--no-audio", "--speed", "10000"],
            ["sessions", "export", str(d)],
            ["sessions", "list", str(d)],
        ):
            codes = []

            def run(argv=argv, codes=codes) -> None:  # noqa: ANN001
                with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                    codes.append(main(argv))

            outcome, secs = _timed(run)
            tally("damaged sessions through the CLI", f"{name}, {argv[0]}", outcome, secs,
                  lambda codes=codes: codes == [2])  # fmt: skip
    for name, kind, text in hostile_configs():
        path = tmp / f"{kind}.yaml"
        path.write_text(text)
        loader = load_persona if kind == "persona" else load_rubric

        def load(loader=loader, path=path) -> None:  # noqa: ANN001
            with contextlib.suppress(ConfigError):
                loader(path)
                raise AssertionError("loaded")

        outcome, secs = _timed(load)
        tally(
            "hostile YAML (aliases, nesting, numbers, regexes)", name, outcome, secs, lambda: True
        )
    from lab_support import PASSWORD, TrainerDesk

    desk = TrainerDesk(tmp / "lab")
    r = desk.http.post("/api/login", json={"username": "ann", "password": PASSWORD})
    desk.ann = {"Authorization": f"Bearer {r.json()['token']}"}
    for name, body in upload_cases():
        before = set(desk.store.sessions_dir.iterdir())
        status = []
        outcome, secs = _timed(lambda body=body, status=status: status.append(upload(desk, body)))
        tally("hostile lab uploads", name, outcome, secs,
              lambda status=status, before=before: 400 <= status[0].status_code < 500
              and set(desk.store.sessions_dir.iterdir()) == before)  # fmt: skip

    from fuzzcases import _zip

    @settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(damaged_events())
    def fuzz(data: bytes) -> None:
        d = tmp / "fuzz"
        shutil.rmtree(d, ignore_errors=True)
        write_session(d, session_files(raw=data))
        codes: list[int] = []

        def run() -> None:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                codes.append(main(["sessions", "export", str(d)]))

        outcome, secs = _timed(run)
        tally("damaged events (hypothesis) through the CLI", "case", outcome, secs,
              lambda: codes[0] in (0, 2))  # fmt: skip
        status = []
        outcome, secs = _timed(lambda: status.append(upload(desk, _zip(session_files(raw=data)))))
        tally("damaged events (hypothesis) uploaded to the lab", "case", outcome, secs,
              lambda: status[0].status_code == 200 or 400 <= status[0].status_code < 500)  # fmt: skip

    fuzz()
    desk.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return out


if __name__ == "__main__":
    main()
