"""The guidance cues' names and options, and the ``--guidance`` flag: light to import (the
command line's ``--help`` must not load the recogniser); the guide itself is guidance.py."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

PACE, OVERTALK, DEAD_AIR, ACKNOWLEDGE, MOVE, MOOD_RISING = (
    "pace",
    "overtalk",
    "dead_air",
    "acknowledge",
    "move",
    "mood",
)
CUES = (PACE, OVERTALK, DEAD_AIR, ACKNOWLEDGE, MOVE, MOOD_RISING)
# When two cues are due together, the more specific one shows: what was just said first, the
# customer's mood (mostly the result of what was said) last.
PRIORITY = (MOVE, OVERTALK, ACKNOWLEDGE, DEAD_AIR, PACE, MOOD_RISING)
# Harder personas are tougher tests: they get fewer nudges.
CAP_BY_DIFFICULTY = {1: 6, 2: 5, 3: 4, 4: 3, 5: 2}


@dataclass(frozen=True)
class GuidanceOptions:
    """Which cues a call shows and how often. ``None`` thresholds come from the rubric."""

    cues: tuple[str, ...] = CUES
    cap: int = 4  # cues in one call, at most
    cooldown_s: float = 30.0  # the same kind of cue again only after this long
    gap_s: float = 1.5  # any two cues at least this far apart
    stale_s: float = 3.0  # a cue not shown this long after its condition began is dropped
    dead_air_s: float | None = None  # None: the rubric's dead_air_s
    mood_rise: float = 0.1  # the customer's mood up by this much after one turn

    def __post_init__(self) -> None:
        unknown = sorted(set(self.cues) - set(CUES))
        if unknown:
            raise ValueError(f"unknown guidance cue {unknown[0]!r} (known: {', '.join(CUES)})")
        if min(self.cap, self.cooldown_s, self.gap_s) < 0 or min(self.stale_s, self.mood_rise) <= 0:
            raise ValueError("guidance cap, cooldown and gap must be >= 0; stale_s, mood_rise > 0")

    @classmethod
    def for_difficulty(cls, difficulty: int, **changes) -> GuidanceOptions:
        """The defaults for a persona of this difficulty (1-5): fewer cues as it gets harder."""
        return cls(cap=CAP_BY_DIFFICULTY.get(difficulty, cls.cap), **changes)


def parse_cues(value: str) -> tuple[str, ...]:
    """``--guidance`` on the command line: ``all`` or a comma list of cue kinds."""
    if value.strip() == "all":
        return CUES
    cues = tuple(c.strip().replace("-", "_") for c in value.split(",") if c.strip())
    unknown = [c for c in cues if c not in CUES]
    if unknown or not cues:
        raise argparse.ArgumentTypeError(
            f"unknown cue {unknown[0] if unknown else value!r}; choose from all, {', '.join(CUES)}"
        )
    return cues


def add_guidance_option(parser: argparse.ArgumentParser) -> None:
    """The ``--guidance`` flag of ``drill`` and ``simulate`` (the same cues for both)."""
    parser.add_argument(
        "--guidance",
        nargs="?",
        const=CUES,
        type=parse_cues,
        metavar="CUES",
        help="show short cues while you talk: pace, overtalk, dead_air, acknowledge, move "
        "(a penalised move just said), mood (the customer getting angrier); optionally a "
        "comma list of those (default all). Never spoken; recorded as guidance events. "
        "Harder personas get fewer cues.",
    )
