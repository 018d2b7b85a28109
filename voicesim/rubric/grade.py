"""A call's whole scorecard: scored (``scorer``), then coached (``coaching``).

The top of the rubric package: what a session, a recording, the lab and the tests call.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..events import Event
from .coaching import coach
from .rubric import Rubric
from .scorer import Persona, Scorecard, grade_call


def score_call(
    events: Iterable[Event],
    rubric: Rubric,
    persona: Persona | None = None,
    trainee_audio: np.ndarray | None = None,
) -> Scorecard:
    """Score a call and coach it. ``trainee_audio`` (16 kHz mono, call clock) enables the
    tone-of-voice criteria."""
    card, view = grade_call(events, rubric, persona, trainee_audio)
    card.coaching = coach(card, view, rubric, persona)
    return card
