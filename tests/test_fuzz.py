"""Bad input, fuzzed: config files end in a clear error or a working object; bad audio files in a
clear error or a correct result; never a traceback or a hang."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fuzzcases import PERSONA, RUBRIC, SAMPLE_TURNS, SCRIPT, mangled_text, mutated_yaml
from hypothesis import HealthCheck, given, settings

from voicesim.errors import ConfigError
from voicesim.events import Event
from voicesim.persona.engine import DialogueEngine, TraineeTurn
from voicesim.persona.persona import load_persona
from voicesim.rubric.rubric import load_rubric
from voicesim.rubric.scorer import score_call
from voicesim.session.script import load_script

EXAMPLES = int(os.environ.get("VOICESIM_FUZZ_EXAMPLES", "80"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
LIBRARY = load_rubric().library
TMP = Path(tempfile.mkdtemp(prefix="voicesim-fuzz-"))
EVENTS = [
    Event(
        "customer_line_start", 0.5, {"line": 0, "text": "My blender arrived cracked.", "end": 3.0}
    ),
    Event("customer_line_end", 3.0, {"line": 0, "cut": False}),
    Event(
        "final",
        3.5,
        {
            "who": "trainee",
            "text": "I'm so sorry, let me replace it today.",
            "end": 5.5,
            "words": [{"w": "I'm", "start": 3.5, "end": 3.7, "p": 0.9}],
        },
    ),
    Event("overtalk", 1.0, {"by": "trainee", "end": 2.0, "duration": 1.0}),
    Event("silence", 3.0, {"end": 6.5, "duration": 3.5, "after": "customer"}),
    Event("mood", 0.5, {"mood": 0.6}),
    Event("mood", 6.0, {"mood": 0.3}),
    Event("call_end", 7.0, {"end_state": "resolved", "duration": 7.0}),
]


def check_persona(text: str) -> None:
    path = TMP / "persona.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        persona = load_persona(path, set(LIBRARY.detectors))
    except ConfigError as exc:
        assert str(path) in str(exc)
        return
    engine = DialogueEngine(persona, LIBRARY, seed=0)
    engine.opening()
    for turn in SAMPLE_TURNS:
        engine.respond(TraineeTurn(turn, interrupted=turn == ""))
    engine.on_silence()
    engine.interject()


def check_rubric(text: str) -> None:
    path = TMP / "rubric.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        rubric = load_rubric(path)
    except ConfigError as exc:
        assert str(path) in str(exc)
        return
    score_call(EVENTS, rubric)


def check_script(text: str) -> None:
    path = TMP / "script.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_script(path)
    except ConfigError as exc:
        assert str(path) in str(exc)


@FUZZ
@given(mutated_yaml(PERSONA))
def test_persona_mutations(text):
    check_persona(text)


@FUZZ
@given(mangled_text(PERSONA))
def test_persona_text_damage(text):
    check_persona(text)


@FUZZ
@given(mutated_yaml(RUBRIC))
def test_rubric_mutations(text):
    check_rubric(text)


@FUZZ
@given(mangled_text(RUBRIC))
def test_rubric_text_damage(text):
    check_rubric(text)


@FUZZ
@given(mutated_yaml(SCRIPT))
def test_script_mutations(text):
    check_script(text)


@FUZZ
@given(mangled_text(SCRIPT))
def test_script_text_damage(text):
    check_script(text)


@pytest.mark.parametrize(
    "name, body",
    [
        ("empty", ""),
        ("just a list", "- a\n- b\n"),
        ("a number", "42\n"),
        ("binary", "\x00\x01\x02"),
        ("python tag", "!!python/object/apply:os.system ['true']\n"),
        ("deep nesting", "a: " + "[" * 200),
    ],
)
def test_hand_made_broken_files(name, body):
    for check in (check_persona, check_rubric, check_script):
        check(body)


def _write(path: Path, data: np.ndarray, rate: int, **kw) -> Path:
    sf.write(str(path), data, rate, **kw)
    return path


def audio_cases(tmp: Path) -> list[tuple[str, Path, set[int]]]:
    """(name, file, acceptable exit codes) for `voicesim score`."""
    rng = np.random.default_rng(0)
    speech, rate = sf.read(
        str(Path(__file__).resolve().parents[2] / "shared/data/speech/stereo_diarization.wav"),
        dtype="float32",
    )
    good = _write(tmp / "good.wav", speech, rate)
    raw = good.read_bytes()
    cases = [
        ("truncated", tmp / "truncated.wav", {2}),
        ("wrong header", tmp / "header.wav", {2}),
        ("zero length", _write(tmp / "zero.wav", np.zeros((0, 2), np.float32), 16000), {2}),
        (
            "NaN samples",
            _write(
                tmp / "nan.wav", np.full((16000, 2), np.nan, np.float32), 16000, subtype="FLOAT"
            ),
            {2},
        ),
        ("one sample", _write(tmp / "one.wav", np.zeros((1, 2), np.float32), 16000), {2}),
        ("8 kHz", _write(tmp / "8k.wav", speech[::2], 8000), {0}),
        ("96 kHz", _write(tmp / "96k.wav", np.repeat(speech, 6, axis=0), 96000), {0}),
        (
            "6 channels",
            _write(
                tmp / "six.wav", rng.standard_normal((16000, 6)).astype(np.float32) * 0.01, 16000
            ),
            {2},
        ),
        ("mono", _write(tmp / "mono.wav", speech[:, 0], rate), {2}),
        (
            "an hour of silence",
            _write(tmp / "hour.wav", np.zeros((3600 * 8000, 2), np.int16), 8000),
            {0},
        ),
        (
            "white noise",
            _write(
                tmp / "noise.wav",
                rng.standard_normal((5 * 16000, 2)).astype(np.float32) * 0.3,
                16000,
            ),
            {0},
        ),
        (
            "clipped square",
            _write(
                tmp / "square.wav",
                np.sign(np.sin(np.arange(32000) / 5))[:, None].repeat(2, 1),
                16000,
            ),
            {0},
        ),
    ]
    (tmp / "truncated.wav").write_bytes(raw[: len(raw) // 3][:60])
    (tmp / "header.wav").write_bytes(b"RIFX" + raw[4:])
    return cases


@pytest.mark.slow
def test_bad_audio_files_end_in_a_clear_error_or_a_result(tmp_path, shared_data):
    cases = audio_cases(tmp_path)
    for name, path, ok in cases:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "voicesim",
                "score",
                str(path),
                "--out",
                str(tmp_path / f"s-{path.stem}"),
                "--quiet",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode in ok, f"{name}: exit {proc.returncode}\n{proc.stderr[-2000:]}"
        assert "Traceback" not in proc.stderr, f"{name}: {proc.stderr[-2000:]}"
        if proc.returncode == 2:
            assert proc.stderr.startswith("voicesim: error:") and str(path) in proc.stderr, name
