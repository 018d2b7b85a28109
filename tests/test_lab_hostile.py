"""The lab against a hostile trainee and a busy trainer (issue 27): rubric patterns that cannot
explode, bounded transcript lines and archives, drills with sane dates that can be edited and
retired, who may act on a trainee two trainers share, names that cannot be told apart, the
sign-in throttle behind a proxy, a full disk, and the station client's and CLI's errors."""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

from fastapi.testclient import TestClient  # noqa: E402
from lab_support import PASSWORD, LiveServer  # noqa: E402

from voicesim.errors import SessionError  # noqa: E402
from voicesim.lab.app import create_app  # noqa: E402
from voicesim.lab.store import TRAINER, Store, create_user  # noqa: E402
from voicesim.report.session import parse_events  # noqa: E402

_db_counter = iter(range(10**6))


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    url = None
    if request.param == "postgresql":
        cluster = request.getfixturevalue("pg_cluster")
        url = cluster.create_database(f"hostile_{os.getpid()}_{next(_db_counter)}")
    s = Store(tmp_path / "lab", url)
    yield s
    s.close()


class Lab:
    """Trainer tina with a cohort of ann and bob, and trainer tom, through the API."""

    def __init__(self, store: Store, **app_options) -> None:  # noqa: ANN003
        self.store = store
        self.app = create_app(store, **app_options)
        self.http = TestClient(self.app)
        with store.Session() as db:
            create_user(db, "tina", PASSWORD, TRAINER)
            create_user(db, "tom", PASSWORD, TRAINER)
            db.commit()
        self.tina, self.tom = self.login("tina"), self.login("tom")
        self.cohort = self.call("post", "/api/cohorts", self.tina, json={"name": "June"})["id"]
        for name in ("ann", "bob"):
            body = {"username": name, "password": PASSWORD}
            self.call("post", f"/api/cohorts/{self.cohort}/trainees", self.tina, json=body)
        self.ann, self.bob = self.login("ann"), self.login("bob")

    def login(self, name: str, password: str = PASSWORD) -> dict:
        r = self.http.post("/api/login", json={"username": name, "password": password})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def call(self, method: str, url: str, headers: dict, **kw):  # noqa: ANN003, ANN201
        r = getattr(self.http, method)(url, headers=headers, **kw)
        assert r.status_code < 300, r.text
        return r.json()

    def drill(self, headers: dict | None = None, cohort: int | None = None, **body):  # noqa: ANN003, ANN201
        body = {"persona": "damaged-blender", "allow_practice": True, **body}
        url = f"/api/cohorts/{cohort or self.cohort}/drills"
        return self.http.post(url, headers=headers or self.tina, json=body)


@pytest.fixture
def lab(store) -> Lab:
    return Lab(store)


# -- 1. nothing a trainee sends makes scoring slow ------------------------------------------------
def _events(text: str) -> bytes:
    lines = [
        {"type": "call_start", "t": 0.0},
        {"type": "final", "t": 1.0, "end": 2.0, "who": "trainee", "text": text},
        {"type": "call_end", "t": 3.0, "duration": 3.0},
    ]
    return "".join(json.dumps(e) + "\n" for e in lines).encode()


def test_a_transcribed_line_is_bounded():
    """Every phrase is matched over every line: a 20,000-character line was accepted."""
    assert len(parse_events(_events("a" * 5_000), "events.jsonl")) == 3
    with pytest.raises(SessionError) as err:
        parse_events(_events("a" * 5_001), "events.jsonl")
    assert "events.jsonl:2: text:" in str(err.value)
    assert "longer than 5000 characters" in str(err.value)


