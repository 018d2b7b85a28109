"""Make the end-of-turn pause set: tests/data/turns/pauses.jsonl.

Each line is one pause: is the speaker only pausing ("mid": they go on) or is their turn over
("end")? With the text Whisper tiny.en writes for the audio up to the pause (plus 0.2 s of what
follows, as the VAD's tail gives it) and enough to cut that audio again (``audio_for``).

* real: ../shared/data/speech/ (read-only, MIT). ``phone_call.wav`` (a two-person call, timed
  by phone_call.stm): a pause inside one speaker's turn is "mid", the end of a turn that the other
  speaker takes up is "end"; ``jfk.flac`` and each channel of ``stereo_diarization.wav``
  (one speaker, one sentence): pauses inside are "mid", the end of the speech is "end". Pauses
  are found in the audio (webrtcvad on 30 ms frames at aggressiveness 2 and on 10 ms frames at 3,
  gated by level; 0.12 s or longer), labelled from the transcripts.
* synthetic: sentences of the shipped trainee scripts (personas/scripts/*.yaml) in the project's
  trainee voices (hibari ``heart``, espeak ``en-us+f3``). "mid": the whole sentence is rendered
  and cut at a word boundary (after a comma, after "and"/"to"/"the"..., or before one), so the
  voice keeps the sentence's own continuation prosody, and the audio up to the cut is what the
  detector hears; the cut is checked against the transcript (its last word must be the word
  before the cut). "end": the last sentence of a turn, complete.

Every pause belongs to a group (a turn or a sentence); a group's pauses are all in the training
split or all held out (40 %), by a hash of its name, so that nothing held out was tuned on.

    .venv/bin/python scripts/make_pause_set.py [--per-voice 90]

Takes a few minutes (Whisper once per pause; hibari renders are cached on disk).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import zlib
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "tests" / "data" / "turns"))

from pause_set import PAUSES, RATE, SPEECH, VOICES, audio_for, real_file, render  # noqa: E402

OUT = PAUSES
PREROLL_S = 0.3  # as the VAD keeps before an onset
TAIL_S = 0.2  # as the VAD keeps after the last voiced frame: Whisper hears this much pause
MIN_PAUSE_S = 0.12
HELDOUT_SHARE = 0.4
CUT_BEFORE = {"and", "so", "but", "because", "which", "that", "to", "for", "with", "if", "when"}
CUT_AFTER = CUT_BEFORE | {"the", "a", "your", "my", "of", "in", "on", "is", "will", "can", "i'll"}


def heldout(group: str) -> bool:
    return zlib.crc32(group.encode()) % 100 < HELDOUT_SHARE * 100


# ---------------------------------------------------------------------------- audio helpers


def speech_frames(audio: np.ndarray, hop_s: float = 0.01) -> np.ndarray:
    """Per 10 ms: is it speech? Voiced to both webrtcvad settings' silence-finding, by level."""
    import webrtcvad

    hop = int(hop_s * RATE)
    n = audio.size // hop
    db = 10 * np.log10(np.mean(np.square(audio[: n * hop].reshape(n, hop)), axis=1) + 1e-12)
    loud = float(np.percentile(db, 95))
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    fine = np.zeros(n, bool)
    v3 = webrtcvad.Vad(3)
    for k in range(n):
        fine[k] = v3.is_speech(pcm[k * hop : (k + 1) * hop].tobytes(), RATE)
    coarse = np.zeros(n, bool)
    v2 = webrtcvad.Vad(2)
    for k in range(0, n - 2, 3):
        coarse[k : k + 3] = v2.is_speech(pcm[k * hop : (k + 3) * hop].tobytes(), RATE)
    loud_enough = db > loud - 25
    # a pause is silence to either setting: speech only where both hear it
    return fine & coarse & loud_enough


def pauses_in(frames: np.ndarray, hop_s: float = 0.01) -> list[tuple[float, float]]:
    """(start, end) of every run of non-speech 0.12 s or longer, in seconds."""
    out, start = [], None
    for k, sp in enumerate(list(frames) + [True]):
        if not sp and start is None:
            start = k
        elif sp and start is not None:
            if (k - start) * hop_s >= MIN_PAUSE_S:
                out.append((start * hop_s, k * hop_s))
            start = None
    return out


