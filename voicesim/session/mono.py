"""A mono recording (both voices in one channel) split into the agent's and the customer's side.

The voices are told apart by diarisation (``speech/speakers.py``); each side is the recording
where its speaker talks and silence elsewhere, so the rest of scoring is a stereo call's. Which
voice is the agent: as the user says (``agent="first"``/``"second"``), else the one whose first
words greet the caller or name the company ("thank you for calling", "how can I help", "you're
through to"), else the one who speaks first (an agent answers the phone). How sure that is goes
into the warnings. Talking over each other cannot be measured once the voices are split this
way, so the scorer leaves overtalk, cut-offs and listening noises out (``"overlap": false``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..audio.formats import RATE
from ..errors import AudioFileError
from ..speech.speakers import diarise
from ..speech.transcriber import Transcriber

AGENT_WORDS = re.compile(
    r"\b(thanks? (you )?for (calling|contacting|holding)|how (can|may|could) i (help|assist)"
    r"|what can i do for you|my name is|you'?re (through|speaking) to|you'?ve reached"
    r"|welcome to|this is \w+ (from|at|with)|customer (service|support|care|team)"
    r"|(good )?(morning|afternoon|evening),? (and )?(thank|welcome|you))",
    re.IGNORECASE,
)
OPENING_S = 8.0  # of each voice's first speech, read for greeting and company words
CLOSE_VOICES = 0.2  # cosine distance of the two voices' centres under which they are alike:
# one speaker split in two measured 0.07-0.15 on the shared recordings, phone_call.wav's two
# voices 0.13 (94 % of its speech still went to the right one), two distinct voices 0.28-0.39


@dataclass(eq=False)  # holds audio: compared by identity
class Split:
    customer: np.ndarray
    trainee: np.ndarray
    info: dict  # for meta.json: how the voices were split and the agent chosen
    warnings: list[str]


def _opening(audio: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The first ``OPENING_S`` seconds of one voice's speech, joined."""
    return audio[: mask.size][mask[: audio.size]][: int(OPENING_S * RATE)]


def split_mono(
    audio: np.ndarray,
    transcriber: Transcriber,
    agent: str | None = None,
    what: str = "mono",
    name: str = "recording",
) -> Split:
    """Diarise 16 kHz mono ``audio`` and decide which voice is the agent."""
    d = diarise(audio)
    speakers = [k for k in (0, 1) if np.any(d.labels == k)]
    if not speakers:
        raise AudioFileError(f"{name}: no speech found in this {what} recording")
    if len(speakers) < 2:
        raise AudioFileError(
            f"{name}: only one voice was found in this {what} recording, so the agent and the "
            "customer cannot be told apart"
        )
    first = d.first()
    order = [first, 1 - first]  # speaker ids in the order they are first heard
    openings = {k: transcriber.transcribe(_opening(audio, d.mask(k))).text for k in order}
    greets = {k: AGENT_WORDS.search(openings[k]) for k in order}
    if agent in ("first", "second"):
        chosen = order[0] if agent == "first" else order[1]
        how, sure = f"as told (--agent-{agent})", "given"
    elif bool(greets[order[0]]) != bool(greets[order[1]]):
        chosen = order[0] if greets[order[0]] else order[1]
        how = f'greets the caller: "{greets[chosen].group(0)}"'
        sure = "high"
    else:
        chosen = order[0]
        how = "speaks first (an agent answers the phone); " + (
            "both voices' first words sound like an agent"
            if greets[order[0]]
            else "neither voice's first words greet the caller"
        )
        sure = "low"
    position = "first" if chosen == order[0] else "second"
    agent_mask, customer_mask = d.mask(chosen), d.mask(1 - chosen)
    n = audio.size
    trainee = audio * np.pad(agent_mask, (0, max(0, n - agent_mask.size)))[:n]
    customer = audio * np.pad(customer_mask, (0, max(0, n - customer_mask.size)))[:n]
    warnings = [
        f"a {what} recording: the two voices were told apart by their sound (diarisation); "
        f"the agent is the voice heard {position}, chosen because it {how} (confidence: "
        f"{sure}); overtalk and interruptions are left out, one channel cannot show them"
    ]
    if d.separation < CLOSE_VOICES:
        warnings.append(
            f"the two voices sound alike (distance {d.separation:.2f}; under {CLOSE_VOICES}): "
            "who said what may be wrong in places, or this may be one voice"
        )
    info = {
        "method": "resemblyzer-ge2e, spectral split into 2",
        "agent": position,
        "decided_by": how,
        "confidence": sure,
        "voice_distance": round(d.separation, 3),
        "agent_speech_s": round(float(np.sum(d.labels == chosen)) / 100, 2),
        "customer_speech_s": round(float(np.sum(d.labels == 1 - chosen)) / 100, 2),
        "openings": {("agent" if k == chosen else "customer"): openings[k] for k in order},
    }
    return Split(customer, trainee, info, warnings)
