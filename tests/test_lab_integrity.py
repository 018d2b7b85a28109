"""Scores a lab can trust (issue 13, integrity of drills and scores): the source of each session
verified from its own files, drills that take live calls only unless the trainer allows
practice, a call stored for one user never credited to another, an attempt limit that holds
under concurrent uploads, and one pass mark (the drill's) on the station, in the lab's records
and in the report; not scorable calls and families left out are shown as such.

The live call is a real one: tests/data/lab/live-call holds the meta.json and events.jsonl of a
`voicesim drill --lab` session recorded through the PulseAudio rig of tests/test_live.py.
"""

from __future__ import annotations

import csv
import io
import json
import os
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

from lab_support import (  # noqa: E402
    PASSWORD,
    ApiLab,
    LiveServer,
    live_with_audio,
    pack_files,
    settle,
    simulated_session,
)
from sqlalchemy import select  # noqa: E402

from voicesim.events import Event  # noqa: E402
from voicesim.lab.archive import directory_files  # noqa: E402
from voicesim.lab.provenance import LIVE, SIMULATED, UNVERIFIED, verify_source  # noqa: E402
from voicesim.lab.store import SessionScore, Store, Upload  # noqa: E402
from voicesim.report.session import parse_events  # noqa: E402
from voicesim.rubric.rubric import DEFAULT_RUBRIC  # noqa: E402

LIVE_CALL = Path(__file__).parent / "data" / "lab" / "live-call"


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory) -> Path:
    return simulated_session(tmp_path_factory.mktemp("integrity") / "session")


@pytest.fixture(scope="module")
def other_sim_dir(tmp_path_factory) -> Path:
    """Another call with the same customer (a polite trainee who offers nothing)."""
    out = tmp_path_factory.mktemp("integrity") / "polite"
    return simulated_session(out, "damaged-blender-polite-bad")


_db_counter = iter(range(10**6))


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    url = None
    if request.param == "postgresql":
        cluster = request.getfixturevalue("pg_cluster")
        url = cluster.create_database(f"integrity_{os.getpid()}_{next(_db_counter)}")
    s = Store(tmp_path / "lab", url)
    yield s
    s.close()


Lab, pack = ApiLab, pack_files


@pytest.fixture
def lab(store) -> Lab:
    return Lab(store)


def live_call() -> dict[str, bytes]:
    return directory_files(LIVE_CALL)


def edit_meta(files: dict[str, bytes], **changes) -> dict[str, bytes]:  # noqa: ANN003
    meta = json.loads(files["meta.json"])
    for key, value in changes.items():
        node, *path = key.split("__")
        target = meta
        for part in [node, *path][:-1]:
            target = target[part]
        last = [node, *path][-1]
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    return {**files, "meta.json": json.dumps(meta).encode()}


def edit_events(files: dict[str, bytes], keep=lambda e: True, change=lambda e: e) -> dict:  # noqa: ANN001
    lines = [json.loads(x) for x in files["events.jsonl"].splitlines() if x.strip()]
    out = [change(e) for e in lines if keep(e)]
    return {**files, "events.jsonl": "".join(json.dumps(e) + "\n" for e in out).encode()}


