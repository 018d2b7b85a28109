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
