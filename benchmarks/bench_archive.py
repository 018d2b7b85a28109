"""Scoring an archive on Ray: calls per minute and real-time factor with 1 and 2 workers, a
two-node cluster on this machine, and the peak memory of each actor.

The archive: real stereo calls (the shipped demo call, the demo session's call.wav, the two
joined, and each at 8 kHz), each copy at another level so that every file has its own digest,
scored by `score_on_ray`, the function `voicesim score DIR` runs. One local Ray (two CPUs) is
started first and kept for the 1- and 2-worker runs, so its start-up is not in their times;
each run's time includes its actors loading Whisper and the recogniser. Then a two-node
cluster is started with `ray start --head` and a second `ray start --address` (one CPU each,
its own --temp-dir, stopped afterwards by the processes' ids) and the same archive is scored
on it with `--ray-address`; its rows must equal the local run's.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, SHARED_DATA, report  # noqa: E402

COMPARED = ("file", "verdict", "overall", "duration_s", "error", "warnings")


def make_archive(folder: Path, n: int) -> float:
    """``n`` real stereo calls in ``folder``; returns their seconds of audio."""
    import numpy as np
    import soundfile as sf

    from voicesim.audio.formats import read_audio_file, resample

    demo, r1 = read_audio_file(ROOT / "audio" / "demo-call.wav")
    session, r2 = read_audio_file(ROOT / "audio" / "demo-session" / "call.wav")
    assert r1 == r2 == 16000
    joined = np.concatenate([demo, session])

    def at8k(x: np.ndarray) -> np.ndarray:
        return np.stack([resample(x[:, i], 16000, 8000) for i in (0, 1)], 1)

    bases = [(demo, 16000), (session, 16000), (joined, 16000), (at8k(demo), 8000)]
    bases.append((at8k(session), 8000))
    total = 0.0
    for k in range(n):
        audio, rate = bases[k % len(bases)]
        gain = 0.95 ** (k // len(bases))  # its own bytes, the same call
        sf.write(folder / f"call{k:03d}.wav", audio * gain, rate, subtype="PCM_16")
        total += audio.shape[0] / rate
    return total


def make_mixed(folder: Path, shared: Path) -> None:
    """20 calls as an archive holds them: stereo at 16 and 8 kHz, mono, one voice copied to
    both channels, transcripts and a broken file."""
    import soundfile as sf

    make_archive(folder, 12)  # stereo: 8 at 16 kHz, 4 at 8 kHz
    for k, name in enumerate(("call000", "call001", "call002", "call003")):
        data, rate = sf.read(folder / f"{name}.wav")
        sf.write(folder / f"mono{k}.wav", data.mean(axis=1), rate, subtype="PCM_16")
    shutil.copy(shared / "speech" / "phone_call.wav", folder / "phone_mono.wav")
    shutil.copy(shared / "speech" / "jfk.flac", folder / "copied_stereo.flac")
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    (folder / "chat.txt").write_text(
        "Agent: Thank you for calling, how can I help?\nCustomer: My order is late.\n"
        "Agent: I'm sorry. I will send it today and it arrives within two days.\n"
    )


def mixed_archive(folder: Path, out: Path) -> dict:
    """`voicesim score DIR` on the mixed archive, then again: the second run does no work."""
    from voicesim.cli import main as voicesim

    printed = io.StringIO()  # the command's progress would mix with this benchmark's output
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        rc = voicesim(["score", str(folder), "--out", str(out)])
    first = time.perf_counter() - t0
    rows = list(csv.DictReader(open(out / "summary.csv", encoding="utf-8")))
    journal = (out / "scored.jsonl").read_text().count("\n")
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        voicesim(["score", str(folder), "--out", str(out)])
    again = time.perf_counter() - t0
    return {
        "calls": len(rows),
        "exit": rc,
        "verdicts": {
            v: sum(1 for r in rows if r["verdict"] == v) for v in {r["verdict"] for r in rows}
        },
        "first_run_s": round(first, 1),
        "rerun_s": round(again, 1),
        "rerun_scored": (out / "scored.jsonl").read_text().count("\n") - journal,
    }


def run(files: list[Path], out: Path, workers: int | None, address: str | None = None) -> dict:
    from voicesim.report.archive import plan, score_on_ray
    from voicesim.report.scoring import ScoreSettings

    out.mkdir(parents=True)
    jobs, _ = plan(files, out)
    rows: list[dict] = []
    t0 = time.perf_counter()
    size = score_on_ray(jobs, ScoreSettings(cpu_threads=1), rows.append, workers, address)
    wall = time.perf_counter() - t0
    return {"rows": rows, "wall_s": wall, "workers": size, "load": os.getloadavg()[0]}


def summary_of(rows: list[dict]) -> list[tuple]:
    return sorted(tuple(r.get(k) for k in COMPARED) for r in rows)


def actors(rows: list[dict]) -> dict:
    """Per actor (pid): its node, peak memory and CPU seconds (its last row has the most)."""
    per: dict[int, dict] = {}
    for r in rows:
        w = r["_worker"]
        last = per.get(w["pid"], {"peak_rss_mb": 0, "cpu_s": 0.0})
        per[w["pid"]] = {
            "node": w["node"],
            "peak_rss_mb": max(w["peak_rss_mb"], last["peak_rss_mb"]),
            "cpu_s": max(w["cpu_s"], last["cpu_s"]),
        }
    return per


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def ray_processes(marker: str) -> list[int]:
    """Processes whose command line names ``marker`` (this cluster's temp dir)."""
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if marker in (p / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(p.name))
            except OSError:
                continue
    return pids


def stop_cluster(marker: str) -> None:
    """SIGTERM, then SIGKILL, to this cluster's processes only (never `ray stop`: other Ray
    clusters on the machine are not ours)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in ray_processes(marker):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while ray_processes(marker) and time.monotonic() < deadline:
            time.sleep(0.2)


def two_nodes(files: list[Path], out: Path) -> dict:
    """The archive on a cluster of two nodes (one CPU each) started on this machine."""
    ray = str(Path(sys.executable).parent / "ray")
    temp = tempfile.mkdtemp(prefix="vsray-", dir="/tmp")  # short: Ray's socket paths
    port = free_port()
    host = socket.gethostbyname(socket.gethostname())
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "token"),
    }
    common = ["--num-cpus", "1", "--disable-usage-stats"]
    try:
        t0 = time.perf_counter()
        subprocess.run(
            [ray, "start", "--head", "--port", str(port), "--temp-dir", temp]
            + ["--include-dashboard", "false"]
            + common,
            env=env,
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [ray, "start", "--address", f"{host}:{port}"] + common,
            env=env,
            check=True,
            capture_output=True,
        )
        started = time.perf_counter() - t0
        os.environ["RAY_AUTH_MODE"] = env["RAY_AUTH_MODE"]
        result = run(files, out, None, f"{host}:{port}")
        result["cluster_start_s"] = started
        return result
    finally:
        stop_cluster(temp)
        shutil.rmtree(temp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="6 calls, no two-node run")
    ap.add_argument("--calls", type=int, help="calls in the archive (default 12; --quick 6)")
    ap.add_argument("--no-cluster", action="store_true", help="leave out the two-node run")
    args = ap.parse_args()
    os.environ.setdefault("VOICESIM_CACHE", tempfile.mkdtemp(prefix="voicesim-bench-cache-"))
    import ray

    from voicesim.report.archive import start_local_ray

    n = args.calls or (6 if args.quick else 12)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "archive"
        folder.mkdir()
        audio_s = make_archive(folder, n)
        files = sorted(folder.iterdir())
        t0 = time.perf_counter()
        start_local_ray(2)
        ray_start = time.perf_counter() - t0
        runs = {w: run(files, Path(tmp) / f"w{w}", w) for w in (1, 2)}
        mixed = None
        if not args.quick:
            (Path(tmp) / "mixed").mkdir()
            make_mixed(Path(tmp) / "mixed", SHARED_DATA)
            mixed = mixed_archive(Path(tmp) / "mixed", Path(tmp) / "mixed-out")
        ray.shutdown()
        cluster = None
        if not (args.quick or args.no_cluster):
            cluster = two_nodes(files, Path(tmp) / "cluster")

    result: dict = {"calls": n, "audio_s": round(audio_s, 1), "ray_start_s": round(ray_start, 1)}
    rows = []
    for w, r in runs.items():
        cpm = n / r["wall_s"] * 60
        mem = [a["peak_rss_mb"] for a in actors(r["rows"]).values()]
        cpu = sum(a["cpu_s"] for a in actors(r["rows"]).values())
        result[f"workers_{w}"] = {
            "wall_s": round(r["wall_s"], 1),
            "calls_per_min": round(cpm, 1),
            "rtf": round(r["wall_s"] / audio_s, 3),
            "x_realtime": round(audio_s / r["wall_s"], 1),
            "actor_peak_rss_mb": max(mem),
            "actors_cpu_s": round(cpu, 1),
            "cores_used": round(cpu / r["wall_s"], 2),
            "load_1min_after": round(r["load"], 1),
            "errors": sum(1 for x in r["rows"] if x["error"]),
        }
        rows.append(
            (
                f"{w} worker{'s' if w > 1 else ''}",
                f"{cpm:.1f} calls/min, RTF {r['wall_s'] / audio_s:.3f} "
                f"({audio_s / r['wall_s']:.1f}x real time), {r['wall_s']:.1f} s; "
                f"peak memory per actor {max(mem)} MB; actors used {cpu / r['wall_s']:.2f} "
                f"cores (load average {r['load']:.1f} after)",
            )
        )
    scaling = runs[1]["wall_s"] / runs[2]["wall_s"]
    result["scaling_2_vs_1"] = round(scaling, 2)
    result["same_rows_1_and_2"] = summary_of(runs[1]["rows"]) == summary_of(runs[2]["rows"])
    rows.append(("2 workers vs 1", f"{scaling:.2f}x the calls per minute"))
    rows.append(("local Ray start", f"{ray_start:.1f} s (not in the times above)"))
    if cluster is not None:
        nodes = {a["node"] for a in actors(cluster["rows"]).values()}
        same = summary_of(cluster["rows"]) == summary_of(runs[1]["rows"])
        result["two_nodes"] = {
            "nodes_used": len(nodes),
            "workers": cluster["workers"],
            "wall_s": round(cluster["wall_s"], 1),
            "calls_per_min": round(n / cluster["wall_s"] * 60, 1),
            "cluster_start_s": round(cluster["cluster_start_s"], 1),
            "same_summary_as_local": same,
        }
        rows.append(
            (
                "two nodes (ray start --head + ray start --address)",
                f"{len(nodes)} nodes used, {n / cluster['wall_s'] * 60:.1f} calls/min; "
                f"summary {'the same as' if same else 'DIFFERENT from'} the local run",
            )
        )
    if mixed is not None:
        result["mixed_archive"] = mixed
        rows.append(
            (
                f"mixed archive ({mixed['calls']} calls: stereo, 8 kHz, mono, copied, transcript, "
                "broken)",
                f"{mixed['verdicts']} in {mixed['first_run_s']} s (Ray start included); "
                f"re-run {mixed['rerun_s']} s, {mixed['rerun_scored']} call(s) scored again "
                "(the broken one)",
            )
        )
    result["machine"] = f"{os.cpu_count()} CPUs, shared with other users while measured"
    report("archive", result, rows)
    print(json.dumps({"per_actor": {w: actors(r["rows"]) for w, r in runs.items()}}))


if __name__ == "__main__":
    main()
