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
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

from fastapi.testclient import TestClient  # noqa: E402
from lab_support import (  # noqa: E402
    PASSWORD,
    ApiLab,
    LiveServer,
    param_store,
    settle,
    upload_settled,
    web_login,
)

from voicesim.errors import SessionError  # noqa: E402
from voicesim.lab.store import TRAINER, Store, create_user  # noqa: E402
from voicesim.report.session import parse_events  # noqa: E402


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    s = param_store(request, tmp_path, "hostile")
    yield s
    s.close()


class Lab(ApiLab):
    """Trainer tina with a cohort of ann and bob, and trainer tom, through the API."""

    def __init__(self, store: Store, **app_options) -> None:  # noqa: ANN003
        super().__init__(store, ("tina", "tom"), **app_options)

    def upload_to_new_drill(self, data: bytes) -> int:
        """ann's upload of ``data`` to a new drill of tina's (practice allowed): its id."""
        drill = self.drill().json()["id"]
        r = upload_settled(
            self.http,
            f"/api/sessions?drill={drill}",
            {**self.ann, "Content-Type": "application/zip"},
            content=data,
        )
        assert r.status_code == 202 and r.json()["status"] == "scored", r.text
        return r.json()["id"]

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


def _held_intake(store: Store, monkeypatch, queue: int) -> tuple:  # noqa: ANN001
    """A lab with one intake turn whose upload is held at its start until ``release`` is set:
    (lab, started, release)."""
    started, release = threading.Event(), threading.Event()

    def held(*args):  # noqa: ANN002, ANN202
        started.set()
        assert release.wait(120), "never released"
        return {"ok": True, "duplicate": False}

    monkeypatch.setattr("voicesim.lab.routes.sessions.unpack_and_store", held)
    return Lab(store, intake_workers=1, unpacking_queue=queue), started, release


def _post(url: str, data: bytes, headers: dict) -> tuple:
    """A POST to a live server: (status, headers, body), errors included."""
    req = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def test_a_full_scoring_queue_answers_503_and_sign_in_never_waits(store, monkeypatch):
    """Unpacking and checking run in a bounded pool off the event loop (scoring comes later,
    from the queue: test_lab_queue): while the only worker is busy and the pool's queue is
    full, another upload gets 503 with Retry-After, and signing in still works."""
    lab, started, release = _held_intake(store, monkeypatch, queue=1)
    pool = lab.app.state.intake
    with LiveServer(lab.app) as server:

        def post(path: str, data: bytes, headers: dict) -> tuple:
            return _post(server.url + path, data, headers)

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
    assert sorted(a[0] for a in answers) == [202, 202]


def test_uploads_waiting_their_turn_hold_no_database_connection(store, monkeypatch):
    """Thirty uploads waiting for one busy intake turn (more than the database pool's 15
    connections) leave the trainer's pages their connections: a page answers while the first
    upload is still held. (Each waiting upload held the connection that checked its trainee,
    and the pages waited for the pool's 30 s timeout.)"""
    lab, started, release = _held_intake(store, monkeypatch, queue=40)
    pool = lab.app.state.intake
    with LiveServer(lab.app) as server:

        def post(path: str, data: bytes, headers: dict) -> int:
            return _post(server.url + path, data, headers)[0]

        upload = {**lab.ann, "Content-Type": "application/zip"}
        codes: list[int] = []
        senders = [
            threading.Thread(target=lambda: codes.append(post("/api/sessions", b"PK", upload)))
            for _ in range(31)
        ]
        for t in senders:
            t.start()
        try:
            assert started.wait(60)
            while pool.waiting < 31 and any(t.is_alive() for t in senders):
                release.wait(0.01)  # every upload has checked its trainee and waits its turn
            req = urllib.request.Request(server.url + "/api/cohorts", headers=lab.tina)
            with urllib.request.urlopen(req, timeout=20) as r:
                assert r.status == 200
        finally:
            release.set()
            for t in senders:
                t.join(60)
    assert codes == [202] * 31


