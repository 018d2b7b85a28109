"""Reviewing calls: scoring recordings, the HTML report in a real browser, replay, sessions."""

from __future__ import annotations

import csv
import json
import os
import pty
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from browser_support import CHROMIUM, launch, watch_requests

from voicesim.audio.formats import read_audio_file, resample
from voicesim.cli import main
from voicesim.events import read_events

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scored(shared_data, tmp_path_factory):
    """stereo_diarization.wav scored with the customer on the left."""
    out = tmp_path_factory.mktemp("scored") / "session"
    rc = main(
        [
            "score",
            str(shared_data / "speech" / "stereo_diarization.wav"),
            "--customer-channel",
            "left",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert rc == 0
    return out


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "session"
    assert (
        main(
            [
                "simulate",
                "--persona",
                "damaged-blender",
                "--trainee",
                "poor-agent",
                "--seed",
                "0",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    assert main(["report", str(out)]) == 0
    return out


def test_score_transcribes_both_sides_and_finds_the_overlap(scored):
    events = list(read_events(scored / "events.jsonl"))
    customer = " ".join(e["text"] for e in events if e.type == "customer_line_start").lower()
    trainee = " ".join(e["text"] for e in events if e.type == "final").lower()
    assert "wizard" in customer and "curtain" in customer
    assert "horizon" in trainee and "distant" in trainee
    (ot,) = [e for e in events if e.type == "overtalk"]
    assert ot["by"] == "trainee" and ot["duration"] > 1.0
    meta = json.loads((scored / "meta.json").read_text())
    assert meta["source"]["kind"] == "recorded" and meta["source"]["customer_channel"] == "left"
    assert (scored / "report.html").exists() and (scored / "scorecard.json").exists()
    card = json.loads((scored / "scorecard.json").read_text())
    crit = {c["id"]: c for f in card["families"] for c in f["criteria"]}
    assert crit["no_interruptions"]["hits"] == 1
    assert not crit["resolved"]["applies"]  # a recording has no persona outcome


def test_bad_inputs_to_score(shared_data, tmp_path, capsys):
    stereo = shared_data / "speech" / "stereo_diarization.wav"
    assert main(["score", str(stereo), "--customer-channel", "middle"]) == 2
    assert "left or right" in capsys.readouterr().err
    cut = tmp_path / "cut.wav"
    cut.write_bytes(stereo.read_bytes()[:30])
    assert main(["score", str(cut)]) == 2
    assert "not a readable audio file" in capsys.readouterr().err
    assert main(["score", str(tmp_path / "nope.wav")]) == 2
    assert main(["score", "--customer", str(stereo)]) == 2
    assert "both --customer and --trainee" in capsys.readouterr().err


def test_telephone_rate_and_two_mono_files(shared_data, tmp_path):
    data, rate = read_audio_file(shared_data / "speech" / "stereo_diarization.wav")
    cust8k = resample(data[:, 0], rate, 8000)
    trainee44k = resample(data[:, 1], rate, 44100)
    sf.write(tmp_path / "customer.wav", cust8k, 8000, subtype="PCM_16")
    sf.write(tmp_path / "trainee.flac", trainee44k, 44100)
    out = tmp_path / "s"
    assert (
        main(
            [
                "score",
                "--customer",
                str(tmp_path / "customer.wav"),
                "--trainee",
                str(tmp_path / "trainee.flac"),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    events = list(read_events(out / "events.jsonl"))
    assert "horizon" in " ".join(e["text"] for e in events if e.type == "final").lower()
    assert [e for e in events if e.type == "overtalk"]
    info = sf.info(str(out / "call.wav"))
    assert (info.samplerate, info.channels) == (16000, 2)


def test_a_folder_is_scored_with_a_csv_summary(shared_data, local_ray, tmp_path):
    folder = tmp_path / "calls"
    folder.mkdir()
    data, rate = read_audio_file(shared_data / "speech" / "stereo_diarization.wav")
    sf.write(folder / "a.wav", data, rate)
    sf.write(
        folder / "b_8k.wav", np.stack([resample(data[:, i], rate, 8000) for i in (0, 1)], 1), 8000
    )
    shutil.copy(shared_data / "speech" / "phone_call.wav", folder / "c_mono.wav")
    out = tmp_path / "batch"
    rc = main(["score", str(folder), "--out", str(out)])
    assert rc == 0
    rows = {Path(r["file"]).name: r for r in csv.DictReader(open(out / "summary.csv"))}
    assert list(rows) == ["a.wav", "b_8k.wav", "c_mono.wav"]
    assert all(int(rows[f]["overtalk_count"]) == 1 for f in ("a.wav", "b_8k.wav"))
    assert rows["c_mono.wav"]["overtalk_count"] == ""  # a mono call cannot show it
    assert "diarisation" in rows["c_mono.wav"]["warnings"]
    assert (out / "a" / "report.html").exists()


def test_sessions_list_and_export(simulated, scored, tmp_path, capsys):
    assert main(["sessions", "list", str(simulated.parent)]) == 0
    out = capsys.readouterr().out
    assert "damaged-blender" in out and "1 session(s)" in out
    j = tmp_path / "all.json"
    assert main(["sessions", "export", str(simulated), str(scored), "--out", str(j)]) == 0
    docs = json.loads(j.read_text())
    assert [d["meta"]["source"]["kind"] for d in docs] == ["simulated", "recorded"]
    assert (
        docs[0]["scorecard"]["overall"]
        == json.loads((simulated / "scorecard.json").read_text())["overall"]
    )
    c = tmp_path / "all.csv"
    assert (
        main(
            ["sessions", "export", str(simulated), str(scored), "--format", "csv", "--out", str(c)]
        )
        == 0
    )
    rows = list(csv.DictReader(open(c)))
    assert rows[0]["persona"] == "damaged-blender" and rows[0]["passed"] == "False"
    assert {"tone", "interruptions", "resolution"} <= set(rows[0])


def test_replay_prints_captions_in_time_order(simulated):
    proc = subprocess.run(
        [sys.executable, "-m", "voicesim", "replay", str(simulated), "--no-audio", "--speed", "60"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln[:2].isdigit()]
    stamps = [ln.split()[0] for ln in lines]
    assert stamps == sorted(stamps) and len(lines) >= 8
    assert any("CUSTOMER" in ln for ln in lines) and any("overtalk" in ln for ln in lines)
    assert "score" in proc.stdout


def test_replay_keys_quit_early(simulated):
    pid, fd = pty.fork()
    if pid == 0:  # child: a real terminal, so replay reads single keys
        os.environ["COLUMNS"] = "200"
        os.execv(
            sys.executable,
            [
                sys.executable,
                "-m",
                "voicesim",
                "replay",
                str(simulated),
                "--no-audio",
                "--speed",
                "1",
            ],
        )
    out = b""
    deadline = time.monotonic() + 30
    while b"CUSTOMER" not in out and time.monotonic() < deadline:
        out += os.read(fd, 4096)
    os.write(fd, b"n")  # skip to the next event
    time.sleep(0.5)
    os.write(fd, b"q")
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    text = out.decode(errors="ignore")
    assert os.waitstatus_to_exitcode(status) == 0
    assert "stopped at" in text
    assert "overtalk" in text  # `n` jumped ahead to the first overtalk at 3 s
    assert "Forget it" not in text and "elsewhere" not in text  # quit before the end


def test_report_of_a_session_killed_mid_call(simulated, tmp_path):
    killed = tmp_path / "killed"
    shutil.copytree(simulated, killed)
    (killed / "scorecard.json").unlink()
    (killed / "report.html").unlink()
    lines = (killed / "events.jsonl").read_text().splitlines(keepends=True)
    cut = next(i for i, ln in enumerate(lines) if '"type":"mood"' in ln and i > 10)
    (killed / "events.jsonl").write_text("".join(lines[:cut]) + lines[cut][:20])  # a torn last line
    assert main(["report", str(killed)]) == 0
    page = (killed / "report.html").read_text()
    assert "cut short" in page.lower() or '"complete": false' in page


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_report_in_a_real_browser(simulated):
    from playwright.sync_api import expect, sync_playwright

    events = list(read_events(simulated / "events.jsonl"))
    first_overtalk = next(e for e in events if e.type == "overtalk")
    duration = next(e for e in events if e.type == "call_end")["duration"]
    with sync_playwright() as p:
        browser = launch(p, "--autoplay-policy=no-user-gesture-required")
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        outside = watch_requests(page, ("file:",))
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((simulated / "report.html").as_uri())
        page.wait_for_function("document.getElementById('player').readyState >= 1", timeout=20000)
        assert not errors and not outside  # works with no network at all
        # the timeline shows the overtalk where it happened
        x = float(page.locator("rect.overtalk").first.get_attribute("x"))
        assert x == pytest.approx(first_overtalk.t / duration * 1000, abs=2)
        assert page.locator("text=overtalk").count() >= 1
        # clicking a transcript line seeks the audio to that line
        line = page.locator(".line.trainee").nth(2)
        t = float(line.get_attribute("data-t"))
        line.click()
        page.wait_for_function(
            f"Math.abs(document.getElementById('player').currentTime - {t}) < 0.05"
        )
        # the line is marked when the player reports the seek (its "seeked" event), which can
        # come after currentTime reads the new position: wait for that state, not a moment
        expect(line).to_have_class(re.compile(r"\bcurrent\b"))
        # evidence is highlighted in the transcript, and the score is shown
        assert page.locator(".ev-neg").count() >= 2
        assert "FAIL" in page.locator("#verdict").inner_text()
        browser.close()
