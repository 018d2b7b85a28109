"""The training lab: role rules on every endpoint, uploads (type, size, paths, dedup), the
dashboard, the station's outbox, on SQLite and on a real PostgreSQL server, and a browser test."""

from __future__ import annotations

import datetime as _dt
import html
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

from browser_support import CHROMIUM, launch, watch_requests  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from lab_support import (  # noqa: E402
    PASSWORD,
    CuttingProxy,
    LiveServer,
    settle,
    simulated_session,
    strict_rubric,
    upload_settled,
    web_login,
)

from voicesim.cli import main  # noqa: E402
from voicesim.lab.app import create_app  # noqa: E402
from voicesim.lab.archive import pack_session  # noqa: E402
from voicesim.lab.client import (  # noqa: E402
    LabClient,
    enqueue,
    flush_outbox,
    upload_session,
    wait_scored,
)
from voicesim.lab.station import prepare, upload  # noqa: E402
from voicesim.lab.store import (  # noqa: E402
    TRAINER,
    Store,
    create_user,
    head_revision,
    issue_token,
    migrate,
    schema_version,
)


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def session_dir(tmp_path_factory) -> Path:
    return simulated_session(tmp_path_factory.mktemp("labsim") / "session")


_db_counter = iter(range(10**6))


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "postgresql":
        cluster = request.getfixturevalue("pg_cluster")
        url = cluster.create_database(f"lab_{os.getpid()}_{next(_db_counter)}")
    else:
        url = None  # the default: an SQLite file in the data folder
    s = Store(tmp_path / "lab", url)
    yield s
    s.close()


