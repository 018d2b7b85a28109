"""Scoring an archive on a real local Ray: the same scores as one call, resumable, bad files as
rows."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from voicesim.cli import main
from voicesim.report.archive import JOURNAL

pytestmark = pytest.mark.slow

DEMO = Path(__file__).resolve().parents[1] / "audio" / "demo-call.wav"
CALL_TXT = "Agent: Hello, thanks for calling.\nCustomer: My order is late.\nAgent: Sorry, I will send it today.\n"


def summary(out: Path) -> dict[str, dict]:
    return {Path(r["file"]).name: r for r in csv.DictReader(open(out / "summary.csv"))}


def journal(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / JOURNAL).read_text().splitlines()]


def card(session: Path) -> dict:
    return json.loads((session / "scorecard.json").read_text())


@pytest.fixture(scope="module")
def archive(local_ray, shared_data, tmp_path_factory):
    """A folder of a stereo recording, a transcript and a broken file, scored on Ray."""
    tmp = tmp_path_factory.mktemp("archive")
    folder = tmp / "calls"
    folder.mkdir()
    shutil.copy(DEMO, folder / "demo.wav")
    (folder / "call.txt").write_text(CALL_TXT)
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    # jfk.flac: one speaker on both channels
    shutil.copy(shared_data / "speech" / "jfk.flac", folder / "copied.flac")
    out = tmp / "scored"
    rc = main(["score", str(folder), "--out", str(out), "--workers", "2"])
    return folder, out, rc


def test_ray_scores_equal_the_one_process_scores(archive, tmp_path):
    folder, out, _ = archive
    single = tmp_path / "single"
    assert main(["score", str(folder / "demo.wav"), "--out", str(single), "--quiet"]) == 0
    row = summary(out)["demo.wav"]
    assert row["verdict"] in ("pass", "fail") and row["error"] == ""
    assert card(Path(row["session"])) == card(single)
    assert (Path(row["session"]) / "report.html").exists()
    table = pq.read_table(out / "summary.parquet").to_pylist()
    by_name = {Path(r["file"]).name: r for r in table}
    assert by_name["demo.wav"]["overall"] == card(single)["overall"]


def test_a_broken_file_is_a_row_with_its_error(archive, capsys):
    _, out, rc = archive
    assert rc == 2  # something could not be scored; the others were
    rows = summary(out)
    assert rows["broken.wav"]["verdict"] == "error"
    assert "broken.wav: not a readable audio file" in rows["broken.wav"]["error"]
    assert not Path(rows["broken.wav"]["session"]).exists()  # nothing half-written is left
    assert rows["call.txt"]["verdict"] == "pass" and rows["call.txt"]["kind"] == "transcript"
    copied = rows["copied.flac"]  # scored as the mono recording it is, and said so
    assert copied["error"] == "" and copied["verdict"] in ("pass", "fail", "not scorable")
    assert (
        "both channels carry the same voice: this looks like a mono recording copied to stereo"
        in copied["warnings"]
    )


def test_a_rerun_skips_what_is_scored_and_retries_what_failed(archive, capsys):
    folder, out, _ = archive
    before = {r["file"]: r for r in journal(out)}
    stamps = {
        f: (Path(r["session"]) / "scorecard.json").stat().st_mtime_ns
        for f, r in before.items()
        if not r["error"]
    }
    assert main(["score", str(folder), "--out", str(out)]) == 2
    new = journal(out)[len(before) :]
    assert [Path(r["file"]).name for r in new] == ["broken.wav"]  # only the failed one again
    assert "3 of 4 calls already scored" in capsys.readouterr().out
    for f, stamp in stamps.items():
        assert (Path(before[f]["session"]) / "scorecard.json").stat().st_mtime_ns == stamp
    (folder / "broken.wav").unlink()
    assert main(["score", str(folder), "--out", str(out)]) == 0
    assert len(journal(out)) == len(before) + 1  # nothing was scored: no Ray work at all
    assert "(nothing to do)" in " ".join(capsys.readouterr().out.split())


def test_more_workers_than_the_cluster_has_cpus_is_refused(archive, tmp_path, capsys):
    folder, _, _ = archive
    assert main(["score", str(folder), "--out", str(tmp_path / "o"), "--workers", "9"]) == 2
    assert "--workers 9: the Ray cluster has 2 CPUs" in capsys.readouterr().err


def test_one_voice_on_both_channels_is_told_from_two_people(shared_data):
    from voicesim.audio.formats import read_audio_file, resample
    from voicesim.session.recorded import same_voice

    def sides(path: Path, rate_gain: float = 1.0):
        data, rate = read_audio_file(path)
        return resample(data[:, 0], rate), resample(data[:, 1], rate) * rate_gain

    assert same_voice(*sides(shared_data / "speech" / "jfk.flac"))  # a mono speech copied
    assert same_voice(*sides(shared_data / "speech" / "jfk.flac", 0.2))  # at another level
    assert not same_voice(*sides(DEMO))  # agent and customer take turns
    a, b = sides(shared_data / "speech" / "stereo_diarization.wav")  # two voices, overlapping
    assert not same_voice(a, b)
    assert not same_voice(a + 0.5 * np.roll(b, 320), b + 0.5 * np.roll(a, 320))  # loud bleed


def test_ray_native_log_lines_are_kept_off_the_terminal(capfd):
    import os

    from voicesim.report.archive import quiet_native_logs

    with quiet_native_logs():
        os.write(2, b"[2026-12-07 22:56:46,537 E 12162 12162] core_worker.cc:2465: Actor ...\n")
        os.write(2, b"voicesim: warning: a.wav: kept\n")
    assert capfd.readouterr().err == "voicesim: warning: a.wav: kept\n"


def test_a_session_a_stopped_run_never_journaled_is_scored_again_in_its_place(archive, tmp_path):
    folder, _, _ = archive
    out = tmp_path / "scored"
    (folder / "broken.wav").unlink(missing_ok=True)
    only = tmp_path / "calls"
    only.mkdir()
    (only / "call.txt").write_text(CALL_TXT)
    assert main(["score", str(only), str(folder / "call.txt"), "--out", str(out)]) == 0
    kept = [ln for ln in (out / JOURNAL).read_text().splitlines() if str(only) in ln]
    (out / JOURNAL).write_text(kept[0] + "\n")  # stopped before the other row was written
    assert main(["score", str(only), str(folder / "call.txt"), "--out", str(out)]) == 0
    again = journal(out)[1:]
    assert [Path(r["file"]) for r in again] == [folder / "call.txt"]
    sessions = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert sessions == sorted(Path(r["session"]).name for r in journal(out))  # no orphan left
