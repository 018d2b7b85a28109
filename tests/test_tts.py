"""The espeak-ng voice: every setting is heard, the same line is the same audio, errors are clear.

espeak-ng is an optional engine (a system package no shipped persona needs): without it these
tests skip, except the one that checks what a user without it is told."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from voicesim.errors import MissingDependencyError, VoicesimError
from voicesim.speech import tts
from voicesim.speech.tts import Synthesizer, VoiceSettings

LINE = "Five five, one two zero. Write it down."
VOICE = VoiceSettings("espeak", "en-gb-scotland", 165, 45, 0.9)
needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng (optional engine) is not installed"
)


def _render(text: str, s: VoiceSettings, tmp_path) -> np.ndarray:
    """A fresh render (an empty cache each time)."""
    cache = tmp_path / f"cache{len(list(tmp_path.iterdir()))}"
    return Synthesizer(cache=cache).render_native(text, s)[0]


@needs_espeak
def test_a_line_is_the_same_audio_whatever_came_before(tmp_path):
    """Each line is spoken with its own settings: a slow, low line before it changes nothing
    (the in-process driver once spoke a line at the previous line's pace)."""
    first = _render(LINE, VOICE, tmp_path)
    _render("Sorry, I'll have to ring back another time.", VOICE.with_changes(rate=90), tmp_path)
    again = _render(LINE, VOICE, tmp_path)
    assert np.array_equal(first, again)


@needs_espeak
def test_rate_pitch_and_volume_are_heard(tmp_path):
    base = _render(LINE, VOICE, tmp_path)
    faster = _render(LINE, VOICE.with_changes(rate=230), tmp_path)
    quieter = _render(LINE, VOICE.with_changes(volume=0.45), tmp_path)
    higher = _render(LINE, VOICE.with_changes(pitch=90), tmp_path)
    assert faster.size < 0.85 * base.size
    assert np.abs(quieter).max() < 0.7 * np.abs(base).max()
    assert not np.array_equal(higher, base) and higher.size == pytest.approx(base.size, rel=0.1)


@needs_espeak
def test_an_unknown_voice_is_one_clear_error(tmp_path):
    with pytest.raises(VoicesimError, match="no voice named 'xx-nowhere'"):
        _render(LINE, VOICE.with_changes(voice="xx-nowhere"), tmp_path)


def test_without_espeak_ng_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(tts.shutil, "which", lambda name: None)
    with pytest.raises(MissingDependencyError, match="apt-get install espeak-ng"):
        tts._Espeak()