def stereo_wav(seed: int, seconds: float = 16.0, lead_s: float = 0.0) -> bytes:
    """Noise (each seed its own), after ``lead_s`` of silence."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    audio = (rng.standard_normal((int(16000 * seconds), 2)) * 0.01).astype(np.float32)
    audio = np.concatenate([np.zeros((int(16000 * lead_s), 2), np.float32), audio])
    buf = io.BytesIO()
    sf.write(buf, audio, 16000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def sessions_csv(lab: Lab) -> list[dict]:
    r = lab.http.get(f"/api/cohorts/{lab.cohort}/sessions.csv", headers=lab.tina)
    assert r.status_code == 200, r.text
    return list(csv.DictReader(io.StringIO(r.text)))


# -- the source of a session ----------------------------------------------------------------------
def _events(files: dict[str, bytes]) -> list[Event]:
    return parse_events(files["events.jsonl"], "events.jsonl")


def test_a_real_live_call_is_verified_live():
    files = live_call()
    got = verify_source(json.loads(files["meta.json"]), _events(files))
    assert got.source == LIVE, got.note


def _claims_live_sim(sim: dict) -> dict:
    return edit_meta(sim, source__kind="live")


SCRIPTED_LINE = b'{"type":"scripted","t":11.0,"kind":"reply","text":"Sorry","end":12.0}\n'
# Each is one casual edit (or a session pieced together) that makes a session claim "live".
FORGERIES = {
    "a simulated call with kind edited": (None, "scripted trainee"),
    "a live call with a scripted line added": (
        lambda f: f | {"events.jsonl": f["events.jsonl"] + SCRIPTED_LINE},
        "scripted trainee",
    ),
    "a live call with a synthetic trainee voice": (
        lambda f: edit_meta(f, voices__trainee={"engine": "espeak"}),
        "synthetic trainee voice",
    ),
    "a live call without its device statistics": (
        lambda f: edit_meta(f, source__device_stats=None),
        "no device statistics",
    ),
    "a live call without its audio stream": (
        lambda f: edit_meta(f, source__device_rate=None),
        "no audio stream",
    ),
    "a live call whose transcripts were swapped for more": (
        lambda f: edit_events(
            f,
            change=lambda e: {**e, "utterance": e["utterance"] + 5} if e["type"] == "final" else e,
        ),
        "latency measures",
    ),
    "a live call stretched to look longer": (
        lambda f: edit_events(
            edit_meta(f, duration_s=160.5),
            change=lambda e: {**e, "duration": 160.5} if e["type"] == "call_end" else e,
        ),
        "the sound card delivered",
    ),
}


@pytest.mark.parametrize("name", list(FORGERIES))
def test_a_session_that_only_claims_live_is_unverified(name, sim_dir):
    edit, why = FORGERIES[name]
    files = _claims_live_sim(directory_files(sim_dir)) if edit is None else edit(live_call())
    got = verify_source(json.loads(files["meta.json"]), _events(files))
    assert got.source == UNVERIFIED and why in got.note, got


def test_drills_take_live_calls_only_unless_practice_is_allowed(lab, sim_dir, other_sim_dir):
    live_only, practice = lab.drill(), lab.drill(allow_practice=True)
    sim = directory_files(sim_dir)
    r = lab.upload(lab.ann, sim, drill=live_only)
    assert r.status_code == 422, r.text
    assert "takes live calls only" in r.json()["detail"] and "simulated" in r.json()["detail"]
    assert list(lab.store.sessions_dir.iterdir()) == []  # refused with nothing kept
    # the kind edited to "live" does not get it in either
    forged = _claims_live_sim(sim)
    r = lab.upload(lab.ann, forged, drill=live_only)
    assert r.status_code == 422, r.text
    # which check failed is not said: it would guide the next forgery (issue 27)
    assert "could not be verified as a live call" in r.json()["detail"]
    assert "scripted" not in r.json()["detail"] and "events" not in r.json()["detail"]
    # as practice (no drill) both are kept, labelled with what the lab found; the trainee
    # reads only that it could not be verified, the trainers read why
    up = lab.upload(lab.ann, forged).json()
    assert (up["source"], up["source_note"]) == (UNVERIFIED, "this session could not be verified")
    mine = lab.call("get", f"/api/sessions/{up['id']}", lab.ann)
    assert mine["source_note"] == "this session could not be verified"
    theirs = lab.call("get", f"/api/sessions/{up['id']}", lab.tina)
    assert "scripted trainee" in theirs["source_note"]
    # a drill that takes practice uploads takes the simulated call, labelled simulated
    up = lab.upload(lab.ann, sim, drill=practice).json()
    assert (up["drill"], up["source"], up["attempt"]) == (practice, SIMULATED, 1)
    # a live call whose audio says its words is taken by the live-only drill
    up = lab.upload(lab.ann, live_with_audio(other_sim_dir), drill=live_only).json()
    assert (up["drill"], up["source"], up["status"]) == (live_only, LIVE, "scored")
    # the API, the CSV export and the pages show the source
    listed = {s["id"]: s["source"] for s in lab.call("get", "/api/sessions", lab.tina)}
    assert sorted(listed.values()) == [LIVE, SIMULATED, UNVERIFIED]
    rows = {int(r["session"]): r for r in sessions_csv(lab)}
    assert {i: r["source"] for i, r in rows.items()} == listed
    (forged_row,) = [r for r in rows.values() if r["source"] == UNVERIFIED]
    assert forged_row["claimed_source"] == "live"  # what the forged meta.json said
    pages = lab.page(lab.tina, f"/cohorts/{lab.cohort}/trainees/ann")
    for sid, source in listed.items():
        assert f'<tr data-session="{sid}">' in pages and f'data-source="{source}"' in pages
    assert 'title="says live, but the events hold a scripted trainee' in pages
    page = lab.page(lab.ann, f"/sessions/{up['id']}")
    assert 'id="source">Source: <span class="source" data-source="live"' in page


# -- copied calls ---------------------------------------------------------------------------------
def test_a_call_stored_for_another_user_is_refused_and_flagged(lab):
    drill = lab.drill(attempts_allowed=5)
    call = live_call() | {"call.wav": stereo_wav(1)}
    mine = lab.upload(lab.ann, call, drill=drill)
    assert mine.status_code == 202 and mine.json()["source"] == LIVE, mine.text
    # bob sends ann's session as it is, with another date, and without its audio
    for copy in (
        call,
        edit_meta(call, created="2027-01-01T09:00:00+00:00"),
        {k: v for k, v in call.items() if k != "call.wav"},
    ):
        r = lab.upload(lab.bob, copy, drill=drill)
        assert r.status_code == 409, r.text
        assert "already stored in the lab for another user" in r.json()["detail"]
    # the same audio under transcripts edited a little is the same call too
    reworded = edit_events(
        call,
        change=lambda e: {**e, "text": e["text"] + " Really."} if e["type"] == "final" else e,
    )
    r = lab.upload(lab.bob, reworded, drill=drill)
    assert r.status_code == 409, r.text
    assert [s["owner"] for s in lab.call("get", "/api/sessions", lab.tina)] == ["ann"]
    table = lab.call("get", f"/api/cohorts/{lab.cohort}/table", lab.tina)
    assert [(c["trainee"], c["original"], c["original_owner"]) for c in table["copies"]] == [
        ("bob", mine.json()["id"], "ann")
    ] * 4
    assert "Copied calls refused" in lab.page(lab.tina, f"/cohorts/{lab.cohort}")
    # ann's own session again, re-packed with another date: the same call, answered as such
    again = lab.upload(lab.ann, edit_meta(call, created="2027-01-01T09:00:00+00:00"), drill=drill)
    assert again.json()["duplicate"] is True and again.json()["id"] == mine.json()["id"]


def shifted(files: dict[str, bytes], by: float) -> dict[str, bytes]:
    """Every event but the call's start moved ``by`` seconds later."""

    def move(e: dict) -> dict:
        if e["type"] == "call_start":
            return e
        e = {**e, "t": round(e["t"] + by, 3)}
        for key in ("start", "end"):
            if isinstance(e.get(key), int | float):
                e[key] = round(e[key] + by, 3)
        return e

    return edit_events(files, change=move)


