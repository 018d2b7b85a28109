"""The live drill through a real audio server: transcript latency, barge-in, CPU.

Starts a private PulseAudio with a virtual headset (tests/live_support.py), runs
`voicesim drill` in a subprocess with a persona that yields when talked over, and speaks the
trainee's lines into the virtual microphone with paplay: one interruption 1 s into the
customer's opening (barge-in), then a reply after each of the customer's lines. Measures:

* end-to-end latency from the trainee stopping to the final transcript, two ways: on the audio
  clock inside the drill (microphone samples captured between the end of the speech and the
  moment the final transcript was shown: VAD hangover + queue + Whisper + loop), and from
  outside on the wall clock (end of the paplay'd clip to the final line appearing in
  events.jsonl, polled every 10 ms);
* barge-in reaction: from the trainee's speech onset (speech_start) and from the first audible
  sound on the recorded microphone, to where the customer's playback was cut;
* the customer's first audio: from choosing a line to its first audio being ready (median,
  p95), how many replies came from the voice cache (rendered ahead during the call) and how
  many were streamed sentence by sentence; the voice cache starts empty (a temporary
  VOICESIM_CACHE) unless VOICESIM_CACHE names one (e.g. filled by `voicesim personas
  prerender`);
* CPU of the drill process over the call (utime+stime from /proc, after the model is loaded),
  in cores and as a share of the machine; the sound server's CPU beside it.

With ``--under-load`` the same call runs while ``stress-ng --cpu N`` (N: every core) keeps the
machine saturated, and the report says how the drill copes: final-transcript latency (the
transcription backlog it catches up), the most microphone audio waiting to be read, xruns,
stream restarts and buffering raises, and whether any microphone audio was lost.

Without PulseAudio (pulseaudio, pulseaudio-utils, libasound2-plugins) it prints a skip line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from common import percentile, report  # noqa: E402
from live_support import (  # noqa: E402
    Drill,
    PulseServer,
    first_sound,
    missing_tools,
    render_trainee,
)

INTERRUPTION = "Sorry, can I just get your order number first?"
REPLIES = [
    "I'm so sorry about the cracked jug. That must be really frustrating.",
    "Can you tell me what happened when you opened the box?",
    "I understand. I will send you a new jug today, and it will arrive within two days.",
    "Is there anything else I can help you with today?",
    "Thank you for your patience. Have a lovely day.",
]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def yielding_persona(d: Path) -> Path:
    text = (HERE.parent / "personas" / "damaged-blender.yaml").read_text()
    text = text.replace("id: damaged-blender", "id: blender-yields")
    path = d / "blender-yields.yaml"
    path.write_text(text + "\ntalked_over:\n  behavior: stop\n")
    return path


@contextlib.contextmanager
def cpu_hog(cores: int):
    """stress-ng --cpu N for the duration of the block, always stopped afterwards."""
    proc = subprocess.Popen(
        ["stress-ng", "--cpu", str(cores), "--timeout", "3600", "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def run(tmp: Path, replies: int) -> dict:
    import soundfile as sf

    server = PulseServer(tmp / "pulse").start()
    try:
        clips = {"interrupt": tmp / "interrupt.wav"}
        durations = {"interrupt": render_trainee(INTERRUPTION, clips["interrupt"])}
        for i, text in enumerate(REPLIES[:replies]):
            clips[i] = tmp / f"reply{i}.wav"
            durations[i] = render_trainee(text, clips[i])
        out = tmp / "session"
        drill = Drill(server, out, "--persona", str(yielding_persona(tmp)), max_seconds=240)
        spoken: list[tuple[float, float]] = []  # (start, end) of each reply, wall clock
        seen: dict[int, float] = {}  # utterance -> wall time its final appeared
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                for e in drill.events():
                    if e["type"] == "final" and e["utterance"] not in seen:
                        seen[e["utterance"]] = time.time()
                time.sleep(0.01)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            first = drill.wait_for(lambda e: e["type"] == "customer_line_start", timeout=90)
            cpu0, wall0 = cpu_seconds(drill.proc.pid), time.monotonic()
            pa0 = cpu_seconds(server.proc.pid)
            time.sleep(1.0)
            server.paplay(clips["interrupt"])[0].wait(timeout=30)
            cpu1, wall1, pa1 = cpu0, wall0, pa0
            for i in range(replies):
                end = drill.wait_for(
                    lambda e, i=i: (
                        e["type"] == "call_end"
                        or (e["type"] == "customer_line_end" and e["line"] == i)
                    ),
                    timeout=90,
                )
                if end["type"] == "call_end":
                    break  # the customer ended the call (resolved) before the script did
                time.sleep(0.6)
                proc, started = server.paplay(clips[i])
                spoken_end = started + durations[i]
                got = drill.wait_for(
                    lambda e, t=end["t"]: (
                        e["type"] == "call_end" or (e["type"] == "final" and e["t"] > t)
                    ),
                    timeout=60,
                    after=end["_index"],
                )
                if got["type"] == "call_end":
                    break
                spoken.append((started, spoken_end))
                proc.wait(timeout=30)
                # CPU up to here (the drill may end the call by itself after this reply)
                cpu1, wall1 = cpu_seconds(drill.proc.pid), time.monotonic()
                pa1 = cpu_seconds(server.proc.pid)
            if drill.proc.poll() is None:
                drill.interrupt()
            else:
                drill.finish()
        finally:
            stop.set()
            if drill.proc.poll() is None:
                drill.proc.kill()
        meta = json.loads((out / "meta.json").read_text())
        events = drill.events()
        audio, _ = sf.read(str(out / "call.wav"), dtype="float32")
        mic_frames = sf.info(str(out / "mic_raw.wav")).frames
    finally:
        server.stop()
    # From outside: the last transcript of each reply vs the end of its paplay'd clip.
    zero = meta["source"]["clock_zero_unix"]
    finals = [e for e in events if e["type"] == "final"]
    outside = []
    for started, ended in spoken:
        mine = [e for e in finals if started - zero - 0.3 <= e["t"] <= ended - zero + 0.5]
        if mine and mine[-1]["utterance"] in seen:
            outside.append(seen[mine[-1]["utterance"]] - ended)
    cut = next(
        (e for e in events if e["type"] == "customer_line_end" and e["line"] == 0 and e["cut"]),
        None,
    )
    onset = next(e for e in events if e["type"] == "speech_start" and e["t"] > first["t"])
    sound = first_sound(audio[:, 1], after=int(first["t"] * 16000)) / 16000
    # Trainee stops -> customer audio starts, on the audio clock: VAD hangover, transcription,
    # the customer's choice (the move recogniser) and the persona's response gap together.
    reply_gap = []
    for e in events:
        if e["type"] == "speech_end" and e.get("who", "trainee") == "trainee":
            nxt = next(
                (c for c in events if c["type"] == "customer_line_start" and c["t"] >= e["t"]),
                None,
            )
            talked = any(
                s["type"] == "speech_start" and e["t"] < s["t"] < (nxt or e)["t"] for s in events
            )
            if nxt is not None and not talked:  # the turn really ended there
                reply_gap.append(nxt["t"] - e["t"])
    # The customer cutting in: a line that starts while a reply is still being spoken (the
    # replies have pauses between their sentences; a pause is not the end of the turn).
    spans = [(a - zero, b - zero) for a, b in spoken]
    cut_ins = sum(
        1
        for e in events
        if e["type"] == "customer_line_start" and any(a + 0.2 < e["t"] < b - 0.1 for a, b in spans)
    )
    turn = json.loads((out / "meta.json").read_text()).get("turn_taking") or {}
    answers = turn.get("answers", [])
    return {
        "reply_gap": reply_gap,
        "lines": turn.get("lines", []),
        "turns": {  # how the customer took the turn (both reports show it)
            "cut_ins": cut_ins,
            "replies": len(spans),
            "answers_by": {
                w: sum(a["why"] == w for a in answers) for w in ("detector", "fallback")
            },
            "answered_early": sum(bool(a.get("early")) for a in answers),
            "speculative_decodes": turn.get("speculative_decodes"),
        },
        "inside": [x["s"] for x in meta["source"]["final_latency"]],
        "decode": [x["decode_s"] for x in meta["source"]["transcription"]],
        "partial_decode": meta["source"].get("partial_decode_s", []),
        "partials": sum(e["type"] == "partial" for e in events),
        "outside": outside,
        "barge_in_s": None if cut is None else cut["t"] - onset["t"],
        "barge_in_from_sound_s": None if cut is None else cut["t"] - sound,
        "cpu_cores": (cpu1 - cpu0) / (wall1 - wall0),
        "pulse_cores": (pa1 - pa0) / (wall1 - wall0),
        "call_s": wall1 - wall0,
        "source": meta["source"],
        "status": meta["status"],
        "exit_code": drill.proc.returncode,
        "traceback": "Traceback" in drill.output(),
        "mic_complete": mic_frames == audio.shape[0],
        "device_events": [e.get("detail") for e in events if e["type"] == "device"],
    }


def first_audio(lines: list[dict]) -> dict:
    """From choosing a customer line to its first audio being ready (wall clock, meta.json
    turn_taking.lines): the replies, and the opening apart (chosen as the call starts)."""
    replies = [x for x in lines if x["reason"] != "opening"]
    s = [x["first_audio_s"] for x in replies]
    opening = next((x for x in lines if x["reason"] == "opening"), None)
    return {
        "median": round(statistics.median(s), 3) if s else None,
        "p95": round(percentile(s, 95), 3) if s else None,
        "max": round(max(s), 3) if s else None,
        "n": len(s),
        "cache_hits": sum(x["cached"] for x in replies),
        "cache_hit_rate": round(sum(x["cached"] for x in replies) / len(s), 3) if s else None,
        "streamed": sum(x["pieces"] > 1 and not x["cached"] for x in replies),
        "opening_s": None if opening is None else opening["first_audio_s"],
        "opening_cached": None if opening is None else opening["cached"],
    }


def first_audio_row(fa: dict) -> tuple[str, str]:
    return (
        "reply chosen -> its first audio ready (wall clock; target 0.15 s)",
        f"median {fa['median']} s, p95 {fa['p95']} s, max {fa['max']} s ({fa['n']} replies, "
        f"{fa['cache_hits']} from the cache, {fa['streamed']} streamed); opening "
        f"{fa['opening_s']} s{' (cached)' if fa['opening_cached'] else ''}",
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="two replies instead of five")
    ap.add_argument(
        "--under-load",
        action="store_true",
        help="run the call while stress-ng saturates every core (needs stress-ng)",
    )
    ap.add_argument(
        "--recogniser",
        choices=("model", "phrases"),
        default="model",
        help="the drill's move recogniser: the model (default) or the phrase lists, to show "
        "what the model adds to the customer's reply time",
    )
    args = ap.parse_args()
    os.environ["VOICESIM_RECOGNISER"] = args.recogniser
    missing = missing_tools() + (
        ["stress-ng"] if args.under_load and not shutil.which("stress-ng") else []
    )
    if missing:
        print(json.dumps({"benchmark": "live", "skipped": f"missing {', '.join(missing)}"}))
        return
    os.environ.setdefault("VOICESIM_CACHE", tempfile.mkdtemp(prefix="voicesim-bench-cache-"))
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        hog = cpu_hog(cores) if args.under_load else contextlib.nullcontext()
        with hog:
            r = run(Path(tmp), 2 if args.quick else len(REPLIES))
    if args.under_load:
        under_load_report(r, cores)
        return
    inside, outside = r["inside"], r["outside"]
    src = r["source"]
    result = {
        "final_latency_s": {
            "median": round(statistics.median(inside), 3),
            "p90": round(percentile(inside, 90), 3),
            "max": round(max(inside), 3),
            "n": len(inside),
        },
        "final_latency_wall_s": {
            "median": round(statistics.median(outside), 3) if outside else None,
            "max": round(max(outside), 3) if outside else None,
            "n": len(outside),
        },
        "reply_gap_s": {
            "median": round(statistics.median(r["reply_gap"]), 3) if r["reply_gap"] else None,
            "max": round(max(r["reply_gap"]), 3) if r["reply_gap"] else None,
            "n": len(r["reply_gap"]),
        },
        "first_audio_s": first_audio(r["lines"]),
        **r["turns"],
        "recogniser": os.environ.get("VOICESIM_RECOGNISER", "model"),
        "decode_s_median": round(statistics.median(r["decode"]), 3) if r["decode"] else None,
        "partials": r["partials"],
        "partial_decode_s_median": round(statistics.median(r["partial_decode"]), 3)
        if r["partial_decode"]
        else None,
        "barge_in_s": None if r["barge_in_s"] is None else round(r["barge_in_s"], 3),
        "barge_in_from_sound_s": None
        if r["barge_in_from_sound_s"] is None
        else round(r["barge_in_from_sound_s"], 3),
        "cpu_cores": round(r["cpu_cores"], 3),
        "cpu_share_of_machine": round(r["cpu_cores"] / cores, 3),
        "pulseaudio_cores": round(r["pulse_cores"], 3),
        "machine_cores": cores,
        "call_s": round(r["call_s"], 1),
        "device_rate": src.get("device_rate"),
        "latency": src.get("latency"),
        "restarts": src.get("restarts"),
        "xruns": {
            k: src["device_stats"][k]
            for k in ("input_overflow", "input_underflow", "output_underflow")
        },
    }
    fl = result["final_latency_s"]
    report(
        "live",
        result,
        [
            (
                "trainee stops -> final transcript (audio clock: VAD hangover + Whisper)",
                f"median {fl['median']:.2f} s, p90 {fl['p90']:.2f} s, max {fl['max']:.2f} s "
                f"({fl['n']} utterances)",
            ),
            (
                "end of paplay'd clip -> final in events.jsonl (wall clock)",
                f"median {result['final_latency_wall_s']['median']} s, max "
                f"{result['final_latency_wall_s']['max']} s",
            ),
            (
                f"trainee stops -> customer audio starts (audio clock; recogniser: "
                f"{result['recogniser']})",
                f"median {result['reply_gap_s']['median']} s, max {result['reply_gap_s']['max']} s "
                f"({result['reply_gap_s']['n']} turns)",
            ),
            first_audio_row(result["first_audio_s"]),
            (
                "how the customer took the turn",
                f"{result['answers_by']['detector']} by the end-of-turn detector "
                f"({result['answered_early']} from a speculative decode), "
                f"{result['answers_by']['fallback']} at the rubric's gap; cut in on "
                f"{result['cut_ins']} of {result['replies']} replies; speculative decodes "
                f"{result['speculative_decodes']}",
            ),
            (
                "Whisper decode per utterance (median)",
                f"{result['decode_s_median']} s final, {result['partial_decode_s_median']} s "
                f"partial ({result['partials']} partials shown)",
            ),
            (
                "barge-in: speech onset -> customer cut",
                f"{result['barge_in_s']} s ({result['barge_in_from_sound_s']} s from first sound)",
            ),
            (
                "CPU of the drill process",
                f"{result['cpu_cores']:.2f} cores = {result['cpu_share_of_machine']:.0%} of "
                f"{cores} cores (PulseAudio: {result['pulseaudio_cores']:.2f} cores)",
            ),
            (
                "stream",
                f"{result['device_rate']} Hz, latency {result['latency']}, "
                f"{result['restarts']} restarts, xruns {result['xruns']}",
            ),
        ],
    )


def under_load_report(r: dict, cores: int) -> None:
    src, inside = r["source"], r["inside"]
    stats = src["device_stats"]
    queued = [x["queued_s"] for x in src.get("transcription", [])]
    result = {
        "load": f"stress-ng --cpu {cores}",
        "status": r["status"],
        "exit_code": r["exit_code"],
        "traceback": r["traceback"],
        "final_latency_s": {
            "median": round(statistics.median(inside), 3) if inside else None,
            "max": round(max(inside), 3) if inside else None,
            "n": len(inside),
        },
        "reply_gap_s": {
            "median": round(statistics.median(r["reply_gap"]), 3) if r["reply_gap"] else None,
            "max": round(max(r["reply_gap"]), 3) if r["reply_gap"] else None,
            "n": len(r["reply_gap"]),
        },
        "first_audio_s": first_audio(r["lines"]),
        **r["turns"],
        "recogniser": os.environ.get("VOICESIM_RECOGNISER", "model"),
        "decode_s_median": round(statistics.median(r["decode"]), 3) if r["decode"] else None,
        "transcription_queued_s_max": round(max(queued), 3) if queued else None,
        "mic_backlog_s_max": stats["max_backlog_s"],
        "mic_complete": r["mic_complete"],
        "xruns": {k: stats[k] for k in ("input_overflow", "input_underflow", "output_underflow")},
        "restarts": src.get("restarts"),
        "buffer_raises": stats.get("buffer_raises"),
        "spins": stats.get("spins"),
        "output_latency_s": src.get("output_latency_s"),
        "device_events": r["device_events"],
        "barge_in_s": None if r["barge_in_s"] is None else round(r["barge_in_s"], 3),
        "cpu_cores": round(r["cpu_cores"], 3),
        "machine_cores": cores,
        "call_s": round(r["call_s"], 1),
    }
    fl = result["final_latency_s"]
    report(
        "live_under_load",
        result,
        [
            ("load", f"{result['load']} (every core busy)"),
            (
                "call",
                f"status {result['status']}, exit {result['exit_code']}, traceback: "
                f"{'yes' if result['traceback'] else 'no'}",
            ),
            (
                "trainee stops -> final transcript (audio clock)",
                f"median {fl['median']} s, max {fl['max']} s ({fl['n']} utterances)",
            ),
            (
                "Whisper decode (median) / longest wait in the queue",
                f"{result['decode_s_median']} s / {result['transcription_queued_s_max']} s",
            ),
            (
                "microphone audio waiting to be read (max) / none lost",
                f"{result['mic_backlog_s_max']} s / {result['mic_complete']} "
                f"(input overflows {result['xruns']['input_overflow']})",
            ),
            first_audio_row(result["first_audio_s"]),
            ("speaker underflows", str(result["xruns"]["output_underflow"])),
            (
                "stream restarts (of which buffering raises, spins)",
                f"{result['restarts']} ({result['buffer_raises']}, {result['spins']}); "
                f"output latency at the end {result['output_latency_s']} s",
            ),
            ("barge-in: speech onset -> customer cut", f"{result['barge_in_s']} s"),
            ("CPU of the drill process", f"{result['cpu_cores']:.2f} cores"),
        ],
    )


if __name__ == "__main__":
    main()
