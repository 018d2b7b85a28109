"""The call sounds a live drill plays around the customer's voice: ring, connect, hang-up.

They make a drill feel like a call: the trainee hears the line ring and pick up before the
customer's first words, and the customer hang up after the last. The files ship inside the
package (``voicesim/audio/sounds/``; the repository's ``audio/sounds`` links there) and were
made by ``scripts/make_demo_audio.py`` (numpy tones, MIT). A sound is a clip on the call's
Playout like a customer line, labelled ``sound=<name>``: it is heard, recorded on the customer
channel and known to the echo guard, but it is never a customer line (no overtalk, no dead air,
no barge-in).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import VoicesimError
from .formats import RATE, load_audio

SOUNDS_DIR = Path(__file__).resolve().parent / "sounds"
RING_S = 2.0  # one ring of the ringback cadence (the file holds 2 s on, 4 s off)


@dataclass(eq=False)  # holds audio: compared by identity, never by value
class CallSounds:
    ring: np.ndarray
    connect: np.ndarray
    hangup: np.ndarray


def load_call_sounds(directory: Path = SOUNDS_DIR) -> CallSounds:
    """The shipped sounds at the analysis rate; one clear error when a file is missing."""
    loaded = {}
    for name in ("ring", "connect", "hangup"):
        path = directory / f"{name}.wav"
        if not path.is_file():
            raise VoicesimError(
                f"{path}: the call sound is missing (reinstall voicesim, or use --no-call-sounds)"
            )
        loaded[name] = load_audio(path)
    loaded["ring"] = loaded["ring"][: int(RING_S * RATE)]
    return CallSounds(**loaded)