def test_an_upload_sent_too_slowly_loses_its_turn_with_408(store, monkeypatch):
    """An admitted upload must arrive in time: a client that sends part of its body and
    stops is answered 408 and no longer holds one of the few intake turns."""
    import socket

    monkeypatch.setattr("voicesim.lab.uploads.RECEIVE_TIMEOUT_S", 0.5)
    lab = Lab(store, intake_workers=1)
    with LiveServer(lab.app) as server, socket.create_connection(("127.0.0.1", server.port)) as c:
        head = (
            "POST /api/sessions HTTP/1.1\r\nHost: lab\r\n"
            f"Authorization: {lab.ann['Authorization']}\r\n"
            "Content-Type: application/zip\r\nContent-Length: 100000\r\n\r\n"
        )
        c.sendall(head.encode() + b"PK" + b"\0" * 1000)  # then nothing more
        c.settimeout(60)
        answer = b""
        while b"too slowly" not in answer:  # the head and the body may come in two parts
            part = c.recv(65536)
            if not part:
                break
            answer += part
        answer = answer.decode("latin-1")
        assert answer.startswith("HTTP/1.1 408"), answer[:200]
        assert "too slowly" in answer
        assert lab.app.state.intake.waiting == 0


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


def test_a_drill_is_edited_and_retired_by_its_trainer_only(lab, two_calls):
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
    data = two_calls[0]
    up = lab.http.post(
        f"/api/sessions?drill={drill}",
        headers={**lab.ann, "Content-Type": "application/zip"},
        content=data,
    )
    assert up.status_code == 202, up.text
    settle(lab.app)
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


def test_a_drill_may_show_guidance_and_its_trainer_turns_it_on_or_off(lab):
    plain = lab.drill().json()
    assert plain["guidance"] is False  # off unless the trainer asks for it
    coached = lab.drill(guidance=True).json()
    assert coached["guidance"] is True
    mine = {d["id"]: d for d in lab.call("get", "/api/assignments", lab.ann)}
    assert mine[coached["id"]]["guidance"] is True  # what the station reads
    url = f"/api/drills/{plain['id']}"
    assert lab.call("patch", url, lab.tina, json={"guidance": True})["guidance"] is True
    assert lab.http.patch(url, headers=lab.tom, json={"guidance": False}).status_code == 404


# -- 3. a trainee two trainers share ------------------------------------------------------------
@pytest.fixture(scope="module")
def two_calls(tmp_path_factory) -> list[bytes]:
    """Two simulated sessions of damaged-blender, packed for upload."""
    from lab_support import simulated_session

    from voicesim.lab.archive import pack_session

    root = tmp_path_factory.mktemp("hostile")
    return [pack_session(simulated_session(root / t, t))[0] for t in ("poor-agent", "model-agent")]


def _shared(lab: Lab, calls: list[bytes]) -> tuple[int, int, int]:
    """ann, tina's trainee, also in tom's cohort by her consent; one session of hers on a drill
    of tina's and one practice session: (tom's cohort, tina's session, the practice session)."""
    toms = lab.call("post", "/api/cohorts", lab.tom, json={"name": "Tom's"})["id"]
    asked = lab.http.post(
        f"/api/cohorts/{toms}/trainees",
        headers=lab.tom,
        json={"username": "ann", "password": PASSWORD},
    )
    assert asked.status_code == 202
    (inv,) = lab.call("get", "/api/invitations", lab.ann)
    lab.call("post", f"/api/invitations/{inv['id']}/accept", lab.ann)
    drill = lab.drill().json()["id"]
    ids = []
    for q, data in zip((f"?drill={drill}", ""), calls, strict=True):
        r = lab.http.post(
            "/api/sessions" + q,
            headers={**lab.ann, "Content-Type": "application/zip"},
            content=data,
        )
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
    settle(lab.app)
    return toms, ids[0], ids[1]


