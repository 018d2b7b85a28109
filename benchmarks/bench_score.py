"""Scoring existing recordings: how many times faster than real time, next to plain transcription.

For each two-sided recording: (a) `score_recording` (endpoint + transcribe both sides, overtalk,
rubric, scorecard; the report is not included), and (b) plain faster-whisper decoding each side
whole with word timestamps, the same model and settings. Recordings: the shared
stereo_diarization.wav, and the call.wav of a simulated call (both sides, about a minute).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, report  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="one repetition")
    args = ap.parse_args()
    os.environ.setdefault("VOICESIM_CACHE", tempfile.mkdtemp(prefix="voicesim-bench-cache-"))
    from voicesim.persona.persona import find_persona, load_persona
    from voicesim.rubric.rubric import load_rubric
    from voicesim.session.recorded import load_recording, score_recording
    from voicesim.session.script import find_script, load_script
    from voicesim.session.simulate import simulate
    from voicesim.speech.transcriber import Transcriber

    rubric = load_rubric()
    tr = Transcriber()
    reps = 1 if args.quick else 3
    with tempfile.TemporaryDirectory() as tmp:
        sim = simulate(
            load_persona(find_persona("damaged-blender")),
            load_script(find_script("model-agent")),
            rubric,
            Path(tmp) / "sim",
            transcriber=tr,
        )
        recordings = [
            ("stereo_diarization.wav", SHARED_DATA / "speech" / "stereo_diarization.wav"),
            ("simulated call.wav", sim.session_dir / "call.wav"),
        ]
        rows, result = [], {}
        total_audio = total_score = total_plain = 0.0
        for name, path in recordings:
            rec = load_recording(path, "left")
            best_score = best_plain = float("inf")
            for r in range(reps):
                t0 = time.perf_counter()
                score_recording(rec, rubric, Path(tmp) / f"s-{name}-{r}", transcriber=tr)
                best_score = min(best_score, time.perf_counter() - t0)
                t0 = time.perf_counter()
                for side in (rec.customer, rec.trainee):
                    segs, _ = tr.model.transcribe(
                        side,
                        language="en",
                        beam_size=1,
                        word_timestamps=True,
                        condition_on_previous_text=False,
                    )
                    list(segs)
                best_plain = min(best_plain, time.perf_counter() - t0)
            d = rec.duration_s
            total_audio += d
            total_score += best_score
            total_plain += best_plain
            result[name] = {
                "audio_s": round(d, 1),
                "score_x_realtime": round(d / best_score, 1),
                "plain_whisper_x_realtime": round(d / best_plain, 1),
                "cost_ratio": round(best_score / best_plain, 2),
            }
            rows.append(
                (
                    name,
                    f"{d:.1f} s audio: scoring {d / best_score:.1f}x real time, plain faster-whisper "
                    f"{d / best_plain:.1f}x; scoring costs {best_score / best_plain:.2f}x the transcription",
                )
            )
    result["overall_cost_ratio"] = round(total_score / total_plain, 2)
    rows.append(("all", f"scoring costs {total_score / total_plain:.2f}x plain transcription"))
    report("score_recordings", result, rows)


if __name__ == "__main__":
    main()
