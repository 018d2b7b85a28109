"""Helpers for the lab tests: a private PostgreSQL cluster, a live uvicorn server, a cutting proxy."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voicesim.lab.store import Store

PASSWORD = "correct horse battery"


def strict_rubric() -> str:
    """The built-in rubric renamed, with a higher pass mark and its first family weighted 5x."""
    from voicesim.rubric.rubric import DEFAULT_RUBRIC

    text = DEFAULT_RUBRIC.read_text()
    text = text.replace("id: default\n", "id: strict\n", 1)
    text = text.replace("pass_mark: 70\n", "pass_mark: 90\n", 1)
    return text.replace("    weight: 1\n", "    weight: 5\n", 1)


def simulated_session(out: Path, trainee: str = "poor-agent") -> Path:
    """A finished damaged-blender session, made by `voicesim simulate` as a user would."""
    from voicesim.cli import main

    argv = ["simulate", "--persona", "damaged-blender", "--trainee", trainee, "--seed", "0"]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0
    return out


LIVE_CALL = Path(__file__).parent / "data" / "lab" / "live-call"


def live_with_audio(sim_dir: Path, trainee: str | None = None) -> dict[str, bytes]:
    """An honest live call with its audio, for a lab that hears what it scores: a simulated
    session (its trainee side really says the words of its events) with the station's live
    stream, device statistics, clock and latency measures of tests/data/lab/live-call (a real
    `voicesim drill --lab` session, which keeps no call.wav), and without the simulation's
    scripted lines and synthetic trainee voice. The source check cannot tell it from a live
    call (a careful forgery of every field passes it, ``provenance``): what it carries is the
    words its audio says. ``trainee``: another trainee text for every trainee line (an
    edited events.jsonl, whose audio does not say it)."""
    import json

    from voicesim.lab.archive import directory_files

    files = directory_files(sim_dir)
    live = json.loads((LIVE_CALL / "meta.json").read_text())
    events = [json.loads(x) for x in files["events.jsonl"].splitlines() if x.strip()]
    events = [e for e in events if e["type"] != "scripted"]
    end = next(e for e in events if e["type"] == "call_end")
    finals = [e for e in events if e["type"] == "final"]
    if trainee is not None:
        for e in finals:
            e["text"] = trainee
            e["words"] = []
    meta = json.loads(files["meta.json"])
    source = dict(live["source"])
    source["final_latency"] = [{"utterance": e["utterance"], "s": 1.0} for e in finals]
    source["device_stats"] = {**source["device_stats"], "callbacks": int(end["duration"] * 100)}
    meta["source"] = source
    meta["voices"] = {"customer": meta["voices"]["customer"]}
    meta["duration_s"] = end["duration"]
    lines = "".join(json.dumps(e) + "\n" for e in events)
    return files | {"meta.json": json.dumps(meta).encode(), "events.jsonl": lines.encode()}


class ApiLab:
    """Trainer tina with a cohort of ann and bob (and any other ``trainers``, each signed in
    as the attribute of their name), through the API."""

    def __init__(self, store: Store, trainers: tuple[str, ...] = ("tina",), **app_options) -> None:  # noqa: ANN003
        from fastapi.testclient import TestClient

        from voicesim.lab.app import create_app
        from voicesim.lab.store import TRAINER, create_user

        self.store = store
        self.app = create_app(store, **app_options)
        self.http = TestClient(self.app)
        with store.Session() as db:
            for name in ("tina", *(t for t in trainers if t != "tina")):
                create_user(db, name, PASSWORD, TRAINER)
            db.commit()
        self.tina = self.login("tina")
        for name in trainers:
            setattr(self, name, self.login(name))
        self.cohort = self.call("post", "/api/cohorts", self.tina, json={"name": "June"})["id"]
        for name in ("ann", "bob"):
            body = {"username": name, "password": PASSWORD}
            self.call("post", f"/api/cohorts/{self.cohort}/trainees", self.tina, json=body)
        self.ann, self.bob = self.login("ann"), self.login("bob")

    def login(self, name: str, password: str = PASSWORD) -> dict:
        r = self.http.post("/api/login", json={"username": name, "password": password})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def page(self, who: dict, url: str) -> str:
        """A lab page as the browser of ``who`` (signed in: the token in the pages' cookie)."""
        from fastapi.testclient import TestClient

        token = who["Authorization"].removeprefix("Bearer ")
        r = TestClient(self.app, cookies={"lab_token": token}).get(url)
        assert r.status_code == 200, r.text
        return r.text

    def call(self, method: str, url: str, headers: dict, **kw):  # noqa: ANN003, ANN201
        r = getattr(self.http, method)(url, headers=headers, **kw)
        assert r.status_code < 300, r.text
        return r.json()

    def drill(self, **body) -> int:  # noqa: ANN003
        body = {"persona": "damaged-blender", **body}
        return self.call("post", f"/api/cohorts/{self.cohort}/drills", self.tina, json=body)["id"]

    def upload(self, who: dict, files: dict[str, bytes], drill: int | None = None):  # noqa: ANN201
        """Uploaded and scored (``Settled``: the answer's code, the session once scored)."""
        q = f"?drill={drill}" if drill else ""
        return upload_settled(
            self.http,
            "/api/sessions" + q,
            {**who, "Content-Type": "application/zip"},
            content=pack_files(files),
        )


def pack_files(files: dict[str, bytes]) -> bytes:
    """A session's files as an upload: a zip with them in one folder."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in files.items():
            zf.writestr(f"s/{name}", content)
    return buf.getvalue()


class TrainerDesk:
    """A lab store with trainer tina and a cohort holding trainee ann: the trainer's side of a
    station test, driven through the API."""

    def __init__(self, root: Path) -> None:
        from fastapi.testclient import TestClient

        from voicesim.lab.app import create_app
        from voicesim.lab.store import TRAINER, Store, create_user

        self.store = Store(root)
        with self.store.Session() as db:
            create_user(db, "tina", PASSWORD, TRAINER)
            db.commit()
        self.app = create_app(self.store)
        self.http = TestClient(self.app)
        token = self.call("post", "/api/login", json={"username": "tina", "password": PASSWORD})
        self.headers = {"Authorization": f"Bearer {token['token']}"}
        self.cohort = self.call("post", "/api/cohorts", json={"name": "c"})["id"]
        body = {"username": "ann", "password": PASSWORD}
        self.call("post", f"/api/cohorts/{self.cohort}/trainees", json=body)

    def call(self, method: str, url: str, **kw):  # noqa: ANN003, ANN201
        r = getattr(self.http, method)(url, headers=getattr(self, "headers", {}), **kw)
        assert r.status_code < 300, r.text
        return r.json()

    def assign(self, **body) -> int:  # noqa: ANN003
        return self.call("post", f"/api/cohorts/{self.cohort}/drills", json=body)["id"]

    def add_rubric(self, name: str, text: str) -> None:
        self.call("post", "/api/rubrics", json={"name": name, "text": text})

    def close(self) -> None:
        self.store.close()


def page_login(page, url: str, name: str, password: str = PASSWORD) -> None:  # noqa: ANN001
    """Sign a Playwright page in through the lab's sign-in form at ``url``."""
    page.goto(url + "/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("button:has-text('Sign in')")


def form_token(html: str) -> str:
    """The form token (``csrf``) of a lab page's forms."""
    import re

    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def settle(app) -> None:  # noqa: ANN001
    """Wait until the lab's scoring queue is idle: every upload answered so far is scored,
    refused or failed (the queue's own state, never a sleep; the timeout only stops a hang)."""
    assert app.state.scoring.wait_idle(timeout=900), "the lab's scoring queue never went idle"


class Settled:
    """An upload's answer (status code, text) with ``json()`` read again once the queue has
    settled: the session as the lab holds it then, plus ``duplicate`` from the answer."""

    def __init__(self, http, response, headers: dict) -> None:  # noqa: ANN001
        self.status_code, self.text, self.first = response.status_code, response.text, response
        self._json = response.json() if response.content else None
        if response.status_code in (200, 202):
            settle(http.app)
            again = http.get(self._json["url"], headers=headers)
            assert again.status_code == 200, again.text
            self._json = again.json() | {"duplicate": self._json["duplicate"]}

    def json(self):  # noqa: ANN201
        return self._json


def upload_settled(http, url: str, headers: dict, **kw) -> Settled:  # noqa: ANN001, ANN003
    """POST an upload and wait for the lab to score it (``Settled``)."""
    return Settled(http, http.post(url, headers=headers, **kw), headers)


def web_login(web, name: str, password: str = PASSWORD, **kw):  # noqa: ANN001, ANN003, ANN201
    """Sign a browser (a TestClient) in through the sign-in form, with the form's token."""
    import re

    form = web.get("/login").text
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', form).group(1)
    return web.post("/login", data={"username": name, "password": password, "csrf": token}, **kw)


_db_counter = iter(range(10**6))


def param_store(request, tmp_path: Path, prefix: str):  # noqa: ANN001, ANN201
    """A lab Store on SQLite (``request.param`` "sqlite") or on a fresh database of the
    module's PostgreSQL cluster, for a fixture parametrised over both."""
    from voicesim.lab.store import Store

    url = None
    if request.param == "postgresql":
        cluster = request.getfixturevalue("pg_cluster")
        url = cluster.create_database(f"{prefix}_{os.getpid()}_{next(_db_counter)}")
    return Store(tmp_path / "lab", url)


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """A throw-away PostgreSQL cluster with Debian's binaries, on a unix socket only.

    Root cannot run postgres, so as root the server runs as the ``postgres`` system user
    (created by Debian's package)."""

    def __init__(self) -> None:
        self.bin = _pg_bin()
        if self.bin is None:
            raise RuntimeError(
                "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); "
                "`make setup-test` installs Debian's postgresql"
            )
        self.root = Path(tempfile.mkdtemp(prefix="voicesim-pg-"))
        self.data = self.root / "data"
        self.sock = self.root / "sock"
        self.sock.mkdir()
        self.port = free_port()
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root and there is no 'postgres' user") from None
            os.chmod(self.root, 0o755)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            os.chown(self.sock, pw.pw_uid, pw.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]
            self.user = "postgres"
        else:
            self.user = pwd.getpwuid(os.geteuid()).pw_name

    def _run(self, *cmd: str) -> None:
        subprocess.run(
            [*self.prefix, *cmd], check=True, capture_output=True, text=True, cwd=self.root
        )

    def start(self) -> PgCluster:
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", self.user,
            "--no-sync", "-E", "UTF8",
        )  # fmt: skip
        opts = (
            f"-c listen_addresses='' -c unix_socket_directories={self.sock} -p {self.port} "
            "-c fsync=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts, "-w", "-t", "60",
            "-l", str(self.root / "log"), "start",
        )  # fmt: skip
        return self

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@/{dbname}?host={self.sock}&port={self.port}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(
            host=str(self.sock), port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class LiveServer:
    """The lab app on uvicorn in a thread, on 127.0.0.1 and a free port."""

    def __init__(self, app, **options) -> None:  # noqa: ANN001, ANN003
        import uvicorn

        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        options = {"log_level": "warning", **options}
        self.server = uvicorn.Server(uvicorn.Config(app, lifespan="off", **options))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]})

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


class CuttingProxy:
    """Forwards TCP to ``upstream``; for the first ``cut`` connections it delivers the request
    but drops the server's answer and closes the connection: an upload interrupted after the
    server has it."""

    def __init__(self, upstream_port: int, cut: int = 1) -> None:
        self.upstream = upstream_port
        self.cut = cut
        self.connections = 0
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> CuttingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self._stop = True
        self.listener.close()

    def _serve(self) -> None:
        while not self._stop:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            drop = self.connections <= self.cut
            threading.Thread(target=self._pipe, args=(client, drop), daemon=True).start()

    def _pipe(self, client: socket.socket, drop: bool) -> None:
        up = socket.create_connection(("127.0.0.1", self.upstream))

        def forward() -> None:
            try:
                while data := client.recv(65536):
                    up.sendall(data)
            except OSError:
                pass

        threading.Thread(target=forward, daemon=True).start()
        try:
            while data := up.recv(65536):
                if not drop:
                    client.sendall(data)
                else:
                    break  # the server answered: it has the upload; the station never hears
        except OSError:
            pass
        finally:
            for s in (client, up):
                try:
                    s.shutdown(socket.SHUT_RDWR)  # wakes the forwarding thread too
                except OSError:
                    pass
            client.close()
            up.close()