def test_a_second_trainer_reviews_only_their_own_drills_sessions(lab, two_calls):
    toms, drilled, practice = _shared(lab, two_calls)
    # tom sees both sessions (ann joined his cohort) but reviews neither: not his drill
    assert lab.http.get(f"/api/sessions/{drilled}/review", headers=lab.tom).status_code == 200
    for sid in (drilled, practice):
        comment = {"text": "not yours to say", "t": 3}
        r = lab.http.post(f"/api/sessions/{sid}/comments", headers=lab.tom, json=comment)
        assert r.status_code == 403 and "only the trainer" in r.text, r.text
        override = {"criterion": "empathy_acknowledge", "points": 0, "reason": "mine now"}
        r = lab.http.post(f"/api/sessions/{sid}/overrides", headers=lab.tom, json=override)
        assert r.status_code == 403
    review = lab.call("get", f"/api/sessions/{drilled}/review", lab.tina)
    assert review["comments"] == [] and review["overrides"] == []
    # the page shows tom no review forms, and its forms refuse him too
    web = TestClient(lab.app)
    assert web_login(web, "tom").status_code == 200
    page = web.get(f"/sessions/{drilled}").text
    assert f'action="/sessions/{drilled}/comments"' not in page
    import re

    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
    r = web.post(f"/sessions/{drilled}/comments", data={"csrf": csrf, "text": "x", "t": ""})
    assert r.status_code == 200 and "only the trainer" in r.text
    # tina, whose drill and trainee it is, reviews both
    for sid in (drilled, practice):
        lab.call("post", f"/api/sessions/{sid}/comments", lab.tina, json={"text": "good", "t": 3})


def test_only_the_trainees_own_trainer_resets_their_password(lab, two_calls):
    toms, _, _ = _shared(lab, two_calls)
    new = {"password": "tom knows this one"}
    r = lab.http.post(f"/api/cohorts/{toms}/trainees/ann/password", headers=lab.tom, json=new)
    assert r.status_code == 403 and "own trainer" in r.text
    lab.http.post("/api/login", json={"username": "ann", "password": new["password"]})
    assert lab.login("ann")  # unchanged
    web = TestClient(lab.app)
    web_login(web, "tom")
    import re

    page = web.get(f"/cohorts/{toms}/trainees/ann").text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
    r = web.post(f"/cohorts/{toms}/trainees/ann/password", data={"csrf": csrf, **new})
    assert "own trainer" in r.text and lab.login("ann")
    # her own trainer may, and so may the lab machine's command (the admin)
    body = {"password": "a brand new secret"}
    lab.call("post", f"/api/cohorts/{lab.cohort}/trainees/ann/password", lab.tina, json=body)
    assert lab.login("ann", body["password"])
    from voicesim.cli import main

    store = ["--data", str(lab.store.data_dir), "--database", lab.store.url]
    assert main(["lab", "set-password", "Ann", "--password", "set on the lab machine", *store]) == 0
    assert lab.login("ann", "set on the lab machine")


def test_only_the_invited_trainee_accepts_an_invitation(lab, two_calls):
    toms, _, _ = _shared(lab, two_calls)
    with lab.store.Session() as db:
        create_user(db, "tess", PASSWORD, TRAINER)
        db.commit()
    tess = lab.login("tess")
    hers = lab.call("post", "/api/cohorts", tess, json={"name": "Tess's"})["id"]
    body = {"username": "ann", "password": PASSWORD}
    assert (
        lab.http.post(f"/api/cohorts/{hers}/trainees", headers=tess, json=body).status_code == 202
    )
    (inv,) = [i for i in lab.call("get", "/api/invitations", lab.tom) if i["cohort"] == "Tess's"]
    # tom and tina both have ann in a cohort: neither may accept for her
    for trainer in (lab.tom, lab.tina):
        assert (
            lab.http.post(f"/api/invitations/{inv['id']}/accept", headers=trainer).status_code
            == 404
        )
    assert lab.call("get", f"/api/cohorts/{hers}/table", tess)["trainees"] == []
    lab.call("post", f"/api/invitations/{inv['id']}/accept", lab.ann)
    assert lab.call("get", f"/api/cohorts/{hers}/table", tess)["trainees"] == ["ann"]