def last_voiced(frames: np.ndarray, before: float, after: float, hop_s: float = 0.01) -> float:
    """End of the last speech frame in [after, before] (seconds), or ``before``."""
    idx = np.flatnonzero(frames[int(after / hop_s) : int(before / hop_s)])
    return after + (idx[-1] + 1) * hop_s if idx.size else before


# ---------------------------------------------------------------------------- real speech


def stm_turns(path: Path) -> list[tuple[str, float, float, str]]:
    """(speaker, start, end, text) of each turn: consecutive STM lines of one speaker."""
    rows = []
    for line in path.read_text().splitlines():
        p = line.split(maxsplit=5)
        if len(p) == 6:
            rows.append((p[2], float(p[3]), float(p[4]), p[5]))
    rows.sort(key=lambda r: r[1])
    turns: list[list] = []
    for spk, s, e, text in rows:
        if turns and turns[-1][0] == spk:
            turns[-1][2], turns[-1][3] = e, turns[-1][3] + " " + text
        else:
            turns.append([spk, s, e, text])
    return [tuple(t) for t in turns]


def real_items(transcriber) -> list[dict]:  # noqa: ANN001
    items = []
    call = real_file("phone_call.wav")
    frames = speech_frames(call)
    gaps = pauses_in(frames)
    turns = stm_turns(SPEECH / "phone_call.stm")
    for k, (_spk, s, e, text) in enumerate(turns):
        group = f"phone_call.wav#{k}"
        start = max(0.0, s - PREROLL_S)
        for a, b in gaps:  # pauses inside this speaker's turn
            if s + 0.3 < a and b < e - 0.1:
                items.append(_real(group, "phone_call.wav", "mid", start, a, b - a, text))
        if k + 1 < len(turns):  # the other speaker takes the turn
            end = last_voiced(frames, e + 0.1, e - 0.5)
            nxt = turns[k + 1][1]
            items.append(_real(group, "phone_call.wav", "end", start, end, nxt - end, text))
    for name in ("jfk.flac", "stereo_diarization.wav#0", "stereo_diarization.wav#1"):
        audio = real_file(name)
        frames = speech_frames(audio)
        voiced = np.flatnonzero(frames)
        # the speech ends with its last word (jfk.flac ends in applause, which is no speech)
        words = transcriber.transcribe(audio).words
        s = voiced[0] * 0.01
        e = last_voiced(frames, words[-1].end + 0.1, words[-1].end - 0.5)
        start = max(0.0, s - PREROLL_S)
        for a, b in pauses_in(frames):
            if s + 0.3 < a and b < e - 0.1:
                items.append(_real(name, name, "mid", start, a, b - a, ""))
        items.append(_real(name, name, "end", start, e, None, ""))
    return items


def _real(group, file, kind, start, at, pause, said) -> dict:  # noqa: ANN001
    return {
        "id": f"{file}@{at:.2f}",
        "source": "real",
        "group": group,
        "file": file,
        "kind": kind,
        "t": round(float(at), 2),
        "pause_s": None if pause is None else round(float(pause), 2),
        "clip": [round(float(start), 2), round(float(at), 2)],
        "said": said,
    }


# ---------------------------------------------------------------------------- synthetic


def script_sentences() -> list[tuple[str, bool]]:
    """(sentence, ends its turn) from every shipped trainee script, each sentence once."""
    seen, out = set(), []
    for path in sorted((ROOT / "personas" / "scripts").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text()) or {}
        for turn in doc.get("turns") or []:
            say = str(turn.get("say") or "").strip() if isinstance(turn, dict) else ""
            parts = [p.strip() for p in re.split(r"(?<=[.?!])\s+", say) if p.strip()]
            for i, p in enumerate(parts):
                if p not in seen and len(p.split()) >= 3:
                    seen.add(p)
                    out.append((p, i == len(parts) - 1))
    return out


def cut_points(sentence: str) -> list[tuple[int, str]]:
    """Word indices after which a speaker may pause mid-sentence, and what kind of point."""
    words = sentence.split()
    out = []
    for i in range(2, len(words) - 2):  # at least 3 words before, 2 after
        w = words[i].lower().strip(".,?!")
        nxt = words[i + 1].lower().strip(".,?!")
        if words[i].endswith(","):
            out.append((i, "comma"))
        elif w in CUT_AFTER:
            out.append((i, "after " + w))
        elif nxt in CUT_BEFORE:
            out.append((i, "before " + nxt))
    return out


