"""Scoring one existing call (a recording or a transcript) into its session directory.

The single source of truth for `voicesim score`: a single file is scored by a ``CallScorer``
in the command's own process, a folder by the same ``CallScorer`` inside each Ray actor
(``archive.py``), so both give the same scorecard for the same file. A ``CallScorer`` loads the
rubric and persona at once and Whisper on its first recording, then keeps them for every call.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import traceback
from dataclasses import dataclass
from pathlib import Path

from ..errors import VoicesimError

STATS = ("talk_ratio", "overtalk_count", "overtalk_s", "longest_silence_s", "words_per_minute")


@dataclass(frozen=True)
class ScoreSettings:
    """What `voicesim score` was told, in a form that travels to a Ray actor (plain values)."""

    customer_channel: str = "left"
    rubric: str | None = None  # a rubric YAML file; None: the built-in one
    agent_labels: tuple[str, ...] = ()
    customer_labels: tuple[str, ...] = ()
    persona: str | None = None  # for transcripts (a role-play)
    cpu_threads: int = 0  # Whisper's threads; 0: CTranslate2 chooses
    agent: str | None = None  # a mono recording's agent voice: "first", "second", None: guess
    model: str | None = None  # Whisper (speech/models.py); None: tiny.en, the drill's


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's bytes: a re-run knows a call it has scored, whatever its name."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fresh(out: Path) -> Path:
    """A session directory to write: new or empty (a second call in one would mix two calls)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise VoicesimError(f"{out} already holds files; choose an empty or new --out directory")
    return out


def unique_name(f: Path, used: set[str]) -> str:
    """A session name for ``f`` in a batch: its stem, or more of its name when that is taken
    (call.wav and call.txt, or two folders' a.wav)."""
    name = f.stem
    if name in used:
        name = f"{f.stem}-{f.suffix.lstrip('.').lower()}"
    n = 1
    base = name
    while name in used:
        n += 1
        name = f"{base}-{n}"
    used.add(name)
    return name


def verdict(card) -> str:  # noqa: ANN001
    """pass, fail, or not scorable (a call with too little to judge has no verdict)."""
    if not card.scorable:
        return "not scorable"
    return "pass" if card.passed else "fail"


def summary_row(name: str, result, kind: str = "recording", digest: str = "") -> dict:  # noqa: ANN001
    """One call's line in summary.csv / summary.parquet."""
    card = result.scorecard
    row = {
        "file": name,
        "kind": kind,
        "session": str(result.session_dir),
        "digest": digest,
        "duration_s": round(result.duration_s, 2),
        "overall": card.overall,
        "verdict": verdict(card),
        "passed": card.passed,
        "scorable": card.scorable,
        "warnings": "; ".join(card.warnings),
        "error": "",
    }
    row.update({f"{f.id}": f.score if f.applies else None for f in card.families})
    for key in STATS:
        row[key] = card.stats.get(key)
    return row


def error_row(name: str, session: Path, digest: str, error: str) -> dict:
    """The line of a call that could not be scored: the run goes on, the reason is kept."""
    return {
        "file": name,
        "kind": "",
        "session": str(session),
        "digest": digest,
        "duration_s": None,
        "overall": None,
        "verdict": "error",
        "passed": None,
        "scorable": None,
        "warnings": "",
        "error": error,
    }


class CallScorer:
    """Scores calls one at a time with models loaded once (one per process or Ray actor)."""

    def __init__(self, settings: ScoreSettings):
        from ..persona.persona import find_persona, load_persona
        from ..rubric.rubric import load_rubric
        from ..session.recorded import CHANNELS
        from ..session.transcript import Labels

        if settings.customer_channel not in CHANNELS:
            raise VoicesimError(
                f"unknown channel {settings.customer_channel!r}: "
                "use --customer-channel left or right"
            )
        self.settings = settings
        self.rubric = load_rubric(settings.rubric)
        self.labels = Labels(
            settings.agent_labels or Labels.agent, settings.customer_labels or Labels.customer
        )
        self.persona = None
        if settings.persona:
            self.persona = load_persona(
                find_persona(settings.persona), set(self.rubric.library.detectors)
            )
        self._transcriber = None  # loaded on the first recording (transcripts need none)

    @property
    def transcriber(self):  # noqa: ANN201
        from ..speech.transcriber import Transcriber, TranscriberOptions

        if self._transcriber is None:
            self._transcriber = Transcriber(
                TranscriberOptions(model=self.settings.model, cpu_threads=self.settings.cpu_threads)
            )
        return self._transcriber

    def score(self, f: Path, out: Path):  # noqa: ANN201
        """(result, files, kind): a transcript or a recording scored into ``out``."""
        from ..session.recorded import load_recording, score_recording
        from ..session.transcript import looks_like_transcript, read_transcript
        from ..session.written import score_transcript

        if looks_like_transcript(f):
            t = read_transcript(f, self.labels)
            return (
                score_transcript(t, self.rubric, fresh(out), self.persona),
                [str(f)],
                "transcript",
            )
        if self.persona is not None:
            raise VoicesimError(
                f"{f}: --persona is for transcripts; a recording is scored without a persona"
            )
        rec = load_recording(
            f,
            self.settings.customer_channel,
            agent=self.settings.agent,
            transcriber=self.transcriber,
        )
        result = score_recording(rec, self.rubric, fresh(out), transcriber=self.transcriber)
        return result, rec.files, "recording"

    def row(self, f: Path, out: Path, digest: str) -> dict:
        """Score ``f`` into ``out`` with its report, as a summary row; never raises for a bad
        file: its row carries the error and a half-written session directory is removed."""
        from .html import write_report

        existed = out.exists()
        try:
            result, _, kind = self.score(f, out)
            write_report(result.session_dir)
            return summary_row(str(f), result, kind, digest)
        except VoicesimError as exc:
            error = str(exc)
        except MemoryError:
            error = f"{f}: out of memory while scoring"
        except Exception as exc:  # a bug must cost one row, not the archive's run
            last = traceback.extract_tb(exc.__traceback__)[-1]
            error = (
                f"{f}: internal error {type(exc).__name__}: {exc} "
                f"(at {Path(last.filename).name}:{last.lineno})"
            )
        if not existed:  # we made it for this call: nothing of a failed call is left behind
            with contextlib.suppress(OSError):
                shutil.rmtree(out)
        return error_row(str(f), out, digest, error)
