"""The lab hears what it scores: the trainee's side of an upload's call.wav is endpointed and
transcribed on the server, with the same pipeline and bundled Whisper model that score
recordings (``session.recorded.transcribe_side``), and the session is scored with the words the
lab heard in place of the words its events claim. How far the two are apart (word error rate,
the lab's transcript as the reference) tells whether the audio carries the words of the events:
an edited events.jsonl, events shifted off their audio, or audio that is not the call's, all
come out far apart; a graded drill refuses such a session (``uploads`` / ``queue``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..events import FINAL, Event
from ..session.recorded import transcribe_side
from ..speech.transcriber import Transcriber, Word, span_distance
from ..speech.wer import normalise_words, word_errors

# The most a graded session's events may differ from what the lab hears on its trainee side.
# Measured (docs/lab.md, "The lab hears what it scores"): six honest sessions (five simulated
# calls, one real two-person recording scored by `voicesim score`), heard again from their own
# audio, came out at 0 to 0.043; the same sessions with one trainee line rewritten at 0.12 to
# 0.51, with every line rewritten at 1.1 to 1.8. Edits below the limit gain nothing: the score
# is always computed from the words the lab heard.
WER_LIMIT = 0.10


@dataclass(frozen=True)
class Heard:
    """What the lab heard on the trainee's side, as the session's events with each trainee
    line's words replaced by the words the lab heard at that moment; ``wer``: the events'
    trainee words against the lab's (None: the session has no call audio to hear)."""

    events: list[Event]
    wer: float | None
    seconds: float  # of call audio heard

    @property
    def verified(self) -> bool:
        return self.wer is not None and self.wer <= WER_LIMIT


def trainee_lines(events: list[Event]) -> list[Event]:
    return [e for e in events if e.type == FINAL and e.get("who", "trainee") == "trainee"]


def hear(events: list[Event], trainee: np.ndarray, transcriber: Transcriber | None) -> Heard:
    """The session's ``events`` as the lab hears its ``trainee`` side (16 kHz mono)."""
    if trainee.size == 0:
        return Heard(list(events), None, 0.0)
    words = [w for _, tr in transcribe_side(trainee, transcriber) for w in tr.words]
    lines = trainee_lines(events)
    claimed = [w for e in lines for w in normalise_words(str(e.get("text") or ""))]
    heard = [w for x in words for w in normalise_words(x.text)]
    wer = word_errors(heard, claimed) / max(1, len(heard))
    return Heard(_reworded(events, lines, words), round(wer, 3), trainee.size / 16000)


def _reworded(events: list[Event], lines: list[Event], words: list[Word]) -> list[Event]:
    """Each trainee line with the heard words nearest to it in time (a word belongs to the
    line whose span holds its middle, else the closest): the session's timeline, the lab's
    words."""
    if not lines:
        return list(events)
    spans = [(e.t, float(e.get("end") or e.t)) for e in lines]
    mine: dict[int, list[Word]] = {id(e): [] for e in lines}
    for w in words:
        mid = (w.start + w.end) / 2
        near = min(range(len(lines)), key=lambda i: span_distance(mid, spans[i]))
        mine[id(lines[near])].append(w)
    out = []
    for e in events:
        if id(e) in mine:
            said = mine[id(e)]
            data = {**e.data, "text": " ".join(w.text.strip() for w in said)}
            data["words"] = [w.to_dict() for w in said]
            e = Event(e.type, e.t, data)
        out.append(e)
    return out
