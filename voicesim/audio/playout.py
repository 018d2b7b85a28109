"""A timeline of clips to play, addressed by call-clock samples.

The customer's voice is a Playout in every source: the simulated line mixes it into the
customer channel, the live source feeds it to the headset. Because voicesim schedules every clip
itself, it knows sample-exactly when the customer was audible, which makes overtalk exact.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

OPEN_END = 1 << 62  # the end of a clip whose audio is still coming: later than any sample


class AudioFeed:
    """Audio still being rendered for a clip: a renderer ``put``s pieces and ``close``s it; the
    call's reader takes them in order. Thread-safe (the renderer is another thread)."""

    def __init__(self) -> None:
        self._pieces: list[np.ndarray] = []
        self._closed = False
        self._cond = threading.Condition()

    def put(self, audio: np.ndarray) -> None:
        with self._cond:
            self._pieces.append(np.asarray(audio, dtype=np.float32))
            self._cond.notify_all()

    def close(self) -> None:
        """No more pieces (the line is whole, or its render was cancelled or failed)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def take(self, wait: bool = False) -> tuple[list[np.ndarray], bool]:
        """(pieces ready since the last take, whether the feed is finished). ``wait``: block
        until it is closed (a virtual line must not run ahead of the renderer)."""
        with self._cond:
            if wait:
                self._cond.wait_for(lambda: self._closed)
            pieces, self._pieces = self._pieces, []
            return pieces, self._closed


@dataclass(eq=False)  # holds audio: compared by identity, never by value
class Clip:
    start: int  # first sample on the call clock
    audio: np.ndarray  # float32 mono at the analysis rate
    label: dict[str, Any] = field(default_factory=dict)
    stop: int | None = None  # set when playback is cut short (barge-in)
    # The rest of the line, still rendering (a streamed line): Playout.settle appends it.
    more: AudioFeed | None = None

    @property
    def sound(self) -> str | None:
        """The call sound this clip is (ring, connect, hangup), or None for a customer line."""
        return self.label.get("sound")

    @property
    def end(self) -> int:
        """The sample after the clip's last; open while more of it is rendering."""
        full = self.start + self.audio.size if self.more is None else OPEN_END
        return full if self.stop is None else min(full, self.stop)


class Playout:
    """Clips scheduled on the call clock; reading mixes whatever overlaps the requested span."""

    def __init__(self) -> None:
        self.clips: list[Clip] = []
        # Called with each new clip: a live source hands it to the speaker at once (and may
        # move its start later when the speaker has already played past it).
        self.on_schedule: Callable[[Clip], None] | None = None

    def schedule(
        self, start: int, audio: np.ndarray, more: AudioFeed | None = None, **label: Any
    ) -> Clip:
        """A clip from ``start``; ``more``: the rest of it, still rendering (see ``settle``)."""
        clip = Clip(start=int(start), audio=np.asarray(audio, dtype=np.float32), label=label)
        clip.more = more
        self.clips.append(clip)
        if self.on_schedule is not None:
            self.on_schedule(clip)
        return clip

    def cancel(self, clip: Clip) -> None:
        self.clips.remove(clip)

    def settle(self, floor: int, wait: bool = False) -> list[tuple[Clip, int]]:
        """Append the rendered pieces of streamed clips; (clip, offset of the new audio) each.

        A piece follows the audio before it seamlessly, or from ``floor`` when the speaker has
        played past that point already (a live renderer fell behind: the gap is silence, and
        the timeline says so). ``wait``: block until every streamed clip is whole (a virtual
        line, whose clock must not depend on how fast the renderer is)."""
        grown = []
        for clip in self.clips:
            if clip.more is None:
                continue
            pieces, finished = clip.more.take(wait)
            if pieces:
                offset = max(clip.audio.size, floor - clip.start)
                pad = np.zeros(offset - clip.audio.size, dtype=np.float32)
                clip.audio = np.concatenate([clip.audio, pad, *pieces])
                grown.append((clip, offset))
            if finished:
                clip.more = None
        return grown

    @property
    def streaming(self) -> bool:
        """Is any clip's audio still rendering?"""
        return any(c.more is not None for c in self.clips)

    def read(self, start: int, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=np.float32)
        end = start + n
        for clip in self.clips:
            a, b = max(start, clip.start), min(end, clip.end, clip.start + clip.audio.size)
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
