"""Bad input, fuzzed: config files end in a clear error or a working object; bad audio files in a
clear error or a correct result; damaged sessions load or end in one line naming the file; hostile
lab uploads answer a 4xx and leave nothing behind; never a traceback or a hang."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fuzzcases import (
    BASE_EVENTS,
    BASE_META,
    PERSONA,
    RUBRIC,
    SAMPLE_TURNS,
    SCRIPT,
    _zip,
    bad_rubric_session,
    damaged_events,
    hostile_archives,
    hostile_sessions,
    mangled_text,
    mutated_yaml,
    session_files,
)
from hypothesis import HealthCheck, given, settings

from voicesim.errors import ConfigError, VoicesimError
from voicesim.events import Event
from voicesim.persona.engine import DialogueEngine, TraineeTurn
from voicesim.persona.persona import load_persona
from voicesim.rubric.grade import score_call
from voicesim.rubric.rubric import load_rubric
from voicesim.session.script import load_script

EXAMPLES = int(os.environ.get("VOICESIM_FUZZ_EXAMPLES", "80"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
LIBRARY = load_rubric().library
TMP = Path(tempfile.mkdtemp(prefix="voicesim-fuzz-"))
EVENTS = [
    Event(
        "customer_line_start", 0.5, {"line": 0, "text": "My blender arrived cracked.", "end": 3.0}
    ),
    Event("customer_line_end", 3.0, {"line": 0, "cut": False}),
    Event(
        "final",
        3.5,
        {
            "who": "trainee",
            "text": "I'm so sorry, let me replace it today.",
            "end": 5.5,
            "words": [{"w": "I'm", "start": 3.5, "end": 3.7, "p": 0.9}],
        },
    ),
    Event("overtalk", 1.0, {"by": "trainee", "end": 2.0, "duration": 1.0}),
    Event("silence", 3.0, {"end": 6.5, "duration": 3.5, "after": "customer"}),
    Event("mood", 0.5, {"mood": 0.6}),
    Event("mood", 6.0, {"mood": 0.3}),
    Event("call_end", 7.0, {"end_state": "resolved", "duration": 7.0}),
]


def check_persona(text: str) -> None:
    path = TMP / "persona.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        persona = load_persona(path, set(LIBRARY.detectors))
    except ConfigError as exc:
        assert str(path) in str(exc)
        return
    engine = DialogueEngine(persona, LIBRARY, seed=0)
    engine.opening()
    for turn in SAMPLE_TURNS:
        engine.respond(TraineeTurn(turn, interrupted=turn == ""))
    engine.on_silence()
    engine.interject()


def check_rubric(text: str) -> None:
    path = TMP / "rubric.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        rubric = load_rubric(path)
    except ConfigError as exc:
        assert str(path) in str(exc)
        return
    score_call(EVENTS, rubric)


def check_script(text: str) -> None:
    path = TMP / "script.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_script(path)
    except ConfigError as exc:
        assert str(path) in str(exc)


@FUZZ
@given(mutated_yaml(PERSONA))
def test_persona_mutations(text):
    check_persona(text)


@FUZZ
@given(mangled_text(PERSONA))
def test_persona_text_damage(text):
    check_persona(text)


@FUZZ
@given(mutated_yaml(RUBRIC))
def test_rubric_mutations(text):
    check_rubric(text)


@FUZZ
@given(mangled_text(RUBRIC))
def test_rubric_text_damage(text):
    check_rubric(text)


@FUZZ
@given(mutated_yaml(SCRIPT))
def test_script_mutations(text):
    check_script(text)


@FUZZ
@given(mangled_text(SCRIPT))
def test_script_text_damage(text):
    check_script(text)


@pytest.mark.parametrize(
    "name, body",
    [
        ("empty", ""),
        ("just a list", "- a\n- b\n"),
        ("a number", "42\n"),
        ("binary", "\x00\x01\x02"),
        ("python tag", "!!python/object/apply:os.system ['true']\n"),
        ("deep nesting", "a: " + "[" * 200),
    ],
)
def test_hand_made_broken_files(name, body):
    for check in (check_persona, check_rubric, check_script):
        check(body)


def _write(path: Path, data: np.ndarray, rate: int, **kw) -> Path:
    sf.write(str(path), data, rate, **kw)
    return path


def audio_cases(tmp: Path) -> list[tuple[str, Path, set[int]]]:
    """(name, file, acceptable exit codes) for `voicesim score`."""
    rng = np.random.default_rng(0)
    speech, rate = sf.read(
        str(Path(__file__).resolve().parents[2] / "shared/data/speech/stereo_diarization.wav"),
        dtype="float32",
    )
    good = _write(tmp / "good.wav", speech, rate)
    raw = good.read_bytes()
    cases = [
        ("truncated", tmp / "truncated.wav", {2}),
        ("wrong header", tmp / "header.wav", {2}),
        ("zero length", _write(tmp / "zero.wav", np.zeros((0, 2), np.float32), 16000), {2}),
        (
            "NaN samples",
            _write(
                tmp / "nan.wav", np.full((16000, 2), np.nan, np.float32), 16000, subtype="FLOAT"
            ),
            {2},
        ),
        ("one sample", _write(tmp / "one.wav", np.zeros((1, 2), np.float32), 16000), {2}),
        ("8 kHz", _write(tmp / "8k.wav", speech[::2], 8000), {0}),
        ("96 kHz", _write(tmp / "96k.wav", np.repeat(speech, 6, axis=0), 96000), {0}),
        (
            "6 channels",
            _write(
                tmp / "six.wav", rng.standard_normal((16000, 6)).astype(np.float32) * 0.01, 16000
            ),
            {2},
        ),
        ("mono", _write(tmp / "mono.wav", speech[:, 0], rate), {0}),  # split by voice
        ("mono silence", _write(tmp / "mono0.wav", np.zeros(32000, np.float32), rate), {2}),
        (
            "an hour of silence",
            _write(tmp / "hour.wav", np.zeros((3600 * 8000, 2), np.int16), 8000),
            {0},
        ),
        (
            "white noise",
            _write(
                tmp / "noise.wav",
                rng.standard_normal((5 * 16000, 2)).astype(np.float32) * 0.3,
                16000,
            ),
            {0},
        ),
        (
            "clipped square",
            _write(
                tmp / "square.wav",
                np.sign(np.sin(np.arange(32000) / 5))[:, None].repeat(2, 1),
                16000,
            ),
            {0},
        ),
    ]
    cases += [
        ("cut to a third", tmp / "third.wav", {2}),
        (
            "float at 1e30",
            _write(tmp / "huge.wav", np.full((16000, 2), 1e30, np.float32), 16000, subtype="FLOAT"),
            {2},
        ),
    ]
    (tmp / "third.wav").write_bytes(raw[: len(raw) // 3])
    (tmp / "truncated.wav").write_bytes(raw[: len(raw) // 3][:60])
    (tmp / "header.wav").write_bytes(b"RIFX" + raw[4:])
    return cases


@pytest.mark.slow
def test_bad_audio_files_end_in_a_clear_error_or_a_result(tmp_path, shared_data):
    cases = audio_cases(tmp_path)
    for name, path, ok in cases:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "voicesim",
                "score",
                str(path),
                "--out",
                str(tmp_path / f"s-{path.stem}"),
                "--quiet",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode in ok, f"{name}: exit {proc.returncode}\n{proc.stderr[-2000:]}"
        assert "Traceback" not in proc.stderr, f"{name}: {proc.stderr[-2000:]}"
        if proc.returncode == 2:
            assert proc.stderr.startswith("voicesim: error:") and str(path) in proc.stderr, name


# -- sessions -------------------------------------------------------------------------------------
def write_session(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (root / name).write_bytes(content)
    return root


def check_session(directory: Path) -> None:
    """The reader's contract: a session loads (and then scores and renders), or one
    SessionError/VoicesimError naming a file under the session's folder."""
    from voicesim.report.html import report_data
    from voicesim.report.session import load_session

    try:
        session = load_session(directory)
    except VoicesimError as exc:
        assert str(directory) in str(exc) and "\n" not in str(exc), str(exc)
        return
    report_data(session)  # what `report` renders: every field it reads has the right type


