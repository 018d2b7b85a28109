"""Uploads stored first, then heard and scored from a queue (issue 27): the upload is answered at
once (202, queued) and shown as "scoring…" until the lab has scored it; the queue is the
database's, so it survives a restart and two lab processes sharing a database never score the
same session; a full queue answers 503 with Retry-After; and the lab scores the words it hears
in the call's audio: a graded drill refuses a session whose audio does not say its events'
words ("this session could not be verified", no attempt used), and an edited transcript gains
nothing as practice (the score is the audio's).

Every test synchronises on the queue's state (``wait_idle``, events it waits on), never on time.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

from lab_support import (  # noqa: E402
    ApiLab,
    live_with_audio,
    pack_files,
    param_store,
    settle,
    simulated_session,
)
from sqlalchemy import select, update  # noqa: E402

import voicesim.lab.scoring_queue as scoring_queue  # noqa: E402
from voicesim.lab.app import create_app  # noqa: E402
from voicesim.lab.archive import directory_files  # noqa: E402
from voicesim.lab.store import (  # noqa: E402
    QUEUED,
    REFUSED,
    SCORED,
    SCORING,
    Store,
    Upload,
    utcnow,
)

EDITED = "I'm so sorry about the cracked jug, I will send you a new blender today by courier."


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory) -> Path:
    return simulated_session(tmp_path_factory.mktemp("queue") / "session")


@pytest.fixture(scope="module")
def other_sim_dir(tmp_path_factory) -> Path:
    """Another call with the same customer (a polite trainee who offers nothing)."""
    return simulated_session(
        tmp_path_factory.mktemp("queue") / "polite", "damaged-blender-polite-bad"
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    s = param_store(request, tmp_path, "queue")
    yield s
    s.close()


def variant(files: dict[str, bytes], n: int) -> dict[str, bytes]:
    """A simulated session as another upload (its own digest; simulated calls alike are not
    copies), for practice uploads."""
    meta = json.loads(files["meta.json"])
    meta["created"] = f"2027-01-{n + 1:02d}T09:00:00+00:00"
    return files | {"meta.json": json.dumps(meta).encode()}


class Lab(ApiLab):
    """tina's cohort of ann and bob; ``post`` answers as the lab answers, at once."""

    def post(self, files: dict[str, bytes], drill: int | None = None):  # noqa: ANN201
        q = f"?drill={drill}" if drill else ""
        headers = {**self.ann, "Content-Type": "application/zip"}
        return self.http.post("/api/sessions" + q, headers=headers, content=pack_files(files))


class Held:
    """Scoring held at its start until ``release``: the test sees the queue's states."""

    def __init__(self, monkeypatch) -> None:  # noqa: ANN001
        self.started = threading.Event()
        self.go = threading.Event()
        score = scoring_queue.score_upload

        def held(*args):  # noqa: ANN002, ANN202
            self.started.set()
            assert self.go.wait(600), "never released"
            return score(*args)

        monkeypatch.setattr(scoring_queue, "score_upload", held)

    def release(self) -> None:
        self.go.set()


