"""Call sources: they deliver frames of (customer as played, microphone as captured).

Only the source knows whether the call is simulated, live or recorded; the pipeline reads
``Frame`` objects and nothing else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .formats import RATE
from .playout import Playout


@dataclass(eq=False)  # holds audio: compared by identity, never by value
class Frame:
    start: int  # call-clock sample of the first sample in this frame
    customer: np.ndarray  # what the trainee heard (float32, analysis rate)
    mic: np.ndarray  # what the microphone captured (float32, analysis rate)

    @property
    def end(self) -> int:
        return self.start + self.mic.size


class SimulatedLine:
    """A virtual phone line on a virtual clock: no devices, no sleeping, faster than real time.

    The customer's clips and the scripted trainee's clips are both scheduled on Playouts; the
    microphone hears the trainee's voice over a faint noise floor, as a headset mic would.
    """

    def __init__(
        self,
        customer: Playout,
        trainee: Playout,
        noise_db: float = -62.0,
        seed: int = 0,
        realtime: bool = False,
        await_renders: bool | None = None,
    ):
        self.customer = customer
        self.trainee = trainee
        self.position = 0
        self._noise = 10 ** (noise_db / 20)
        self._rng = np.random.default_rng(seed)
        # realtime: deliver frames no faster than a sound card would (for latency measurements).
        self.realtime = realtime
        self._t0: float | None = None
        # A streamed customer line is whole before the virtual clock reaches it, so that the
        # call does not depend on how fast the voice renders (the same seed, the same call);
        # a line paced like a sound card plays the first sentence while the rest renders.
        self.await_renders = not realtime if await_renders is None else await_renders

    def read(self, n: int) -> Frame:
        if self.realtime:
            if self._t0 is None:
                self._t0 = time.monotonic()
            due = self._t0 + (self.position + n) / RATE
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(
                    delay
                )  # the source blocks, as a device read would; the pipeline never does
        start = self.position
        if start % (RATE * 10) < n:  # every 10 s, forget clips that ended a minute ago
            self.customer.prune(start - 60 * RATE)
            self.trainee.prune(start - 60 * RATE)
        self.customer.settle(start, wait=self.await_renders)
        customer = self.customer.read(start, n)
        mic = self.trainee.read(start, n)
        mic += (self._rng.standard_normal(n) * self._noise).astype(np.float32)
        self.position += n
        return Frame(start=start, customer=customer, mic=mic)

    def play_floor(self) -> int:
        """Nothing is played ahead of the pipeline on a virtual line."""
        return self.position

    @property
    def rate(self) -> int:
        return RATE
