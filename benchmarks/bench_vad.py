"""VAD frame-level precision and recall against phone_call.rttm (any speaker = speech).

Our endpointer at each webrtcvad aggressiveness (utterance spans from its start/end events,
the same decisions a call makes), next to the Silero VAD that faster-whisper ships.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, report, rttm_frames  # noqa: E402

HOP = 0.01


def pr(pred, truth) -> tuple[float, float]:
    tp = float((pred & truth).sum())
    return tp / max(1.0, float(pred.sum())), tp / max(1.0, float(truth.sum()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="same work (it is quick)")
    ap.parse_args()
    import numpy as np

    from voicesim.audio.formats import RATE, load_audio
    from voicesim.speech.vad import Endpointer, VadConfig

    audio = load_audio(SHARED_DATA / "speech" / "phone_call.wav")
    dur = audio.size / RATE
    truth = rttm_frames(SHARED_DATA / "speech" / "phone_call.rttm", dur, HOP)
    n = truth.size
    result, rows = {}, []
    for agg in range(4):
        t0 = time.perf_counter()
        ep = Endpointer(VadConfig(aggressiveness=agg))
        events = []
        for i in range(0, audio.size, 480):
            events += ep.process(audio[i : i + 480])
        events += ep.flush()
        took = time.perf_counter() - t0
        pred = np.zeros(n, dtype=bool)
        start = None
        for e in events:
            if e.kind == "start":
                start = e.sample
            elif start is not None:
                pred[int(start / RATE / HOP) : int(e.sample / RATE / HOP)] = True
                start = None
        p, r = pr(pred, truth)
        result[f"webrtcvad_{agg}"] = {
            "precision": round(p, 3),
            "recall": round(r, 3),
            "x_realtime": round(dur / took, 0),
        }
        rows.append(
            (
                f"webrtcvad aggressiveness {agg} (endpointer)",
                f"precision {p:.3f}, recall {r:.3f}, {dur / took:.0f}x real time",
            )
        )
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    t0 = time.perf_counter()
    spans = get_speech_timestamps(audio, VadOptions())
    took = time.perf_counter() - t0
    pred = np.zeros(n, dtype=bool)
    for s in spans:
        pred[int(s["start"] / RATE / HOP) : int(s["end"] / RATE / HOP)] = True
    p, r = pr(pred, truth)
    result["silero"] = {
        "precision": round(p, 3),
        "recall": round(r, 3),
        "x_realtime": round(dur / took, 0),
    }
    rows.append(
        (
            "Silero VAD (faster-whisper's, default options)",
            f"precision {p:.3f}, recall {r:.3f}, {dur / took:.0f}x real time",
        )
    )
    report("vad", result, rows)


if __name__ == "__main__":
    main()
