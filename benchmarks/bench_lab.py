"""The training lab under load, against a real uvicorn server on 127.0.0.1 (SQLite store), with
the lab's own transcription and scoring on: 30 simulated stations upload at once while a trainer
opens the dashboard (the cohort table API) and the cohort page; accepted uploads per second, the
trainer's p95 while the stations upload and the queue drains, the queue's drain time, what the
lab's transcription and scoring cost per call minute (CPU seconds), and the dashboard's
response time with 10,000 stored sessions. Request counts are bounded: the run stops by
itself."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, percentile, report  # noqa: E402

STATIONS = 30
TRAINER_CLIENTS = 4  # the trainer's browser tabs and scripts, asking while the stations upload
PASSWORD = "bench password 1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_session(tmp: Path) -> Path:
    out = tmp / "session"
    subprocess.run(
        [sys.executable, "-m", "voicesim", "simulate", "--persona", "damaged-blender"]
        + ["--trainee", "poor-agent", "--seed", "0", "--out", str(out), "--quiet"],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    return out


def variant_zip(session: Path, n: int) -> bytes:
    """The session with a distinct meta.json, so each upload is a new session (no dedup)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ("events.jsonl", "scorecard.json", "call.wav"):
            zf.write(session / name, name)
        meta = json.loads((session / "meta.json").read_text())
        meta["bench_variant"] = n
        zf.writestr("meta.json", json.dumps(meta))
    return buf.getvalue()


def run_stations(fn, per_station: int) -> tuple[float, list[float]]:  # noqa: ANN001
    latencies: list[float] = []
    lock = threading.Lock()
    errors: list[str] = []

    def station(i: int) -> None:
        mine = []
        try:
            for k in range(per_station):
                t0 = time.perf_counter()
                fn(i, k)
                mine.append(time.perf_counter() - t0)
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=station, args=(i,)) for i in range(STATIONS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} station(s) failed: {errors[0]}")
    return wall, latencies


class _Trainer:
    """``TRAINER_CLIENTS`` threads asking for the cohort table API and the cohort page in turn
    (each asks again as soon as it has its answer) until stopped, each request timed, in a
    process of their own: the trainer's browser is not on the stations' machines, and in the
    stations' process the timings would include waiting for that process's interpreter."""

    def __init__(self, base: str, auth: str, cohort: int) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self.stopped = ctx.Event()
        self.answers = ctx.Queue()
        self.process = ctx.Process(
            target=_trainer_process, args=(base, auth, cohort, self.stopped, self.answers)
        )
        self.times: list[tuple[float, str, float]] = []  # (started, kind, seconds)

    def start(self) -> None:
        self.process.start()
        self.answers.get(timeout=60)  # the clients are signed in and asking

    def stop(self) -> None:
        self.stopped.set()
        self.times = self.answers.get(timeout=120)
        self.process.join(30)

    def between(self, t0: float, t1: float) -> dict[str, list[float]]:
        """Request times by kind for the requests started between ``t0`` and ``t1``
        (``time.time()``)."""
        out: dict[str, list[float]] = {"table": [], "page": []}
        for started, kind, seconds in self.times:
            if t0 <= started <= t1:
                out[kind].append(seconds)
        return out