def flipped(wav: bytes, at: int = 20_000) -> bytes:
    """One bit of one sample flipped."""
    out = bytearray(wav)
    out[at] ^= 0x01
    return bytes(out)


def test_a_copy_changed_a_little_is_still_the_same_call(lab):
    """Another user's live call was accepted after a 50 ms shift of its events and one flipped
    audio bit (issue 27): the words at about the same moments, or the trainee's audio by its
    fingerprint, find it; the same few words at other moments with other audio do not."""
    drill = lab.drill(attempts_allowed=5)
    call = live_call() | {"call.wav": stereo_wav(1)}
    mine = lab.upload(lab.ann, call, drill=drill)
    assert mine.status_code == 202 and mine.json()["source"] == LIVE, mine.text
    reworded = edit_events(
        call,
        change=lambda e: {**e, "text": e["text"] + " Right."} if e["type"] == "final" else e,
    )
    audio_shifted = stereo_wav(1, lead_s=0.05)
    for name, copy in {
        "events 50 ms later, one audio bit flipped": shifted(call, 0.05)
        | {"call.wav": flipped(call["call.wav"])},
        "events 50 ms later, no audio": {
            k: v for k, v in shifted(call, 0.05).items() if k != "call.wav"
        },
        "words changed, audio 50 ms later with a bit flipped": reworded
        | {"call.wav": flipped(audio_shifted)},
    }.items():
        r = lab.upload(lab.bob, copy, drill=drill)
        assert r.status_code == 409, (name, r.text)
        assert "already stored in the lab for another user" in r.json()["detail"]
    # The same words five seconds later, with other audio: not this call.
    other = shifted(call, 5.0) | {"call.wav": stereo_wav(2)}
    assert lab.upload(lab.bob, other).status_code == 202