def test_names_that_read_alike_are_one_name(lab, capsys):
    for name in ("Ann", "ANN", "ann.", "_ann_"):
        body = {"username": name, "password": PASSWORD}
        r = lab.http.post(f"/api/cohorts/{lab.cohort}/trainees", headers=lab.tina, json=body)
        assert r.status_code == 409 and "already in this cohort" in r.text, (name, r.text)
    with lab.store.Session() as db:
        from voicesim.lab.store import NameTaken

        for name in ("Tina", "tina.", "TINA"):
            with pytest.raises(NameTaken, match="reads as the existing 'tina'"):
                create_user(db, name, PASSWORD, TRAINER)
        with pytest.raises(NameTaken, match="needs a letter or a digit"):
            create_user(db, "...", PASSWORD, TRAINER)
    # one account, whichever way it is typed
    assert lab.login("Ann") and lab.login("ANN.")
    from voicesim.cli import main

    store = ["--data", str(lab.store.data_dir), "--database", lab.store.url]
    assert main(["lab", "add-trainer", "Tom", "--password", "another good secret", *store]) == 2
    assert "reads as the existing 'tom'" in capsys.readouterr().err


# -- 5. the station client, the CLI -----------------------------------------------------------------
class _OddLab:
    """A server on a free port that answers every connection with ``answer(request_line)``
    (raw bytes: not necessarily HTTP), then closes."""

    def __init__(self, answer) -> None:  # noqa: ANN001
        import socket

        self.answer = answer
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                conn.sendall(self.answer(data.split(b"\r\n", 1)[0].decode()))

    def close(self) -> None:
        self.sock.close()


def _http(status: str, body: bytes, ctype: str = "application/json") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"Connection: close\r\n\r\n" + body


def _signed_in_then(body: bytes):  # noqa: ANN202
    """Signs in fine, then answers ``body`` to everything else."""
    return lambda line: (
        _http("200 OK", b'{"token": "t"}') if "/api/login" in line else _http("200 OK", body)
    )


ODD_ANSWERS = {
    "an ssh server on the port": lambda line: b"SSH-2.0-OpenSSH_9.6\r\n",
    "a connection closed unanswered": lambda line: b"",
    "a web page": lambda line: _http("200 OK", b"<html>It works!</html>", "text/html"),
    "a list for a sign-in": lambda line: _http("200 OK", b"[]"),
    "a token that is a number": lambda line: _http("200 OK", b'{"token": 5}'),
    "a proxy's error page": lambda line: _http("502 Bad Gateway", b"<h1>bad</h1>", "text/html"),
    "half an answer": lambda line: b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"tok',
    "drills that are an object": _signed_in_then(b'{"detail": "hm"}'),
    "a drill without its fields": _signed_in_then(b'[{"id": "1"}]'),
    "a drill due on no date": _signed_in_then(
        b'[{"id": 1, "persona": "p", "attempts_allowed": 2, "due": "soon"}]'
    ),
}