@FUZZ
@given(damaged_events())
def test_damaged_events_load_or_give_one_line(data):
    d = TMP / "session-fuzz"
    shutil.rmtree(d, ignore_errors=True)
    check_session(write_session(d, session_files(raw=data)))


def test_torn_last_line_still_loads(tmp_path):
    from voicesim.report.session import load_session

    raw = session_files()["events.jsonl"]
    d = write_session(tmp_path / "s", session_files(raw=raw[:-20]))  # killed mid-write
    assert [e.type for e in load_session(d).events] == [e["type"] for e in BASE_EVENTS[:-1]]


@pytest.mark.parametrize("name, files", hostile_sessions(), ids=lambda v: str(v)[:40])
def test_hostile_sessions_are_refused_in_one_line(name, files, tmp_path, capsys):
    from voicesim.cli import main

    d = write_session(tmp_path / "s", files)
    for argv in (
        ["report", str(d)],
        ["replay", str(d), "--no-audio", "--speed", "10000"],
        ["sessions", "export", str(d)],
    ):
        assert main(argv) == 2, f"{name}: {argv[0]} accepted it"
        err = capsys.readouterr().err
        assert err.startswith(f"voicesim: error: {d}/") and err.count("\n") == 1, err
    assert not (d / "report.html").exists()


