"""Scoring an archive of calls on Ray Data: an actor pool of ``CallScorer``s.

Each actor loads Whisper and the move recogniser once and scores calls one at a time with
``CallScorer.row``, the function a single `voicesim score FILE` uses, so a call scores the same
either way. No address: a local Ray is started in this process with the machine's cores; an
address (``--ray-address`` or ``RAY_ADDRESS``) joins a cluster, whose nodes must run the same
voicesim and see the calls and the output folder at the same paths (a shared file system).

Every finished call is appended to ``OUT/scored.jsonl`` as it arrives (the run's journal), so a
run that stops keeps what it did. A re-run skips the calls the journal holds as scored, by the
SHA-256 of their bytes, and retries those that failed. ``summary.csv`` and ``summary.parquet``
are written from the rows at the end, one row per call of this run.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import re
import resource
import shutil
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import VoicesimError
from .scoring import CallScorer, ScoreSettings, file_digest, unique_name

JOURNAL = "scored.jsonl"
WORKER = "_worker"  # where an actor says who scored a row (not written to the summary)


@dataclass(frozen=True)
class Job:
    """One call to score: the file, its session directory, its digest."""

    file: Path
    session: Path
    digest: str


def read_journal(root: Path) -> list[dict]:
    """The rows earlier runs wrote to ``root``; a line cut short by a crash is skipped."""
    path = root / JOURNAL
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and row.get("digest"):
            rows.append(row)
    return rows


def plan(files: list[Path], root: Path) -> tuple[list[dict | Job], int]:
    """For each file, in order, its earlier row (scored, same bytes) or a Job; and how many
    earlier rows are reused. A file that failed before, or changed, is scored again."""
    done: dict[tuple[str, str], dict] = {}
    by_digest: dict[str, list[dict]] = {}
    for row in read_journal(root):  # later rows win: a retry that worked replaces the failure
        key = (row["digest"], row.get("file", ""))
        done.pop(key, None)
        if not row.get("error") and (Path(row.get("session", "")) / "scorecard.json").exists():
            done[key] = row
    for row in done.values():
        by_digest.setdefault(row["digest"], []).append(row)
    used = {p.name for p in root.iterdir()} if root.exists() else set()
    digests = [file_digest(f) for f in files]
    out: list[dict | Job | None] = [None] * len(files)
    for i, (f, d) in enumerate(zip(files, digests, strict=True)):  # same path and bytes first
        row = done.get((d, str(f)))
        if row is not None:
            by_digest[d].remove(row)
            out[i] = row
    for i, (f, d) in enumerate(zip(files, digests, strict=True)):  # then moved or renamed
        if out[i] is None and by_digest.get(d):
            out[i] = {**by_digest[d].pop(0), "file": str(f)}
    reused = sum(1 for x in out if x is not None)
    kept = {Path(x["session"]).name for x in out if x is not None}
    todo = {str(f) for f, x in zip(files, out, strict=True) if x is None}
    for name in sorted(used - kept):  # sessions a stopped run wrote but never journaled
        if _session_of(root / name) in todo:
            shutil.rmtree(root / name)
            used.discard(name)
    for i, (f, d) in enumerate(zip(files, digests, strict=True)):
        if out[i] is None:
            out[i] = Job(f, root / unique_name(f, used), d)
    return out, reused  # type: ignore[return-value]


def _session_of(path: Path) -> str | None:
    """The one file a session directory was scored from (its meta.json), if it is one."""
    try:
        files = json.loads((path / "meta.json").read_text(encoding="utf-8"))["source"]["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return files[0] if isinstance(files, list) and len(files) == 1 else None


class _ScoreBatch:
    """A Ray Data actor: one ``CallScorer`` for its life, one call per batch."""

    def __init__(self, settings: ScoreSettings):
        self.scorer = CallScorer(settings)

    def __call__(self, batch: dict) -> dict:
        import numpy as np
        import ray

        rows = []
        for f, session, digest in zip(
            batch["file"], batch["session"], batch["digest"], strict=True
        ):
            row = self.scorer.row(Path(f), Path(session), str(digest))
            usage = resource.getrusage(resource.RUSAGE_SELF)
            row[WORKER] = {
                "node": ray.get_runtime_context().get_node_id(),
                "pid": os.getpid(),
                "peak_rss_mb": round(usage.ru_maxrss / 1024),
                "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            }
            rows.append(json.dumps(row))
        return {"row": np.array(rows, dtype=object)}


QUIET = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}


def start_local_ray(cpus: int) -> None:
    """A Ray on this machine, in this process, with ``cpus`` CPUs and no dashboard or worker
    logs (tests and benchmarks start theirs with it too)."""
    import ray

    ray.init(address="local", num_cpus=cpus, **QUIET)


NATIVE_LOG = re.compile(rb"^\[\d{4}-\d\d-\d\d [\d:,]+ [DIWEF] \d+ \d+\] \S+\.(cc|h):\d+: ")


@contextlib.contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Ray's C++ core writes its own log lines ("[2026-... E 123 123] core_worker.cc:...") to
    this process's standard error, where they would break the progress bar and read like our
    errors. Inside this block standard error goes through a pipe that drops those lines and
    passes everything else on (our warnings included)."""
    sys.stderr.flush()
    saved = os.dup(2)
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)

    def forward() -> None:
        with os.fdopen(read, "rb") as pipe:
            for line in pipe:
                if not NATIVE_LOG.match(line):
                    os.write(saved, line)

    thread = threading.Thread(target=forward, daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last writer here is gone: the thread reads to its end
        thread.join(timeout=5)
        os.close(saved)


def _reachable(address: str, timeout_s: float = 5.0) -> None:
    """A head node's ``HOST:PORT`` must answer, or Ray would retry for minutes."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if address == "auto" or not host:
        return  # "auto": the cluster `ray start` left on this machine; Ray finds it
    if not port.isdigit():
        raise VoicesimError(f"--ray-address {address}: give HOST:PORT of the head node")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise VoicesimError(
            f"cannot join the Ray cluster at {address}: nothing answers there ({exc}); "
            "start it with `ray start --head` or check the address"
        ) from None


def _connect(address: str | None, workers: int | None) -> tuple[bool, int]:
    """Join the cluster at ``address``, or start a local Ray with this machine's cores.
    Returns (started here, CPUs the cluster has)."""
    import ray

    logging.getLogger("ray.data").setLevel(logging.ERROR)  # its logs would break the bar
    started = False
    if not ray.is_initialized():
        if address:
            _reachable(address)
            try:
                ray.init(address=address, **QUIET)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise VoicesimError(f"cannot join the Ray cluster at {address}: {exc}") from None
        else:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
            start_local_ray(max(cores or os.cpu_count() or 1, workers or 1))
        started = True
    return started, int(ray.cluster_resources().get("CPU", 0))


def score_on_ray(
    jobs: list[Job],
    settings: ScoreSettings,
    on_row: Callable[[dict], None],
    workers: int | None = None,
    address: str | None = None,
) -> int:
    """Score ``jobs`` on a pool of ``workers`` actors (default: one per CPU of the cluster),
    calling ``on_row`` with each row as its call finishes; returns the pool's size."""
    import ray
    from ray.data import ActorPoolStrategy, DataContext

    with quiet_native_logs():
        started, cpus = _connect(address, workers)
        try:
            if workers is not None and workers > cpus:
                raise VoicesimError(
                    f"--workers {workers}: the Ray cluster has {cpus} CPUs, one per worker"
                )
            size = max(1, min(workers or cpus, len(jobs)))
            ctx = DataContext.get_current()
            ctx.enable_progress_bars = False  # the command shows its own
            ctx.print_on_execution_start = False
            ctx.enable_auto_log_stats = False
            items = [
                {"file": str(j.file), "session": str(j.session), "digest": j.digest} for j in jobs
            ]
            ds = ray.data.from_items(items, override_num_blocks=len(items))  # a block per call
            ds = ds.map_batches(
                _ScoreBatch,
                fn_constructor_kwargs={"settings": settings},
                batch_size=1,
                batch_format="numpy",
                compute=ActorPoolStrategy(size=size),
                num_cpus=1,
            )
            for r in ds.iter_rows():
                on_row(json.loads(r["row"]))
            return size
        finally:
            if started:
                ray.shutdown()


def append_journal(root: Path, row: dict) -> None:
    """One finished call, on disk before the next one arrives."""
    with open(root / JOURNAL, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({k: v for k, v in row.items() if k != WORKER}) + "\n")


def write_summary(rows: Iterable[dict], csv_path: Path) -> Path:
    """summary.csv and summary.parquet (beside it): one row per call, the columns of every
    row (the rubric's families included); returns the Parquet file's path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{k: v for k, v in r.items() if k != WORKER} for r in rows]
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    tmp = csv_path.with_name(csv_path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, csv_path)
    parquet = csv_path.with_suffix(".parquet")
    table = pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows])
    pq.write_table(table, parquet.with_name(parquet.name + ".tmp"))
    os.replace(parquet.with_name(parquet.name + ".tmp"), parquet)
    return parquet
