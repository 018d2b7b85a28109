"""Every persona's voice: intelligibility through Whisper, speed, pitch, and how distinct it is.

Each opening line of every shipped persona is rendered with the persona's voice at its starting
mood (as a call opens), from an empty cache, and transcribed by the bundled tiny.en (the model
the call's pipeline uses). Word error rate is counted with numbers aside: the lines spell
numbers out ("four four seven one") and Whisper writes digits, so number words and digits are
left out of both sides. Real-time factor is render time over audio length (one thread); next to
a whole line's render time, the render time of its first sentence alone: how soon the first
audio could start if a line were played sentence by sentence.

Distinctness: the median pitch of each voice, and between every pair of personas a spectral
distance: the RMS difference in dB of their long-term average spectra (40 mel bands, 80 Hz to
7.6 kHz, each curve level-normalised), which compares timbre apart from loudness and words.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import peak_rss_mb, report, wer  # noqa: E402

from voicesim.speech.options import VOICE_MODES  # noqa: E402

NUMBER_WORDS = set(
    "zero oh one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty "
    "ninety hundred thousand double".split()
)


def without_numbers(text: str) -> str:
    words = re.findall(r"[A-Za-z0-9'\-]+", text.replace("\u2019", "'"))
    keep = [
        w
        for w in words
        if not any(c.isdigit() for c in w)
        and not all(p in NUMBER_WORDS for p in w.lower().split("-"))
    ]
    return " ".join(keep)


def mel_ltas(audio: np.ndarray, rate: int, bands: int = 40) -> np.ndarray:
    """Long-term average spectrum in mel bands (dB), over frames with speech energy."""
    n, hop = 512, 160
    frames = np.lib.stride_tricks.sliding_window_view(audio, n)[::hop] * np.hanning(n)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    energy = power.sum(axis=1)
    power = power[energy > 0.01 * energy.max()]  # speech frames, not pauses
    freqs = np.fft.rfftfreq(n, 1 / rate)
    mel = 2595 * np.log10(1 + np.array([80.0, 7600.0]) / 700)
    edges = 700 * (10 ** (np.linspace(mel[0], mel[1], bands + 2) / 2595) - 1)
    fb = np.zeros((bands, freqs.size))
    for b in range(bands):
        lo, mid, hi = edges[b : b + 3]
        fb[b] = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0, None)
    curve = 10 * np.log10(power.mean(axis=0) @ fb.T + 1e-12)
    return curve - curve.mean()


def voice_label(described: dict, own: str) -> str:
    """The voice as heard: the persona's own, or the fast voice that stood in for it."""
    by = described.get("spoken_by")
    if not by:
        return own
    return f"{by['engine']}:{by['voice']} at {by['pitch_hz']:g} Hz, formants x{by['formant']:g}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="the first opening line of each persona")
    ap.add_argument("--personas", nargs="*", help="only these persona ids")
    ap.add_argument(
        "--voices",
        choices=VOICE_MODES,
        default="persona",
        help="each persona's own voice (default) or the fast voices",
    )
    args = ap.parse_args()
    os.environ["VOICESIM_CACHE"] = cache = tempfile.mkdtemp(prefix="voicesim-bench-voices-")

    from voicesim.audio.formats import RATE, resample, trim_silence
    from voicesim.persona.persona import load_persona, persona_files
    from voicesim.rubric.acoustic import pitch_track
    from voicesim.speech.transcriber import Transcriber
    from voicesim.speech.tts import Synthesizer, spoken_sentences

    transcriber = Transcriber()
    synth = Synthesizer(voices=args.voices)
    probe = Synthesizer(Path(cache) / "first-sentences", voices=args.voices)  # never warm
    personas = [load_persona(p) for p in persona_files()]
    if args.personas:
        personas = [p for p in personas if p.id in args.personas]
    for s in (synth, probe):  # model load is not a line's cost
        s.render_native("Warm up.", personas[0].voice)

    rows, per = [], {}
    errors = words = 0
    whole_s, first_s = [], []  # render time of a whole line, and of its first sentence alone
    for p in personas:
        voice = p.prosody.voice(p.voice, p.mood.start)
        lines = p.opening[:1] if args.quick else p.opening
        audio_s = render_s = 0.0
        clips, wers = [], []
        for line in lines:
            t0 = time.perf_counter()
            native, rate = synth.render_native(line, voice)
            whole_s.append(time.perf_counter() - t0)
            render_s += whole_s[-1]
            audio_s += native.size / rate
            first = spoken_sentences(line, voice)[0]
            if first != line:  # a one-sentence line is its own first sentence
                t0 = time.perf_counter()
                probe.render_native(first, voice)
                first_s.append(time.perf_counter() - t0)
            else:
                first_s.append(whole_s[-1])
            clip = trim_silence(resample(native, rate, RATE))
            clips.append(clip)
            heard = transcriber.transcribe(clip, 0.0).text
            ref, hyp = without_numbers(line), without_numbers(heard)
            n = len(ref.split())
            line_wer = wer(ref, hyp)
            errors += round(line_wer * n)
            words += n
            wers.append(line_wer)
            if line_wer > 0:
                rows.append((f"{p.id} misheard", f"{line!r} -> {heard.strip()!r}"))
        audio = np.concatenate(clips)
        f0 = pitch_track(audio, RATE, floor=50.0)
        per[p.id] = {
            "voice": voice_label(synth.describe(voice), voice.label()),
            "wer": round(float(np.mean(wers)), 4),
            "rtf": round(render_s / audio_s, 3),
            "pitch_hz": round(float(np.median(f0)), 1) if f0.size else None,
            "pitch_sd_st": round(float(np.std(12 * np.log2(f0 / np.median(f0)))), 2)
            if f0.size
            else None,
            "ltas": mel_ltas(audio, RATE),
        }
    pairs = {}
    for a, b in itertools.combinations(per, 2):
        d = float(np.sqrt(np.mean((per[a]["ltas"] - per[b]["ltas"]) ** 2)))
        pairs[f"{a}|{b}"] = round(d, 2)
    for v in per.values():
        del v["ltas"]
    closest = min(pairs, key=pairs.get) if pairs else None
    pitch_gaps = {
        f"{a}|{b}": round(abs(12 * np.log2(per[a]["pitch_hz"] / per[b]["pitch_hz"])), 2)
        for a, b in itertools.combinations(per, 2)
        if per[a]["pitch_hz"] and per[b]["pitch_hz"]
    }
    result = {
        "voices": args.voices,
        "personas": len(per),
        "lines": sum(1 for _ in per) if args.quick else sum(len(p.opening) for p in personas),
        "wer_numbers_aside": round(errors / max(1, words), 4),
        "worst_persona_wer": max(v["wer"] for v in per.values()),
        "rtf_median": round(float(np.median([v["rtf"] for v in per.values()])), 3),
        "line_render_s": {
            "median": round(float(np.median(whole_s)), 3),
            "max": round(max(whole_s), 3),
        },
        "first_sentence_render_s": {
            "median": round(float(np.median(first_s)), 3) if first_s else None,
            "max": round(max(first_s), 3) if first_s else None,
        },
        "closest_pair": closest,
        "closest_pair_db": pairs.get(closest) if closest else None,
        "male_voices": sum(1 for v in per.values() if v["pitch_hz"] and v["pitch_hz"] < 165),
        "peak_rss_mb": round(peak_rss_mb()),
        "per_persona": per,
        "spectral_distance_db": pairs,
        "pitch_distance_st": pitch_gaps,
    }
    table = [
        ("personas / opening lines", f"{result['personas']} / {result['lines']}"),
        ("WER, numbers aside (all lines)", f"{100 * result['wer_numbers_aside']:.1f} %"),
        ("worst persona WER", f"{100 * result['worst_persona_wer']:.1f} %"),
        ("real-time factor, median (1 thread)", f"{result['rtf_median']:.2f}"),
        (
            "render a whole opening line (median / max)",
            f"{result['line_render_s']['median']} / {result['line_render_s']['max']} s",
        ),
        (
            "render its first sentence alone (median / max)",
            f"{result['first_sentence_render_s']['median']} / "
            f"{result['first_sentence_render_s']['max']} s",
        ),
        ("voices under 165 Hz (male range)", str(result["male_voices"])),
        ("closest pair (spectral distance)", f"{closest} {result['closest_pair_db']} dB"),
        ("peak RSS", f"{result['peak_rss_mb']} MB"),
    ]
    for pid, v in per.items():
        table.append(
            (
                pid,
                f"{v['voice']}; WER {100 * v['wer']:.1f} %, RTF {v['rtf']:.2f}, "
                f"pitch {v['pitch_hz']} Hz (sd {v['pitch_sd_st']} st)",
            )
        )
    report("voices" if args.voices == "persona" else "voices-fast", result, table + rows)
    ids = list(per)
    print("| spectral distance dB | " + " | ".join(ids) + " |")
    print("|---" * (len(ids) + 1) + "|")
    for a in ids:
        cells = ["" if a == b else str(pairs.get(f"{a}|{b}", pairs.get(f"{b}|{a}"))) for b in ids]
        print(f"| {a} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
