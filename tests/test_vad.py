"""The endpointer on real speech: accuracy against human labels, streaming, timing, padding."""

from __future__ import annotations

import numpy as np
import pytest

from voicesim.audio.formats import RATE, load_audio
from voicesim.speech.vad import Endpointer, VadConfig

HOP = RATE // 100  # 10 ms scoring frames

# Measured on phone_call.wav with the default VadConfig: precision 0.982, recall 0.994.
PRECISION_FLOOR = 0.93
RECALL_FLOOR = 0.95


def _run(audio: np.ndarray, config: VadConfig | None = None, chunk: int | None = None):
    ep = Endpointer(config)
    events = []
    if chunk is None:
        events += ep.process(audio)
    else:
        for i in range(0, audio.size, chunk):
            events += ep.process(audio[i : i + chunk])
    return events + ep.flush()


def _noise(n: int, db: float, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(n) * 10 ** (db / 20)).astype(np.float32)


@pytest.fixture(scope="module")
def phone_call(speech_dir) -> np.ndarray:
    return load_audio(speech_dir / "phone_call.wav")


@pytest.fixture(scope="module")
def jfk(speech_dir) -> np.ndarray:
    return load_audio(speech_dir / "jfk.flac")


def _reference_frames(rttm_path, n_frames: int) -> np.ndarray:
    ref = np.zeros(n_frames, bool)
    for line in rttm_path.read_text().splitlines():
        parts = line.split()
        if not parts or parts[0] != "SPEAKER":
            continue
        start, dur = float(parts[3]), float(parts[4])
        ref[int(round(start * 100)) : int(round((start + dur) * 100))] = True  # union of speakers
    return ref


