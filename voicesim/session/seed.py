"""The call's seed and the ``--seed`` flag of ``drill`` and ``simulate``: light to import.

The seed chooses the customer's wordings and answer timing. Without ``--seed`` every call draws a
fresh one, so a trainee's next attempt does not hear the same sentences; the seed goes into the
session's meta.json and is printed, and ``--seed N`` replays that call.
"""

from __future__ import annotations

import argparse
import secrets

SEED_RANGE = 1_000_000  # fresh seeds are short enough to read off the screen and type back


def call_seed(seed: int | None) -> int:
    """The seed a call runs with: the one asked for, else a fresh one."""
    return secrets.randbelow(SEED_RANGE) if seed is None else seed


def add_seed_option(parser: argparse.ArgumentParser) -> None:
    """The ``--seed`` flag of ``drill`` and ``simulate`` (the same meaning for both)."""
    parser.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="seed for the customer's wording and timing: the same seed replays the same "
        "customer (default: a fresh seed each call, printed and saved in meta.json)",
    )