def _trainer_process(base: str, auth: str, cohort: int, stopped, answers) -> None:  # noqa: ANN001
    import httpx

    times: list[tuple[float, str, float]] = []
    lock = threading.Lock()
    clients = []
    for _ in range(TRAINER_CLIENTS):
        c = httpx.Client(base_url=base, timeout=60, headers={"Authorization": auth})
        c.cookies.set("lab_token", auth.removeprefix("Bearer "))
        clients.append(c)

    def ask(client) -> None:  # noqa: ANN001
        while not stopped.is_set():
            for kind, url in (
                ("table", f"/api/cohorts/{cohort}/table"),
                ("page", f"/cohorts/{cohort}"),
            ):
                started, t0 = time.time(), time.perf_counter()
                client.get(url).raise_for_status()
                with lock:
                    times.append((started, kind, time.perf_counter() - t0))

    for client in clients:  # a lab that has been running: its pages were asked for before
        client.get(f"/api/cohorts/{cohort}/table").raise_for_status()
        client.get(f"/cohorts/{cohort}").raise_for_status()
    threads = [threading.Thread(target=ask, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    answers.put("asking")
    for t in threads:
        t.join()
    answers.put(times)


def _p95_ms(values: list[float]) -> float:
    return round(percentile(values, 95) * 1000, 1)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds so far of a process (all its threads) and of its children
    (the lab's intake and scoring processes)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a process that ended meanwhile
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _wait_drained(data: Path, n: int) -> float:
    """Seconds until the lab's queue holds nothing (all ``n`` uploads scored or refused),
    read from its database every half second; an error if it stops moving for 10 minutes."""
    from sqlalchemy import func, select

    from voicesim.lab.store import PENDING, Store, Upload

    t0 = time.perf_counter()
    store = Store(data)
    last, since = None, time.perf_counter()
    try:
        while True:
            with store.Session() as db:
                left = db.scalar(select(func.count(Upload.id)).where(Upload.status.in_(PENDING)))
            if left == 0:
                return time.perf_counter() - t0
            if left != last:
                last, since = left, time.perf_counter()
            elif time.perf_counter() - since > 600:
                raise RuntimeError(f"the lab's queue is stuck at {left} of {n} sessions")
            time.sleep(0.5)
    finally:
        store.close()


def _call_seconds(session: Path) -> float:
    import soundfile as sf

    return sf.info(str(session / "call.wav")).duration


def _scoring_cost(session: Path, runs: int = 3) -> dict[str, float]:
    """CPU seconds per call minute of what the lab's scoring worker does with one upload:
    hearing the trainee's side (endpointing and Whisper) alone, and hearing plus scoring
    (``library.score_upload``), in this process, after a first warm-up run."""
    from voicesim.lab.hearing import hear
    from voicesim.lab.library import lab_rubric, score_upload
    from voicesim.report.session import read_session
    from voicesim.speech.transcriber import Transcriber

    transcriber = Transcriber()
    rubric = lab_rubric(None, "default")  # the built-in rubric needs no database
    s = read_session(session)
    trainee = s.audio()[1]
    minutes = _call_seconds(session) / 60
    score_upload(session, None, rubric, None, lambda: transcriber)  # warm-up: model, rubric caches
    t0 = time.process_time()
    for _ in range(runs):
        hear(s.events, trainee, transcriber)
    heard = (time.process_time() - t0) / runs
    t0 = time.process_time()
    for _ in range(runs):
        score_upload(session, None, rubric, None, lambda: transcriber)
    both = (time.process_time() - t0) / runs
    return {"transcription": round(heard / minutes, 2), "both": round(both / minutes, 2)}


def main() -> int:
    import httpx
    from sqlalchemy import insert, select

    from voicesim.lab.store import (
        TRAINEE,
        TRAINER,
        Membership,
        SessionScore,
        Store,
        Upload,
        create_user,
    )

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer requests")
    args = ap.parse_args()
    uploads_each = 2 if args.quick else 5
    dash_each = 5 if args.quick else 20
    n_sessions = 2_000 if args.quick else 10_000

    with tempfile.TemporaryDirectory(prefix="bench-lab-") as tmpdir:
        tmp = Path(tmpdir)
        session = make_session(tmp)
        data = tmp / "lab"
        store = Store(data)
        with store.Session() as db:
            create_user(db, "trainer", PASSWORD, TRAINER)
            trainees = [create_user(db, f"st{i:02d}", PASSWORD, TRAINEE) for i in range(STATIONS)]
            db.commit()
            trainee_ids = [t.id for t in trainees]
        store.close()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [sys.executable, "-m", "voicesim", "lab", "serve", "--port", str(port)]
            + ["--data", str(data)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(base + "/login", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError("lab server did not start") from None
                    time.sleep(0.2)
            admin = httpx.Client(base_url=base, timeout=60)
            tok = admin.post("/api/login", json={"username": "trainer", "password": PASSWORD})
            admin.headers["Authorization"] = "Bearer " + tok.json()["token"]
            cohort = admin.post("/api/cohorts", json={"name": "bench"}).json()["id"]
            # members added directly (the API would create new accounts)
            store = Store(data)
            with store.Session() as db:
                db.add_all(Membership(cohort_id=cohort, user_id=u) for u in trainee_ids)
                db.commit()
            store.close()
            drill = admin.post(
                f"/api/cohorts/{cohort}/drills",
                # the stations send simulated calls: the drill takes practice uploads
                json={
                    "persona": "damaged-blender",
                    "attempts_allowed": 1000,
                    "allow_practice": True,
                },
            ).json()["id"]
            clients = []
            for i in range(STATIONS):
                c = httpx.Client(base_url=base, timeout=60)
                t = c.post("/api/login", json={"username": f"st{i:02d}", "password": PASSWORD})
                c.headers["Authorization"] = "Bearer " + t.json()["token"]
                clients.append(c)
            bodies = [
                [variant_zip(session, i * 1000 + k) for k in range(uploads_each)]
                for i in range(STATIONS)
            ]
            size_kb = len(bodies[0][0]) / 1024

            def upload(i: int, k: int) -> None:
                r = clients[i].post(
                    f"/api/sessions?drill={drill}",
                    content=bodies[i][k],
                    headers={"Content-Type": "application/zip"},
                )
                r.raise_for_status()
                assert r.status_code == 202 and r.json()["duplicate"] is False, r.text

            # The trainer asks for the dashboard and the cohort page from the first upload until
            # the queue has drained: the server's busiest time.
            trainer = _Trainer(base, admin.headers["Authorization"], cohort)
            trainer.start()
            cpu0 = _cpu_seconds(server.pid)
            t_first, wall_first = time.perf_counter(), time.time()
            up_wall, up_lat = run_stations(upload, uploads_each)
            n_up = STATIONS * uploads_each
            t_accepted, wall_accepted = time.perf_counter(), time.time()
            _wait_drained(data, n_up)
            t_drained, wall_drained = time.perf_counter(), time.time()
            trainer.stop()
            during_uploads = trainer.between(wall_first, wall_accepted)
            uploads_and_drain = trainer.between(wall_first, wall_drained)
            server_cpu = _cpu_seconds(server.pid) - cpu0
            call_minutes = n_up * _call_seconds(session) / 60
            call_s = _call_seconds(session)
            cost = _scoring_cost(session)

            def dashboard(i: int, k: int) -> None:
                r = admin_pool[i].get(f"/api/cohorts/{cohort}/table")
                r.raise_for_status()

            admin_pool = []
            for _ in range(STATIONS):
                c = httpx.Client(base_url=base, timeout=60)
                c.headers["Authorization"] = admin.headers["Authorization"]
                admin_pool.append(c)
            dash_wall, dash_lat = run_stations(dashboard, dash_each)
            n_dash = STATIONS * dash_each

            # 10,000 stored sessions: rows inserted directly, then the cohort page is timed
            store = Store(data)
            with store.Session() as db:
                fams = {"empathy": 40.0, "ownership": 55.0, "resolution": 62.0, "tone": 71.0}
                rows = [
                    {
                        "owner_id": trainee_ids[n % STATIONS],
                        "drill_id": drill,
                        "digest": uuid.uuid4().hex * 2,
                        "storage_id": uuid.uuid4().hex,
                        "persona": "damaged-blender",
                        "overall": float(n % 100),
                        "families": fams,
                        "passed": n % 100 >= 70,
                        "end_state": "resolved",
                        "status": "scored",
                    }
                    for n in range(n_sessions - n_up)
                ]
                db.execute(insert(Upload), rows)
                ids = db.scalars(select(Upload.id).order_by(Upload.id)).all()
                owners = dict(db.execute(select(Upload.id, Upload.owner_id)).all())
                db.execute(
                    insert(SessionScore),
                    [
                        {"upload_id": i, "owner_id": owners[i], "family": f, "score": v}
                        for i in ids[-len(rows) :]
                        for f, v in fams.items()
                    ],
                )
                db.commit()
            store.close()
            web = httpx.Client(base_url=base, timeout=60)
            form = web.get("/login").text  # the sign-in form carries its own token
            csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form).group(1)
            web.post("/login", data={"username": "trainer", "password": PASSWORD, "csrf": csrf})
            page_times, api_times = [], []
            for _ in range(5 if args.quick else 20):
                t0 = time.perf_counter()
                r = web.get(f"/cohorts/{cohort}")
                page_times.append(time.perf_counter() - t0)
                r.raise_for_status()
                t0 = time.perf_counter()
                admin.get(f"/api/cohorts/{cohort}/table").raise_for_status()
                api_times.append(time.perf_counter() - t0)
            dash10k_wall, dash10k_lat = run_stations(dashboard, max(1, dash_each // 4))
            n_dash10k = STATIONS * max(1, dash_each // 4)
        finally:
            server.terminate()
            server.wait(10)

    result = {
        "stations": STATIONS,
        "uploads": n_up,
        "upload_kb": round(size_kb, 1),
        "call_s": round(call_s, 1),
        "uploads_per_s": round(n_up / up_wall, 1),
        "upload_p95_ms": round(percentile(up_lat, 95) * 1000, 1),
        "trainer_requests_during_uploads": len(during_uploads["table"] + during_uploads["page"]),
        "dashboard_p95_during_uploads_ms": _p95_ms(during_uploads["table"]),
        "cohort_page_p95_during_uploads_ms": _p95_ms(during_uploads["page"]),
        "trainer_requests_uploads_and_drain": len(
            uploads_and_drain["table"] + uploads_and_drain["page"]
        ),
        "dashboard_p95_uploads_and_drain_ms": _p95_ms(uploads_and_drain["table"]),
        "cohort_page_p95_uploads_and_drain_ms": _p95_ms(uploads_and_drain["page"]),
        "queue_drain_after_last_upload_s": round(t_drained - t_accepted, 1),
        "first_upload_to_all_scored_s": round(t_drained - t_first, 1),
        "call_minutes_scored": round(call_minutes, 1),
        "server_cpu_s_per_call_minute": round(server_cpu / call_minutes, 2),
        "transcription_cpu_s_per_call_minute": cost["transcription"],
        "transcription_and_scoring_cpu_s_per_call_minute": cost["both"],
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "dashboard_requests": n_dash,
        "dashboard_per_s": round(n_dash / dash_wall, 1),
        "dashboard_p95_ms": round(percentile(dash_lat, 95) * 1000, 1),
        "sessions_stored": n_sessions,
        "page_10k_median_ms": round(statistics.median(page_times) * 1000, 1),
        "page_10k_p95_ms": round(percentile(page_times, 95) * 1000, 1),
        "table_api_10k_median_ms": round(statistics.median(api_times) * 1000, 1),
        "dashboard_10k_per_s": round(n_dash10k / dash10k_wall, 1),
        "dashboard_10k_p95_ms": round(percentile(dash10k_lat, 95) * 1000, 1),
        "cpus": os.cpu_count(),
    }
    report(
        "lab",
        result,
        [
            ("stations (threads, keep-alive clients)", str(STATIONS)),
            (f"uploads ({size_kb:.0f} KiB zip each)", str(n_up)),
            ("call length (s of audio, transcribed by the lab)", f"{result['call_s']}"),
            ("uploads accepted/s (202, queued)", f"{result['uploads_per_s']}"),
            ("upload p95", f"{result['upload_p95_ms']} ms"),
            (
                "dashboard p95 while 30 stations upload",
                f"{result['dashboard_p95_during_uploads_ms']} ms",
            ),
            (
                "cohort page p95 while 30 stations upload",
                f"{result['cohort_page_p95_during_uploads_ms']} ms",
            ),
            (
                "dashboard p95, uploads and queue drain",
                f"{result['dashboard_p95_uploads_and_drain_ms']} ms",
            ),
            (
                "cohort page p95, uploads and queue drain",
                f"{result['cohort_page_p95_uploads_and_drain_ms']} ms",
            ),
            ("queue drain after the last upload", f"{result['queue_drain_after_last_upload_s']} s"),
            ("first upload to all scored", f"{result['first_upload_to_all_scored_s']} s"),
            (
                "lab server CPU s per call minute (all work)",
                f"{result['server_cpu_s_per_call_minute']}",
            ),
            (
                "transcription CPU s per call minute",
                f"{result['transcription_cpu_s_per_call_minute']}",
            ),
            (
                "transcription + scoring CPU s per call minute",
                f"{result['transcription_and_scoring_cpu_s_per_call_minute']}",
            ),
            ("dashboard (cohort table API) requests/s", f"{result['dashboard_per_s']}"),
            ("dashboard p95", f"{result['dashboard_p95_ms']} ms"),
            (f"cohort page, {n_sessions} sessions, median", f"{result['page_10k_median_ms']} ms"),
            (f"cohort page, {n_sessions} sessions, p95", f"{result['page_10k_p95_ms']} ms"),
            ("cohort table API, 10k sessions, median", f"{result['table_api_10k_median_ms']} ms"),
            ("dashboard requests/s, 30 stations, 10k sessions", f"{result['dashboard_10k_per_s']}"),
            ("dashboard p95, 30 stations, 10k sessions", f"{result['dashboard_10k_p95_ms']} ms"),
            ("load average (1, 5, 15 min) at the end", str(result["load_average"])),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