def _hypothesis_frames(events, n_frames: int) -> np.ndarray:
    hyp = np.zeros(n_frames, bool)
    for ev in events:
        if ev.kind == "end" and ev.utterance is not None:
            u = ev.utterance
            hyp[u.start // HOP : -(-u.end // HOP)] = True
    return hyp


def test_speech_precision_recall_on_phone_call(phone_call, speech_dir):
    n_frames = -(-phone_call.size // HOP)
    ref = _reference_frames(speech_dir / "phone_call.rttm", n_frames)
    assert ref.sum() > 1000  # the labels were read
    hyp = _hypothesis_frames(_run(phone_call), n_frames)
    tp = int((hyp & ref).sum())
    precision = tp / max(1, int(hyp.sum()))
    recall = tp / int(ref.sum())
    assert precision >= PRECISION_FLOOR, f"precision {precision:.3f}, recall {recall:.3f}"
    assert recall >= RECALL_FLOOR, f"precision {precision:.3f}, recall {recall:.3f}"
    # The labelled call starts with 6.7 s of no speech: nothing may be found there.
    assert not hyp[: int(6.5 * 100)].any()


def _signature(events):
    out = []
    for ev in events:
        u = ev.utterance
        out.append(
            (
                ev.kind,
                ev.sample,
                None
                if u is None
                else (u.index, u.start, u.end, u.audio_start, u.forced, u.audio.tobytes()),
            )
        )
    return out


@pytest.mark.parametrize("chunk", [137, 1, 4801])
def test_chunk_size_does_not_change_events(phone_call, chunk):
    audio = phone_call[: 16 * RATE] if chunk == 1 else phone_call
    whole = _run(audio)
    assert len(whole) >= 2
    assert _signature(_run(audio, chunk=chunk)) == _signature(whole)


# A loud stretch of "... what your country can do for you": speech at both cut points.
EXCERPT = (5.45, 7.45)


@pytest.mark.parametrize("onset", [RATE, RATE + 250])  # frame-aligned and not
def test_onset_end_and_padding_on_known_insert(jfk, onset):
    cfg = VadConfig()
    speech = jfk[int(EXCERPT[0] * RATE) : int(EXCERPT[1] * RATE)]
    true_end = onset + speech.size
    signal = _noise(true_end + RATE, -62.0)  # 1 s of faint noise, speech, 1 s of noise
    signal[onset:true_end] += speech
    events = _run(signal, cfg)
    assert [e.kind for e in events] == ["start", "end"]
    start, end = events
    frame = RATE * cfg.frame_ms // 1000
    assert abs(start.sample - onset) <= 0.060 * RATE
    assert abs(end.sample - true_end) <= (0.100 * RATE) + frame
    utt = end.utterance
    assert utt is not None and not utt.forced
    assert (utt.start, utt.end) == (start.sample, end.sample)
    preroll = cfg.preroll_ms * RATE // 1000
    tail = cfg.tail_ms * RATE // 1000
    assert utt.audio_start == utt.start - preroll
    assert utt.audio_start + utt.audio.size >= utt.end + tail
    # The utterance audio is the call audio at those samples, nothing shifted.
    np.testing.assert_array_equal(
        utt.audio, signal[utt.audio_start : utt.audio_start + utt.audio.size]
    )


@pytest.mark.parametrize(
    "name, audio",
    [
        ("digital silence", np.zeros(5 * RATE, np.float32)),
        ("noise at -62 dBFS", _noise(5 * RATE, -62.0, seed=1)),
        ("noise at -70 dBFS", _noise(5 * RATE, -70.0, seed=2)),
    ],
)
def test_no_events_without_speech(name, audio):
    ep = Endpointer()
    assert ep.process(audio) == []
    assert ep.flush() == []
    assert not ep.hearing


def test_long_speech_is_split_at_max_utterance(phone_call):
    cfg = VadConfig(max_utterance_s=2.0)
    frame = RATE * cfg.frame_ms // 1000
    # 8 s of continuous conversation (one utterance with the default 20 s limit), in silence.
    talk = phone_call[int(8.3 * RATE) : int(16.3 * RATE)]
    signal = np.concatenate([np.zeros(RATE // 2, np.float32), talk, np.zeros(RATE, np.float32)])
    assert len([e for e in _run(signal) if e.kind == "end"]) == 1
    events = _run(signal, cfg)
    utts = [e.utterance for e in events if e.kind == "end"]
    assert all(u is not None for u in utts)
    assert len(utts) >= 3
    forced = [u for u in utts if u.forced]
    assert len(forced) >= 2
    assert not utts[-1].forced  # the last piece ends on a real pause
    for u in utts:
        assert u.end - u.start <= cfg.max_utterance_s * RATE + frame
    for u in forced:  # cut at the quietest moment of the utterance's second half
        assert u.end - u.start >= cfg.max_utterance_s / 2 * RATE - frame
        assert u.audio.size <= u.end - u.audio_start + cfg.tail_ms * RATE // 1000
    # Speech continues across a forced cut: nothing between the pieces is lost or heard twice.
    for prev, nxt in zip(utts, utts[1:], strict=False):
        if prev.forced:
            assert prev.end <= nxt.start and nxt.audio_start == nxt.start
            assert prev.audio_start + prev.audio.size <= nxt.audio_start
        assert nxt.index == prev.index + 1
    starts = [e.sample for e in events if e.kind == "start"]
    assert starts == [u.start for u in utts]


@pytest.mark.parametrize(
    "bad",
    [
        {"frame_ms": 25},
        {"aggressiveness": 4},
        {"aggressiveness": -1},
        {"start_frames": 6, "start_window": 5},
        {"tail_ms": 500, "hangover_ms": 450},
    ],
)
def test_vad_config_rejects_bad_values(bad):
    cfg = VadConfig(**bad)
    with pytest.raises(ValueError):
        cfg.validate()
    with pytest.raises(ValueError):
        Endpointer(cfg)


def test_vad_config_defaults_are_valid():
    VadConfig().validate()
    for ms in (10, 20, 30):
        VadConfig(frame_ms=ms).validate()
