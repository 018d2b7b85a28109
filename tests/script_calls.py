"""Whole simulated calls in about a second each: the real call loop, persona, voices, VAD, overtalk
and scorer, with a stand-in for Whisper that hears exactly the script's words.

``ScriptTranscriber`` listens for the scripted trainee lines as the simulated call schedules them
and, asked for an utterance's words, returns the words of the lines the utterance overlaps, each
timed within the line's own audio (spread over its voiced stretches, so that an utterance the VAD
cut at a pause gets the words that start on its side of the pause). The words are what the script says, with
no recognition errors: what the coaching and the readouts are tested on, across every persona.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voicesim.audio.formats import RATE
from voicesim.events import SCRIPTED, Event
from voicesim.persona.persona import Persona
from voicesim.rubric.rubric import Rubric
from voicesim.session.call import CallOptions, CallResult
from voicesim.session.script import TraineeScript
from voicesim.session.simulate import simulate
from voicesim.speech.transcriber import Transcript, Word
from voicesim.speech.tts import Synthesizer

FRAME = RATE // 100  # 10 ms
PAUSE_FRAMES = 12  # a quiet stretch this long (120 ms) separates voiced runs


@dataclass
class _Line:
    start: float
    words: list[Word]


def _voiced_runs(audio: np.ndarray) -> list[tuple[float, float]]:
    """The voiced stretches of one rendered line, in seconds from its start."""
    n = audio.size // FRAME
    if n == 0:
        return [(0.0, audio.size / RATE)]
    energy = np.sqrt(np.mean(audio[: n * FRAME].reshape(n, FRAME) ** 2, axis=1))
    voiced = energy > 0.05 * float(energy.max() or 1.0)
    runs, start, quiet = [], None, 0
    for i, v in enumerate(voiced):
        if v:
            if start is None:
                start = i
            quiet = 0
        elif start is not None:
            quiet += 1
            if quiet >= PAUSE_FRAMES:
                runs.append((start, i - quiet + 1))
                start, quiet = None, 0
    if start is not None:
        runs.append((start, n - quiet))
    return [(a * FRAME / RATE, b * FRAME / RATE) for a, b in runs] or [(0.0, audio.size / RATE)]


def timed_words(text: str, audio: np.ndarray, offset: float) -> list[Word]:
    """The line's words spread over its voiced stretches by length (a pause at a comma or a
    full stop is where the speech stops), on the call clock."""
    tokens = text.split()
    runs = _voiced_runs(audio)
    voiced = sum(b - a for a, b in runs)
    weights = [len(re.sub(r"\W", "", t)) + 1 for t in tokens]
    total = sum(weights)

    def at(x: float, starts: bool) -> float:  # voiced seconds -> seconds from the line's start
        for a, b in runs:  # a word starting where a run ends starts in the next run
            if x < b - a or (not starts and x <= b - a):
                return a + x
            x -= b - a
        return runs[-1][1]

    out, pos = [], 0.0
    for tok, w in zip(tokens, weights, strict=True):
        a, b = pos, pos + voiced * w / total
        pos = b
        out.append(Word(tok, offset + at(a, True), offset + at(b, False) - 0.01, 0.99))
    return out


class ScriptTranscriber:
    """A Whisper stand-in for simulated calls: the words the script said, where it said them.
    Pass it as the call's ``transcriber`` and its ``listen`` among the call's listeners."""

    def __init__(self, synth: Synthesizer, script: TraineeScript) -> None:
        self.synth = synth
        self.voice = script.voice
        self.lines: list[_Line] = []

    def listen(self, ev: Event) -> None:
        if ev.type == SCRIPTED and ev.get("text"):
            audio = self.synth.render(ev["text"], self.voice)  # the scheduled audio (cached)
            self.lines.append(_Line(ev.t, timed_words(ev["text"], audio, ev.t)))

    def transcribe(
        self, audio: np.ndarray, offset: float = 0.0, min_window_s: float | None = None
    ) -> Transcript:
        a, b = offset, offset + len(audio) / RATE
        words = [
            w
            for line in self.lines
            for w in line.words
            if a <= w.start < b  # a word goes where it starts: at a pause, that is exact
        ]
        words.sort(key=lambda w: w.start)
        return Transcript(" ".join(w.text for w in words), words)

    def transcribe_many(self, pieces: list[tuple[np.ndarray, float]]) -> list[Transcript]:
        return [self.transcribe(audio, offset) for audio, offset in pieces]


def run_script_call(
    persona: Persona,
    script: TraineeScript,
    rubric: Rubric,
    seed: int,
    synth: Synthesizer,
    out: Path | None = None,
) -> CallResult:
    """One whole simulated call with the script's own words (see the module's docstring)."""
    heard = ScriptTranscriber(synth, script)
    with tempfile.TemporaryDirectory(prefix="voicesim-script-call-") as tmp:
        return simulate(
            persona,
            script,
            rubric,
            out or Path(tmp) / "session",
            CallOptions(seed=seed),
            listeners=[heard.listen],
            transcriber=heard,  # type: ignore[arg-type]
            synth=synth,
        )
