"""The analysis format: real resampling, loading reference audio, trimming, bad files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from voicesim.audio.formats import RATE, load_audio, read_audio_file, resample, trim_silence
from voicesim.errors import AudioFileError, VoicesimError

SOURCE_RATES = [8000, 22050, 24000, 44100, 48000]


def _sine(freq: float, rate: int, n: int, amp: float = 0.5) -> np.ndarray:
    t = np.arange(n) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / rate)[np.argmax(spec)])


@pytest.mark.parametrize("rate_in", SOURCE_RATES)
def test_resample_keeps_duration_and_frequency(rate_in):
    n = rate_in  # exactly one second
    freq = 1000.0  # below every source rate's Nyquist frequency
    out = resample(_sine(freq, rate_in, n), rate_in, RATE)
    assert out.dtype == np.float32
    assert out.ndim == 1
    assert out.size == RATE  # one second in, one second out
    # Ignore the filter's edge transients, then look for the tone.
    body = out[800:-800]
    assert abs(_peak_hz(body, RATE) - freq) <= 2.0
    # Level is kept too (a sine of amplitude 0.5 has RMS 0.354).
    rms = float(np.sqrt(np.mean(body.astype(np.float64) ** 2)))
    assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.02)


@pytest.mark.parametrize("rate_in", SOURCE_RATES)
def test_resample_odd_length_keeps_duration(rate_in):
    n = 12345
    out = resample(_sine(440.0, rate_in, n), rate_in, RATE)
    assert abs(out.size - n * RATE / rate_in) <= 1.0


def test_resample_removes_content_above_new_nyquist():
    # 7 kHz survives 48k -> 16k; 10 kHz must be filtered out, not aliased down to 6 kHz.
    rate_in = 48000
    out = resample(_sine(10_000.0, rate_in, rate_in), rate_in, RATE)[800:-800]
    rms = float(np.sqrt(np.mean(out.astype(np.float64) ** 2)))
    assert rms < 0.01


def test_resample_same_rate_and_dtype():
    x = np.linspace(-0.5, 0.5, 1000)  # float64 in
    out = resample(x, RATE, RATE)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, x.astype(np.float32))
    assert resample(np.zeros(0, np.float32), 44100).size == 0


def test_load_audio_jfk_is_mono_float32_16k(speech_dir):
    path = speech_dir / "jfk.flac"
    info = sf.info(str(path))
    assert info.channels == 2 and info.samplerate == 44100  # the fixture is what we think
    audio = load_audio(path)
    assert audio.ndim == 1
    assert audio.dtype == np.float32
    expected = info.frames * RATE / info.samplerate
    assert abs(audio.size - expected) <= 1
    assert audio.size == pytest.approx(11.0 * RATE, abs=16)
    assert np.all(np.isfinite(audio))
    assert 0.05 < float(np.max(np.abs(audio))) <= 1.0


def test_load_audio_averages_channels(speech_dir):
    data, rate = read_audio_file(speech_dir / "jfk.flac")
    assert data.shape[1] == 2 and rate == 44100
    mono = load_audio(speech_dir / "jfk.flac", rate=44100)  # no resampling: just the mix-down
    np.testing.assert_allclose(mono, data.mean(axis=1), atol=1e-6)


def test_trim_silence_cuts_around_tone():
    lead, tone_n, trail = 8050, RATE, 11200  # onset deliberately not on a 10 ms boundary
    tone = _sine(440.0, RATE, tone_n, amp=0.3)
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(lead + tone_n + trail) * 1e-5).astype(np.float32)  # -100 dBFS hiss
    x[lead : lead + tone_n] += tone
    out = trim_silence(x)
    hop = RATE // 100
    # The cut lands on the 10 ms frame that holds the onset / the last tone sample.
    start = next(i for i in range(x.size) if np.array_equal(x[i : i + out.size], out))
    assert lead - hop < start <= lead
    assert lead + tone_n <= start + out.size < lead + tone_n + hop
    assert out.size < x.size - (lead + trail) + 2 * hop


def test_trim_silence_keeps_all_when_loud():
    tone = _sine(440.0, RATE, RATE, amp=0.3)
    assert trim_silence(tone).size == tone.size
    assert trim_silence(np.zeros(0, np.float32)).size == 0


def test_trim_silence_of_digital_silence_is_empty():
    assert trim_silence(np.zeros(RATE, np.float32)).size == 0


# --- bad files -------------------------------------------------------------------------------


def _expect_audio_error(path, *fragments: str) -> AudioFileError:
    with pytest.raises(AudioFileError) as info:
        load_audio(path)
    msg = str(info.value)
    assert str(path) in msg, msg  # names the file
    for frag in fragments:
        assert frag in msg.lower(), msg
    assert "\n" not in msg  # one line for the CLI
    assert isinstance(info.value, VoicesimError) and info.value.exit_code == 2
    return info.value


def test_missing_file(tmp_path):
    _expect_audio_error(tmp_path / "nowhere.wav", "no such")


def test_directory(tmp_path):
    d = tmp_path / "folder.wav"
    d.mkdir()
    _expect_audio_error(d, "folder")


def test_random_bytes_with_wav_name(tmp_path):
    p = tmp_path / "noise.wav"
    p.write_bytes(np.random.default_rng(0).bytes(4096))
    _expect_audio_error(p, "not a readable audio file")


def test_zero_length_wav(tmp_path):
    p = tmp_path / "empty.wav"
    sf.write(str(p), np.zeros((0, 1), np.float32), RATE)
    assert p.stat().st_size > 0  # a valid header with no frames
    _expect_audio_error(p, "zero length")


def test_wav_truncated_in_header(tmp_path):
    p = tmp_path / "cut.wav"
    sf.write(str(p), _sine(440.0, RATE, RATE), RATE)
    p.write_bytes(p.read_bytes()[:20])
    _expect_audio_error(p, "not a readable audio file")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_float_wav_with_nan_or_inf(tmp_path, bad):
    p = tmp_path / "nan.wav"
    x = _sine(440.0, RATE, 1600)
    x[100] = bad
    sf.write(str(p), x, RATE, subtype="FLOAT")
    _expect_audio_error(p, "nan")