def test_simulated_calls_alike_are_not_copies(lab, sim_dir):
    """Anyone can run the same simulation and get the same call: no one is accused for it."""
    sim = directory_files(sim_dir)
    assert lab.upload(lab.ann, sim).status_code == 202
    assert lab.upload(lab.bob, sim).status_code == 202


# -- the attempt limit under concurrent uploads -------------------------------------------------
def test_one_attempt_and_six_concurrent_uploads_store_exactly_one(store, sim_dir, monkeypatch):
    """Six different sessions for a drill with one attempt, sent at once to a real server: all
    six are past the early check together (a barrier holds each until all six are there), and
    then exactly one is stored (and queued: 202)."""
    import voicesim.lab.uploads as uploads

    lab = Lab(store, intake_workers=6)
    drill = lab.drill(attempts_allowed=1, allow_practice=True)
    together = threading.Barrier(6, timeout=120)
    check = uploads.check_persona

    def check_together(meta, d):  # noqa: ANN001, ANN202
        together.wait()  # all six have passed the early attempt check
        return check(meta, d)

    monkeypatch.setattr(uploads, "check_persona", check_together)
    sim = directory_files(sim_dir)
    bodies = [pack(edit_meta(sim, created=f"2027-01-0{i + 1}T09:00:00+00:00")) for i in range(6)]
    answers: list[int] = []
    with LiveServer(lab.app) as server:

        def send(body: bytes) -> None:
            req = urllib.request.Request(
                f"{server.url}/api/sessions?drill={drill}",
                data=body,
                headers={**lab.ann, "Content-Type": "application/zip"},
            )
            try:
                with urllib.request.urlopen(req, timeout=300) as resp:
                    answers.append(resp.status)
            except urllib.error.HTTPError as exc:
                answers.append(exc.code)

        threads = [threading.Thread(target=send, args=(b,)) for b in bodies]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(answers) == [202] + [409] * 5
    settle(lab.app)
    with store.Session() as db:
        assert db.scalars(select(Upload.attempt).where(Upload.drill_id == drill)).all() == [1]
    assert len(list(store.sessions_dir.iterdir())) == 1  # the refused ones left nothing behind
    (row,) = lab.call("get", "/api/assignments", lab.ann)
    assert row["attempts_left"] == 0


# -- one pass mark ------------------------------------------------------------------------------
def test_the_drills_pass_mark_is_the_one_recorded_and_reported(lab, sim_dir, tmp_path):
    from voicesim.lab.hearing import hear
    from voicesim.lab.library import persona_by_id
    from voicesim.report.session import read_session
    from voicesim.rubric.grade import score_call
    from voicesim.rubric.rubric import load_rubric
    from voicesim.rubric.scorer import card_passes
    from voicesim.speech.transcriber import Transcriber

    # The call fails the built-in rubric's 70 as the lab hears and scores it; the drill's pass
    # mark sits just below its score.
    call = live_with_audio(sim_dir)
    (tmp_path / "call").mkdir()
    for name, data in call.items():
        (tmp_path / "call" / name).write_bytes(data)
    session = read_session(tmp_path / "call")
    heard = hear(session.events, session.audio()[1], Transcriber())
    scored = score_call(
        heard.events, load_rubric(), persona_by_id("damaged-blender"), session.audio()[1]
    )
    overall = scored.overall
    mark = int(overall)
    assert 0 < mark < 70 and not scored.passed
    drill = lab.drill(pass_mark=mark)
    up = lab.upload(lab.ann, call, drill=drill).json()
    (stored,) = lab.store.sessions_dir.iterdir()
    card = json.loads((stored / "scorecard.json").read_text())
    assert card["pass_mark"] == mark and card["overall"] == up["overall"] == overall
    assert up["passed"] is True and card["passed"] is True and card_passes(card, mark)
    report = lab.http.get(up["report"], headers=lab.tina).text
    assert f'"pass_mark": {mark}' in report and '"pass_mark": 70' not in report
    page = lab.page(lab.tina, f"/sessions/{up['id']}")
    assert f'<span class="mute" id="pass-mark">(pass mark {mark})</span>' in page