def test_a_full_scoring_queue_answers_503_and_sign_in_never_waits(store, monkeypatch):
    """Scoring runs in a bounded pool off the event loop: while the only worker is busy and
    the queue is full, another upload gets 503 with Retry-After, and signing in still works."""
    started, release = threading.Event(), threading.Event()

    def slow_scoring(*args):  # noqa: ANN002, ANN202
        started.set()
        release.wait(60)
        return {"ok": True}

    monkeypatch.setattr("voicesim.lab.routes.sessions.unpack_and_store", slow_scoring)
    lab = Lab(store, scoring_workers=1, scoring_queue=1)
    pool = lab.app.state.scoring
    with LiveServer(lab.app) as server:

        def post(path: str, data: bytes, headers: dict) -> tuple:
            req = urllib.request.Request(server.url + path, data=data, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    return r.status, r.headers, r.read().decode()
            except urllib.error.HTTPError as e:
                return e.code, e.headers, e.read().decode()

        upload = {**lab.ann, "Content-Type": "application/zip"}
        answers: list = []
        first = threading.Thread(
            target=lambda: answers.append(post("/api/sessions", b"PK", upload))
        )
        first.start()
        assert started.wait(60)
        second = threading.Thread(
            target=lambda: answers.append(post("/api/sessions", b"PK", upload))
        )
        second.start()
        while pool.waiting < 2 and second.is_alive():  # the second one waits its turn
            release.wait(0.01)
        try:
            code, headers, body = post("/api/sessions", b"PK", upload)
            assert code == 503 and headers["Retry-After"] == "5" and "busy" in body
            login = json.dumps({"username": "bob", "password": PASSWORD}).encode()
            code, _, body = post("/api/login", login, {"Content-Type": "application/json"})
            assert code == 200 and "token" in body
        finally:
            release.set()
        first.join(60)
        second.join(60)
    assert sorted(a[0] for a in answers) == [200, 200]


# -- 2. bounded everything ------------------------------------------------------------------------
def _tar_gz(members: list[tuple[str, bytes]]) -> bytes:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def test_an_archive_is_refused_at_the_first_member_past_the_limit():
    """Members are checked as they are walked (a running total of their sizes): a tar.gz of
    15 members x 255 MiB of zeros was inflated whole (17-19 s) before the refusal. Here the
    archive is cut short after the members that pass the limit: a walk that stops at the limit
    never reaches the damage, one that walks on reports a damaged archive instead."""
    from voicesim.lab.archive import ArchiveError, read_archive

    limit = 1 << 20
    zeros = b"\0" * (600 << 10)
    data = _tar_gz(
        [("events.jsonl", b"{}\n"), ("call.wav", zeros), ("report.html", zeros)]
        + [("report.html", os.urandom(256 << 10))] * 3
    )
    cut = data[: len(data) - (400 << 10)]
    with pytest.raises(ArchiveError, match=f"unpacks to more than {limit} bytes"):
        read_archive(cut, limit)
    # a name that is not a session file is refused as it is walked, before any inflating
    bad = _tar_gz([("notes.txt", b"x"), ("call.wav", os.urandom(256 << 10))])
    with pytest.raises(ArchiveError, match="not a session file: 'notes.txt'"):
        read_archive(bad[: len(bad) - (128 << 10)], limit)


def test_due_dates_are_within_a_sane_range(lab):
    for due in ("9999-12-31", "1899-01-01", "2101-01-01"):
        r = lab.drill(due=due)
        assert r.status_code == 422 and "between 2000-01-01 and 2100-12-31" in r.text, r.text
    assert lab.drill(due="2100-12-31").status_code == 201
    # a drill stored before dates were checked leaves its cohort's pages working
    from voicesim.lab.store import Drill

    drill = lab.drill().json()["id"]
    with lab.store.Session() as db:
        db.get(Drill, drill).due = __import__("datetime").datetime(9999, 12, 31)
        db.commit()
    table = lab.http.get(f"/api/cohorts/{lab.cohort}/table", headers=lab.tina)
    assert table.status_code == 200 and {r["status"] for r in table.json()["table"]} == {"open"}
    assert (
        lab.http.get(f"/api/cohorts/{lab.cohort}/export.csv", headers=lab.tina).status_code == 200
    )


def test_a_drill_is_edited_and_retired_by_its_trainer_only(lab, tmp_path):
    from lab_support import simulated_session

    from voicesim.lab.archive import pack_session

    drill = lab.drill(pass_mark=60, attempts_allowed=2).json()["id"]
    url = f"/api/drills/{drill}"
    assert lab.http.patch(url, headers=lab.tom, json={"due": "2030-01-01"}).status_code == 404
    assert lab.http.post(url + "/retire", headers=lab.tom).status_code == 404
    assert lab.http.patch(url, headers=lab.ann, json={"due": "2030-01-01"}).status_code == 403
    edited = lab.call("patch", url, lab.tina, json={"due": "2030-01-01", "attempts_allowed": 5})
    assert (edited["due"], edited["attempts_allowed"], edited["pass_mark"]) == ("2030-01-01", 5, 60)
    assert lab.call("patch", url, lab.tina, json={"due": None})["due"] is None
    bad = lab.http.patch(url, headers=lab.tina, json={"due": "9999-12-31"})
    assert bad.status_code == 422 and "between" in bad.text
    assert lab.http.patch(url, headers=lab.tina, json={"persona": "x"}).status_code == 422
    # the pass mark changes only while no session was scored with it
    assert lab.call("patch", url, lab.tina, json={"pass_mark": 65})["pass_mark"] == 65
    data, _ = pack_session(simulated_session(tmp_path / "s"))
    up = lab.http.post(
        f"/api/sessions?drill={drill}",
        headers={**lab.ann, "Content-Type": "application/zip"},
        content=data,
    )
    assert up.status_code == 200, up.text
    again = lab.http.patch(url, headers=lab.tina, json={"pass_mark": 50})
    assert again.status_code == 409 and "retire it" in again.text
    # retired: out of the assignments, no more uploads, its session and results stay
    assigned = [d["id"] for d in lab.call("get", "/api/assignments", lab.ann)]
    assert drill in assigned
    retired = lab.call("post", url + "/retire", lab.tina)
    assert retired["retired"]
    assert drill not in [d["id"] for d in lab.call("get", "/api/assignments", lab.ann)]
    late = lab.http.post(
        f"/api/sessions?drill={drill}",
        headers={**lab.bob, "Content-Type": "application/zip"},
        content=data,
    )
    assert late.status_code == 409 and "retired" in late.text
    table = lab.call("get", f"/api/cohorts/{lab.cohort}/table", lab.tina)
    assert [r["attempts"] for r in table["table"] if r["trainee"] == "ann"] == [1]