class Lab:
    """A TestClient plus a few accounts: trainer, two trainees in one cohort, one drill."""

    def __init__(self, store: Store):
        self.store = store
        self.http = TestClient(create_app(store))
        with store.Session() as db:
            create_user(db, "tina", PASSWORD, TRAINER)
            db.commit()
        self.trainer = self.login("tina")
        self.cohort = self.post("/api/cohorts", self.trainer, json={"name": "June"}).json()["id"]
        for name in ("ann", "bob"):
            r = self.post(
                f"/api/cohorts/{self.cohort}/trainees",
                self.trainer,
                json={"username": name, "password": PASSWORD},
            )
            assert r.status_code == 201, r.text
        self.drill = self.post(
            f"/api/cohorts/{self.cohort}/drills",
            self.trainer,
            # simulated sessions are these tests' calls: the drill takes practice uploads
            json={
                "persona": "damaged-blender",
                "pass_mark": 60,
                "attempts_allowed": 2,
                "allow_practice": True,
            },
        ).json()["id"]
        self.ann, self.bob = self.login("ann"), self.login("bob")

    def login(self, name: str) -> dict:
        r = self.http.post("/api/login", json={"username": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def post(self, url, headers, **kw):  # noqa: ANN001, ANN003, ANN201
        return self.http.post(url, headers=headers, **kw)

    def get(self, url, headers=None):  # noqa: ANN001, ANN201
        return self.http.get(url, headers=headers or {})

    def upload(self, headers, data: bytes, ctype="application/zip", drill=None):  # noqa: ANN001, ANN201
        """Uploaded and scored (``Settled``: the answer's code, the session once scored)."""
        q = f"?drill={drill}" if drill else ""
        return upload_settled(
            self.http, "/api/sessions" + q, {**headers, "Content-Type": ctype}, content=data
        )


@pytest.fixture
def lab(store) -> Lab:
    return Lab(store)


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buf.getvalue()


def _session_members(session_dir: Path) -> dict[str, bytes]:
    return {
        n: (session_dir / n).read_bytes()
        for n in ("events.jsonl", "meta.json", "scorecard.json", "call.wav")
    }


# -- store ---------------------------------------------------------------------------------------
def test_migrations_are_versioned_and_idempotent(store):
    # Upgrades from the schema of earlier versions: tests/test_lab_migrations.py.
    assert schema_version(store.engine) == head_revision()
    assert migrate(store.engine) == head_revision()  # a second run changes nothing
    with store.Session() as db:
        u = create_user(db, "pat", PASSWORD, TRAINER)
        db.commit()
        assert u.password_hash.startswith("$argon2") and PASSWORD not in u.password_hash


# -- roles ---------------------------------------------------------------------------------------
TRAINER_ONLY = [
    ("post", "/api/cohorts", {"json": {"name": "x"}}),
    ("get", "/api/cohorts", {}),
    ("post", "/api/cohorts/{c}/trainees", {"json": {"username": "eve", "password": PASSWORD}}),
    ("post", "/api/cohorts/{c}/drills", {"json": {"persona": "damaged-blender"}}),
    ("get", "/api/cohorts/{c}/table", {}),
    ("get", "/api/cohorts/{c}/export.csv", {}),
    ("get", "/api/cohorts/{c}/sessions.csv", {}),
    ("get", "/api/rubrics", {}),
    ("post", "/api/rubrics", {"json": {"name": "x", "text": "id: x"}}),
    ("get", "/api/personas", {}),
]


def test_unauthenticated_requests_are_refused(lab):
    for method, url, kw in [
        *TRAINER_ONLY,
        ("get", "/api/assignments", {}),
        ("post", "/api/sessions", {"content": b"PK\x03\x04"}),
        ("get", "/api/sessions", {}),
        ("get", "/api/sessions/1", {}),
        ("get", "/api/drills/1/rubric", {}),
        ("get", "/sessions/1/report", {}),
        ("get", "/api/me", {}),
    ]:
        r = getattr(lab.http, method)(url.format(c=lab.cohort), **kw)
        assert r.status_code == 401, (method, url)
    bad = {"Authorization": "Bearer not-a-token"}
    assert lab.get("/api/me", bad).status_code == 401
    # pages send a visitor to the sign-in form
    r = lab.http.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_wrong_password_gets_no_token(lab):
    r = lab.http.post("/api/login", json={"username": "ann", "password": "wrong password"})
    assert r.status_code == 401 and "token" not in r.json()
    r = lab.http.post("/api/login", json={"username": "nobody", "password": PASSWORD})
    assert r.status_code == 401


def test_password_guessing_is_slowed_down(tmp_path):
    import time

    from voicesim.lab.app import LoginThrottle

    store = Store(tmp_path / "lab")
    with store.Session() as db:
        create_user(db, "tina", PASSWORD, TRAINER)
        db.commit()
    http = TestClient(create_app(store, throttle=LoginThrottle(attempts=3, window=1.0)))
    guess = {"username": "tina", "password": "wrong password"}
    assert [http.post("/api/login", json=guess).status_code for _ in range(3)] == [401] * 3
    right = {"username": "tina", "password": PASSWORD}
    r = http.post("/api/login", json=right)  # locked out, even with the right password
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert "too many failed sign-ins" in r.json()["detail"]
    page = http.post("/login", data=right)  # the sign-in form says so too
    assert "too many failed sign-ins" in page.text and 'id="error"' in page.text
    other = {"username": "nobody", "password": PASSWORD}
    assert http.post("/api/login", json=other).status_code == 401  # other names unaffected
    time.sleep(1.1)
    assert http.post("/api/login", json=right).status_code == 200  # the window has passed
    store.close()


def test_expired_token_is_refused(lab):
    from sqlalchemy import select

    from voicesim.lab.store import User

    with lab.store.Session() as db:
        ann = db.scalar(select(User).where(User.username == "ann"))
        token, _ = issue_token(db, ann, _dt.timedelta(seconds=-1))
        db.commit()
    r = lab.get("/api/assignments", {"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert lab.get("/api/assignments", lab.ann).status_code == 200


def test_logout_revokes_the_token(lab):
    assert lab.post("/api/logout", lab.bob).status_code == 200
    assert lab.get("/api/me", lab.bob).status_code == 401


def test_trainee_cannot_use_trainer_endpoints(lab):
    for method, url, kw in TRAINER_ONLY:
        r = getattr(lab.http, method)(url.format(c=lab.cohort), headers=lab.ann, **kw)
        assert r.status_code == 403, (method, url)
    r = lab.http.get(f"/cohorts/{lab.cohort}", headers=lab.ann, follow_redirects=False)
    assert r.status_code == 303  # pages go by the sign-in cookie (trainee pages: see below)


def test_trainer_cannot_upload_or_list_assignments(lab, session_dir):
    data, _ = pack_session(session_dir)
    assert lab.upload(lab.trainer, data).status_code == 403
    assert lab.get("/api/assignments", lab.trainer).status_code == 403


def test_trainee_sees_only_own_sessions(lab, session_dir):
    data, _ = pack_session(session_dir)
    r = lab.upload(lab.ann, data, drill=lab.drill)
    assert r.status_code == 202, r.text
    ann_session = r.json()["id"]
    assert r.json()["duplicate"] is False and r.json()["drill"] == lab.drill
    # bob cannot read it, its report, or see it listed
    assert lab.get(f"/api/sessions/{ann_session}", lab.bob).status_code == 404
    assert lab.get(f"/sessions/{ann_session}/report", lab.bob).status_code == 404
    assert lab.get("/api/sessions", lab.bob).json() == []
    # ann can, and the trainer can
    mine = lab.get("/api/sessions", lab.ann).json()
    assert [s["id"] for s in mine] == [ann_session]
    assert lab.get(f"/api/sessions/{ann_session}", lab.ann).status_code == 200
    report = lab.get(f"/sessions/{ann_session}/report", lab.trainer)
    assert report.status_code == 200 and "voicesim report" in report.text
    listed = lab.get(f"/api/sessions?cohort={lab.cohort}", lab.trainer).json()
    assert [s["owner"] for s in listed] == ["ann"]


def test_assignments_and_attempt_limit(lab, session_dir, tmp_path):
    drills = lab.get("/api/assignments", lab.ann).json()
    assert [(d["id"], d["persona"], d["attempts_left"]) for d in drills] == [
        (lab.drill, "damaged-blender", 2)
    ]
    members = _session_members(session_dir)
    for i in range(2):  # two different sessions (meta differs) use both attempts
        meta = members["meta.json"].replace(b"{", b'{"attempt": %d, ' % i, 1)
        r = lab.upload(lab.ann, _zip({**members, "meta.json": meta}), drill=lab.drill)
        assert r.status_code == 202, r.text
    third = members["meta.json"].replace(b"{", b'{"attempt": 9, ', 1)
    r = lab.upload(lab.ann, _zip({**members, "meta.json": third}), drill=lab.drill)
    assert r.status_code == 409
    # a drill of another cohort is not the trainee's
    other = lab.post("/api/cohorts", lab.trainer, json={"name": "Other"}).json()["id"]
    d2 = lab.post(
        f"/api/cohorts/{other}/drills", lab.trainer, json={"persona": "damaged-blender"}
    ).json()["id"]
    assert lab.upload(lab.bob, _zip(members), drill=d2).status_code == 404


def test_trainers_manage_only_their_own_cohorts(lab, session_dir):
    with lab.store.Session() as db:
        create_user(db, "tom", PASSWORD, TRAINER)
        db.commit()
    tom = lab.login("tom")
    data, _ = pack_session(session_dir)
    sid = lab.upload(lab.ann, data, drill=lab.drill).json()["id"]
    assert lab.get("/api/cohorts", tom).json() == []
    for method, url, kw in TRAINER_ONLY:
        if "{c}" in url:
            r = getattr(lab.http, method)(url.format(c=lab.cohort), headers=tom, **kw)
            assert r.status_code == 404, (method, url)
    assert lab.get("/api/sessions", tom).json() == []
    assert lab.get(f"/api/sessions?cohort={lab.cohort}", tom).status_code == 404
    assert lab.get(f"/api/sessions/{sid}", tom).status_code == 404
    assert lab.get(f"/sessions/{sid}/report", tom).status_code == 404
    assert lab.get(f"/api/drills/{lab.drill}/rubric", tom).status_code == 404
    # tina, who made the cohort, sees it all
    assert [c["name"] for c in lab.get("/api/cohorts", lab.trainer).json()] == ["June"]
    assert lab.get(f"/api/sessions/{sid}", lab.trainer).status_code == 200


def test_rubrics_are_checked_kept_and_served_to_the_drill(lab):
    broken = strict_rubric().replace("pass_mark: 90", "pass_mark: high", 1)
    r = lab.post("/api/rubrics", lab.trainer, json={"name": "strict", "text": broken})
    assert r.status_code == 422
    line = 1 + strict_rubric().splitlines().index("pass_mark: 90")
    assert r.json()["detail"].startswith(f"strict.yaml:{line}: pass_mark: ")
    r = lab.post("/api/rubrics", lab.trainer, json={"name": "strict", "text": strict_rubric()})
    assert r.status_code == 201, r.text
    assert r.json()["id"] == "strict" and r.json()["pass_mark"] == 90
    again = lab.post("/api/rubrics", lab.trainer, json={"name": "strict", "text": "id: x"})
    assert again.status_code == 409  # kept unchanged
    builtin = lab.post("/api/rubrics", lab.trainer, json={"name": "default", "text": "id: x"})
    assert builtin.status_code == 409
    path = lab.post("/api/rubrics", lab.trainer, json={"name": "../x", "text": "id: x"})
    assert path.status_code == 422
    names = [x["name"] for x in lab.get("/api/rubrics", lab.trainer).json()]
    assert names == ["default", "strict"]
    # a drill names a persona and a rubric that exist here
    url = f"/api/cohorts/{lab.cohort}/drills"
    for bad in (
        {"persona": "no-such-persona"},
        {"persona": "../../etc/passwd"},
        {"persona": "damaged-blender", "rubric": "nope"},
    ):
        assert lab.post(url, lab.trainer, json=bad).status_code == 422, bad
    body = {"persona": "damaged-blender", "rubric": "strict"}
    drill = lab.post(url, lab.trainer, json=body).json()["id"]
    got = lab.get(f"/api/drills/{drill}/rubric", lab.ann).json()
    assert got["name"] == "strict" and got["text"] == strict_rubric()
    default = lab.get(f"/api/drills/{lab.drill}/rubric", lab.bob).json()
    assert default["name"] == "default" and "id: default" in default["text"]
    # a trainee of another cohort gets nothing
    other = lab.post("/api/cohorts", lab.trainer, json={"name": "Other"}).json()["id"]
    lab.post(
        f"/api/cohorts/{other}/trainees",
        lab.trainer,
        json={"username": "eve", "password": PASSWORD},
    )
    assert lab.get(f"/api/drills/{drill}/rubric", lab.login("eve")).status_code == 404
    personas = {p["id"] for p in lab.get("/api/personas", lab.trainer).json()}
    assert {"damaged-blender", "late-order"} <= personas


def test_the_server_scores_uploads_with_the_drills_rubric(lab, session_dir):
    from voicesim.lab.hearing import hear
    from voicesim.persona.persona import find_persona, load_persona
    from voicesim.report.session import load_session
    from voicesim.rubric.grade import score_call
    from voicesim.rubric.rubric import load_rubric, parse_rubric
    from voicesim.speech.transcriber import Transcriber

    lab.post("/api/rubrics", lab.trainer, json={"name": "strict", "text": strict_rubric()})
    drill = lab.post(
        f"/api/cohorts/{lab.cohort}/drills",
        lab.trainer,
        json={
            "persona": "damaged-blender",
            "rubric": "strict",
            "pass_mark": 50,
            "allow_practice": True,
        },
    ).json()["id"]
    members = _session_members(session_dir)
    station_card = json.loads(members["scorecard.json"])
    # a forged scorecard is not believed: the server scores the events and audio itself
    forged = {**station_card, "overall": 100.0, "passed": True}
    members["scorecard.json"] = json.dumps(forged).encode()
    r = lab.upload(lab.ann, _zip(members), drill=drill)
    assert r.status_code == 202, r.text
    up = r.json()
    session = load_session(session_dir)
    # scored as the lab scores it: on the words it hears in the trainee's audio
    trainee = session.audio()[1]
    heard = hear(session.events, trainee, Transcriber())
    expected = score_call(
        heard.events,
        parse_rubric(strict_rubric(), "strict.yaml"),
        load_persona(find_persona("damaged-blender")),
        session.audio()[1],
    )
    assert up["overall"] == expected.overall != 100.0
    assert expected.overall != station_card["overall"]  # the weights made a difference
    assert up["passed"] == (expected.overall >= 50)  # the drill's pass mark
    (stored,) = lab.store.sessions_dir.iterdir()
    card = json.loads((stored / "scorecard.json").read_text())
    assert card["rubric"]["id"] == "strict" and card["overall"] == expected.overall
    # without a drill, the built-in rubric: the station's own honest card
    members["scorecard.json"] = json.dumps(station_card).encode()
    members["meta.json"] = members["meta.json"].replace(b"{", b'{"again": 1, ', 1)
    plain = lab.upload(lab.bob, _zip(members)).json()
    builtin = score_call(
        heard.events, load_rubric(), load_persona(find_persona("damaged-blender")), trainee
    )
    assert plain["overall"] == builtin.overall  # the lab's words (the station's may differ)


def test_a_session_with_another_persona_is_refused_for_the_drill(lab, session_dir):
    body = {"persona": "late-order", "allow_practice": True}
    drill = lab.post(f"/api/cohorts/{lab.cohort}/drills", lab.trainer, json=body).json()["id"]
    data, _ = pack_session(session_dir)
    r = lab.upload(lab.ann, data, drill=drill)
    assert r.status_code == 400 and "late-order" in r.json()["detail"]
    assert list(lab.store.sessions_dir.iterdir()) == []


# -- uploads -------------------------------------------------------------------------------------
def test_retried_upload_arrives_once(lab, session_dir):
    data, _ = pack_session(session_dir)
    first = lab.upload(lab.ann, data).json()
    # the same session again, re-packed as a tar with a folder: the same session
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name in ("events.jsonl", "meta.json", "scorecard.json"):
            tf.add(session_dir / name, arcname=f"session/{name}")
    again = lab.upload(lab.ann, buf.getvalue(), ctype="application/gzip")
    assert again.status_code == 200, again.text
    assert again.json()["duplicate"] is True and again.json()["id"] == first["id"]
    assert len(lab.get("/api/sessions", lab.ann).json()) == 1
    assert len(list(lab.store.sessions_dir.iterdir())) == 1


@pytest.mark.parametrize(
    "name",
    ["../events.jsonl", "/etc/events.jsonl", "a/../../events.jsonl", "x/y/events.jsonl", "evil.sh"],
)
def test_upload_paths_are_checked(lab, session_dir, name):
    members = _session_members(session_dir)
    members[name] = b"{}"
    r = lab.upload(lab.ann, _zip(members))
    assert r.status_code == 400, r.text
    assert list(lab.store.sessions_dir.iterdir()) == []
    assert not (lab.store.data_dir / "events.jsonl").exists()


def test_upload_links_and_bad_types_are_refused(lab, session_dir):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("meta.json")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(info)
        tf.add(session_dir / "events.jsonl", arcname="events.jsonl")
    assert lab.upload(lab.ann, buf.getvalue(), ctype="application/x-tar").status_code == 400
    data, _ = pack_session(session_dir)
    assert lab.upload(lab.ann, data, ctype="text/plain").status_code == 415
    assert lab.upload(lab.ann, b"just some text, not an archive").status_code == 400
    assert lab.upload(lab.ann, _zip({"meta.json": b"{}"})).status_code == 400  # no events
    assert lab.upload(lab.ann, _zip({"events.jsonl": b"not json\n"})).status_code == 400


def test_oversized_uploads_are_refused(tmp_path, session_dir):
    store = Store(tmp_path / "small")
    http = TestClient(create_app(store, max_upload=4096, max_unpacked=1_000_000))
    with store.Session() as db:
        create_user(db, "t", PASSWORD, TRAINER)
        db.commit()
    tok = http.post("/api/login", json={"username": "t", "password": PASSWORD}).json()["token"]
    h = {"Authorization": f"Bearer {tok}"}
    c = http.post("/api/cohorts", headers=h, json={"name": "c"}).json()["id"]
    http.post(f"/api/cohorts/{c}/trainees", headers=h, json={"username": "u", "password": PASSWORD})
    tok = http.post("/api/login", json={"username": "u", "password": PASSWORD}).json()["token"]
    h = {"Authorization": f"Bearer {tok}", "Content-Type": "application/zip"}
    data, _ = pack_session(session_dir)
    assert len(data) > 4096
    assert http.post("/api/sessions", headers=h, content=data).status_code == 413
    # a small zip that unpacks big (a zip bomb) is refused too
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("events.jsonl", b"\n" * 2_000_000)
    assert len(bomb.getvalue()) < 4096
    assert http.post("/api/sessions", headers=h, content=bomb.getvalue()).status_code == 400
    store.close()


# -- the trainer's views -------------------------------------------------------------------------
def test_cohort_table_progress_weakest_and_csv(lab, session_dir):
    data, _ = pack_session(session_dir)
    up = lab.upload(lab.ann, data, drill=lab.drill).json()
    view = lab.get(f"/api/cohorts/{lab.cohort}/table", lab.trainer).json()
    rows = {r["trainee"]: r for r in view["table"]}
    assert rows["ann"]["attempts"] == 1 and rows["ann"]["best"] == up["overall"]
    assert rows["ann"]["passed"] == (up["overall"] >= 60)
    assert rows["bob"]["attempts"] == 0 and rows["bob"]["passed"] is None
    assert view["progress"][0]["trainee"] == "ann"
    assert set(view["progress"][0]["families"]) == set(up["families"])
    assert [w["family"] for w in view["weakest"]] == sorted(
        up["families"], key=lambda f: (up["families"][f], f)
    )
    csv = lab.get(f"/api/cohorts/{lab.cohort}/export.csv", lab.trainer)
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert lines[0].startswith("trainee,drill,persona") and len(lines) == 3
    every = lab.get(f"/api/cohorts/{lab.cohort}/sessions.csv", lab.trainer)
    assert every.headers["content-type"].startswith("text/csv")
    import csv as csvlib

    (row,) = list(csvlib.DictReader(io.StringIO(every.text)))
    assert row["session"] == str(up["id"]) and row["trainee"] == "ann"
    assert float(row["overall"]) == up["overall"]
    assert {f: float(row[f]) for f in up["families"]} == up["families"]
    # where the session came from, when it was recorded, and every criterion's result
    meta = json.loads((session_dir / "meta.json").read_text())
    assert row["source"] == "simulated" and row["script"] == meta["source"]["script"]
    assert row["recorded"] == meta["created"]
    (stored,) = lab.store.sessions_dir.iterdir()  # the lab's scorecard, on the words it heard
    card = json.loads((stored / "scorecard.json").read_text())
    for c in (c for f in card["families"] for c in f["criteria"]):
        cell = row[f"criterion:{c['id']}"]
        assert (float(cell) == c["earned"]) if c["applies"] else cell == ""
    assert lab.get(f"/api/cohorts/{lab.cohort}/sessions.csv", lab.ann).status_code == 403
    # weakest skills per criterion, by readable name, weakest first (cohort and trainee pages)
    share = {
        c["label"]: 100 * c["earned"] / c["points"]
        for f in card["families"]
        for c in f["criteria"]
        if c["applies"] and c["points"]
    }
    web = TestClient(lab.http.app)
    web_login(web, "tina")
    for url in (f"/cohorts/{lab.cohort}", f"/cohorts/{lab.cohort}/trainees/ann"):
        page = web.get(url).text
        table = page.split('class="weakest-criteria"')[1].split("</table>")[0]
        shown = [
            html.unescape(x) for x in re.findall(r"<tr data-criterion=[^>]*><td>([^<]+)", table)
        ]
        assert len(shown) == 8 and shown == sorted(shown, key=lambda x: share[x])[:8]
        assert share[shown[0]] == min(share.values())


def test_cohort_table_marks_late_and_overdue_drills(lab, session_dir):
    from sqlalchemy import update

    from voicesim.lab.store import Upload

    def drill(**body) -> int:  # noqa: ANN003
        body = {"allow_practice": True, **body}
        r = lab.post(f"/api/cohorts/{lab.cohort}/drills", lab.trainer, json=body)
        return r.json()["id"]

    past = drill(persona="damaged-blender", pass_mark=10, due="2020-01-31")
    future = drill(persona="damaged-blender", pass_mark=10, due="2030-01-31")
    hard = drill(persona="damaged-blender", pass_mark=95)
    members = _session_members(session_dir)
    ups = {}
    for i, d in enumerate((past, future, hard, past)):
        meta = members["meta.json"].replace(b"{", b'{"attempt": %d, ' % i, 1)
        who = lab.bob if i == 3 else lab.ann
        ups[i] = lab.upload(who, _zip({**members, "meta.json": meta}), drill=d).json()["id"]
    with lab.store.Session() as db:  # bob's attempt was made on the due date itself
        db.execute(
            update(Upload).where(Upload.id == ups[3]).values(created=_dt.datetime(2020, 1, 31, 23))
        )
        db.commit()
    rows = lab.get(f"/api/cohorts/{lab.cohort}/table", lab.trainer).json()["table"]
    status = {(r["trainee"], r["drill"]): r["status"] for r in rows}
    assert status[("ann", past)] == "late"  # passed, after the due date
    assert status[("bob", past)] == "passed"  # passed by the end of the due day
    assert status[("ann", future)] == "passed" and status[("bob", future)] == "open"
    assert status[("ann", hard)] == "failed" and status[("bob", hard)] == "open"
    assert status[("ann", lab.drill)] == "open"  # no attempt, no due date
    csv_rows = lab.get(f"/api/cohorts/{lab.cohort}/export.csv", lab.trainer).text
    assert f"ann,{past},damaged-blender" in csv_rows and ",late" in csv_rows
    # a drill whose due date is gone with no pass is overdue
    gone = drill(persona="damaged-blender", due="2021-06-30")
    rows = lab.get(f"/api/cohorts/{lab.cohort}/table", lab.trainer).json()["table"]
    assert {r["status"] for r in rows if r["drill"] == gone} == {"overdue"}
    web = TestClient(lab.http.app)
    web_login(web, "tina")
    page = web.get(f"/cohorts/{lab.cohort}").text
    assert 'class="late">late</span>' in page and "OVERDUE" in page
    # per drill: how many started, pass rate, median score, who has not started, who is overdue
    figures = {
        int(d): row for d, row in re.findall(r'<tr data-drill="(\d+)">(.*?)</tr>', page, flags=re.S)
    }
    assert "<td>2 / 2</td>" in figures[past] and '"pass-rate">100% (2)' in figures[past]
    score = lab.get(f"/api/cohorts/{lab.cohort}/table", lab.trainer).json()["table"]
    best = next(r["best"] for r in score if r["drill"] == hard and r["trainee"] == "ann")
    assert f'"median">{best:.1f}'.removesuffix(".0") in figures[hard]
    assert '"pass-rate">0% (0)' in figures[hard] and '"not-started">bob<' in figures[hard]
    assert '"pass-rate">-<' in figures[gone] and '"overdue">ann, bob<' in figures[gone]
    assert '"not-started">ann, bob<' in figures[gone]


def test_a_trainees_scores_over_time(lab, session_dir):
    members = _session_members(session_dir)
    ids = []
    for i in range(3):  # three different sessions (meta differs), in order
        meta = members["meta.json"].replace(b"{", b'{"attempt": %d, ' % i, 1)
        ids.append(lab.upload(lab.ann, _zip({**members, "meta.json": meta})).json()["id"])
    view = lab.get(f"/api/cohorts/{lab.cohort}/trainees/ann", lab.trainer).json()
    assert [x["id"] for x in view["sessions"]] == ids  # oldest first
    assert view["families"] == sorted(view["sessions"][0]["families"])
    assert lab.get(f"/api/cohorts/{lab.cohort}/trainees/nobody", lab.trainer).status_code == 404
    assert lab.get(f"/api/cohorts/{lab.cohort}/trainees/ann", lab.bob).status_code == 403
    web = TestClient(lab.http.app)
    web_login(web, "tina")
    assert f'href="/cohorts/{lab.cohort}/trainees/ann"' in web.get(f"/cohorts/{lab.cohort}").text
    page = web.get(f"/cohorts/{lab.cohort}/trainees/ann").text
    # one line per family plus the overall score, three points each
    lines = re.findall(r'<polyline class="series" data-family="([^"]+)"[^>]*points="([^"]+)"', page)
    assert [name for name, _ in lines] == ["overall", *view["families"]]
    assert all(len(points.split()) == 3 for _, points in lines)
    assert all(f'href="/sessions/{i}/report"' in page for i in ids)
    assert "http://" not in page and "https://" not in page
    # another customer's scores get a chart of their own, not a point on the same line
    meta = members["meta.json"].replace(b'"id": "damaged-blender"', b'"id": "late-order"', 1)
    assert meta != members["meta.json"]
    lab.upload(lab.ann, _zip({**members, "meta.json": meta}))
    page = web.get(f"/cohorts/{lab.cohort}/trainees/ann").text
    charts = re.findall(r'<h3 class="persona-chart">([^<]+)</h3>', page)
    assert charts == ["damaged-blender (3 sessions)", "late-order (1 session)"]


def test_a_forgotten_password_is_replaced_and_old_sign_ins_stop(lab, tmp_path, capsys):
    url = f"/api/cohorts/{lab.cohort}/trainees/ann/password"
    new = {"password": "a brand new passphrase"}
    assert lab.post(url, lab.bob, json=new).status_code == 403  # trainers only
    assert lab.post(url, lab.trainer, json={"password": "short"}).status_code == 422
    assert lab.post(url.replace("/ann/", "/nobody/"), lab.trainer, json=new).status_code == 404
    assert lab.post(url, lab.trainer, json=new).status_code == 200
    assert lab.get("/api/assignments", lab.ann).status_code == 401  # signed out everywhere
    old = lab.http.post("/api/login", json={"username": "ann", "password": PASSWORD})
    assert old.status_code == 401
    assert lab.http.post("/api/login", json={"username": "ann", **new}).status_code == 200
    # through the trainee's page
    web = TestClient(lab.http.app)
    web_login(web, "tina")
    page = web.get(f"/cohorts/{lab.cohort}/trainees/ann").text
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
    r = web.post(
        f"/cohorts/{lab.cohort}/trainees/ann/password",
        data={"password": PASSWORD, "csrf": token},
    )
    assert "ann's password is changed" in html.unescape(r.text) and 'id="notice"' in r.text
    assert lab.login("ann")
    # and on the lab machine, for anyone (a trainer too)
    store = ["--data", str(lab.store.data_dir), "--database", lab.store.url]
    cmd = ["lab", "set-password", "--password", "another passphrase", *store]
    assert main([*cmd, "tina"]) == 0
    assert "new password set for tina (trainer)" in capsys.readouterr().out
    again = {"username": "tina", "password": "another passphrase"}
    assert lab.http.post("/api/login", json=again).status_code == 200
    assert main([*cmd, "nobody"]) == 2
    assert "no lab user named 'nobody'" in capsys.readouterr().err


def test_dashboard_pages_by_cookie(lab, session_dir):
    data, _ = pack_session(session_dir)
    sid = lab.upload(lab.bob, data, drill=lab.drill).json()["id"]
    web = TestClient(lab.http.app)
    r = web_login(web, "tina", follow_redirects=False)
    assert r.status_code == 303 and "httponly" in r.headers["set-cookie"].lower()
    page = web.get(f"/cohorts/{lab.cohort}").text
    assert f'href="/sessions/{sid}/report"' in page and "<svg" in page
    assert "http://" not in page and "https://" not in page  # nothing from the internet
    trainee = TestClient(lab.http.app)
    web_login(trainee, "ann")
    assert trainee.get(f"/cohorts/{lab.cohort}").status_code == 403
    home = trainee.get("/").text
    assert f"/sessions/{sid}/report" not in home and "no sessions yet" in home
    assert "voicesim drill --lab http://testserver --user ann" in home
    bob = TestClient(lab.http.app)  # bob sees his own session and his scores over time
    web_login(bob, "bob")
    home = bob.get("/").text
    assert f"/sessions/{sid}/report" in home and 'class="history"' in home
    # his latest session's coaching: what to work on first, with better wording, and dates
    card = json.loads((session_dir / "scorecard.json").read_text())
    tips = card["coaching"]["focus"]
    assert tips and 'id="coaching"' in home and "Work on these first" in home
    assert html.escape(tips[0]["label"]) in home and "Try: &ldquo;" in home
    assert re.search(r"<td>20\d\d-\d\d-\d\d \d\d:\d\d</td>", home)  # dated sessions
    cohort_page = web.get(f"/cohorts/{lab.cohort}").text
    assert re.search(r"<td>20\d\d-\d\d-\d\d \d\d:\d\d</td>", cohort_page)


def test_dashboard_forms_need_this_browsers_form_token(lab):
    web = TestClient(lab.http.app)
    web_login(web, "tina")
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', web.get("/").text).group(1)
    for data in ({"name": "Evening"}, {"name": "Evening", "csrf": "0" * 64}):
        r = web.post("/cohorts", data=data, follow_redirects=False)
        assert r.status_code == 403, data  # a form posted from another site has no token
    r = web.post("/cohorts", data={"name": "Evening", "csrf": token}, follow_redirects=False)
    assert r.status_code == 303
    other = TestClient(lab.http.app)  # another browser's token does not fit this cookie
    web_login(other, "tina")
    r = other.post("/cohorts", data={"name": "Night", "csrf": token}, follow_redirects=False)
    assert r.status_code == 403
    # a mistake in a form comes back to the page as a message, not as JSON
    r = web.post("/cohorts", data={"name": "Evening", "csrf": token})
    assert r.status_code == 200 and "exists" in r.text and 'id="error"' in r.text
    # adding a rubric through the form: checked the same way as through the API
    files = {"file": ("strict.yaml", b"id: [unclosed\n", "application/x-yaml")}
    r = web.post("/rubrics", data={"name": "strict", "csrf": token}, files=files)
    assert "strict.yaml:2: invalid YAML" in r.text
    files = {"file": ("strict.yaml", strict_rubric().encode(), "application/x-yaml")}
    r = web.post("/rubrics", data={"name": "strict", "csrf": token}, files=files)
    assert r.status_code == 200 and "<td>strict</td>" in r.text


# -- the station's outbox, against a real server -------------------------------------------------
def test_outbox_keeps_failed_uploads_and_retries(tmp_path, session_dir):
    store = Store(tmp_path / "lab")
    app = create_app(store)
    with store.Session() as db:
        create_user(db, "t", PASSWORD, TRAINER)
        db.commit()
    outbox = tmp_path / "outbox"
    # the lab is down: the upload stays in the outbox
    down = LabClient("http://127.0.0.1:9", token="x", timeout=2)
    out = upload_session(down, session_dir, outbox, backoff=0)
    assert out.pending and not out.sent and len(list(outbox.glob("*.zip"))) == 1
    with LiveServer(app) as server:
        admin = LabClient(server.url)
        admin.login("t", PASSWORD)
        h = {"Authorization": f"Bearer {admin.token}"}
        http = TestClient(app)
        c = http.post("/api/cohorts", headers=h, json={"name": "c"}).json()["id"]
        http.post(
            f"/api/cohorts/{c}/trainees", headers=h, json={"username": "u", "password": PASSWORD}
        )
        # the connection is cut after the server has the upload: the station retries, and the
        # session arrives once
        station = LabClient(server.url)
        station.login("u", PASSWORD)
        with CuttingProxy(server.port, cut=1) as proxy:
            station.base_url = proxy.url
            out = flush_outbox(station, outbox, backoff=0)
            assert proxy.connections == 2
        assert len(out.sent) == 1 and out.sent[0]["duplicate"] is True
        assert list(outbox.iterdir()) == []
        # queued again later (say, after a crash): still one session
        enqueue(session_dir, outbox)
        station.base_url = server.url
        again = flush_outbox(station, outbox)
        assert again.sent[0]["duplicate"] is True
        assert len(http.get("/api/sessions", headers=h).json()) == 1
    store.close()


# -- a trainer in a real browser -----------------------------------------------------------------
def submit(page, label: str) -> None:  # noqa: ANN001
    with page.expect_navigation():
        page.click(f"button:has-text('{label}')")


def test_trainer_dashboard_in_a_real_browser(tmp_path, session_dir):
    from playwright.sync_api import sync_playwright

    if CHROMIUM is None:
        pytest.skip("chromium is not installed (`make setup-test` installs it)")
    store = Store(tmp_path / "lab")
    with store.Session() as db:
        create_user(db, "tina", PASSWORD, TRAINER)
        db.commit()
    with LiveServer(create_app(store)) as server, sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        outside = watch_requests(page, (server.url,))
        page.goto(server.url + "/")
        assert page.url.endswith("/login")
        page.fill("input[name=username]", "tina")
        page.fill("input[name=password]", PASSWORD)
        submit(page, "Sign in")
        rubric_file = tmp_path / "strict.yaml"
        rubric_file.write_text(strict_rubric())
        page.fill("form[action='/rubrics'] input[name=name]", "strict")
        page.set_input_files("input[type=file]", str(rubric_file))
        submit(page, "Add rubric")
        assert page.locator("#rubrics td", has_text="strict").count() >= 1
        page.fill("form[action='/cohorts'] input[name=name]", "Morning shift")
        submit(page, "Create cohort")
        assert "Cohort Morning shift" in page.title()
        page.fill("form[action$='/trainees'] input[name=username]", "ann")
        page.fill("form[action$='/trainees'] input[name=password]", PASSWORD)
        submit(page, "Add trainee")
        page.select_option("select[name=persona]", "damaged-blender")
        page.select_option("select[name=rubric]", "strict")
        page.fill("input[name=pass_mark]", "60")
        page.fill("input[name=due]", "2030-01-31")
        page.check("input[name=allow_practice]")  # the session below is a simulated one
        submit(page, "Assign drill")
        assert page.locator("#cohort-table td", has_text="damaged-blender").count() == 1
        assert page.locator("#drills td", has_text="strict").count() == 1
        # the trainee's station signs in, gets the drill and its rubric, and uploads the session
        station = prepare(server.url, "ann", PASSWORD, outbox=tmp_path / "outbox", say=print)
        assert station.drill["due"] == "2030-01-31" and station.drill["pass_mark"] == 60
        assert station.rubric_file.read_text() == strict_rubric()
        # the first upload's answer is lost on the way back: the station tries again, and the
        # lab, which already has the session, says so
        with CuttingProxy(server.port, cut=1) as proxy:
            station.client.base_url = proxy.url
            out, path = upload(station, session_dir)
            assert proxy.connections == 2
        station.client.base_url = server.url
        settle(server.server.config.app)  # the lab has scored it (its queue is idle)
        answer = wait_scored(station.client, out.arrived[path])  # read again: no wait now
        assert answer["duplicate"] is True and answer["status"] == "scored"
        card = json.loads((session_dir / "scorecard.json").read_text())
        assert answer["overall"] != card["overall"]  # scored with the strict rubric
        page.reload()
        assert page.locator("#sessions tr", has_text="ann").count() == 1  # it arrived once
        row = page.locator("#sessions tr", has_text="ann")
        shown = f"{answer['overall']:.1f}".removesuffix(".0")
        assert row.locator(".score").inner_text() == shown
        assert page.locator("#cohort-table td.last").inner_text() == shown
        assert page.locator("svg.progress").count() == 1
        row.locator("a[href$='/report']").click()
        page.wait_for_load_state()
        assert page.url.endswith(f"/sessions/{answer['id']}/report")
        assert page.title().startswith("voicesim report")
        browser.close()
    assert not outside  # no CDN, nothing outside the lab
    store.close()


def test_uploaded_meta_cannot_point_the_server_at_its_files(lab, session_dir, tmp_path):
    members = _session_members(session_dir)
    del members["scorecard.json"]  # forces a rescore, which opens the rubric file meta names
    meta = json.loads(members["meta.json"])
    secret = tmp_path / "secret.yaml"
    secret.write_text("id: [not, a, rubric\n")
    meta["rubric"] = {"id": "x", "file": str(secret)}
    meta["persona"] = {"id": "damaged-blender", "file": "/etc/passwd"}
    members["meta.json"] = json.dumps(meta).encode()
    r = lab.upload(lab.ann, _zip(members))
    assert r.status_code == 202, r.text
    (stored,) = lab.store.sessions_dir.iterdir()
    kept = json.loads((stored / "meta.json").read_text())
    assert "file" not in kept["rubric"] and "file" not in kept["persona"]
    assert (stored / "scorecard.json").exists()
    assert lab.get(f"/sessions/{r.json()['id']}/report", lab.ann).status_code == 200


def test_lab_commands(tmp_path, session_dir, capsys):
    data = tmp_path / "lab"
    assert main(["lab", "add-trainer", "tina", "--password", PASSWORD, "--data", str(data)]) == 0
    assert main(["lab", "add-trainer", "tina", "--password", PASSWORD, "--data", str(data)]) == 2
    assert main(["lab", "add-trainer", "x", "--password", "short", "--data", str(data)]) == 2
    store = Store(data)
    outbox = tmp_path / "outbox"
    station = ["--user", "ann", "--password", PASSWORD, "--outbox", str(outbox)]
    # the lab is not there: the session waits in the outbox
    down = ["lab", "upload", str(session_dir), "--lab", "http://127.0.0.1:9", *station]
    assert main(down) == 2
    assert "kept in" in capsys.readouterr().err and len(list(outbox.glob("*.zip"))) == 1
    with LiveServer(create_app(store)) as server:
        http = TestClient(server.server.config.app)
        tok = http.post("/api/login", json={"username": "tina", "password": PASSWORD})
        h = {"Authorization": f"Bearer {tok.json()['token']}"}
        c = http.post("/api/cohorts", headers=h, json={"name": "c"}).json()["id"]
        body = {"username": "ann", "password": PASSWORD}
        http.post(f"/api/cohorts/{c}/trainees", headers=h, json=body)
        http.post(f"/api/cohorts/{c}/drills", headers=h, json={"persona": "damaged-blender"})
        lab = ["--lab", server.url, "--user", "ann", "--password", PASSWORD]
        assert main(["lab", "drills", *lab]) == 0
        assert "damaged-blender" in capsys.readouterr().out
        assert main(["lab", "upload", "--lab", server.url, *station]) == 0  # the retry
        assert "uploaded session #1" in capsys.readouterr().out
        assert list(outbox.glob("*.zip")) == []
    store.close()


def test_lab_serves_https_to_stations_that_trust_its_certificate(tmp_path, monkeypatch, capsys):
    import socket
    import ssl
    import sys
    import time

    import httpx

    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed (`make setup-test` installs it)")
    cert, key = tmp_path / "lab-cert.pem", tmp_path / "lab-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    data = tmp_path / "lab"
    assert main(["lab", "add-trainer", "tina", "--password", PASSWORD, "--data", str(data)]) == 0
    # a certificate without its key is a usage error before anything starts
    half = ["lab", "serve", "--data", str(data), "--ssl-certfile", str(cert)]
    assert main(half) == 2
    assert "both --ssl-certfile and --ssl-keyfile" in capsys.readouterr().err
    assert main([*half, "--ssl-keyfile", str(cert)]) == 2  # not a key
    assert "cannot use" in capsys.readouterr().err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve = [sys.executable, "-m", "voicesim", "lab", "serve", "--data", str(data)]
    tls = ["--port", str(port), "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)]
    server = subprocess.Popen([*serve, *tls], stdout=subprocess.PIPE, text=True)
    url = f"https://127.0.0.1:{port}"
    try:
        assert server.stdout.readline().startswith(f"voicesim lab on https://127.0.0.1:{port}/")
        http = httpx.Client(base_url=url, verify=ssl.create_default_context(cafile=str(cert)))
        for _ in range(100):
            try:
                tok = http.post("/api/login", json={"username": "tina", "password": PASSWORD})
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        h = {"Authorization": f"Bearer {tok.json()['token']}"}
        c = http.post("/api/cohorts", headers=h, json={"name": "c"}).json()["id"]
        body = {"username": "ann", "password": PASSWORD}
        http.post(f"/api/cohorts/{c}/trainees", headers=h, json=body)
        http.post(f"/api/cohorts/{c}/drills", headers=h, json={"persona": "late-order"})
        station = ["lab", "drills", "--lab", url, "--user", "ann", "--password", PASSWORD]
        assert main(station) == 2  # the station does not trust a self-signed certificate yet
        err = capsys.readouterr().err
        assert "CERTIFICATE_VERIFY_FAILED" in err and "SSL_CERT_FILE" in err
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        assert main(station) == 0
        assert "late-order" in capsys.readouterr().out
        with pytest.raises(httpx.HTTPError):  # and there is no plain-HTTP door
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=5)
        http.close()  # uvicorn's graceful shutdown waits for open keep-alive connections
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


# -- security (issue 13) --------------------------------------------------------------------------
XSS = "<img src=x onerror=\"document.body.dataset.pwned='{}'\">"


def _tampered(session_dir: Path, out: Path, created: object, nan: bool = True) -> Path:
    """A copy of the session whose uploaded data carries markup and non-JSON numbers: meta's
    `created`, the call_end `end_state`, a customer line that opens a script comment."""
    shutil.copytree(session_dir, out)
    meta = json.loads((out / "meta.json").read_text())
    meta["created"] = created
    (out / "meta.json").write_text(json.dumps(meta))
    lines = []
    for line in (out / "events.jsonl").read_text().splitlines():
        e = json.loads(line)
        if e["type"] == "call_end":
            e["end_state"] = XSS.format("end")[:32]
        if e["type"] == "customer_line_start" and e["line"] == 0:
            e["text"] = "<!--<script> " + XSS.format("line") + " " + e["text"]
        lines.append(json.dumps(e))
    if nan:
        lines.insert(5, '{"type":"mood","t":5.0,"mood":NaN,"reason":"x"}')
        lines.insert(6, '{"type":"silence","t":6.0,"end":Infinity,"duration":-Infinity}')
    (out / "events.jsonl").write_text("\n".join(lines) + "\n")
    card = json.loads((out / "scorecard.json").read_text())
    card["outcome"]["end_state"] = XSS.format("end")[:32]
    (out / "scorecard.json").write_text(json.dumps(card))
    (out / "report.html").unlink(missing_ok=True)
    return out


def _no_script_ran(page, errors: list[str]) -> None:  # noqa: ANN001
    page.wait_for_function("document.querySelectorAll('.line').length > 0")  # ours ran
    assert page.evaluate("document.body.dataset.pwned") is None
    assert page.locator("img").count() == 0
    assert not errors, errors


@pytest.mark.parametrize("created", [XSS.format("created"), None])
def test_report_shows_session_data_as_text_in_a_real_browser(session_dir, tmp_path, created):
    from playwright.sync_api import sync_playwright

    from voicesim.errors import SessionError
    from voicesim.report.html import write_report

    if CHROMIUM is None:
        pytest.skip("chromium is not installed (`make setup-test` installs it)")
    # NaN/Infinity or a number as `created` never reach a page: the strict reader refuses them.
    for bad, nan in ((XSS.format("created"), True), (1717171717, False)):
        with pytest.raises(SessionError):
            write_report(_tampered(session_dir, tmp_path / f"bad-{nan}", bad, nan=nan))
    session = _tampered(session_dir, tmp_path / "s", created, nan=False)
    page_file = write_report(session)
    text = page_file.read_text()
    assert "<!--<script>" not in text
    block = re.search(r'<script type="application/json" id="data">(.*?)</script>', text, re.S)
    json.loads(block.group(1), parse_constant=lambda c: pytest.fail(f"{c} in the data"))
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_file.as_uri())
        _no_script_ran(page, errors)
        meta = page.locator("#meta").inner_text()
        assert "ended: <img src=x" in meta  # shown as text, as it was uploaded
        if created is not None:
            assert str(created) in meta
        first = page.locator(".line.customer").first.inner_text()
        assert "<!--<script> <img src=x" in first
        browser.close()


def test_lab_served_reports_run_only_the_reports_own_script(tmp_path, session_dir):
    """A trainee's upload (meta.json, end_state) and a trainer's rubric name carry markup: in
    the trainer's and the trainee's browser no script from them runs, the lab sends a policy
    that allows only the report's own script, and the trainer's account is untouched."""
    from playwright.sync_api import sync_playwright

    if CHROMIUM is None:
        pytest.skip("chromium is not installed (`make setup-test` installs it)")
    store = Store(tmp_path / "lab")
    with store.Session() as db:
        create_user(db, "tina", PASSWORD, TRAINER)
        db.commit()
    app = create_app(store)
    lab = Lab.__new__(Lab)
    lab.store, lab.http = store, TestClient(app)
    tina = lab.login("tina")
    cohort = lab.post("/api/cohorts", tina, json={"name": "June"}).json()["id"]
    lab.post(
        f"/api/cohorts/{cohort}/trainees", tina, json={"username": "ann", "password": PASSWORD}
    )
    rubric = strict_rubric().replace(
        "name: ", "name: " + json.dumps(XSS.format("rubric")) + " #", 1
    )
    r = lab.post("/api/rubrics", tina, json={"name": "evil", "text": rubric})
    assert r.status_code == 201, r.text
    body = {"persona": "damaged-blender", "rubric": "evil", "allow_practice": True}
    drill = lab.post(f"/api/cohorts/{cohort}/drills", tina, json=body).json()["id"]
    session = _tampered(session_dir, tmp_path / "s", XSS.format("created"), nan=False)
    members = _session_members(session)
    up = lab.upload(lab.login("ann"), _zip(members), drill=drill)
    assert up.status_code == 202, up.text
    url = f"/sessions/{up.json()['id']}/report"
    served = lab.get(url, tina)
    csp = served.headers["content-security-policy"]
    script_src = re.search(r"script-src ([^;]+)", csp).group(1)
    assert "'unsafe-inline'" not in csp and script_src.startswith("'sha256-")
    assert "sandbox allow-scripts" in csp and "frame-ancestors 'none'" in csp
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["x-frame-options"] == "DENY"
    with LiveServer(app) as server, sync_playwright() as p:
        browser = launch(p)
        for name in ("tina", "ann"):
            context = browser.new_context()
            token = lab.login(name)["Authorization"].split()[1]
            context.add_cookies([{"name": "lab_token", "value": token, "url": server.url}])
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.on(
                "console",
                lambda m, errors=errors: (
                    errors.append(m.text) if "Content Security Policy" in m.text else None
                ),
            )
            page.goto(server.url + url)
            _no_script_ran(page, errors)  # nothing our policy refused: the report's own ran
            meta = page.locator("#meta").inner_text()
            assert XSS.format("created") in meta and XSS.format("rubric") in meta
            # the dashboard pages carry no script at all and say so
            page.goto(server.url + "/")
            assert page.evaluate("document.body.dataset.pwned") is None
            context.close()
        browser.close()
    assert [c["name"] for c in lab.get("/api/cohorts", tina).json()] == ["June"]
    home = TestClient(app)
    web_login(home, "tina")
    csp = home.get("/").headers["content-security-policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp
    store.close()


def test_headers_and_a_secure_cookie_under_https(lab):
    web = TestClient(lab.http.app, base_url="https://lab.test")
    r = web_login(web, "tina", follow_redirects=False)
    assert r.status_code == 303
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("lab_token="))
    assert "secure" in cookie.lower() and "samesite=strict" in cookie.lower()
    page = web.get("/")
    assert page.headers["strict-transport-security"].startswith("max-age=")
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    api = lab.get("/api/me", lab.trainer)  # plain HTTP: no HSTS, but the other headers
    assert "strict-transport-security" not in api.headers
    assert api.headers["x-content-type-options"] == "nosniff"
    plain = TestClient(lab.http.app)
    r = web_login(plain, "tina", follow_redirects=False)
    assert "secure" not in r.headers["set-cookie"].lower()


def test_the_sign_in_form_needs_its_token(lab):
    web = TestClient(lab.http.app)
    r = web.post("/login", data={"username": "tina", "password": PASSWORD})
    assert "the sign-in form is stale" in r.text and "lab_token" not in web.cookies
    web.get("/login")  # a browser that has the form, posting another site's token
    forged = {"username": "tina", "password": PASSWORD, "csrf": "0" * 64}
    r = web.post("/login", data=forged)
    assert "the sign-in form is stale" in r.text and "lab_token" not in web.cookies
    r = web_login(web, "tina")
    assert r.status_code == 200 and "lab_token" in web.cookies and "My cohorts" in r.text


def test_a_trainer_cannot_take_over_another_trainers_trainee(lab, session_dir, capsys):
    with lab.store.Session() as db:
        create_user(db, "tom", PASSWORD, TRAINER)
        db.commit()
    tom = lab.login("tom")
    data, _ = pack_session(session_dir)
    sid = lab.upload(lab.ann, data, drill=lab.drill).json()["id"]
    mine = lab.post("/api/cohorts", tom, json={"name": "Tom's"}).json()["id"]
    url = f"/api/cohorts/{mine}/trainees"
    grab = lab.post(url, tom, json={"username": "ann", "password": "tom knows this one"})
    assert grab.status_code == 202 and grab.json()["status"] == "invited"
    # naming a trainer, or a made-up existing name, gets the very same answer
    same = lab.post(url, tom, json={"username": "tina", "password": "tom knows this one"})
    assert (same.status_code, same.json()) == (202, grab.json() | {"username": "tina"})
    # ann is not tom's: no sessions, no report, no password reset; her password is hers
    assert lab.get(f"/api/sessions?cohort={mine}", tom).json() == []
    assert lab.get(f"/sessions/{sid}/report", tom).status_code == 404
    assert lab.get(f"/api/cohorts/{mine}/trainees/ann", tom).status_code == 404
    reset = f"/api/cohorts/{mine}/trainees/ann/password"
    assert lab.post(reset, tom, json={"password": "tom knows this one"}).status_code == 404
    bad = lab.http.post("/api/login", json={"username": "ann", "password": "tom knows this one"})
    assert bad.status_code == 401
    assert lab.get(f"/api/cohorts/{mine}/table", tom).json()["trainees"] == []
    # tom cannot accept for her; bob (a trainee, not invited) sees nothing
    (inv,) = lab.get("/api/invitations", tom).json()
    assert inv["user"] == "ann" and inv["sent_by_me"]
    assert lab.post(f"/api/invitations/{inv['id']}/accept", tom).status_code == 404
    assert lab.get("/api/invitations", lab.bob).json() == []
    assert lab.post(f"/api/invitations/{inv['id']}/accept", lab.bob).status_code == 404
    # ann accepts on her own: now tom has her, by her consent
    (hers,) = lab.get("/api/invitations", lab.ann).json()
    assert (hers["cohort"], hers["invited_by"]) == ("Tom's", "tom")
    assert lab.post(f"/api/invitations/{hers['id']}/accept", lab.ann).status_code == 200
    assert lab.get(f"/api/cohorts/{mine}/table", tom).json()["trainees"] == ["ann"]
    assert lab.login("ann")  # her password is unchanged
    # bob: his trainer tina sees tom's request on her page, and may decline it, not accept it
    assert lab.post(url, tom, json={"username": "bob", "password": PASSWORD}).status_code == 202
    web = TestClient(lab.http.app)
    web_login(web, "tina")
    home = web.get("/").text
    assert "tom asks for bob in the cohort Tom&#39;s" in home
    assert not re.search(r'action="/invitations/\d+/accept"', home)
    (asked,) = [i for i in lab.get("/api/invitations", lab.trainer).json() if i["user"] == "bob"]
    assert lab.post(f"/api/invitations/{asked['id']}/accept", lab.trainer).status_code == 404
    assert lab.post(f"/api/invitations/{asked['id']}/accept", lab.bob).status_code == 200
    assert lab.get(f"/api/cohorts/{mine}/table", tom).json()["trainees"] == ["ann", "bob"]
    # or the lab machine's command
    eve = lab.post(
        f"/api/cohorts/{lab.cohort}/trainees",
        lab.trainer,
        json={"username": "eve", "password": PASSWORD},
    )
    assert eve.status_code == 201
    assert lab.post(url, tom, json={"username": "eve", "password": PASSWORD}).status_code == 202
    store = ["--data", str(lab.store.data_dir), "--database", lab.store.url]
    assert main(["lab", "add-to-cohort", "eve", str(mine), *store]) == 0
    assert "eve is in cohort" in capsys.readouterr().out
    assert lab.get(f"/api/cohorts/{mine}/table", tom).json()["trainees"] == ["ann", "bob", "eve"]
    assert lab.get("/api/invitations", tom).json() == []
    assert main(["lab", "add-to-cohort", "tina", str(mine), *store]) == 2


def test_sign_in_backoff_never_locks_out_the_right_password_from_a_fresh_address(tmp_path):
    from voicesim.lab.app import LoginThrottle

    now = [1000.0]
    throttle = LoginThrottle(attempts=5, window=1.0, clock=lambda: now[0])
    store = Store(tmp_path / "lab")
    with store.Session() as db:
        create_user(db, "tina", PASSWORD, TRAINER)
        db.commit()
    app = create_app(store, throttle=throttle)
    attacker = TestClient(app, client=("127.0.0.66", 5000))
    guess = {"username": "tina", "password": "wrong password"}
    codes = []
    for _ in range(12):  # the attacker keeps going, a second apart
        codes.append(attacker.post("/api/login", json=guess).status_code)
        now[0] += 1.0
    assert codes[:5] == [401] * 5 and 429 in codes[5:]  # backed off after five
    r = attacker.post("/api/login", json=guess)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 2  # and the wait grows
    # tina, from her own station, signs in at once, and her page works
    station = TestClient(app, client=("127.0.0.7", 5000))
    right = {"username": "tina", "password": PASSWORD}
    assert station.post("/api/login", json=right).status_code == 200
    web = TestClient(app, client=("127.0.0.8", 5000))
    assert "My cohorts" in web_login(web, "tina").text
    # an address spraying many names backs off for all of them
    for i in range(40):  # one try per name: no name on its own would wait
        attacker.post("/api/login", json={"username": f"u{i}", "password": "wrong password"})
    r = attacker.post("/api/login", json={"username": "other", "password": "wrong password"})
    assert r.status_code == 429
    store.close()


def test_concurrent_sign_ins_are_bounded(monkeypatch):
    """At most a few passwords are hashed at once, however many sign-ins arrive together, and
    one address cannot fill the queue."""
    import threading

    from voicesim.lab import store as store_mod
    from voicesim.lab.app import LoginThrottle

    active, peak, release = [0], [0], threading.Event()
    cond = threading.Condition()

    class SlowHasher:
        def verify(self, stored, password):  # noqa: ANN001, ANN201
            with cond:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
                cond.notify_all()
            release.wait(30)
            with cond:
                active[0] -= 1
            return False

    monkeypatch.setattr(store_mod, "_hasher", SlowHasher())
    threads = [
        threading.Thread(target=store_mod.verify_password, args=("h", "p")) for _ in range(16)
    ]
    for t in threads:
        t.start()
    with cond:
        assert cond.wait_for(lambda: active[0] == store_mod.MAX_HASHING, timeout=30)
    release.set()
    for t in threads:
        t.join(30)
    assert peak[0] == store_mod.MAX_HASHING < 16
    throttle = LoginThrottle(address_inflight=4)
    for _ in range(4):
        throttle.begin("tina", "127.0.0.66")
    with pytest.raises(Exception) as exc:
        throttle.begin("ann", "127.0.0.66")
    assert exc.value.status_code == 429
    throttle.begin("tina", "127.0.0.7")  # another address is not held up
    throttle.end("tina", "127.0.0.66", ok=False)
    throttle.begin("tina", "127.0.0.66")


def test_csv_cells_never_start_a_formula(lab, session_dir):
    r = lab.post(
        f"/api/cohorts/{lab.cohort}/trainees",
        lab.trainer,
        json={"username": "@SUM.A1", "password": PASSWORD},
    )
    assert r.status_code == 201, r.text
    members = _session_members(session_dir)
    lines = []
    for line in members["events.jsonl"].decode().splitlines():
        e = json.loads(line)
        if e["type"] == "call_end":
            e["end_state"] = "=HYPERLINK(1)"
        lines.append(json.dumps(e))
    members["events.jsonl"] = ("\n".join(lines) + "\n").encode()
    up = lab.upload(lab.login("@SUM.A1"), _zip(members))
    assert up.status_code == 202, up.text
    import csv as csvlib

    rows = list(
        csvlib.reader(
            io.StringIO(lab.get(f"/api/cohorts/{lab.cohort}/export.csv", lab.trainer).text)
        )
    )
    every = list(
        csvlib.DictReader(
            io.StringIO(lab.get(f"/api/cohorts/{lab.cohort}/sessions.csv", lab.trainer).text)
        )
    )
    cells = [c for row in rows for c in row] + [c for row in every for c in row.values()]
    assert "'@SUM.A1" in cells
    assert every[0]["end_state"] in ("'=HYPERLINK(1)", "hung_up")  # as stored, never a formula
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")]


def test_weak_passwords_are_refused_everywhere(lab, tmp_path, capsys):
    from voicesim.lab.store import password_problem

    for weak in ("12345678", "password1", "aaaaaaaa", "abcdefgh", "qwertyuiop", "ann-secret-1"):
        assert password_problem(weak, "ann"), weak
    assert password_problem(PASSWORD, "ann") is None
    url = f"/api/cohorts/{lab.cohort}/trainees"
    r = lab.post(url, lab.trainer, json={"username": "zed", "password": "12345678"})
    assert r.status_code == 422 and "digits" in r.text
    reset = f"/api/cohorts/{lab.cohort}/trainees/ann/password"
    assert lab.post(reset, lab.trainer, json={"password": "12345678"}).status_code == 422
    assert lab.post(reset, lab.trainer, json={"password": "ann is great"}).status_code == 422
    web = TestClient(lab.http.app)
    web_login(web, "tina")
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', web.get("/").text).group(1)
    page = web.post(
        f"/cohorts/{lab.cohort}/trainees",
        data={"username": "zed", "password": "password1", "csrf": token},
    )
    assert "most common" in page.text and 'id="error"' in page.text
    data = ["--data", str(tmp_path / "lab2")]
    assert main(["lab", "add-trainer", "pat", "--password", "12345678", *data]) == 2
    assert "digits" in capsys.readouterr().err


def test_cohort_names_are_per_trainer(lab):
    with lab.store.Session() as db:
        create_user(db, "tom", PASSWORD, TRAINER)
        db.commit()
    tom = lab.login("tom")
    r = lab.post("/api/cohorts", tom, json={"name": "June"})  # tina has a June too
    assert r.status_code == 201, r.text
    again = lab.post("/api/cohorts", tom, json={"name": "June"})
    assert again.status_code == 409 and "of yours" in again.json()["detail"]
    assert [c["name"] for c in lab.get("/api/cohorts", lab.trainer).json()] == ["June"]


# -- a human has the last word -------------------------------------------------------------------
def _form_token(page: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)


def test_trainers_comment_and_override_with_an_audit_trail(lab, session_dir):
    data, _ = pack_session(session_dir)
    up = lab.upload(lab.ann, data, drill=lab.drill).json()
    sid, machine = up["id"], up["overall"]
    card = json.loads((lab.store.session_path(_upload(lab, sid)) / "scorecard.json").read_text())
    missed = next(
        c
        for f in card["families"]
        for c in f["criteria"]
        if c["applies"] and c["kind"] == "reward" and c["earned"] < c["points"]
    )
    web = TestClient(lab.http.app)
    web_login(web, "tina")
    csrf = _form_token(web.get(f"/sessions/{sid}").text)
    r = web.post(
        f"/sessions/{sid}/comments",
        data={"csrf": csrf, "t": "00:04.5", "text": "Here: reflect back before asking."},
    )
    assert r.status_code == 200 and "Here: reflect back" in r.text and "00:04.5" in r.text
    first = {"criterion": missed["id"], "points": "0", "reason": "double-checked", "csrf": csrf}
    web.post(f"/sessions/{sid}/overrides", data=first)
    final = {**first, "points": str(missed["points"]), "reason": "She did reflect, in other words."}
    page = web.post(f"/sessions/{sid}/overrides", data=final).text
    # both changes stay (the audit trail), the latest counts, the machine's value is beside it
    rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td><td>tina</td>", page)
    label = html.escape(missed["label"])
    assert rows == [
        (label, f"{missed['earned']:g}", "0"),
        (label, f"{missed['earned']:g}", f"{missed['points']:g}"),
    ]
    # the session's stored scores use it: the cohort table and the sessions export
    view = lab.get(f"/api/cohorts/{lab.cohort}/table", lab.trainer).json()
    best = next(r["best"] for r in view["table"] if r["trainee"] == "ann")
    assert best > machine
    import csv as csvlib

    every = lab.get(f"/api/cohorts/{lab.cohort}/sessions.csv", lab.trainer).text
    (row,) = list(csvlib.DictReader(io.StringIO(every)))
    assert float(row["overall"]) == best and float(row["machine_overall"]) == machine
    assert float(row[f"criterion:{missed['id']}"]) == missed["points"]
    assert f"machine {missed['earned']:g} -> {missed['points']:g} by tina" in row["overrides"]
    # the machine's scorecard.json is never changed
    again = json.loads((lab.store.session_path(_upload(lab, sid)) / "scorecard.json").read_text())
    assert again == card
    # mistakes are one clear message on the page; trainees cannot review
    bad = web.post(f"/sessions/{sid}/overrides", data={**final, "points": "999"}).text
    assert "points: between 0 and" in html.unescape(bad)
    bad = web.post(f"/sessions/{sid}/comments", data={"csrf": csrf, "t": "99:00", "text": "x"})
    assert "outside the call" in html.unescape(bad.text)
    ann = TestClient(lab.http.app)
    web_login(ann, "ann")
    mine = ann.get(f"/sessions/{sid}").text
    assert "Here: reflect back" in mine and "She did reflect" in mine
    assert 'action="/sessions' not in mine  # no forms for the trainee
    token = _form_token(ann.get("/").text)
    r = ann.post(f"/sessions/{sid}/comments", data={"csrf": token, "text": "me"})
    assert r.status_code == 403
    bob = TestClient(lab.http.app)
    web_login(bob, "bob")
    assert bob.get(f"/sessions/{sid}").status_code == 404  # another trainee's session


def test_comments_and_overrides_through_the_json_api(lab, session_dir):
    """Issue 14: a station or a script can review too; the trainee reads the same review."""
    data, _ = pack_session(session_dir)
    sid = lab.upload(lab.ann, data, drill=lab.drill).json()["id"]
    before = lab.get(f"/api/sessions/{sid}/review", lab.trainer).json()
    assert before["comments"] == [] and before["overrides"] == []
    r = lab.post(f"/api/sessions/{sid}/comments", lab.trainer, json={"t": 3.5, "text": "Reflect."})
    assert r.status_code == 200 and r.json()["comments"][0]["text"] == "Reflect."
    tip = before["coaching"]["focus"][0]["criterion"]
    card = json.loads((lab.store.session_path(_upload(lab, sid)) / "scorecard.json").read_text())
    full = next(c["points"] for f in card["families"] for c in f["criteria"] if c["id"] == tip)
    body = {"criterion": tip, "points": full, "reason": "It was there, in other words."}
    after = lab.post(f"/api/sessions/{sid}/overrides", lab.trainer, json=body).json()
    assert after["overrides"][0]["earned"] == full and after["overall"] > before["overall"]
    assert tip not in [t["criterion"] for t in after["coaching"]["focus"]]
    mine = lab.get(f"/api/sessions/{sid}/review", lab.ann).json()
    assert mine["overrides"] == after["overrides"] and mine["comments"] == after["comments"]
    assert (
        lab.post(f"/api/sessions/{sid}/comments", lab.ann, json={"text": "me"}).status_code == 403
    )
    bad = lab.post(f"/api/sessions/{sid}/overrides", lab.trainer, json={**body, "points": 999})
    assert bad.status_code in (400, 422)


def _upload(lab, sid: int):  # noqa: ANN001, ANN202
    from voicesim.lab.store import Upload

    with lab.store.Session() as db:
        return db.get(Upload, sid)


def test_a_trainers_override_reaches_the_trainees_report_in_a_real_browser(tmp_path, session_dir):
    """A trainer comments and overrides on the session page; the trainee's report shows the
    comment at its moment and the changed result beside the machine's."""
    from playwright.sync_api import sync_playwright

    if CHROMIUM is None:
        pytest.skip("chromium is not installed (`make setup-test` installs it)")
    store = Store(tmp_path / "lab")
    with store.Session() as db:
        create_user(db, "tina", PASSWORD, TRAINER)
        db.commit()
    app = create_app(store)
    lab = Lab.__new__(Lab)
    lab.store, lab.http = store, TestClient(app)
    tina = lab.login("tina")
    cohort = lab.post("/api/cohorts", tina, json={"name": "June"}).json()["id"]
    body = {"username": "ann", "password": PASSWORD}
    lab.post(f"/api/cohorts/{cohort}/trainees", tina, json=body)
    data, _ = pack_session(session_dir)
    sid = lab.upload(lab.login("ann"), data).json()["id"]
    card = json.loads((session_dir / "scorecard.json").read_text())
    missed = next(
        c
        for f in card["families"]
        for c in f["criteria"]
        if c["applies"] and c["kind"] == "reward" and c["earned"] < c["points"]
    )
    with LiveServer(app) as server, sync_playwright() as p:
        browser = launch(p)
        pages = {}
        for name in ("tina", "ann"):
            context = browser.new_context(viewport={"width": 800, "height": 900})
            token = lab.login(name)["Authorization"].split()[1]
            context.add_cookies([{"name": "lab_token", "value": token, "url": server.url}])
            pages[name] = context.new_page()
        page = pages["tina"]
        page.goto(f"{server.url}/sessions/{sid}")
        page.fill("form#comment-form input[name=t]", "0:04")
        page.fill("form#comment-form input[name=text]", "Reflect back here.")
        submit(page, "Add comment")
        page.select_option("select[name=criterion]", missed["id"])
        page.fill("input[name=points]", f"{missed['points']:g}")
        page.fill("input[name=reason]", "Said it in other words.")
        submit(page, "Change result")
        assert page.locator("#overrides td", has_text="Said it in other words.").count() == 1
        page = pages["ann"]
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{server.url}/sessions/{sid}/report")
        page.wait_for_selector("#review-box:not([hidden])")
        assert not errors
        assert "Reflect back here." in page.locator("#comments").inner_text()
        assert "00:04.0" in page.locator("#comments").inner_text()
        changed = page.locator("#overrides").inner_text()
        assert missed["label"] in changed and "by tina" in changed
        assert f"machine {missed['earned']:g} \u2192 {missed['points']:g}" in changed
        row = page.locator(f"#scorecard tr[data-criterion='{missed['id']}'] td.overridden")
        assert row.inner_text() == f"{missed['points']:g}/{missed['points']:g}"
        assert page.locator("circle.comment-mark").count() == 1
        assert "machine:" in page.locator("#verdict").inner_text()
        page.screenshot(path=str(tmp_path / "trainee-report.png"), full_page=True)
        browser.close()
    store.close()
