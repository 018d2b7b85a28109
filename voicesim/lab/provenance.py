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

import numpy as np

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


# -- the same call, changed a little -------------------------------------------------------------
# Exact keys miss a copy shifted by 50 ms or with one audio bit flipped (issue 27). The words of
# the call without their times, and a fingerprint of the audio that a shift or a flipped bit
# hardly changes, find it; the times or the fingerprints are then compared with a tolerance.
FP_RATE = 8000
FP_WINDOW, FP_HOP = 2048, 256  # 256 ms windows every 32 ms: a shift moves a window little
FP_EDGES = np.geomspace(300.0, 3400.0, 18)  # 17 bands: 16 bits a frame
FP_MAX_OFFSET = 64  # frames (about 2 s) of shift tried either way
FP_SAME_BER = 0.2  # at most this share of bits differs for the same call (another: about 0.5)
FP_MIN_FRAMES = 40
TIMES_TOLERANCE_S = 0.5


def words_key(events: list[Event]) -> str | None:
    """A key of the call's words alone (each trainee transcript and customer line, case and
    spacing aside, in order, without times): a copy with its events shifted keeps it. None
    when the trainee said nothing."""
    lines = _lines(events)
    if not any(kind == FINAL for kind, _, _ in lines):
        return None
    words = [[kind, text] for kind, _, text in lines]
    return hashlib.sha256(json.dumps(words).encode()).hexdigest()


def _lines(events: list[Event]) -> list[tuple[str, float, str]]:
    return [
        (e.type, float(e.t), " ".join(str(e.get("text") or "").lower().split()))
        for e in events
        if e.type in (FINAL, CUSTOMER_LINE_START)
        and (e.type != FINAL or str(e.get("text") or "").strip())
    ]


def same_times(a: list[Event], b: list[Event]) -> bool:
    """Whether two calls with the same words say them at the same moments (within half a
    second): two honest calls with one persona and the same few words are not alike."""
    la, lb = _lines(a), _lines(b)
    return len(la) == len(lb) and all(
        abs(x[1] - y[1]) <= TIMES_TOLERANCE_S for x, y in zip(la, lb, strict=True)
    )


@dataclass(frozen=True)
class Fingerprint:
    bits: bytes  # 16 bits a frame, little-endian uint16
    seconds: float


def audio_fingerprint(wav: bytes | None) -> Fingerprint | None:
    """The trainee side's band-energy fingerprint (after Haitsma and Kalker, 2002): per 32 ms frame,
    whether the energy difference of neighbouring bands rises or falls from the frame before.
    None without audio, for unreadable audio, digital silence or a call too short to tell."""
    if not wav:
        return None
    import soundfile as sf

    try:
        data, rate = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError):
        return None
    # The trainee's microphone (right): the customer's side (left) is the persona's voice, the
    # same lines in every call with that persona.
    mono = data[:, -1]
    if not mono.size or not mono.any() or rate <= 0:
        return None
    n = int(len(mono) * FP_RATE / rate)
    mono = np.interp(np.arange(n) * (rate / FP_RATE), np.arange(len(mono)), mono)
    frames = (n - FP_WINDOW) // FP_HOP + 1
    if frames < FP_MIN_FRAMES + 1:
        return None
    idx = np.arange(FP_WINDOW)[None, :] + FP_HOP * np.arange(frames)[:, None]
    power = np.abs(np.fft.rfft(mono[idx] * np.hanning(FP_WINDOW), axis=1)) ** 2
    freqs = np.fft.rfftfreq(FP_WINDOW, 1.0 / FP_RATE)
    band = np.searchsorted(FP_EDGES, freqs) - 1
    energy = np.stack([power[:, band == k].sum(axis=1) for k in range(len(FP_EDGES) - 1)], 1)
    diff = np.diff(np.log(energy + 1e-10), axis=1)
    bits = (diff[1:] - diff[:-1]) > 0  # (frames - 1) x 16
    packed = (bits * (1 << np.arange(16))).sum(axis=1).astype("<u2")
    return Fingerprint(packed.tobytes(), n / FP_RATE)


def fingerprints_match(a: bytes, b: bytes) -> bool:
    """Whether two fingerprints are of the same audio, shifted by up to about 2 s."""
    x, y = np.frombuffer(a, "<u2"), np.frombuffer(b, "<u2")
    need = max(FP_MIN_FRAMES, int(0.8 * min(len(x), len(y))))
    for shift in range(-FP_MAX_OFFSET, FP_MAX_OFFSET + 1):
        xs, ys = (x[shift:], y) if shift >= 0 else (x, y[-shift:])
        m = min(len(xs), len(ys))
        if m < need:
            continue
        differ = np.unpackbits((xs[:m] ^ ys[:m]).view(np.uint8)).sum()
        if differ <= FP_SAME_BER * 16 * m:
            return True
    return False
