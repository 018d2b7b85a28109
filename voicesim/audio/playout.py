"""A timeline of clips to play, addressed by call-clock samples.

The customer's voice is a Playout in every source: the simulated line mixes it into the
customer channel, the live source feeds it to the headset. Because voicesim schedules every clip
itself, it knows sample-exactly when the customer was audible, which makes overtalk exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(eq=False)  # holds audio: compared by identity, never by value
class Clip:
    start: int  # first sample on the call clock
    audio: np.ndarray  # float32 mono at the analysis rate
    label: dict[str, Any] = field(default_factory=dict)
    stop: int | None = None  # set when playback is cut short (barge-in)

    @property
    def sound(self) -> str | None:
        """The call sound this clip is (ring, connect, hangup), or None for a customer line."""
        return self.label.get("sound")

    @property
    def end(self) -> int:
        full = self.start + self.audio.size
        return full if self.stop is None else min(full, self.stop)


class Playout:
    """Clips scheduled on the call clock; reading mixes whatever overlaps the requested span."""

    def __init__(self) -> None:
        self.clips: list[Clip] = []
        # Called with each new clip: a live source hands it to the speaker at once (and may
        # move its start later when the speaker has already played past it).
        self.on_schedule: Callable[[Clip], None] | None = None

    def schedule(self, start: int, audio: np.ndarray, **label: Any) -> Clip:
        clip = Clip(start=int(start), audio=np.asarray(audio, dtype=np.float32), label=label)
        self.clips.append(clip)
        if self.on_schedule is not None:
            self.on_schedule(clip)
        return clip

    def cancel(self, clip: Clip) -> None:
        self.clips.remove(clip)

    def read(self, start: int, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=np.float32)
        end = start + n
        for clip in self.clips:
            a, b = max(start, clip.start), min(end, clip.end)
            if a < b:
                out[a - start : b - start] += clip.audio[a - clip.start : b - clip.start]
        return out

    def playing_at(self, sample: int) -> Clip | None:
        """The customer line audible at ``sample`` (call sounds are not the customer talking)."""
        for clip in self.clips:
            if clip.sound is None and clip.start <= sample < clip.end:
                return clip
        return None

    def prune(self, before: int) -> None:
        """Forget clips that ended before ``before``: a long call must not keep all its audio."""
        self.clips = [c for c in self.clips if c.end >= before]

    def busy_until(self) -> int:
        """The sample after the last scheduled audio (0 when nothing was scheduled)."""
        return max((c.end for c in self.clips), default=0)
