"""A call killed with SIGKILL at any moment still opens: audio, events and a report up to the kill."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import soundfile as sf

from voicesim.cli import main
from voicesim.events import read_events

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_at_a_random_moment_leaves_a_session_that_reports(tmp_path, seed):
    # the moment: once the call has logged a random number of events (not a wall-clock time:
    # on a busy machine the real-time line falls behind the wall clock)
    logged = random.Random(seed).randint(6, 24)
    out = tmp_path / "s"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voicesim",
            "simulate",
            "--persona",
            "damaged-blender",
            "--trainee",
            "poor-agent",
            "--seed",
            "0",
            "--out",
            str(out),
            "--realtime",
            "--quiet",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ},
    )
    log = out / "events.jsonl"
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if log.exists() and log.read_bytes().count(b"\n") >= logged:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the call ended or failed before the kill"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    events = list(read_events(out / "events.jsonl"))  # never stops at a torn line
    assert events[0].type == "call_start"
    assert not any(e.type == "call_end" for e in events)
    lines = (out / "events.jsonl").read_text().splitlines()
    assert len(events) >= len(lines) - 1  # at most the line being written was lost
    recorded_s = sf.info(str(out / "call.wav")).frames / 16000
    # the recording reaches (about) the moment of the kill: the trainee's speech the line had
    # heard (scripted lines are logged ahead, as planned) is in the audio on disk
    assert len(events) >= logged - 1
    heard = [e.t for e in events if e.type in ("speech_start", "speech_end")]
    assert heard, [e.type for e in events]
    assert max(heard) - 1.5 <= recorded_s
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "running"  # it never got to say otherwise

    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert '"complete": false' in page  # the page says the recording was cut short
    assert main(["replay", str(out), "--no-audio", "--speed", "200"]) == 0
