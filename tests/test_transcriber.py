"""Whisper transcription with the bundled model: accuracy, timing offsets, silence, the worker."""

from __future__ import annotations

import re

import numpy as np
import pytest

from voicesim.audio.formats import RATE, load_audio
from voicesim.errors import VoicesimError
from voicesim.speech.transcriber import (
    JobResult,
    Transcriber,
    TranscriberOptions,
    TranscriberWorker,
    window_frames,
)

JFK_TEXT = (
    "And so my fellow Americans ask not what your country can do for you, "
    "ask what you can do for your country."
)


def _words(text: str) -> list[str]:
    return re.sub(r"[^\w\s']", " ", text.lower()).split()


@pytest.fixture(scope="module")
def jfk(speech_dir) -> np.ndarray:
    return load_audio(speech_dir / "jfk.flac")


def test_jfk_word_for_word(transcriber, jfk):
    result = transcriber.transcribe(jfk)
    assert _words(result.text) == _words(JFK_TEXT)
    assert [w for word in result.words for w in _words(word.text)] == _words(JFK_TEXT)
    assert result.no_speech_prob == 0.0


def test_word_times_are_shifted_by_offset(transcriber, jfk):
    base = transcriber.transcribe(jfk)
    shifted = transcriber.transcribe(jfk, offset=100.0)
    assert len(shifted.words) == len(_words(JFK_TEXT))
    starts = [w.start for w in shifted.words]
    assert all(s >= 100.0 for s in starts)
    assert all(b >= a for a, b in zip(starts, starts[1:], strict=False))
    assert starts[-1] > starts[0]
    assert all(w.end >= w.start for w in shifted.words)
    # Everything ends inside the 11 s of audio, on the shifted clock.
    assert shifted.words[-1].end <= 100.0 + jfk.size / RATE + 0.05
    # Same decode, same words: the offset is a pure shift.
    assert [w.text for w in shifted.words] == [w.text for w in base.words]
    for a, b in zip(base.words, shifted.words, strict=True):
        assert b.start == pytest.approx(a.start + 100.0, abs=1e-6)
        assert b.end == pytest.approx(a.end + 100.0, abs=1e-6)


def test_the_encoder_sees_a_shortened_window_and_the_words_stay_right(transcriber, jfk):
    """Short speech is encoded in a 15 s window (the live drill's), not Whisper's padded 30 s."""
    seen: list[int] = []
    encoder = transcriber._encoder
    real = encoder._encode

    def spy(features):
        seen.append(features.shape[-1])
        return real(features)

    encoder._encode = spy
    try:
        short = transcriber.transcribe(jfk[: int(3.3 * RATE)], min_window_s=15.0)
        transcriber.transcribe(jfk[: int(3.3 * RATE)])  # the default: Whisper's own window
    finally:
        encoder._encode = real
    assert seen == [1500, 3000]
    assert _words(short.text) == _words("And so my fellow Americans")
    assert encoder.frames is None  # a direct call on the model gets the full window again


def test_window_frames():
    assert window_frames(2 * RATE, 15.0) == 1500  # short speech: the minimum window
    assert window_frames(20 * RATE, 15.0) == 2100  # the audio plus 1 s
    assert window_frames(40 * RATE, 15.0) == 3000  # never past Whisper's window
    assert window_frames(int(14.33 * RATE), 15.0) % 2 == 0  # even, for the stride-2 encoder
    assert window_frames(2 * RATE, 30.0) == 3000


def test_a_model_that_refuses_short_windows_gets_the_full_one():
    from voicesim.speech.transcriber import _WindowedEncoder

    calls: list[int] = []

    def strict_encode(features):
        calls.append(features.shape[-1])
        if features.shape[-1] != 3000:
            raise ValueError("Invalid input features shape: expected 3000 frames")
        return "encoded"

    encoder = _WindowedEncoder(strict_encode)
    encoder.frames = 1500
    assert encoder(np.zeros((1, 80, 3000), np.float32)) == "encoded"
    assert encoder(np.zeros((1, 80, 3000), np.float32)) == "encoded"
    assert calls == [1500, 3000, 3000]  # refused once, then never tried again
    assert encoder.refused


