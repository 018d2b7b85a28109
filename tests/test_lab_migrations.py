"""The lab database upgrades in place with Alembic: a database made by the hand-rolled schema
of before (``lab_schema`` versions 1, 3, 4 and 5, made by the store.py of their time: SQL dumps
in tests/data/lab/) is opened by ``lab serve``, stamped, upgraded and keeps every row; a fresh
database and an upgraded one both match the models.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("alembic")

from alembic.autogenerate import compare_metadata  # noqa: E402
from alembic.runtime.migration import MigrationContext  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from lab_support import PASSWORD  # noqa: E402
from sqlalchemy import create_engine, func, inspect, select  # noqa: E402

from voicesim.cli import main  # noqa: E402
from voicesim.errors import VoicesimError  # noqa: E402
from voicesim.lab.store import (  # noqa: E402
    LEGACY_REVISIONS,
    Base,
    Cohort,
    Drill,
    Invitation,
    Review,
    SessionScore,
    Store,
    Upload,
    User,
    head_revision,
    migrate,
    schema_version,
)

DATA = Path(__file__).parent / "data" / "lab"
# Rows each fixture holds, per table (the tables of its version).
ROWS = {
    "lab_users": 4,
    "lab_cohorts": 1,
    "lab_memberships": 1,
    "lab_drills": 1,
    "lab_sessions": 1,
    "lab_tokens": 1,
}
SINCE = {"lab_session_scores": 2, "lab_rubrics": 3, "lab_invitations": 4, "lab_reviews": 5}


def legacy_lab(tmp_path: Path, version: int) -> Path:
    """A lab data folder whose lab.db is the fixture of hand-rolled schema ``version``."""
    data = tmp_path / "lab"
    data.mkdir()
    db = sqlite3.connect(data / "lab.db")
    db.executescript((DATA / f"legacy-v{version}.sql").read_text())
    db.close()
    return data


def counts(engine) -> dict[str, int]:  # noqa: ANN001
    with engine.connect() as conn:
        names = [n for n in inspect(conn).get_table_names() if n.startswith("lab_")]
        return {
            n: conn.exec_driver_sql(f"SELECT count(*) FROM {n}").scalar()
            for n in names
            if n != "lab_schema"
        }


def model_differences(engine) -> list:  # noqa: ANN001
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), Base.metadata)


@pytest.fixture
def serve(monkeypatch):
    """``voicesim lab serve`` as a user runs it, with the server's app handed back instead of
    listening on a port."""
    apps = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: apps.append(app))

    def run(data: Path) -> TestClient:
        assert main(["lab", "serve", "--data", str(data), "--port", "1"]) == 0
        return TestClient(apps[-1])

    return run


def test_the_revisions_are_the_hand_rolled_versions():
    """Revision N is the hand-rolled version N: an old database is stamped at its version."""
    assert list(LEGACY_REVISIONS) == [1, 2, 3, 4, 5]
    # 0006_integrity was the first revision made with Alembic
    assert head_revision() == "0013_lab_personas"


@pytest.mark.parametrize("version", [1, 3, 4, 5])
def test_lab_serve_upgrades_a_hand_rolled_database_and_keeps_its_rows(tmp_path, serve, version):
    data = legacy_lab(tmp_path, version)
    before = counts(create_engine(f"sqlite:///{data / 'lab.db'}"))
    assert set(before) == set(ROWS) | {t for t, v in SINCE.items() if v <= version}

    http = serve(data)

    store = http.app.state.store
    assert schema_version(store.engine) == head_revision()
    assert not inspect(store.engine).has_table("lab_schema")  # Alembic's table is the one
    assert model_differences(store.engine) == []
    after = counts(store.engine)
    for table, n in before.items():
        assert after[table] == n, table
    if version == 1:  # revision 0002 filled the family scores in from the stored sessions
        assert after["lab_session_scores"] == 2
    # The old rows work: tina signs in with her password and sees her cohort and its session.
    token = http.post("/api/login", json={"username": "tina", "password": PASSWORD}).json()
    auth = {"Authorization": f"Bearer {token['token']}"}
    assert http.get("/api/cohorts", headers=auth).json() == [{"id": 7, "name": "June"}]
    table = http.get("/api/cohorts/7/table", headers=auth).json()
    assert [(r["trainee"], r["attempts"], r["best"]) for r in table["table"]] == [("ann", 1, 50.0)]
    assert {w["family"]: w["mean"] for w in table["weakest"]} == {"empathy": 40.0, "tone": 60.0}
    # Cohort names are per trainer now (0004), whatever the database was made with.
    token = http.post("/api/login", json={"username": "tom", "password": PASSWORD}).json()
    tom = {"Authorization": f"Bearer {token['token']}"}
    assert http.post("/api/cohorts", headers=tom, json={"name": "June"}).status_code == 201
    with store.Session() as db:
        assert db.scalar(select(func.count(Cohort.id))) == 2
        assert db.scalar(select(Upload.families).where(Upload.id == 1)) == {
            "empathy": 40.0,
            "tone": 60.0,
        }
        if version >= 4:
            assert db.scalar(select(Invitation.user_id)) == 4
        if version >= 5:
            assert db.scalar(select(Review.text)) == "Slow down here."
        # 0006: the drill session keeps its place as attempt 1; its source was never verified
        old = db.get(Upload, 1)
        assert (old.drill_id, old.attempt, old.source, old.copy_key) == (1, 1, None, None)
        assert db.get(Drill, 1).allow_practice is False
        # 0012: a session stored before the queue was scored on upload
        assert (old.status, old.claimed_by, old.transcript_wer) == ("scored", None, None)
    store.close()


def test_an_upgraded_database_opens_again_unchanged(tmp_path):
    data = legacy_lab(tmp_path, 3)
    store = Store(data)
    rows = counts(store.engine)
    assert migrate(store.engine) == head_revision()  # nothing left to do
    store.close()
    store = Store(data)
    assert counts(store.engine) == rows
    store.close()


def test_two_servers_upgrading_at_once_upgrade_once(tmp_path):
    """Both open the same old database together: one migrates, the other finds it done."""
    data = legacy_lab(tmp_path, 1)
    start, stores, errors = threading.Barrier(2), [], []

    def open_store() -> None:
        start.wait()
        try:
            stores.append(Store(data))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with stores[0].Session() as db:
        assert db.scalar(select(func.count(SessionScore.id))) == 2  # filled in once
    for s in stores:
        s.close()


def test_a_fresh_database_matches_the_models(tmp_path):
    store = Store(tmp_path / "lab")
    assert schema_version(store.engine) == head_revision()
    assert model_differences(store.engine) == []
    store.close()


def test_a_database_from_a_newer_voicesim_is_one_clear_error(tmp_path, capsys):
    data = legacy_lab(tmp_path, 5)
    db = sqlite3.connect(data / "lab.db")
    db.execute("UPDATE lab_schema SET version = 9")
    db.commit()
    db.close()
    with pytest.raises(VoicesimError, match="schema version 9, newer than this voicesim"):
        Store(data)
    assert main(["lab", "serve", "--data", str(data), "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("voicesim: error:") and "Traceback" not in err
    data = tmp_path / "newer"
    Store(data).close()
    db = sqlite3.connect(data / "lab.db")
    db.execute("UPDATE alembic_version SET version_num = '0099_future'")
    db.commit()
    db.close()
    with pytest.raises(VoicesimError, match="made by a newer voicesim"):
        Store(data)


# -- PostgreSQL: the old schema made there by the store of its time (from git history) ----------
def _git_history() -> bool:
    root = Path(__file__).resolve().parents[1]
    probe = subprocess.run(
        ["git", "cat-file", "-e", "b43967a:voicesim/lab/store.py"],
        cwd=root,
        capture_output=True,
    )
    return probe.returncode == 0


@pytest.mark.parametrize("version", [3, 5])
def test_postgresql_upgrades_a_hand_rolled_database(tmp_path, pg_cluster, version):
    if not _git_history():
        pytest.skip("needs the git history (the store.py of each schema version)")
    from argon2 import PasswordHasher

    sys.path.insert(0, str(DATA))
    try:
        import make_legacy_dbs
    finally:
        sys.path.remove(str(DATA))
    url = pg_cluster.create_database(f"legacy_{os.getpid()}_{version}")
    make_legacy_dbs.build(version, url, PasswordHasher().hash(PASSWORD))
    before = counts(create_engine(url))

    store = Store(tmp_path / "lab", url)

    assert schema_version(store.engine) == head_revision()
    assert model_differences(store.engine) == []
    after = counts(store.engine)
    assert all(after[t] == n for t, n in before.items())
    with store.Session() as db:
        db.add(Cohort(name="June", created_by=2))  # tom's June beside tina's
        db.add(User(username="new", role="trainee", password_hash="x"))
        db.commit()
        assert db.scalar(select(func.count(Cohort.id))) == 2
    store.close()