def test_a_bad_rubric_named_by_a_session_is_one_line(tmp_path, capsys):
    from voicesim.cli import main

    d = write_session(tmp_path / "s", bad_rubric_session(tmp_path))
    assert main(["report", str(d)]) == 2
    err = capsys.readouterr().err
    assert "slow-rubric.yaml:" in err and "backtracking" in err and err.count("\n") == 1


def test_sessions_list_shows_every_session_and_names_the_damaged(tmp_path, capsys):
    from voicesim.cli import main

    write_session(tmp_path / "a-good", session_files())
    write_session(tmp_path / "b-bad", session_files(_with_t(float("nan"))))
    write_session(tmp_path / "c-good", session_files())
    assert main(["sessions", "list", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert "a-good" in out and "c-good" in out and "b-bad" in out
    assert "2 session(s)" in out and "1 unreadable" in out
    assert err.count("\n") == 1 and f"{tmp_path}/b-bad/events.jsonl:5" in err


def _with_t(t):  # noqa: ANN001, ANN202
    evs = [dict(e) for e in BASE_EVENTS]
    evs[4]["t"] = t
    return evs


def test_replay_refuses_a_speed_that_never_ends(tmp_path, capsys):
    from voicesim.cli import main

    d = write_session(tmp_path / "s", session_files())
    for speed in ("nan", "inf", "0", "-1", "1e300"):
        assert main(["replay", str(d), "--no-audio", "--speed", speed]) == 2
        assert "--speed" in capsys.readouterr().err


# -- lab uploads ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    from lab_support import PASSWORD, TrainerDesk

    desk = TrainerDesk(tmp_path_factory.mktemp("lab"))
    r = desk.http.post("/api/login", json={"username": "ann", "password": PASSWORD})
    desk.ann = {"Authorization": f"Bearer {r.json()['token']}"}
    yield desk
    desk.close()


def upload(desk, body: bytes, drill: str = ""):  # noqa: ANN001, ANN201
    headers = {**desk.ann, "Content-Type": "application/zip"}
    return desk.http.post(f"/api/sessions{drill}", content=body, headers=headers)


def upload_cases() -> list[tuple[str, bytes]]:
    cases = [(f"session: {n}", _zip(files)) for n, files in hostile_sessions()]
    return cases + [(f"archive: {n}", body) for n, body in hostile_archives()]


def check_upload(desk, name: str, body: bytes) -> None:  # noqa: ANN001
    before = set(desk.store.sessions_dir.iterdir())
    r = upload(desk, body)
    assert 400 <= r.status_code < 500, f"{name}: {r.status_code} {r.text[:300]}"
    detail = r.json()["detail"]
    assert isinstance(detail, str) and len(detail) <= 500 and "\n" not in detail, name
    assert str(desk.store.data_dir) not in detail, f"{name}: {detail}"
    assert set(desk.store.sessions_dir.iterdir()) == before, f"{name}: left a folder behind"


def test_hostile_uploads_answer_4xx_and_leave_nothing(desk):
    for name, body in upload_cases():
        check_upload(desk, name, body)
    # the readable session (with a rubric path in meta, dropped by the server) is accepted
    ok = _zip(session_files(meta={**BASE_META, "rubric": {"id": "x", "file": "/etc/passwd"}}))
    assert upload(desk, ok).status_code == 202  # stored, then scored from the lab's queue
    assert len(list(desk.store.sessions_dir.iterdir())) == 1


def test_upload_ids_beyond_the_database_answer_404(desk):
    assert upload(desk, _zip(session_files()), f"?drill={2**64}").status_code == 404
    for url in (f"/api/sessions/{2**64}", f"/sessions/{2**70}/report"):
        assert desk.http.get(url, headers=desk.ann).status_code == 404


@FUZZ
@given(damaged_events())
def test_damaged_uploads_answer_200_or_4xx(desk, data):
    from lab_support import settle

    from voicesim.lab.store import FAILED, SCORED

    before = set(desk.store.sessions_dir.iterdir())
    r = upload(desk, _zip(session_files(raw=data)))
    assert r.status_code in (200, 202) or 400 <= r.status_code < 500, r.text[:300]
    if r.status_code in (200, 202):  # stored (or already): the queue settles it, never hangs
        settle(desk.http.app)
        held = desk.http.get(r.json()["url"], headers=desk.ann)
        assert held.status_code == 200 and held.json()["status"] in (SCORED, FAILED), held.text
    else:
        assert set(desk.store.sessions_dir.iterdir()) == before


def test_a_zip_bomb_is_refused_before_it_is_unpacked():
    import tracemalloc

    from voicesim.lab.archive import ArchiveError, read_archive

    bomb = dict(hostile_archives())["zip bomb, 100 MiB of events"]
    tracemalloc.start()
    with pytest.raises(ArchiveError, match="events.jsonl larger than"):
        read_archive(bomb, 256 * 1024 * 1024)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 * 1024 * 1024  # the 100 MiB inside was never inflated


# -- full disks -----------------------------------------------------------------------------------
def test_a_full_disk_stops_the_recorder_for_good_and_leaves_no_temp_file(tmp_path):
    from voicesim.audio.recorder import SessionRecorder, write_json
    from voicesim.errors import OutputError
    from voicesim.events import CALL_END

    d = tmp_path / "s"
    d.mkdir()
    (d / "events.jsonl").symlink_to("/dev/full")  # every write: No space left on device
    rec = SessionRecorder(d)
    with pytest.raises(OutputError, match=r"events.jsonl: cannot write \(No space left"):
        rec.log(Event("call_start", 0.0))
    with pytest.raises(OutputError):  # the clean-up cannot record a made-up end either
        rec.log(Event(CALL_END, 1.0, {"end_state": "time_limit", "duration": 1.0}))
    with pytest.raises(OutputError):
        rec.write_json("scorecard.json", {"overall": 1})
    rec.close()
    (d / "scorecard.json.tmp").symlink_to("/dev/full")
    with pytest.raises(OutputError, match="No space left"):
        write_json(d / "scorecard.json", {"overall": 1})
    assert not (d / "scorecard.json.tmp").exists() and not (d / "scorecard.json").exists()


def test_simulate_on_a_full_disk_is_one_line_and_keeps_the_calls_state(tmp_path, capsys):
    import soundfile as sf

    from voicesim.cli import main

    real_write, calls = sf.SoundFile.write, []

    def write(self, data):  # noqa: ANN001, ANN202 - the disk fills up after 2 s of call
        if str(self.name).endswith("call.wav"):
            calls.append(len(data))
        if sum(calls) > 2 * 16000:
            raise OSError(28, "No space left on device")
        return real_write(self, data)

    out = tmp_path / "s"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sf.SoundFile, "write", write)
        argv = [
            "simulate",
            "--persona",
            "damaged-blender",
            "--trainee",
            "poor-agent",
            "--seed",
            "0",
        ]
        assert main([*argv, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{out}/call.wav: cannot write (No space left" in err, err
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert events and not any(e["type"] == "call_end" for e in events)  # never "time_limit"
    assert json.loads((out / "meta.json").read_text())["status"] == "running"
    assert not list(out.glob("*.tmp"))
