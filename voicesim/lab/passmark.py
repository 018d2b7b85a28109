"""A drill's one pass mark: the station scores its call with the drill's rubric at the drill's
pass mark, and the server scores the upload the same way, so the terminal, the lab's records
and the report all show the pass mark the trainer set. Light on purpose: a station imports it
without the server's packages."""

from __future__ import annotations

import dataclasses

from ..rubric.rubric import Rubric


def drill_rubric(rubric: Rubric, pass_mark: float) -> Rubric:
    """``rubric`` with the drill's pass mark (a copy: a parsed rubric may be shared)."""
    return dataclasses.replace(rubric, pass_mark=float(pass_mark))
