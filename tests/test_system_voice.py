"""The platform's own voices (``engine: system``, ``--voices system``): chosen only when asked
for, spoken by a child process per line, so a crash in the platform's engine is one clear error
and never takes the call down; without pyttsx3 (the optional extra) the error says what to
install."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from voicesim.cli import main
from voicesim.errors import MissingDependencyError, VoicesimError
from voicesim.persona.persona import load_persona, persona_files
from voicesim.speech import system_voice
from voicesim.speech.tts import Synthesizer, VoiceSettings

needs_pyttsx3 = pytest.mark.skipif(
    not system_voice.available(), reason="pyttsx3 (voicesim[system-voices]) is not installed"
)
# On Linux the platform's voice is espeak-ng (a system package the set-up installs).
needs_platform_voice = pytest.mark.skipif(
    sys.platform.startswith("linux") and shutil.which("espeak-ng") is None,
    reason="espeak-ng (the platform voice on Linux) is not installed",
)
LINE = "Thank you for waiting."  # short: the Linux driver speaks short lines reliably


def test_system_voices_are_only_used_when_asked_for(tmp_path):
    blender = load_persona(next(p for p in persona_files() if p.stem == "damaged-blender"))
    persona = Synthesizer(cache=tmp_path, voices="persona")
    system = Synthesizer(cache=tmp_path, voices="system")
    assert persona.engine_name(blender.voice) == "kokoro"
    assert system.engine_name(blender.voice) == "system"
    assert system.describe(blender.voice)["spoken_by"] == {
        "engine": "system",
        "voice": "default",
        "voices": "system",
    }
    trainee = VoiceSettings("hibari", "heart")  # the simulated trainee keeps its own voice
    assert system.engine_name(trainee) == "hibari"


@needs_platform_voice
def test_personas_say_speaks_with_the_platform_voice(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICESIM_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "blender.wav"
    assert (
        main(["personas", "say", "damaged-blender", "--voices", "system", "--out", str(out)]) == 0
    )
    audio, rate = sf.read(str(out))
    assert audio.size / rate > 5.0  # two opening lines, each several seconds
    assert np.abs(audio).max() > 0.05


@needs_platform_voice
def test_a_persona_may_ask_for_the_platform_voice(tmp_path):
    src = next(p for p in persona_files() if p.stem == "damaged-blender").read_text()
    head, _, rest = src.partition("\nvoice:")
    body = rest.split("\n", 1)[1]
    while body.startswith("  "):  # drop the old voice mapping's indented lines
        body = body.split("\n", 1)[1]
    path = tmp_path / "platform.yaml"
    path.write_text(
        head.replace("id: damaged-blender", "id: platform")
        + "\nvoice: {engine: system, voice: default, rate: 150}\n"
        + body
    )
    persona = load_persona(path)
    assert persona.voice.engine == "system"
    audio = Synthesizer(cache=tmp_path / "cache").render(LINE, persona.voice)
    assert audio.size > 16_000 * 0.5


@needs_pyttsx3
def test_the_child_process_lists_and_speaks_the_platform_voices():
    listed = system_voice.voices()
    assert listed and all(v.id and v.name for v in listed)
    audio, rate = system_voice.render(LINE, "default", 170, 1.0)
    assert audio.size / rate > 0.5
    with pytest.raises(VoicesimError, match="no voice 'nobody-speaks-like-this'"):
        system_voice.render(LINE, "nobody-speaks-like-this", 170, 1.0)


def test_a_crash_in_the_platform_engine_is_one_error(monkeypatch):
    monkeypatch.setattr(system_voice, "available", lambda: True)

    def segfault(*_a, **_k):
        return subprocess.CompletedProcess([], -11, b"", b"")

    monkeypatch.setattr(system_voice.subprocess, "run", segfault)
    with pytest.raises(VoicesimError, match=r"crashed \(signal 11\)"):
        system_voice.render(LINE, "default", 170, 1.0)


def test_without_pyttsx3_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setattr(system_voice, "available", lambda: False)
    with pytest.raises(MissingDependencyError, match=r"voicesim\[system-voices\]"):
        system_voice.voices()


def test_the_child_answers_on_its_last_line_whatever_the_driver_prints():
    proc = subprocess.run(
        [sys.executable, "-m", "voicesim.speech.system_voice"],
        input=b"not json",
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "error" in json.loads(proc.stdout.decode().strip().splitlines()[-1])
