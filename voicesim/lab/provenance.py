"""Where an uploaded session came from, checked against the session's own files, and the keys
that recognise the same call uploaded again (by its owner or by someone else).

Every session names its source in ``meta.json`` (``source.kind``: live, simulated, recorded).
A drill credits live calls only (unless its trainer allows practice uploads), so the claim
"live" is the one worth checking: it must agree with what the rest of the session shows,

* no scripted trainee in the events (a simulation logs every scripted line it plays), no
  trainee voice, script or recording files in meta.json;
* the audio stream as the station opened it: devices, device rate, block, channels;
* for a call that reached its end, the device statistics and the station's clock, the audio
  the sound card delivered (callbacks x block) matching the call's length, and one latency
  measure per transcribed trainee utterance, the same utterances as the events hold.

This stops a session whose ``kind`` was edited, or that was assembled from parts of different
sessions. It cannot prove that a microphone was used: whoever controls a station can write any
file, so a careful forgery (every field rewritten consistently) passes. A claim that does not
hold is stored as ``unverified``, with the reason.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import dataclass

from ..events import CALL_END, CUSTOMER_LINE_START, FINAL, SCRIPTED, Event

LIVE, SIMULATED, RECORDED, UNVERIFIED = "live", "simulated", "recorded", "unverified"
SOURCES = (LIVE, SIMULATED, RECORDED, UNVERIFIED)
SOURCE_UNCHECKED = "not checked"  # how pages and exports name a session stored before 0006
STREAM_FIELDS = {"input_device": str, "output_device": str, "device_rate": int, "block": int}


@dataclass(frozen=True)
class Provenance:
    source: str  # one of SOURCES
    note: str  # the evidence in a few words, or why a claim does not hold


def verify_source(meta: dict, events: list[Event]) -> Provenance:
    """The source of a session as its own files support it."""
    src = meta.get("source") if isinstance(meta.get("source"), dict) else {}
    claim = src.get("kind")
    if claim == SIMULATED:
        return Provenance(SIMULATED, "a simulated call (scripted trainee)")
    if claim == RECORDED:
        return Provenance(RECORDED, "a scored recording")
    if claim != LIVE:
        return Provenance(UNVERIFIED, "meta.json names no source (live, simulated, recorded)")
    problems = _live_problems(meta, src, events)
    if problems:
        return Provenance(UNVERIFIED, ("says live, but " + "; ".join(problems))[:200])
    ended = any(e.type == CALL_END for e in events)
    return Provenance(LIVE, "a live call" + ("" if ended else " (cut short)"))


def _live_problems(meta: dict, src: dict, events: list[Event]) -> list[str]:
    out = []
    if any(e.type == SCRIPTED for e in events):
        out.append("the events hold a scripted trainee")
    voices = meta.get("voices") if isinstance(meta.get("voices"), dict) else {}
    if "trainee" in voices:
        out.append("meta.json has a synthetic trainee voice")
    if any(k in src for k in ("script", "script_file", "files", "customer_channel")):
        out.append("meta.json names a script or recording files")
    if not isinstance(meta.get("persona"), dict):
        out.append("no persona")
    for key, kind in STREAM_FIELDS.items():
        v = src.get(key)
        if not isinstance(v, kind) or isinstance(v, bool) or (kind is int and v <= 0):
            out.append(f"no audio stream ({key})")
            return out
    end = next((e for e in events if e.type == CALL_END), None)
    if end is None:
        return out  # cut short: meta.json is the one written as the call began
    stats = src.get("device_stats")
    callbacks = stats.get("callbacks") if isinstance(stats, dict) else None
    if not isinstance(callbacks, int) or isinstance(callbacks, bool) or callbacks <= 0:
        out.append("no device statistics")
        return out
    duration = float(end["duration"])
    heard = callbacks * src["block"] / src["device_rate"]
    if not 0.5 * duration - 2.0 <= heard <= 2.0 * duration + 5.0:
        out.append(f"the sound card delivered {heard:.1f} s for a {duration:.1f} s call")
    said = meta.get("duration_s")
    if isinstance(said, int | float) and abs(float(said) - duration) > 0.05:
        out.append("meta.json and the events disagree on the call's length")
    clock = src.get("clock_zero_unix")
    if not isinstance(clock, int | float) or isinstance(clock, bool) or not math.isfinite(clock):
        out.append("no station clock")
    latency = src.get("final_latency")
    measured = (
        {x.get("utterance") for x in latency if isinstance(x, dict)}
        if isinstance(latency, list)
        else None
    )
    transcribed = {e.get("utterance") for e in events if e.type == FINAL and not e.get("error")}
    if measured != transcribed:
        out.append("its latency measures are not those of the transcribed utterances")
    return out


# -- the same call again ----------------------------------------------------------------------------
def copy_key(events: list[Event]) -> str | None:
    """A key of what the call's scoring reads: each trainee transcript and customer line with
    its time (to 0.1 s) and words (case and spacing aside). None when the trainee said nothing:
    such a call is not scorable, and two silent calls with one persona may well be alike."""
    said = [e for e in events if e.type == FINAL and str(e.get("text") or "").strip()]
    if not said:
        return None
    lines = [
        [e.type, round(e.t, 1), " ".join(str(e.get("text") or "").lower().split())]
        for e in events
        if e.type in (FINAL, CUSTOMER_LINE_START)
    ]
    return hashlib.sha256(json.dumps(lines).encode()).hexdigest()


def audio_key(wav: bytes | None) -> str | None:
    """A key of the call's audio samples (not of the file's bytes: a rewritten header changes
    nothing); None without audio, or audio that cannot be read (the reader refuses it later)."""
    if not wav:
        return None
    import soundfile as sf

    try:
        data, rate = sf.read(io.BytesIO(wav), dtype="int16", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError):
        return None
    if not data.size or not data.any():
        return None  # digital silence: nothing of anyone's
    h = hashlib.sha256(f"{rate}:{data.shape[1]}:".encode())
    h.update(data.tobytes())
    return h.hexdigest()