def trainee_silenced(files: dict[str, bytes]) -> dict[str, bytes]:
    """The call with its trainee channel silent, and no trainee lines in its events."""
    import soundfile as sf

    audio, rate = sf.read(io.BytesIO(files["call.wav"]), dtype="float32", always_2d=True)
    audio[:, 1] = 0.0
    buf = io.BytesIO()
    sf.write(buf, audio, rate, format="WAV", subtype="PCM_16")
    silent = edit_events(
        edit_meta(files, source__final_latency=[]),
        keep=lambda e: e["type"] not in ("final", "partial", "speech_start", "speech_end"),
    )
    return silent | {"call.wav": buf.getvalue()}


def test_a_call_that_is_not_scorable_never_passes(lab, sim_dir):
    drill = lab.drill(pass_mark=0)
    silent = trainee_silenced(live_with_audio(sim_dir))
    up = lab.upload(lab.ann, silent, drill=drill).json()
    assert up["source"] == LIVE and up["scorable"] is False and up["passed"] is False
    table = lab.call("get", f"/api/cohorts/{lab.cohort}/table", lab.tina)["table"]
    assert [(r["trainee"], r["status"]) for r in table if r["drill"] == drill] == [
        ("ann", "failed"),
        ("bob", "open"),
    ]
    page = lab.page(lab.ann, f"/sessions/{up['id']}")
    assert 'id="not-scorable">Not scorable: the trainee said nothing' in page
    home = lab.page(lab.ann, "/")
    assert '<span class="fail not-scorable">not scorable</span>' in home
    assert sessions_csv(lab)[0]["scorable"] == "False"


def test_a_family_left_out_has_no_score_row_and_reads_na(lab, sim_dir):
    text = DEFAULT_RUBRIC.read_text().replace("id: default\n", "id: abuse\n", 1)
    text = text.replace(
        "families:\n",
        "families:\n  abuse:\n    name: Abuse handling\n    weight: 1\n    criteria:\n"
        "      - {id: abuse_boundary, kind: reward, detectors: [boundary], target: 1, points: 15,\n"
        "         when: {customer_said: [profanity]}, label: Sets a boundary on abuse}\n",
        1,
    )
    lab.call("post", "/api/rubrics", lab.tina, json={"name": "abuse", "text": text})
    drill = lab.drill(rubric="abuse")
    up = lab.upload(lab.ann, live_with_audio(sim_dir), drill=drill).json()
    assert up["families"]["abuse"] is None and up["families"]["tone"] is not None
    with lab.store.Session() as db:
        rows = db.scalars(select(SessionScore.family).where(SessionScore.upload_id == up["id"]))
        assert sorted(rows) == ["interruptions", "outcome", "resolution", "tone"]
    weakest = lab.call("get", f"/api/cohorts/{lab.cohort}/table", lab.tina)["weakest"]
    assert "abuse" not in {w["family"] for w in weakest}
    page = lab.page(lab.tina, f"/sessions/{up['id']}")
    assert '<tr data-family="abuse"><td>Abuse handling</td><td><span class="mute">n/a' in page
    cohort = lab.page(lab.tina, f"/cohorts/{lab.cohort}")
    assert "n/a" in cohort  # the progress bars of a family left out
    assert sessions_csv(lab)[0]["abuse"] == ""


def test_the_station_runs_the_call_with_the_drills_pass_mark(tmp_path, monkeypatch, capsys):
    """`voicesim drill --lab`: the call is scored on the station with the drill's pass mark, so
    the terminal's verdict is the lab's (the audio part is test_live's lab drill test)."""
    import voicesim.station as station
    from voicesim.cli import main
    from voicesim.report.terminal import print_scorecard

    lab = Lab(Store(tmp_path / "lab"))
    drill = lab.drill(pass_mark=52)
    seen = {}

    def fake_run_drill(args, persona, rubric, after):  # noqa: ANN001, ANN202
        seen["pass_mark"] = rubric.pass_mark
        return 0

    monkeypatch.setattr(station, "run_drill", fake_run_drill)
    with LiveServer(lab.app) as server:
        argv = ["drill", "--lab", server.url, "--user", "ann", "--password", PASSWORD]
        assert main([*argv, "--outbox", str(tmp_path / "outbox")]) == 0
    assert seen == {"pass_mark": 52.0}
    assert f"lab drill #{drill}: damaged-blender, rubric default, pass mark 52;" in (
        capsys.readouterr().err
    )
    from rich.console import Console

    console = Console(file=io.StringIO(), width=100)
    print_scorecard({"overall": 52.5, "pass_mark": 52.0, "passed": True, "families": []}, console)
    assert "52.5/100, pass mark 52 -> PASS" in console.file.getvalue()
    lab.store.close()
