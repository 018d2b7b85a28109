"""A written call (a transcript) as one more source of the call's events, scored like a recording.

A transcript has words and speakers but no audio. Its turns become the events a drill records
(the customer's lines; the trainee's speech and final transcripts with word times), written by
the same session recorder and judged by the same scorer, so a session made from a transcript
replays, reports and exports like any other. ``call_start`` says what the source cannot show
(``"audio": false``; ``"timed": false`` when the times are made up), and the scorer leaves out
the criteria that need audio or real times and says which (``left_out`` in the scorecard).

Turns without times get synthetic ones, written down in meta.json: each turn lasts its words at
``SYNTHETIC_WPM`` words a minute, ``GAP_S`` apart, so the timeline, replay and report still
work. Turns with only a start (plain text with timestamps) keep their starts; their ends are
estimated the same way. Word times inside a turn are spread over it by the words' lengths.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..audio.formats import RATE
from ..audio.recorder import SessionRecorder
from ..errors import TranscriptError
from ..events import (
    CALL_END,
    CALL_START,
    CUSTOMER_LINE_END,
    CUSTOMER_LINE_START,
    FINAL,
    SCORE,
    SPEECH_END,
    SPEECH_START,
    Event,
)
from ..persona.persona import Persona
from ..rubric.grade import score_call
from ..rubric.rubric import Rubric
from ..rubric.sides import check_sides
from .call import CallOptions, CallResult, Listener, session_meta_recorded
from .recorded import AUDIO_SUFFIXES
from .transcript import AGENT, CUSTOMER, FORMATS, LIMITS, Limits, Transcript, Turn

SYNTHETIC_WPM = 150  # the middle of the usual 120-160 words a minute
GAP_S = 0.6  # between two turns without times
MIN_TURN_S = 0.6  # the shortest a turn lasts ("Yes.")
LEAD_IN_S = 0.5  # before the first turn, as in a drill
TAIL_S = 0.6  # after the last turn, as in a drill
STEP_S = 0.01  # keeps turns that share a timestamp in the file's order


@dataclass
class Placed:
    """A turn on the call clock, with its words' times."""

    side: str
    text: str
    speaker: str
    start: float
    end: float
    words: list[dict]


def spoken_s(text: str) -> float:
    """How long the words take at the synthetic pace."""
    return max(MIN_TURN_S, 60.0 * len(text.split()) / SYNTHETIC_WPM)


def word_times(text: str, start: float, end: float) -> list[dict]:
    """The turn's words spread over [start, end] by their lengths (a long word takes longer)."""
    words = text.split()
    total = sum(len(w) + 1 for w in words)
    out, at = [], 0
    for w in words:
        a = start + (end - start) * at / total
        at += len(w) + 1
        b = start + (end - start) * at / total
        out.append({"w": w, "start": round(a, 3), "end": round(b, 3)})
    return out


def place(transcript: Transcript, limits: Limits = LIMITS) -> list[Placed]:
    """Every turn on the call clock: its own times, or synthetic ones (see the module doc)."""
    turns = transcript.turns
    if transcript.timing == "given":
        spans = [(t.start, max(t.end, t.start + STEP_S)) for t in turns]
    elif transcript.timing == "starts":
        spans = _from_starts(turns)
    else:
        spans, t = [], LEAD_IN_S
        for turn in turns:
            spans.append((t, t + spoken_s(turn.text)))
            t = spans[-1][1] + GAP_S
    placed = []
    for turn, (start, end) in zip(turns, spans, strict=True):
        start, end = round(start, 3), round(end, 3)
        if end + TAIL_S > limits.max_t:
            how = f" at {SYNTHETIC_WPM} words a minute" if transcript.timing == "none" else ""
            raise TranscriptError(
                transcript.path,
                f"the call would last more than {limits.max_t / 3600:.0f} hours{how}",
                turn.line,
            )
        words = word_times(turn.text, start, end)
        placed.append(Placed(turn.side, turn.text, turn.speaker, start, end, words))
    return placed


def _from_starts(turns: list[Turn]) -> list[tuple[float, float]]:
    """Spans for turns with only a start: each as long as its words take, one after the other;
    turns that share a timestamp ("[00:01:23]" has whole seconds) share the time until the next
    one, in the file's order, squeezed when they would not fit."""
    spans: list[tuple[float, float]] = []
    k = 0
    while k < len(turns):
        j = k
        while j < len(turns) and turns[j].start == turns[k].start:
            j += 1
        group = turns[k:j]
        natural = [spoken_s(t.text) for t in group]
        need = sum(natural) + GAP_S * (len(group) - 1)
        at = turns[k].start
        scale = 1.0
        if j < len(turns):
            scale = min(1.0, max(0.0, turns[j].start - at - STEP_S) / need)
        for d in natural:
            end = at + max(STEP_S, d * scale)
            spans.append((at, end))
            at = end + GAP_S * scale
        k = j
    return spans


