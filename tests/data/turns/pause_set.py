"""The end-of-turn pause set (pauses.jsonl): load it and cut each pause's audio again.

One place for the tests, benchmarks/bench_turns.py and scripts/fit_turns.py; the set itself is
made by scripts/make_pause_set.py (which says how). Real audio is read from
../shared/data/speech/; synthetic audio is rendered again (cached on disk by the synthesizer).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
PAUSES = HERE / "pauses.jsonl"
SPEECH = ROOT.parent / "shared" / "data" / "speech"
RATE = 16_000
VOICES = {
    "hibari": {"engine": "hibari", "voice": "heart"},
    "espeak": {"engine": "espeak", "voice": "en-us+f3", "rate": 165},
}


def load(split: str | None = None, source: str | None = None) -> list[dict]:
    """Pauses of one split ("train"/"heldout") and source ("real"/"synthetic"), or all."""
    with open(PAUSES, encoding="utf-8") as fh:
        items = [json.loads(line) for line in fh if line.strip()]
    return [
        i
        for i in items
        if (split is None or i["split"] == split) and (source is None or i["source"] == source)
    ]


def real_file(name: str) -> np.ndarray:
    """16 kHz mono samples of a shared recording; ``stereo_diarization.wav#1``: one channel."""
    from voicesim.audio.formats import load_audio

    if "#" in name:
        import soundfile as sf

        data, rate = sf.read(SPEECH / name.split("#")[0], dtype="float32")
        assert rate == RATE, rate
        return data[:, int(name.split("#")[1])]
    return load_audio(SPEECH / name)


def render(text: str, voice: str, synth=None) -> np.ndarray:  # noqa: ANN001
    from voicesim.speech.tts import Synthesizer, VoiceSettings

    return (synth or Synthesizer()).render(text, VoiceSettings(**VOICES[voice]))


def audio_for(item: dict, synth=None, cache: dict | None = None) -> np.ndarray:  # noqa: ANN001
    """The audio the detector hears at this pause: the turn up to its last voiced sample."""
    cache = {} if cache is None else cache
    start, end = item["clip"]
    if item["source"] == "real":
        key = item["file"]
        if key not in cache:
            cache[key] = real_file(key)
        return cache[key][int(start * RATE) : int(end * RATE)]
    key = (item["say"], item["voice"])
    if key not in cache:
        cache[key] = render(item["say"], item["voice"], synth)
    return cache[key][int(start * RATE) : int(end * RATE)]