# -- stored first, scored from the queue ----------------------------------------------------------
def test_an_upload_is_answered_at_once_and_shows_scoring_until_scored(store, sim_dir, monkeypatch):
    held = Held(monkeypatch)
    lab = Lab(store)
    drill = lab.drill(allow_practice=True)
    r = lab.post(live_with_audio(sim_dir), drill)
    assert r.status_code == 202, r.text
    up = r.json()
    assert (up["status"], up["overall"], up["duplicate"]) == (QUEUED, None, False)
    assert up["url"] == f"/api/sessions/{up['id']}"
    assert held.started.wait(600)  # a worker has claimed it
    assert lab.call("get", up["url"], lab.ann)["status"] == SCORING
    # the same session again: the duplicate answer, with the state it is in
    again = lab.post(live_with_audio(sim_dir), drill)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["status"] == SCORING
    # the pages say "scoring…"; the table, the drill's figures and the export count nothing yet
    home = lab.page(lab.ann, "/")
    assert 'data-status="scoring">scoring…</span>' in home
    assert 'id="status" data-status="scoring"' in lab.page(lab.ann, f"/sessions/{up['id']}")
    assert lab.http.get(f"/sessions/{up['id']}/report", headers=lab.ann).status_code == 409
    table = lab.call("get", f"/api/cohorts/{lab.cohort}/table", lab.tina)["table"]
    assert [r["attempts"] for r in table if (r["drill"], r["trainee"]) == (drill, "ann")] == [0]
    csv = lab.http.get(f"/api/cohorts/{lab.cohort}/sessions.csv", headers=lab.tina).text
    assert len(csv.strip().splitlines()) == 1  # the header only
    (assigned,) = lab.call("get", "/api/assignments", lab.ann)
    assert assigned["attempts_left"] == assigned["attempts_allowed"] - 1  # held while queued
    held.release()
    settle(lab.app)
    done = lab.call("get", up["url"], lab.ann)
    assert done["status"] == SCORED and done["overall"] is not None and done["attempt"] == 1
    table = lab.call("get", f"/api/cohorts/{lab.cohort}/table", lab.tina)["table"]
    assert [r["attempts"] for r in table if (r["drill"], r["trainee"]) == (drill, "ann")] == [1]
    assert 'data-status="scoring"' not in lab.page(lab.ann, "/")
    assert lab.http.get(f"/sessions/{up['id']}/report", headers=lab.ann).status_code == 200


def test_a_full_queue_answers_503_with_retry_after(store, sim_dir, monkeypatch):
    held = Held(monkeypatch)
    lab = Lab(store, scoring_queue=2)
    files = directory_files(sim_dir)
    assert lab.post(variant(files, 0)).status_code == 202
    assert lab.post(variant(files, 1)).status_code == 202
    r = lab.post(variant(files, 2))
    assert r.status_code == 503 and int(r.headers["retry-after"]) > 0, r.text
    held.release()
    settle(lab.app)
    assert lab.post(variant(files, 2)).status_code == 202  # room again
    settle(lab.app)


def test_the_queue_survives_a_restart(store, sim_dir, monkeypatch):
    """Sessions left queued, and one a dead lab process was scoring, are scored by the next
    lab process that opens the database."""
    lab = Lab(store)
    monkeypatch.setattr(scoring_queue.ScoringQueue, "kick", lambda self: None)  # a lab that stops
    files = directory_files(sim_dir)
    ids = [lab.post(variant(files, n)).json()["id"] for n in range(3)]
    with store.Session() as db:
        db.execute(
            update(Upload)
            .where(Upload.id == ids[0])
            .values(status=SCORING, claimed_by="elsewhere:4242:x", claimed_at=utcnow())
        )
        db.execute(  # a process on this machine that has exited
            update(Upload)
            .where(Upload.id == ids[1])
            .values(
                status=SCORING,
                claimed_by=f"{scoring_queue.socket.gethostname()}:999999999:gone",
                claimed_at=utcnow(),
            )
        )
        db.commit()
    monkeypatch.undo()
    again = create_app(store)  # the lab starts again
    settle(again)
    with store.Session() as db:
        states = dict(db.execute(select(Upload.id, Upload.status)).all())
    # the other machine's claim is recent: its lease has not run out, so it stays its own
    assert states == {ids[0]: SCORING, ids[1]: SCORED, ids[2]: SCORED}


