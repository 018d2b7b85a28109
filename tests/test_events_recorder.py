"""The event model and the crash-safe session recorder."""

from __future__ import annotations

import json
import wave

import numpy as np
import pytest
import soundfile as sf

from voicesim.audio.formats import RATE
from voicesim.audio.recorder import SessionRecorder, write_json
from voicesim.audio.sources import Frame
from voicesim.events import FINAL, MOOD, SPEECH_START, Event, read_events


def test_event_json_round_trip():
    ev = Event(
        FINAL,
        12.3456789,
        {"text": "I'm sorry — ça va", "words": [{"w": "sorry", "start": 1.0}], "n": 3},
    )
    line = ev.to_json()
    assert "\n" not in line
    assert "ça" in line  # not escaped to \u00e7
    obj = json.loads(line)
    assert obj["type"] == FINAL and obj["t"] == 12.3457  # rounded to TIME_DECIMALS
    back = Event.from_dict(obj)
    assert back.type == FINAL
    assert back.t == pytest.approx(12.3457)
    assert back.data == ev.data
    assert back["text"] == ev["text"]
    assert back.get("missing", "x") == "x"
    assert Event.from_dict(json.loads(back.to_json())) == back


def test_read_events_skips_torn_last_line(tmp_path):
    path = tmp_path / "events.jsonl"
    good = [Event(SPEECH_START, 0.5), Event(MOOD, 1.25, {"mood": 0.6}), Event(FINAL, 2.0)]
    torn = Event(FINAL, 3.0, {"text": "and then the process died"}).to_json()
    path.write_text(
        "".join(e.to_json() + "\n" for e in good) + torn[: len(torn) // 2], encoding="utf-8"
    )
    events = list(read_events(path))
    assert [(e.type, e.t, e.data) for e in events] == [(e.type, e.t, e.data) for e in good]


def test_read_events_ignores_blank_and_foreign_lines(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('\n{"type":"mood","t":1}\n[1,2]\n{"no":"type"}\n', encoding="utf-8")
    assert [(e.type, e.t) for e in read_events(path)] == [("mood", 1.0)]


def _frames(n_frames: int, size: int = 480, seed: int = 0):
    rng = np.random.default_rng(seed)
    for i in range(n_frames):
        yield Frame(
            start=i * size,
            customer=(rng.standard_normal(size) * 0.1).astype(np.float32),
            mic=(rng.standard_normal(size) * 0.1).astype(np.float32),
        )


def test_recorder_files_readable_before_close(tmp_path):
    rec = SessionRecorder(tmp_path / "session")
    try:
        frames = list(_frames(25))
        for f in frames:
            rec.write(f)
        rec.log(Event(SPEECH_START, 0.1))
        rec.log(Event(FINAL, 0.5, {"text": "hello"}))
        # Not closed: as a crashed process would leave them.
        data, rate = sf.read(str(tmp_path / "session" / "call.wav"), dtype="float32")
        assert rate == RATE
        assert data.shape == (25 * 480, 2)
        assert rec.samples_written == 25 * 480
        # The RIFF header itself is up to date (strict readers trust it, not the file size).
        with wave.open(str(tmp_path / "session" / "call.wav")) as w:
            assert (w.getnframes(), w.getnchannels(), w.getframerate()) == (25 * 480, 2, RATE)
        expected_left = np.concatenate([f.customer for f in frames])
        np.testing.assert_allclose(data[:, 0], expected_left, atol=1.5 / 32768)
        lines = (tmp_path / "session" / "events.jsonl").read_text(encoding="utf-8").splitlines()
        assert [json.loads(x)["type"] for x in lines] == [SPEECH_START, FINAL]
    finally:
        rec.close()


def test_recorder_after_close_is_16k_stereo_pcm16(tmp_path):
    d = tmp_path / "session"
    rec = SessionRecorder(d)
    frames = list(_frames(10, seed=3))
    loud = Frame(10 * 480, np.full(480, 1.7, np.float32), np.full(480, -2.0, np.float32))
    for f in [*frames, loud]:
        rec.write(f)
    rec.log(Event(MOOD, 0.2, {"mood": 0.5}))
    rec.write_json("meta.json", {"format": 1, "persona": "damaged-blender"})
    rec.close()
    rec.close()  # closing twice is harmless
    info = sf.info(str(d / "call.wav"))
    assert (info.samplerate, info.channels, info.subtype) == (RATE, 2, "PCM_16")
    assert info.frames == 11 * 480
    data, _ = sf.read(str(d / "call.wav"), dtype="float32")
    # Left is the customer, right the trainee's microphone.
    np.testing.assert_allclose(
        data[: 10 * 480, 1], np.concatenate([f.mic for f in frames]), atol=1.5 / 32768
    )
    # Out-of-range samples are clipped, not wrapped around.
    assert data[-480:, 0].min() > 0.99
    assert data[-480:, 1].max() < -0.99
    assert [e.type for e in read_events(d / "events.jsonl")] == [MOOD]
    assert json.loads((d / "meta.json").read_text())["persona"] == "damaged-blender"
    assert not list(d.glob("*.tmp"))


def test_write_json_replaces_atomically(tmp_path):
    p = tmp_path / "scorecard.json"
    write_json(p, {"v": 1})
    write_json(p, {"v": 2, "name": "Dana Whitfield"})
    assert json.loads(p.read_text()) == {"v": 2, "name": "Dana Whitfield"}
    assert not (tmp_path / "scorecard.json.tmp").exists()
