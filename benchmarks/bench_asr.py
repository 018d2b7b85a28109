"""Streaming transcription on real and synthetic speech: latency, CPU cost and word error rate.

The streaming path is the product's: webrtcvad endpointing, then one Whisper decode per
utterance. It is compared with faster-whisper decoding each whole file at once (same model,
beam 1). Sources: the shared real recordings (jfk.flac, each side of stereo_diarization.wav,
phone_call.wav against its STM) and the utterances of the shipped trainee scripts spoken by the
neural (hibari) and the espeak voice.

Latency here is endpoint-to-final with the worker idle (each utterance decoded as soon as it is
endpointed, as in a live call that keeps up); CPU cost is process CPU seconds per second of audio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import percentile, real_speech, report, wer  # noqa: E402


def streaming(audio, transcriber, vad_config):
    """Endpoint the audio and decode each utterance as it closes; (text, latencies)."""
    from voicesim.audio.formats import RATE
    from voicesim.speech.vad import Endpointer

    ep = Endpointer(vad_config)
    texts, lat = [], []
    hop = 480
    events = []
    for i in range(0, audio.size, hop):
        events += ep.process(audio[i : i + hop])
    events += ep.flush()
    for e in events:
        if e.utterance is None:
            continue
        t0 = time.perf_counter()
        tr = transcriber.transcribe(e.utterance.audio, e.utterance.audio_start / RATE)
        lat.append(time.perf_counter() - t0)
        texts.append(tr.text)
    return " ".join(texts), lat


def whole(audio, transcriber) -> str:
    segs, _ = transcriber.model.transcribe(
        audio, language="en", beam_size=1, condition_on_previous_text=False
    )
    return "".join(s.text for s in segs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="real recordings and one voice only")
    ap.add_argument(
        "--min-window-s",
        type=float,
        default=None,
        help="the encoder's shortest window (default: the live drill's, 15 s; 30: Whisper's full "
        "window, as simulated and scored calls use)",
    )
    args = ap.parse_args()
    os.environ.setdefault("VOICESIM_CACHE", tempfile.mkdtemp(prefix="voicesim-bench-cache-"))
    import yaml

    from voicesim.audio.formats import RATE
    from voicesim.live.commands import LIVE_MIN_WINDOW_S
    from voicesim.session.script import SCRIPT_DIR
    from voicesim.speech.transcriber import Transcriber, TranscriberOptions
    from voicesim.speech.tts import Synthesizer, VoiceSettings
    from voicesim.speech.vad import VadConfig

    options = TranscriberOptions(
        min_window_s=LIVE_MIN_WINDOW_S if args.min_window_s is None else args.min_window_s
    )
    tr = Transcriber(options)
    vad = VadConfig()
    sources = real_speech()
    replies = []
    for f in sorted(SCRIPT_DIR.glob("*.yaml")):
        for turn in yaml.safe_load(f.read_text()).get("turns", []):
            if turn.get("say") and turn["say"] not in replies:
                replies.append(turn["say"])
    replies = replies[: 6 if args.quick else 60]
    synth = Synthesizer()
    voices = [("hibari", VoiceSettings("hibari", "heart", 165, 50, 0.9))]
    if not args.quick:
        voices.append(("espeak", VoiceSettings("espeak", "en-us", 165, 50, 0.9)))
    import numpy as np

    for name, voice in voices:
        gap = np.zeros(int(0.8 * RATE), np.float32)
        clips = [np.concatenate([gap, synth.render(text, voice), gap]) for text in replies]
        sources.append((f"scripts, {name} voice", np.concatenate(clips), " ".join(replies)))
    rows, result = [], {"min_window_s": options.min_window_s}
    all_lat = []
    for name, audio, ref in sources:
        c0 = time.process_time()
        text, lat = streaming(audio, tr, vad)
        cpu = (time.process_time() - c0) / (audio.size / RATE)
        offline = whole(audio, tr)
        w_stream, w_whole = wer(ref, text), wer(ref, offline)
        all_lat += lat
        result[name] = {
            "audio_s": round(audio.size / RATE, 1),
            "utterances": len(lat),
            "wer_streaming": round(w_stream, 3),
            "wer_whole_file": round(w_whole, 3),
            "latency_median_s": round(statistics.median(lat), 3) if lat else None,
            "latency_p95_s": round(percentile(lat, 95), 3) if lat else None,
            "cpu_s_per_audio_s": round(cpu, 3),
        }
        rows.append(
            (
                name,
                f"WER streaming {w_stream:.3f} vs whole file {w_whole:.3f}; "
                f"{len(lat)} utterances, latency median {result[name]['latency_median_s']} s, "
                f"p95 {result[name]['latency_p95_s']} s; CPU {cpu:.3f} s per s of audio",
            )
        )
    result["latency_median_s"] = round(statistics.median(all_lat), 3)
    result["latency_p95_s"] = round(percentile(all_lat, 95), 3)
    rows.append(
        (
            "all utterances",
            f"latency median {result['latency_median_s']} s, p95 {result['latency_p95_s']} s",
        )
    )
    report("streaming_asr", result, rows)


if __name__ == "__main__":
    main()
