"""Hearing and scoring an upload runs in a child process at a lower CPU priority
(``processes``): transcription and the rubric are CPU work (about 1.5 s of a core per call
minute), and in the server's own threads they competed with the requests of trainers and
stations for the interpreter and the cores; in a child with a higher nice value the pages get
their CPU first and the queue takes what is left. One pool serves every scoring queue of the
process (a lab process has one app; the tests make many).
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import HTTPException

from ..errors import VoicesimError
from ..persona.persona import Persona
from ..rubric.rubric import Rubric
from .hearing import Heard
from .library import DrillRef
from .library import score_upload as score_here
from .processes import ChildDied, ChildPool

SCORING_WORKERS = max(1, min(4, (os.cpu_count() or 2) // 2))  # sessions heard and scored at once
SCORING_NICE = 10  # added to the children's nice value: the server's requests come first

_pool = ChildPool("scoring", SCORING_WORKERS, SCORING_NICE)


class ScoringFailed(ValueError):
    """A session that could not be scored, as the child saw it (a plain message: what a child
    raises must cross back to the server)."""


def score_upload(
    path: Path, drill: DrillRef | None, rubric: Rubric, persona: Persona | None
) -> tuple[dict, Heard]:
    """``library.score_upload`` of the session at ``path``, in a scoring child; blocks the
    calling thread (a scoring worker). Raises ScoringFailed."""
    try:
        return _pool.run(_score, path, drill, rubric, persona)
    except ChildDied as exc:
        raise ScoringFailed(f"{exc} while scoring this session") from None


def warm() -> None:
    """Start the scoring children and load their models, ahead of the first upload."""
    _pool.warm(_child_transcriber)


# -- in the child ---------------------------------------------------------------------------------
_transcriber = None


def _child_transcriber():  # noqa: ANN202
    """The child's Whisper (the bundled tiny.en the station uses), loaded on first use, with
    the cores shared among the scoring children."""
    global _transcriber
    if _transcriber is None:
        from ..speech.transcriber import Transcriber, TranscriberOptions

        threads = max(1, (os.cpu_count() or 1) // SCORING_WORKERS)
        _transcriber = Transcriber(TranscriberOptions(cpu_threads=threads))
    return _transcriber


def _score(
    path: Path, drill: DrillRef | None, rubric: Rubric, persona: Persona | None
) -> tuple[dict, Heard]:
    try:
        return score_here(path, drill, rubric, persona, _child_transcriber)
    except HTTPException as exc:
        raise ScoringFailed(str(exc.detail)) from None
    except (VoicesimError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ScoringFailed(str(exc)) from None