@pytest.mark.parametrize("case", list(ODD_ANSWERS))
def test_the_station_client_says_what_went_wrong_in_one_line(case, capsys):
    from voicesim.cli import main

    odd = _OddLab(ODD_ANSWERS[case])
    try:
        argv = ["lab", "drills", "--lab", odd.url, "--user", "ann", "--password", PASSWORD]
        assert main(argv) == 2
    finally:
        odd.close()
    err = capsys.readouterr().err
    assert err.startswith("voicesim: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and odd.url in err or "failed: 502" in err, err


def test_the_station_client_names_a_lab_out_of_reach(capsys):
    from lab_support import free_port

    from voicesim.cli import main

    url = f"http://127.0.0.1:{free_port()}"
    assert main(["lab", "drills", "--lab", url, "--user", "ann", "--password", PASSWORD]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot reach the lab at {url}" in err, err


def test_score_text_refuses_deeply_nested_json(capsys, monkeypatch):
    import io

    from voicesim.cli import main

    line = '{"text": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(line))
    assert main(["rubric", "score-text"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "-:1: JSON nested too deeply" in err, err


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_score_refuses_a_fifo_or_a_device(kind, tmp_path, capsys):
    """A FIFO as input hung for ever (it waits for a writer); /dev/zero never ends."""
    from voicesim.cli import main

    if kind == "fifo":
        path = tmp_path / "call.txt"
        os.mkfifo(path)
    else:
        path = Path("/dev/zero")
    assert main(["score", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a regular file (a FIFO, device or socket)" in err, err
    fifo = tmp_path / "trainee.wav"
    os.mkfifo(fifo)
    argv = ["score", "--customer", str(path), "--trainee", str(fifo), "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert "not a regular file" in capsys.readouterr().err


# -- 5. the sign-in throttle, the form token, a full disk ------------------------------------------
def test_the_throttle_counts_the_connections_address_not_x_forwarded_for(store):
    """uvicorn read X-Forwarded-For from 127.0.0.1 by default: a new made-up address per guess
    and the throttle never slowed anyone. ``lab serve`` now reads it only from a named proxy."""
    from voicesim.lab.commands import server_options
    from voicesim.lab.security import LoginThrottle

    lab = Lab(store, throttle=LoginThrottle(attempts=3, window=60))
    answers = []
    with LiveServer(lab.app, **server_options()) as server:
        for i in range(5):
            body = json.dumps({"username": "ann", "password": "not her password"}).encode()
            req = urllib.request.Request(
                server.url + "/api/login",
                data=body,
                headers={"Content-Type": "application/json", "X-Forwarded-For": f"10.9.8.{i}"},
            )
            try:
                urllib.request.urlopen(req, timeout=30)
            except urllib.error.HTTPError as e:
                answers.append(e.code)
    assert answers == [401, 401, 401, 429, 429]
    assert server_options("10.0.0.1, 10.0.0.2")["forwarded_allow_ips"] == ["10.0.0.1", "10.0.0.2"]
    assert server_options("10.0.0.1")["proxy_headers"] is True


def test_the_sign_in_form_token_needs_the_labs_secret(store, tmp_path):
    """The token was sha256 of the browser's cookie with no secret: whoever could plant the
    cookie could make the token. Now it is an HMAC under a secret kept in the data folder."""
    import hashlib
    import re
    import stat

    from voicesim.lab.security import login_token
    from voicesim.lab.store import SECRET_FILE

    secret_file = store.data_dir / SECRET_FILE
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    web = TestClient(Lab(store).app)
    form = web.get("/login")
    browser = web.cookies.get("lab_login")
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', form.text).group(1)
    assert token == login_token(browser, store.secret)
    # the old, unkeyed token for a planted cookie is refused
    planted = hashlib.sha256(b"voicesim-lab-login:" + browser.encode()).hexdigest()
    body = {"username": "tina", "password": PASSWORD, "csrf": planted}
    r = web.post("/login", data=body)
    assert "the sign-in form is stale" in r.text and "lab_token" not in web.cookies
    assert web.post("/login", data={**body, "csrf": token}).status_code == 200
    assert "lab_token" in web.cookies
    # the secret is the data folder's: the same after a restart, another for another lab
    assert Store(store.data_dir, store.url).secret == store.secret
    assert login_token(browser, Store(tmp_path / "other").secret) != token


def _enospc(*args, **kw):  # noqa: ANN002, ANN003, ANN202
    raise OSError(28, "No space left on device")


def _db_full(*args, **kw):  # noqa: ANN002, ANN003, ANN202
    import sqlite3

    from sqlalchemy.exc import OperationalError

    raise OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full"))


@pytest.mark.parametrize("failure", [_enospc, _db_full], ids=["enospc", "database-full"])
def test_a_full_disk_is_503_not_500(lab, monkeypatch, failure):
    """Sign-in (API and form) and comments write to the disk; a full one answered 500."""
    body = {"username": "ann", "password": PASSWORD}
    drill = lab.drill().json()["id"]
    assert drill
    monkeypatch.setattr("voicesim.lab.routes.auth.issue_token", failure)
    monkeypatch.setattr("voicesim.lab.routes.pages.issue_token", failure)
    monkeypatch.setattr("voicesim.lab.routes.sessions.add_comment", failure)
    monkeypatch.setattr("voicesim.lab.routes.sessions.reviewable_upload", lambda *a: None)
    r = lab.http.post("/api/login", json=body)
    assert r.status_code == 503 and r.headers["Retry-After"] == "30", r.text
    assert "try again later" in r.json()["detail"]
    web = TestClient(lab.app)
    r = web_login(web, "ann")
    assert r.status_code == 503 and "try again later" in r.text
    r = lab.http.post("/api/sessions/1/comments", headers=lab.tina, json={"text": "x"})
    assert r.status_code == 503 and r.headers["Retry-After"] == "30"


# -- 6. what a trainer misses ------------------------------------------------------------------------
def test_the_trainees_home_coaching_follows_the_trainers_overrides(lab, two_calls):
    """After tina gave two coached criteria full points, ann's home still told her to work on
    both (the served report was right)."""
    import html
    import re

    from voicesim.lab.reviews import machine_card
    from voicesim.lab.store import Upload

    sid = lab.upload_to_new_drill(two_calls[0])
    web = TestClient(lab.app)
    web_login(web, "ann")

    def coached() -> str:
        page = web.get("/").text
        found = re.search(r'<section id="coaching">.*?</section>', page, re.S)
        return html.unescape(found.group(0)) if found else ""

    with lab.store.Session() as db:
        card = machine_card(lab.store.session_path(db.get(Upload, sid)))
    points = {c["id"]: c["points"] for f in card["families"] for c in f["criteria"]}
    tips = card["coaching"]["focus"][:2]
    assert len(tips) == 2 and all(t["label"] in coached() for t in tips)
    for tip in tips:
        body = {"criterion": tip["criterion"], "points": points[tip["criterion"]], "reason": "ok"}
        lab.call("post", f"/api/sessions/{sid}/overrides", lab.tina, json=body)
    assert not any(t["label"] in coached() for t in tips), coached()


def test_every_lab_page_fits_a_375_px_phone(tmp_path, two_calls):
    """At 375 px the cohort page was 664 px wide and the trainee's home 681 px."""
    from browser_support import CHROMIUM, launch
    from playwright.sync_api import sync_playwright

    if CHROMIUM is None:
        pytest.skip("chromium is not installed (`make setup-test` installs it)")
    lab = Lab(Store(tmp_path / "lab"))
    drill = lab.drill(due="2030-01-31", pass_mark=60).json()["id"]
    up = lab.http.post(
        f"/api/sessions?drill={drill}",
        headers={**lab.ann, "Content-Type": "application/zip"},
        content=two_calls[0],
    )
    sid = up.json()["id"]
    settle(lab.app)
    comment = {"text": "a long comment " * 12, "t": 12.5}
    lab.call("post", f"/api/sessions/{sid}/comments", lab.tina, json=comment)
    pages = {
        "tina": ["/", f"/cohorts/{lab.cohort}", f"/cohorts/{lab.cohort}/trainees/ann"]
        + [f"/sessions/{sid}"],
        "ann": ["/", f"/sessions/{sid}"],
    }
    wide = {}
    with LiveServer(lab.app) as server, sync_playwright() as p:
        browser = launch(p)
        for name, urls in pages.items():
            page = browser.new_page(viewport={"width": 375, "height": 800})
            page.goto(server.url + "/login")
            wide["/login"] = page.evaluate("document.documentElement.scrollWidth")
            page.fill("input[name=username]", name)
            page.fill("input[name=password]", PASSWORD)
            with page.expect_navigation():
                page.click("button:has-text('Sign in')")
            for url in urls:
                page.goto(server.url + url)
                assert "Sign in" not in page.title()
                wide[f"{name} {url}"] = page.evaluate("document.documentElement.scrollWidth")
            page.close()
        browser.close()
    assert all(w <= 375 for w in wide.values()), wide


def test_in_a_browser_the_review_page_plays_the_call_and_a_line_comment_shows_on_the_report(
    tmp_path, two_calls
):
    """The trainer's workbench as a trainer uses it, at 375 px: the review page's player plays
    the call (its time moves), a comment typed on a transcript line is saved at that line's
    moment, and the report's timeline shows it."""
    from browser_support import CHROMIUM, launch
    from playwright.sync_api import sync_playwright

    if CHROMIUM is None:
        pytest.skip("chromium is not installed (`make setup-test` installs it)")
    lab = Lab(Store(tmp_path / "lab"))
    sid = lab.upload_to_new_drill(two_calls[0])
    with LiveServer(lab.app) as server, sync_playwright() as p:
        browser = launch(p, "--autoplay-policy=no-user-gesture-required")
        page = browser.new_page(viewport={"width": 375, "height": 800})
        page.goto(server.url + "/login")
        page.fill("input[name=username]", "tina")
        page.fill("input[name=password]", PASSWORD)
        with page.expect_navigation():
            page.click("button:has-text('Sign in')")
        page.goto(f"{server.url}/sessions/{sid}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        played = page.evaluate(
            """() => new Promise((resolve) => {
                const audio = document.getElementById('call-audio');
                const now = () => resolve([audio.currentTime, audio.duration]);
                audio.addEventListener('error', now);  // not served, or not audio
                setTimeout(now, 60000);  // never started
                audio.addEventListener('timeupdate', () => {
                    if (audio.currentTime > 0.3) resolve([audio.currentTime, audio.duration]);
                });
                audio.play();
            })"""
        )
        assert played[0] > 0.3 and played[1] > 30  # it plays, and it is the whole call
        line = page.locator("#transcript tr", has_text="trainee").first
        moment = float(line.get_attribute("data-t"))
        line.locator("input[name=text]").fill("acknowledge the cracked jug first")
        with page.expect_navigation():
            line.locator("button:has-text('Comment here')").click()
        assert "comment added" in page.content()
        page.goto(f"{server.url}/sessions/{sid}/report")
        assert "acknowledge the cracked jug first" in page.content()
        browser.close()
    review = lab.call("get", f"/api/sessions/{sid}/review", lab.tina)
    assert [(c["t"], c["text"]) for c in review["comments"]] == [
        (round(moment, 2), "acknowledge the cracked jug first")
    ]


def test_a_trainers_rubric_cannot_claim_the_builtin_rubrics_id(lab):
    from voicesim.rubric.rubric import DEFAULT_RUBRIC

    text = DEFAULT_RUBRIC.read_text().replace("pass_mark: 70\n", "pass_mark: 10\n", 1)
    r = lab.http.post("/api/rubrics", headers=lab.tina, json={"name": "easy", "text": text})
    assert r.status_code == 422 and "id: 'default' is the built-in rubric's id" in r.text
    own = text.replace("id: default\n", "id: easy\n", 1)
    assert (
        lab.http.post(
            "/api/rubrics", headers=lab.tina, json={"name": "easy", "text": own}
        ).status_code
        == 201
    )


def test_the_cohort_page_edits_and_retires_a_drill(lab):
    import re

    drill = lab.drill(attempts_allowed=2).json()["id"]
    web = TestClient(lab.app)
    web_login(web, "tina")
    page = web.get(f"/cohorts/{lab.cohort}").text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
    assert f'action="/drills/{drill}/edit"' in page and f'action="/drills/{drill}/retire"' in page
    form = {"csrf": csrf, "due": "2031-05-01", "attempts_allowed": "4"}
    r = web.post(f"/drills/{drill}/edit", data=form)
    assert r.status_code == 200 and f"drill #{drill} changed" in r.text
    (d,) = [d for d in lab.call("get", "/api/assignments", lab.ann) if d["id"] == drill]
    assert (d["due"], d["attempts_allowed"], d["allow_practice"]) == ("2031-05-01", 4, False)
    r = web.post(f"/drills/{drill}/edit", data={**form, "due": "9999-12-31"})
    assert "due: the due date must be between 2000-01-01 and 2100-12-31" in r.text
    r = web.post(f"/drills/{drill}/retire", data={"csrf": csrf})
    assert f"drill #{drill} retired" in r.text and 'class="mute retired"' in r.text
    assert drill not in [d["id"] for d in lab.call("get", "/api/assignments", lab.ann)]
    # another trainer's browser: not theirs
    tom = TestClient(lab.app)
    web_login(tom, "tom")
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', tom.get("/").text).group(1)
    assert tom.post(f"/drills/{drill}/edit", data={**form, "csrf": token}).status_code == 404


def test_the_review_page_shows_the_transcript_and_comments_on_a_line(lab, two_calls):
    """The review page had no transcript; a comment's time was typed as mm:ss by hand."""
    import html
    import re

    sid = lab.upload_to_new_drill(two_calls[0])
    web = TestClient(lab.app)
    web_login(web, "tina")
    page = web.get(f"/sessions/{sid}").text
    rows = re.findall(
        r'<tr data-t="([0-9.]+)"><td>([0-9:.]+)</td><td class="mute">(\w+)</td>', page
    )
    assert {who for _, _, who in rows} == {"customer", "trainee"} and len(rows) >= 4
    t, shown, _ = next(r for r in rows if r[2] == "trainee")
    forms = re.findall(r'<input type="hidden" name="t" value="([0-9.]+)">', page)
    assert forms == [r[0] for r in rows]  # one comment form per line, at its moment
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
    r = web.post(f"/sessions/{sid}/comments", data={"csrf": csrf, "t": t, "text": "say sorry here"})
    assert r.status_code == 200 and "comment added" in r.text
    assert f"<b>{shown}</b>" in html.unescape(r.text).split('id="comments"')[1]
    review = lab.call("get", f"/api/sessions/{sid}/review", lab.tina)
    assert [(c["t"], c["text"]) for c in review["comments"]] == [
        (round(float(t), 2), "say sorry here")
    ]
    assert "say sorry here" in web.get(f"/sessions/{sid}/report").text  # on the report's timeline
    # the trainee reads the same transcript, without the forms
    mine = TestClient(lab.app)
    web_login(mine, "ann")
    hers = mine.get(f"/sessions/{sid}")
    assert 'id="transcript"' in hers.text and 'name="t"' not in hers.text
    # and both play the call: the page's player, its audio served to who may see the session
    player = f'<audio id="call-audio" controls preload="none" src="/sessions/{sid}/call.wav">'
    assert player in page and player in hers.text
    assert "media-src 'self'" in hers.headers["Content-Security-Policy"]
    import zipfile

    wav = zipfile.ZipFile(__import__("io").BytesIO(two_calls[0])).read("call.wav")
    for client in (web, mine):
        got = client.get(f"/sessions/{sid}/call.wav")
        assert got.status_code == 200 and got.headers["content-type"] == "audio/wav"
        assert got.content == wav
    assert lab.http.get(f"/sessions/{sid}/call.wav", headers=lab.bob).status_code == 404
    assert lab.http.get(f"/sessions/{sid}/call.wav").status_code == 401