def norm(word: str) -> str:
    return re.sub(r"[^a-z0-9']", "", word.lower().replace("\u2019", "'"))


def find_cut(full: np.ndarray, prefix_len: int) -> int:
    """The quietest 20 ms near where the prefix (rendered alone) would end in the sentence."""
    lo = max(0, int(prefix_len * 0.85) - int(0.05 * RATE))
    hi = min(full.size - int(0.2 * RATE), int(prefix_len * 1.05) + int(0.05 * RATE))
    if hi <= lo:
        return prefix_len
    win = int(0.02 * RATE)
    energy = np.convolve(np.square(full[lo:hi]), np.ones(win), "same")
    return lo + int(np.argmin(energy))


def synthetic_items(per_voice: int, transcriber, synth) -> list[dict]:  # noqa: ANN001
    sentences = script_sentences()
    items = []
    for voice in VOICES:
        rng = random.Random(f"pauses-{voice}")
        ends = [s for s, last in sentences if last]
        mids = [(s, c) for s, _ in sentences if (c := cut_points(s))]
        rng.shuffle(ends)
        rng.shuffle(mids)
        n_mid, n_end = per_voice * 3 // 5, per_voice * 2 // 5
        for sentence in ends[:n_end]:
            full = render(sentence, voice, synth)
            items.append(_synth(voice, sentence, "end", "turn", full.size / RATE, None))
        made = 0
        for sentence, cuts in mids:
            if made >= n_mid:
                break
            i, where = rng.choice(cuts)
            words = sentence.split()
            prefix = " ".join(words[: i + 1]).rstrip(",")
            full = render(sentence, voice, synth)
            cut = find_cut(full, render(prefix, voice, synth).size)
            text = transcribe(transcriber, full[:cut])
            got = [norm(w) for w in text.split()]
            if not got or got[-1] != norm(words[i]):  # the cut fell inside a word: not a pause
                continue
            gap = round(rng.uniform(0.3, 0.8), 2)
            item = _synth(voice, sentence, "mid", where, cut / RATE, gap)
            item["said"], item["text"] = prefix, text
            items.append(item)
            made += 1
    return items


def _synth(voice, sentence, kind, where, at, pause) -> dict:  # noqa: ANN001
    return {
        "id": f"{voice}:{zlib.crc32(sentence.encode()):08x}:{kind}",
        "source": "synthetic",
        "group": sentence,
        "voice": voice,
        "say": sentence,
        "kind": kind,
        "at": where,
        "t": round(at, 3),
        "pause_s": pause,
        "clip": [0.0, round(at, 3)],
        "said": sentence if kind == "end" else "",
    }


def transcribe(transcriber, audio: np.ndarray, tail: np.ndarray | None = None) -> str:  # noqa: ANN001
    """Whisper on the audio up to the pause plus TAIL_S of the pause itself."""
    if tail is None:
        tail = np.zeros(int(TAIL_S * RATE), np.float32)
    return transcriber.transcribe(np.concatenate([audio.astype(np.float32), tail])).text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-voice", type=int, default=90, help="synthetic pauses per voice")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    from voicesim.speech.transcriber import Transcriber
    from voicesim.speech.tts import Synthesizer

    transcriber, synth = Transcriber(), Synthesizer()
    items = real_items(transcriber)
    for item in items:
        whole = real_file(item["file"])
        e = item["clip"][1]
        item["text"] = transcribe(
            transcriber, audio_for(item), whole[int(e * RATE) : int((e + TAIL_S) * RATE)]
        )
    items += synthetic_items(args.per_voice, transcriber, synth)
    for item in items:
        item["split"] = "heldout" if heldout(item["group"]) else "train"
        if item["kind"] == "end" and item["source"] == "synthetic":
            item["text"] = transcribe(transcriber, audio_for(item, synth))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w") as fh:
        for item in items:
            fh.write(json.dumps(item) + "\n")
    counts: dict[str, int] = {}
    for item in items:
        key = f"{item['source']} {item['kind']} {item['split']}"
        counts[key] = counts.get(key, 0) + 1
    print(f"{args.out.relative_to(ROOT)}: {len(items)} pauses")
    for key in sorted(counts):
        print(f"  {key}: {counts[key]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