def test_the_shortest_window_is_checked():
    with pytest.raises(VoicesimError, match="min_window_s"):
        Transcriber(TranscriberOptions(min_window_s=0.0))


@pytest.mark.parametrize(
    "name, audio",
    [
        ("silence", np.zeros(2 * RATE, np.float32)),
        (
            "low white noise",
            (np.random.default_rng(0).standard_normal(2 * RATE) * 0.003).astype(np.float32),
        ),
    ],
)
def test_no_speech_gives_empty_text(transcriber, name, audio):
    result = transcriber.transcribe(audio, offset=5.0)
    assert result.text == ""
    assert result.words == []


def test_worker_runs_jobs_and_survives_a_failure(transcriber, jfk):
    seen: list[JobResult] = []
    worker = TranscriberWorker(transcriber, on_result=seen.append)
    try:
        first, second = jfk[: 3 * RATE], jfk[3 * RATE : int(5.3 * RATE)]
        worker.submit(1, first, 0.0)
        worker.submit(2, second, 3.0)
        assert worker.wait_idle(timeout=120)
        assert worker.pending == 0
        results = {}
        while not worker.results.empty():
            r = worker.results.get_nowait()
            results[r.key] = r
        assert set(results) == {1, 2}
        for r in results.values():
            assert r.error is None and r.transcript is not None
            assert r.queued_s >= 0 and r.decode_s >= 0
        assert "fellow americans" in " ".join(_words(results[1].transcript.text))
        assert "ask not" in " ".join(_words(results[2].transcript.text))
        assert all(w.start >= 3.0 for w in results[2].transcript.words)
        assert {r.key for r in seen} == {1, 2}  # the callback saw both too

        # A job that makes the transcriber raise is reported, and the worker keeps going.
        worker.submit(3, np.array(["not audio"]), 0.0)
        worker.submit(4, first, 10.0)
        assert worker.wait_idle(timeout=120)
        later = [worker.results.get_nowait() for _ in range(2)]
        assert [r.key for r in later] == [3, 4]
        assert later[0].transcript is None and later[0].error
        assert later[1].error is None
        assert "fellow americans" in " ".join(_words(later[1].transcript.text))
    finally:
        worker.close()
    assert not worker._thread.is_alive()


def test_unknown_model_directory_is_a_user_error(tmp_path):
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    with pytest.raises(VoicesimError) as info:
        Transcriber(TranscriberOptions(model=str(empty)))
    assert str(empty) in str(info.value)
    assert "cannot load whisper model" in str(info.value).lower()


def test_missing_model_path_is_a_user_error(tmp_path):
    missing = tmp_path / "no" / "such-model"
    with pytest.raises(VoicesimError) as info:
        Transcriber(TranscriberOptions(model=str(missing)))
    assert str(missing) in str(info.value)
    # one line, naming the models that need no download (issue 26)
    assert "\n" not in str(info.value) and "tiny.en or base" in str(info.value)


def test_packed_utterances_keep_their_own_words(transcriber, speech_dir):
    """Several utterances decoded in one Whisper pass get their words back on their own clocks."""
    audio = load_audio(speech_dir / "jfk.flac")
    rate = 16000
    # three pieces of the speech, cut at pauses, placed at very different call times
    cuts = [(0.2, 3.3), (3.8, 7.2), (7.7, 10.9)]
    pieces = [
        (audio[int(a * rate) : int(b * rate)], 100.0 * (i + 1)) for i, (a, b) in enumerate(cuts)
    ]
    single = [transcriber.transcribe(a, off) for a, off in pieces]
    packed = transcriber.transcribe_many(pieces)
    assert len(packed) == 3
    for (a, off), one, many in zip(pieces, single, packed, strict=True):
        assert many.words, "every piece got words back"
        assert all(off - 0.05 <= w.start <= off + a.size / rate + 0.05 for w in many.words)
        norm = lambda t: re.sub(r"[^a-z ]", "", t.lower()).split()  # noqa: E731
        assert norm(many.text) == norm(one.text)