def transcript_events(
    placed: list[Placed], rubric: Rubric, persona: Persona | None, timed: bool
) -> list[Event]:
    """The call's events, as a drill would have recorded the same words (without audio)."""
    events = [
        Event(
            CALL_START,
            0.0,
            {
                "persona": persona.id if persona else None,
                "rubric": rubric.id,
                "sample_rate": RATE,
                "source": "transcript",
                "audio": False,
                "timed": timed,
            },
        )
    ]
    line = utterance = 0
    for p in placed:
        if p.side == CUSTOMER:
            events += [
                Event(
                    CUSTOMER_LINE_START,
                    p.start,
                    {
                        "line": line,
                        "text": p.text,
                        "reason": "transcript",
                        "end": p.end,
                        "words": p.words,
                        "speaker": p.speaker,
                    },
                ),
                Event(CUSTOMER_LINE_END, p.end, {"line": line, "cut": False}),
            ]
            line += 1
        else:
            events += [
                Event(SPEECH_START, p.start, {"who": "trainee"}),
                Event(
                    SPEECH_END, p.end, {"who": "trainee", "utterance": utterance, "start": p.start}
                ),
                Event(
                    FINAL,
                    p.start,
                    {
                        "who": "trainee",
                        "utterance": utterance,
                        "end": p.end,
                        "text": p.text,
                        "words": p.words,
                        "speaker": p.speaker,
                    },
                ),
            ]
            utterance += 1
    end = round(max(p.end for p in placed) + TAIL_S, 3)
    events.append(Event(CALL_END, end, {"end_state": "recorded", "duration": end}))
    return events


TIMING_NOTES = {
    "given": "the transcript's own start and end of every turn; word times spread over each turn",
    "starts": (
        "the transcript's start of every turn; each turn's end estimated at "
        f"{SYNTHETIC_WPM} words a minute; word times spread over each turn"
    ),
    "none": (
        f"synthetic: the transcript has no times, so each turn lasts its words at "
        f"{SYNTHETIC_WPM} words a minute, {GAP_S:g} s apart"
    ),
}


def score_transcript(
    transcript: Transcript,
    rubric: Rubric,
    out_dir: str | Path,
    persona: Persona | None = None,
    listeners: list[Listener] = (),
) -> CallResult:
    """Score a transcript and write its session directory (events, meta, scorecard; no audio)."""
    placed = place(transcript)
    timed = transcript.timing == "given"
    events = transcript_events(placed, rubric, persona, timed)
    speakers = {
        side: sorted({p.speaker for p in placed if p.side == side}) for side in (AGENT, CUSTOMER)
    }
    meta = session_meta_recorded(rubric, CallOptions(), [transcript.path], None)
    meta.update(
        persona=None
        if persona is None
        else {
            "id": persona.id,
            "name": persona.name,
            "version": persona.version,
            "file": persona.path,
        },
        model=None,
        vad=None,
        audio=None,
        source={
            "kind": "transcript",
            "files": [transcript.path],
            "format": transcript.format,
            "speakers": {"agent": speakers[AGENT], "customer": speakers[CUSTOMER]},
            "turns": len(placed),
            "times": {"none": "synthetic"}.get(transcript.timing, transcript.timing),
            "timing": TIMING_NOTES[transcript.timing],
        },
    )
    recorder = SessionRecorder(out_dir, audio=False)
    try:
        recorder.write_json("meta.json", {**meta, "status": "running"})
        for ev in events:
            recorder.log(ev)
            for listener in listeners:
                listener(ev)
        card = score_call(events, rubric, persona, None)
        sides = check_sides(events, rubric.library)
        if sides.swapped:
            card.warnings.append(
                f"the speakers look swapped: the agent's lines ({', '.join(speakers[AGENT])}) "
                f"talk like the customer's (say 'my' {sides.trainee_my} times, "
                f"{sides.trainee_agent_lines} agent moves) and the customer's like the agent's "
                f"({sides.customer_agent_lines} lines with agent moves); check --agent-label "
                "and --customer-label"
            )
        end = events[-1]
        score = Event(
            SCORE,
            end.t,
            {
                "overall": card.overall,
                "passed": card.passed,
                "scorable": card.scorable,
                "families": {f.id: f.score for f in card.families},
            },
        )
        events.append(score)
        recorder.log(score)
        recorder.write_json("scorecard.json", card.to_dict())
        recorder.write_json(
            "meta.json",
            {
                **meta,
                "status": "complete",
                "duration_s": end["duration"],
                "end_state": end["end_state"],
                "warnings": card.warnings,
            },
        )
    finally:
        recorder.close()
    return CallResult(recorder.dir, end["end_state"], end["duration"], card, events)


def find_calls(folder: Path) -> list[Path]:
    """The recordings and transcripts under ``folder``, leaving out session directories (their
    call.wav and JSON files are voicesim's own output, not calls to score)."""
    wanted = AUDIO_SUFFIXES | set(FORMATS)
    sessions = {p.parent for p in folder.rglob("events.jsonl")}
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in wanted
        and not any(parent in sessions for parent in p.parents)
    )
