"""Make the lab databases of the hand-rolled schema (``lab_schema`` versions 1, 3, 4 and 5) that
tests/test_lab_migrations.py upgrades with Alembic.

Each database is built by the lab store *as it was at that version* (its ``store.py`` read from
git history), filled with one row of every table, and written as an SQL text dump
(``legacy-vN.sql``) so the fixture is reviewable. Run from the repository root:

    python tests/data/lab/make_legacy_dbs.py

The commits: v1 and v2 arrived in 973293a (v1 is its first migration only), v3 in 7b96db6
(file as at 55556e4), v4 in 1222c73, v5 in b43967a (the last hand-rolled version).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
VERSIONS = {1: "973293a", 3: "55556e4", 4: "1222c73", 5: "b43967a"}
T0 = dt.datetime(2024, 1, 1, 9, 0, 0)


def _store_at(commit: str, tmp: Path):  # noqa: ANN202
    source = subprocess.run(
        ["git", "show", f"{commit}:voicesim/lab/store.py"],
        check=True,
        capture_output=True,
        text=True,
        cwd=HERE,
    ).stdout
    path = tmp / f"store_{commit}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"store_{commit}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def make(version: int, password_hash: str) -> str:
    """The SQL text of a lab database at hand-rolled schema ``version``."""
    with tempfile.TemporaryDirectory() as tmp_name:
        db_path = Path(tmp_name) / "lab.db"
        build(version, f"sqlite:///{db_path}", password_hash)
        raw = sqlite3.connect(db_path)
        dump = "\n".join(raw.iterdump()) + "\n"
        raw.close()
        return dump


def build(version: int, url: str, password_hash: str) -> None:
    """Make the lab database at ``url`` (SQLite or PostgreSQL) as the store of schema
    ``version`` did, with one row in every table. Needs the git history."""
    with tempfile.TemporaryDirectory() as tmp_name:
        store = _store_at(VERSIONS[version], Path(tmp_name))
        if version < len(store.MIGRATIONS):
            store.MIGRATIONS = store.MIGRATIONS[:version]
            store.SCHEMA_VERSION = version
        engine = store.make_engine(url)
        assert store.migrate(engine) == version
        t = store.Base.metadata.tables
        with engine.begin() as conn:
            conn.execute(
                t["lab_users"].insert(),
                [
                    dict(
                        id=1,
                        username="tina",
                        role="trainer",
                        password_hash=password_hash,
                        created=T0,
                    ),
                    dict(
                        id=2,
                        username="tom",
                        role="trainer",
                        password_hash=password_hash,
                        created=T0,
                    ),
                    dict(
                        id=3,
                        username="ann",
                        role="trainee",
                        password_hash=password_hash,
                        created=T0,
                    ),
                    dict(
                        id=4,
                        username="bob",
                        role="trainee",
                        password_hash=password_hash,
                        created=T0,
                    ),
                ],
            )
            conn.execute(
                t["lab_cohorts"].insert(), [dict(id=7, name="June", created_by=1, created=T0)]
            )
            conn.execute(t["lab_memberships"].insert(), [dict(id=1, cohort_id=7, user_id=3)])
            conn.execute(
                t["lab_drills"].insert(),
                [
                    dict(
                        id=1,
                        cohort_id=7,
                        persona="damaged-blender",
                        rubric="default",
                        pass_mark=70.0,
                        due=None,
                        attempts_allowed=3,
                        created=T0,
                    )
                ],
            )
            conn.execute(
                t["lab_sessions"].insert(),
                [
                    dict(
                        id=1,
                        owner_id=3,
                        drill_id=1,
                        digest="d" * 64,
                        storage_id="0" * 32,
                        persona="damaged-blender",
                        overall=50.0,
                        families={"empathy": 40.0, "tone": 60.0},
                        passed=False,
                        end_state="resolved",
                        created=T0,
                    )
                ],
            )
            if version >= 2:
                conn.execute(
                    t["lab_session_scores"].insert(),
                    [
                        dict(id=1, upload_id=1, owner_id=3, family="empathy", score=40.0),
                        dict(id=2, upload_id=1, owner_id=3, family="tone", score=60.0),
                    ],
                )
            if version >= 3:
                conn.execute(
                    t["lab_rubrics"].insert(),
                    [
                        dict(
                            id=1,
                            name="calm",
                            text="id: calm\n",
                            sha256="c" * 64,
                            created_by=1,
                            created=T0,
                        )
                    ],
                )
            if version >= 4:
                conn.execute(
                    t["lab_invitations"].insert(),
                    [dict(id=1, cohort_id=7, user_id=4, invited_by=1, created=T0)],
                )
            if version >= 5:
                conn.execute(
                    t["lab_reviews"].insert(),
                    [
                        dict(
                            id=1,
                            upload_id=1,
                            author_id=1,
                            kind="comment",
                            t=12.5,
                            criterion=None,
                            machine=None,
                            earned=None,
                            text="Slow down here.",
                            created=T0,
                        )
                    ],
                )
            conn.execute(
                t["lab_tokens"].insert(),
                [dict(id=1, token_hash="e" * 64, user_id=3, expires=T0 + dt.timedelta(hours=12))],
            )
            if conn.dialect.name == "postgresql":  # the rows above name their ids
                for name in t:
                    if name != "lab_schema":
                        conn.exec_driver_sql(
                            f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                            f"(SELECT max(id) FROM {name}))"
                        )
        engine.dispose()


def main() -> None:
    from argon2 import PasswordHasher

    # Every user's password is tests/lab_support.PASSWORD, so an upgraded lab signs them in.
    password_hash = PasswordHasher().hash("correct horse battery")
    for version in VERSIONS:
        (HERE / f"legacy-v{version}.sql").write_text(make(version, password_hash))
        print(f"wrote legacy-v{version}.sql")


if __name__ == "__main__":
    main()