def test_two_lab_processes_never_score_the_same_session(store, sim_dir, monkeypatch):
    """Two labs on one database (two engines, as two processes have), each with workers,
    drain one queue: every session is scored once."""
    lab = Lab(store, scoring_workers=1)
    monkeypatch.setattr(scoring_queue.ScoringQueue, "kick", lambda self: None)
    files = directory_files(sim_dir)
    ids = [lab.post(variant(files, n)).json()["id"] for n in range(6)]
    monkeypatch.undo()
    scored: list[tuple[str, int]] = []
    score = scoring_queue.score_upload

    def counted(path, *args):  # noqa: ANN001, ANN002, ANN202
        scored.append((threading.current_thread().name, path.name))
        return score(path, *args)

    monkeypatch.setattr(scoring_queue, "score_upload", counted)
    other = Store(store.data_dir, None if store.url.startswith("sqlite") else store.url)
    try:
        queues = [scoring_queue.ScoringQueue(s, workers=2, limit=100) for s in (store, other)]
        for q in queues:
            q.kick()
            q.kick()
        for q in queues:
            assert q.wait_idle(900)
    finally:
        other.close()
    with store.Session() as db:
        rows = db.execute(select(Upload.storage_id, Upload.status)).all()
    assert sorted(s for _, s in scored) == sorted(sid for sid, _ in rows)  # each once
    assert {status for _, status in rows} == {SCORED}
    assert len(ids) == 6


# -- the lab hears what it scores -----------------------------------------------------------------
def test_a_graded_drill_refuses_a_session_whose_audio_does_not_say_its_words(
    store, sim_dir, other_sim_dir
):
    """A live call whose events were edited (every trainee line rewritten) is stored, heard,
    and refused: the trainee reads only that it could not be verified, it uses no attempt,
    and the trainer sees how far its words are from what the lab heard."""
    lab = Lab(store)
    drill = lab.drill(attempts_allowed=1)
    forged = lab.upload(lab.ann, live_with_audio(sim_dir, trainee=EDITED), drill)
    assert forged.status_code == 202, forged.text
    up = forged.json()
    assert up["status"] == REFUSED and up["overall"] is None and up["attempt"] is None
    assert (
        up["status_note"] == "this session could not be verified; it does not count as an attempt"
    )
    assert "transcript_wer" not in up  # no hint for the forger
    theirs = lab.call("get", up["url"], lab.tina)
    assert theirs["transcript_wer"] > 0.5
    (assigned,) = lab.call("get", "/api/assignments", lab.ann)
    assert assigned["attempts_left"] == 1  # the refused session used none
    assert 'data-status="refused">not verified</span>' in lab.page(lab.ann, "/")
    # an honest call takes the attempt and is scored
    honest = lab.upload(lab.ann, live_with_audio(other_sim_dir), drill).json()
    assert (honest["status"], honest["attempt"]) == (SCORED, 1)
    assert lab.call("get", honest["url"], lab.tina)["transcript_wer"] <= 0.1


def test_an_edited_transcript_gains_nothing_as_practice(store, sim_dir, tmp_path):
    """As practice (no drill) an edited session is scored, on the words its audio says: the
    same score as the honest session, not the edited words' (which would earn more)."""
    from voicesim.lab.library import persona_by_id, score_upload, scoring_rubric
    from voicesim.report.session import read_session
    from voicesim.rubric.grade import score_call
    from voicesim.speech.transcriber import Transcriber

    lab = Lab(store)
    edited = lab.upload(lab.ann, live_with_audio(sim_dir, trainee=EDITED)).json()
    assert edited["status"] == SCORED
    with store.Session() as db:
        rubric = scoring_rubric(db, None)

    def as_files(files: dict[str, bytes], name: str) -> Path:
        out = tmp_path / name
        out.mkdir()
        for member, data in files.items():
            if member != "scorecard.json":
                (out / member).write_bytes(data)
        return out

    blender = persona_by_id("damaged-blender")
    card, heard = score_upload(
        as_files(live_with_audio(sim_dir), "honest"), None, rubric, blender, Transcriber
    )
    assert heard.verified
    assert edited["overall"] == card["overall"]
    # the words the events claimed would have scored higher
    session = read_session(as_files(live_with_audio(sim_dir, trainee=EDITED), "claimed"))
    as_claimed = score_call(session.events, rubric, blender, None)
    assert as_claimed.overall > card["overall"]
