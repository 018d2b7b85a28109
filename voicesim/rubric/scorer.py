"""Scoring a call from its timeline: every point won or lost carries its evidence.

The scorer reads events (the same ones in ``events.jsonl``) and, when given, the trainee's
recorded audio for tone of voice; so a live drill, a simulated call and a recorded call are
scored by one code path. Each criterion draws its evidence from one *finder*: detector hits in
the trainee's words, timeline events, voice measurements, the talk ratio, the order of moves,
or the call's outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from typing import Protocol

import numpy as np

from ..events import (
    CALL_END,
    CALL_START,
    CUSTOMER_LINE_END,
    CUSTOMER_LINE_START,
    FINAL,
    MOOD,
    OVERTALK,
    SILENCE,
    SPEECH_END,
    SPEECH_START,
    Event,
)
from .acoustic import UtteranceVoice, baseline, utterance_voices
from .answers import UNANSWERED, QuestionTracker, Reply
from .detectors import DetectorLibrary
from .moves import MOVES
from .rubric import Criterion, Rubric, Thresholds
from .text import Context, Hit

SCORECARD_FORMAT = 1


class Persona(Protocol):
    """What scoring reads of a persona (``voicesim.persona.persona.Persona`` has it): the
    rubric layer sits below the persona layer and must not import it."""

    id: str
    version: str
    name: str
    complaint_terms: list[str]
    summary: str  # the situation, for coaching examples that fit it
    lesson: str  # what the persona teaches, for choosing what to coach first
    facts: dict  # the situation's facts (product, order number ...): grounded wording
    accept: list[str]  # the moves that resolve this customer's problem (an alternative ...)
    model_lines: dict[str, list[str]]  # the persona's own better wording, by move


@dataclass
class Evidence:
    criterion: str
    points: float  # + earned, - lost, 0 beyond the criterion's cap
    words: str
    start: float | None
    end: float | None
    rule: str


@dataclass
class CriterionScore:
    id: str
    description: str
    kind: str
    points: float  # what the criterion is worth (0 when it does not apply to this call)
    earned: float
    hits: int
    evidence: list[Evidence] = field(default_factory=list)
    applies: bool = True
    label: str = ""  # the criterion's readable name


@dataclass
class FamilyScore:
    id: str
    name: str
    weight: float
    score: float  # 0..100; 0 when the family is left out (``applies`` false)
    criteria: list[CriterionScore]
    # False when none of its criteria applies to this call: the family is left out of the
    # overall score (counting it as 100 would reward what was never tested).
    applies: bool = True


@dataclass
class Scorecard:
    rubric: dict
    persona: dict | None
    overall: float
    pass_mark: float
    passed: bool
    families: list[FamilyScore]
    outcome: dict
    stats: dict
    voice: list[dict] = field(default_factory=list)  # per-utterance voice measurements
    coaching: dict = field(default_factory=dict)  # what to work on first (rubric/coaching.py)
    # False when the call gives too little to judge (see ``not_scorable``): then ``overall``
    # is 0 and the call is never a pass.
    scorable: bool = True
    not_scorable: str | None = None  # why, in words, for the trainee and the trainer
    warnings: list[str] = field(default_factory=list)  # doubts about the input (recordings)
    # Criteria the source cannot show (a written transcript has no audio, maybe no times):
    # {"criterion", "label", "why"} each; they are left out of the scores, never counted as 0.
    left_out: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"format": SCORECARD_FORMAT, **asdict(self)}

    def family(self, fid: str) -> FamilyScore:
        return next(f for f in self.families if f.id == fid)

    def criterion(self, cid: str) -> CriterionScore:
        return next(c for f in self.families for c in f.criteria if c.id == cid)


@dataclass
class Utterance:
    """One trainee final transcript with its detector hits."""

    event: Event
    turn: int  # index of the customer line it answers (0 before the customer spoke)
    hits: list[Hit]

    @property
    def start(self) -> float:
        return self.event.t

    @property
    def end(self) -> float:
        return float(self.event.get("end", self.event.t))

    @property
    def text(self) -> str:
        return self.event.get("text") or ""


@dataclass(frozen=True)
class Measured:
    """What the call's source can show. A drill, a simulation and a recording have audio and
    real times; a written transcript has neither audio nor, often, times (``call_start`` says:
    ``"audio": false``, ``"timed": false``), and the criteria that need them are left out."""

    audio: bool = True
    timed: bool = True
    overlap: bool = True  # False: a mono recording split by voice cannot show overlapping speech

    @classmethod
    def of(cls, events: Iterable[Event]) -> Measured:
        start = next((e for e in events if e.type == CALL_START), None)
        if start is None:
            return cls()
        return cls(
            start.get("audio") is not False,
            start.get("timed") is not False,
            start.get("overlap") is not False,
        )

    def only(self, stats: dict) -> dict:
        """``stats`` without the figures this source cannot measure: absent, as in a scorecard
        made before they existed, never a made-up 0 (a transcript's overtalk)."""
        unknown = (
            (AUDIO_FIGURES if not self.audio else ())
            + (TIMED_FIGURES if not self.timed else ())
            + (OVERLAP_FIGURES if not self.overlap else ())
        )
        return {k: v for k, v in stats.items() if k not in unknown}


# The figures beside the scorecard that need audio (both sides in time), or real times.
AUDIO_FIGURES = (
    "overtalk_count",
    "overtalk_by_trainee",
    "overtalk_s",
    "longest_silence_s",
    "interruptions",
    "interruptions_s",
    "dead_air",
)
TIMED_FIGURES = (
    "trainee_talk_s",
    "customer_talk_s",
    "talk_ratio",
    "talk_pct",
    "talk_within",
    "words_per_minute",
    "pace",
    "response_latency_median_s",
)


# Criteria that need the call audio: both sides' speech in time (overtalk, cut-offs, listening
# noises under the customer, dead air) or the voice itself. And those that need real times.
AUDIO_EVENTS = frozenset(
    {
        "trainee_overtalk",
        "cutoff",
        "backchannel",
        "dead_air",
        "raised_voice",
        "agitated_pitch",
        "flat_pitch",
        "filler_cluster",
    }
)
TIMED_EVENTS = frozenset({"pace", "long_monologue"})
# A mono recording split into two voices: who talked over whom is lost in the split.
OVERLAP_EVENTS = frozenset({"trainee_overtalk", "cutoff", "backchannel"})
OVERLAP_FIGURES = (
    "overtalk_count",
    "overtalk_by_trainee",
    "overtalk_s",
    "interruptions",
    "interruptions_s",
)
NO_AUDIO = "needs the call audio, and a written transcript has none"
NO_TIMES = "needs how long each turn took, and this transcript does not say"
NO_OVERLAP = "needs both voices apart while they overlap, and a mono recording mixes them"


def left_out_why(measured: Measured, c: Criterion) -> str | None:
    """Why the source cannot show criterion ``c`` (None when it can)."""
    if not measured.audio and c.event in AUDIO_EVENTS:
        return NO_AUDIO
    if not measured.timed and (c.event in TIMED_EVENTS or c.metric == "talk_ratio"):
        return NO_TIMES
    if not measured.overlap and c.event in OVERLAP_EVENTS:
        return NO_OVERLAP
    return None


@dataclass
class CallView:
    """Everything the finders read, derived once from the events."""

    events: list[Event]
    rubric: Rubric
    utterances: list[Utterance]
    customer: list[tuple[Event, set[str]]]  # customer lines and the moves found in them
    voices: list[UtteranceVoice] | None
    end_state: str | None
    moods: list[dict]
    engaged: bool = True  # the trainee's words made a move (see ``build_view``)
    measured: Measured = field(default_factory=lambda: Measured())  # what the source shows

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.type == kind]

    @cached_property
    def questions(self) -> list[tuple[Reply, float, float]]:
        """The customer's questions the trainee replied to (``customer_questions``), once."""
        return customer_questions(self)


def build_view(
    events: list[Event], rubric: Rubric, persona: Persona | None, trainee_audio: np.ndarray | None
) -> CallView:
    lib = rubric.library
    extra = persona.complaint_terms if persona else []
    customer_said: list[str] = []
    customer: list[tuple[Event, set[str]]] = []
    utts: list[Utterance] = []
    turn = 0
    timeline = sorted(
        (e for e in events if e.type in (FINAL, CUSTOMER_LINE_START)),
        key=lambda e: (e.t, e.type != CUSTOMER_LINE_START),
    )
    for ev in timeline:
        if ev.type == CUSTOMER_LINE_START or ev.get("who", "trainee") == "customer":
            text = ev.get("text") or ""
            customer_said.append(text)
            customer.append((ev, lib.customer_moves(text)))
            turn += 1
            continue
        words = ev.get("words") or []
        if words:
            tokens, times = [w["w"] for w in words], [(w["start"], w["end"]) for w in words]
        else:
            tokens, times = (ev.get("text") or "").split(), None
        ctx = Context.from_text(*customer_said, extra_terms=extra)
        utts.append(Utterance(ev, turn, lib.detect(tokens, times, ctx)))
    voices = None
    if trainee_audio is not None and trainee_audio.size:
        voices = utterance_voices(trainee_audio, [u.event.to_dict() for u in utts])
    end = next((e for e in events if e.type == CALL_END), None)
    moods = [
        {"t": round(e.t, 2), "mood": e["mood"], "reason": e.get("reason")}
        for e in events
        if e.type == MOOD
    ]
    # A clean record needs a call: words that make no move at all ("I don't know", "can't
    # say", "okay") earn no credit for the mistakes they never made.
    engaged = any(h.move in MOVES and h.move != "backchannel" for u in utts for h in u.hits)
    return CallView(
        events,
        rubric,
        utts,
        customer,
        voices,
        end.get("end_state") if end else None,
        moods,
        engaged,
        Measured.of(events),
    )


# -- finders: criterion -> evidence (points are assigned afterwards) ---------------------------
Finder = Callable[[CallView, Criterion], list[Evidence]]


def _ev(c: Criterion, words: str, start: float | None, end: float | None, rule: str) -> Evidence:
    return Evidence(c.id, 0.0, words, start, end, rule)


def _detector_hits(view: CallView, c: Criterion) -> list[Evidence]:
    excused = {u.turn for u in view.utterances if any(h.move in c.unless for h in u.hits)}
    detectors = view.rubric.library.detectors
    found = []
    for u in view.utterances:
        if u.turn in excused:
            continue
        for h in u.hits:
            if h.move in c.detectors:
                start = h.start if h.start is not None else u.start
                end = h.end if h.end is not None else u.end
                said = detectors[h.move].description.rstrip(".") if h.move in detectors else ""
                said = said[:1].lower() + said[1:]
                rule = f"{h.move}: {said}; {h.rule}" if said else f"{h.move}: {h.rule}"
                found.append(_ev(c, h.words, start, end, rule))
    return found


def _said_during(view: CallView, start: float, end: float) -> str:
    texts = [u.text for u in view.utterances if u.start < end and u.end > start]
    return " ".join(t for t in texts if t).strip()


def interruptions(view: CallView) -> list[tuple[Event, str]]:
    """The trainee talking over the customer, with what they said: every overtalk by the
    trainee except a backchannel ("mm-hmm" over the customer is listening, not interrupting).
    The criterion's hits and the call's figure both come from here."""
    th, lib = view.rubric.thresholds, view.rubric.library
    found = []
    for ev in view.of(OVERTALK):
        if ev.get("by") != "trainee":
            continue
        said = _said_during(view, ev.t, ev["end"])
        if not (said and lib.is_backchannel(said, th.backchannel_max_words)):
            found.append((ev, said))
    return found


def _trainee_overtalk(view: CallView, c: Criterion) -> list[Evidence]:
    return [
        _ev(
            c,
            said or "(speech)",
            ev.t,
            ev["end"],
            f"talked over the customer for {ev['duration']:.1f} s",
        )
        for ev, said in interruptions(view)
    ]


def _cutoff(view: CallView, c: Criterion) -> list[Evidence]:
    return [
        _ev(
            c,
            _said_during(view, e.t - 1.0, e.t + 1.0) or "(speech)",
            e.t,
            e.t,
            "the customer stopped mid-sentence because the trainee started talking",
        )
        for e in view.of(CUSTOMER_LINE_END)
        if e.get("cut")
    ]


def listening_signal(text: str, lib: DetectorLibrary, max_words: int) -> bool:
    """A backchannel that shows listening ("mm-hmm", "right"), never a question: "Right?" or
    "Okay?" checks with the customer, it does not tell them you are listening."""
    return lib.is_backchannel(text, max_words) and not text.rstrip().endswith("?")


def _backchannel(view: CallView, c: Criterion) -> list[Evidence]:
    lib, th = view.rubric.library, view.rubric.thresholds
    playing = [(e.t, e.get("end", e.t)) for e in view.of(CUSTOMER_LINE_START)]
    # "Okay, okay. What's the order number?" over the customer opens an interruption: the
    # "okay" in it is no listening signal.
    grabs = [
        (e.t, e["end"])
        for e in view.of(OVERTALK)
        if e.get("by") == "trainee"
        and not lib.is_backchannel(_said_during(view, e.t, e["end"]), th.backchannel_max_words)
    ]
    return [
        _ev(c, u.text, u.start, u.end, "a listening signal while the customer talked")
        for u in view.utterances
        if listening_signal(u.text, lib, th.backchannel_max_words)
        and any(a <= u.start < b for a, b in playing)
        and not any(a - 0.05 <= u.start < b for a, b in grabs)
    ]


def dead_airs(view: CallView) -> list[Event]:
    """Silences after the customer of at least ``dead_air_s`` that the trainee did not
    announce ("one moment while I check"): the criterion's hits and the call's figure."""
    th = view.rubric.thresholds
    found = []
    for ev in view.of(SILENCE):
        if ev["duration"] < th.dead_air_s:
            continue
        before = [u for u in view.utterances if u.end <= ev.t + 0.01 and u.end > ev.t - 30]
        if before and any(h.move == "hold" for h in before[-1].hits):
            continue
        found.append(ev)
    return found


def _dead_air(view: CallView, c: Criterion) -> list[Evidence]:
    return [
        _ev(
            c,
            "(silence)",
            ev.t,
            ev["end"],
            f"{ev['duration']:.1f} s of dead air after the customer",
        )
        for ev in dead_airs(view)
    ]


def _unanswered(view: CallView, c: Criterion) -> list[Evidence]:
    return [
        _ev(
            c,
            reply.words,
            start,
            end,
            f"the customer asked {reply.question.text!r} and the reply did not answer it",
        )
        for reply, start, end in view.questions
        if reply.verdict == UNANSWERED
    ]


def customer_questions(view: CallView) -> list[tuple[Reply, float, float]]:
    """Each trainee turn that met an open customer question, with the verdict and the times
    of its deciding words (``answers.QuestionTracker``, as the persona engine reads them)."""
    tracker = QuestionTracker()
    out = []
    for k, (line, _) in enumerate(view.customer):
        tracker.customer_said(line.get("text") or "")
        turn = [u for u in view.utterances if u.turn == k + 1]
        words, times, hits = [], [], []
        for u in turn:
            ws = u.event.get("words") or []
            own = [w["w"] for w in ws] if ws else u.text.split()
            base = len(words)
            words += own
            times += [(w["start"], w["end"]) for w in ws] if ws else [(u.start, u.end)] * len(own)
            hits += [
                replace(h, first_word=h.first_word + base, last_word=h.last_word + base)
                for h in u.hits
            ]
        reply = tracker.trainee_said(words, hits)
        if reply is not None:
            out.append((reply, times[reply.first_word][0], times[reply.last_word][1]))
    return out


def _long_monologue(view: CallView, c: Criterion) -> list[Evidence]:
    limit = view.rubric.thresholds.monologue_s
    found = []
    for turn in sorted({u.turn for u in view.utterances}):
        us = [u for u in view.utterances if u.turn == turn]
        span = us[-1].end - us[0].start
        if span > limit:
            found.append(
                _ev(
                    c,
                    us[0].text[:60],
                    us[0].start,
                    us[-1].end,
                    f"talked for {span:.0f} s without letting the customer in (limit {limit:g} s)",
                )
            )
    return found


def _voice_findings(view: CallView, c: Criterion) -> list[Evidence]:
    """raised_voice, agitated_pitch, flat_pitch, filler_cluster: against the trainee's baseline."""
    th = view.rubric.thresholds
    voices = view.voices or []
    found = []
    loud = baseline([v.loudness_lufs for v in voices])
    pitch = baseline([v.pitch_median_hz for v in voices])
    for v in voices:
        if c.event == "raised_voice" and loud is not None and v.loudness_lufs is not None:
            if v.loudness_lufs - loud >= th.raised_voice_lu:
                found.append(
                    _ev(
                        c,
                        v.text,
                        v.start,
                        v.end,
                        f"{v.loudness_lufs - loud:+.1f} LU louder "
                        f"than the trainee's own level ({loud:.1f} LUFS)",
                    )
                )
        elif c.event == "agitated_pitch" and pitch and v.pitch_median_hz:
            st = 12 * np.log2(v.pitch_median_hz / pitch)
            if st >= th.agitated_pitch_st:
                found.append(
                    _ev(
                        c,
                        v.text,
                        v.start,
                        v.end,
                        f"pitch {st:+.1f} semitones above the trainee's own ({pitch:.0f} Hz)",
                    )
                )
        elif c.event == "flat_pitch" and v.pitch_range_st is not None and v.end - v.start >= 2.0:
            if v.pitch_range_st < th.flat_pitch_st:
                found.append(
                    _ev(
                        c,
                        v.text,
                        v.start,
                        v.end,
                        f"monotone: pitch varies only {v.pitch_range_st:.1f} semitones",
                    )
                )
        elif c.event == "filler_cluster" and len(v.fillers) >= th.filler_cluster:
            found.append(
                _ev(
                    c,
                    v.text,
                    v.start,
                    v.end,
                    f"{len(v.fillers)} fillers in one breath ({', '.join(v.fillers)})",
                )
            )
    return found


MIN_PACE_WORDS = 12  # fewer words than this in a turn are too few to judge its pace


@dataclass
class TurnPace:
    """One trainee turn's pace: its words over the time from its first word to its last."""

    turn: int
    words: int
    start: float
    end: float
    text: str

    @property
    def wpm(self) -> int:
        """Words per minute, rounded as every view shows it (and as it is judged)."""
        span = self.end - self.start
        return round(60 * self.words / span) if span > 0 else 0


def turn_paces(view: CallView) -> list[TurnPace]:
    """Each trainee turn with a measurable duration: word times when the transcript has them,
    else the utterances' own start and end (a transcript with timestamps)."""
    out = []
    for turn in sorted({u.turn for u in view.utterances}):
        said = [u for u in view.utterances if u.turn == turn and u.text]
        words = [w for u in said for w in (u.event.get("words") or [])]
        if words:
            n, start, end = len(words), float(words[0]["start"]), float(words[-1]["end"])
        elif said:
            n, start, end = sum(len(u.text.split()) for u in said), said[0].start, said[-1].end
        else:
            continue
        if end > start:
            text = " ".join(u.text for u in said)
            out.append(TurnPace(turn, n, start, end, text))
    return out


def pace_figures(view: CallView) -> tuple[dict, list[TurnPace], bool]:
    """The call's pace, once, for the criterion and every view: the words per minute over all
    timed turns, the turns long enough to judge, those outside ``wpm_range``, and whether the
    call as a whole is outside it with no judged turn to show for it (short turns only)."""
    lo, hi = view.rubric.thresholds.wpm_range
    turns = turn_paces(view)
    words = sum(t.words for t in turns)
    span = sum(t.end - t.start for t in turns)
    wpm = round(60 * words / span) if span > 0 else None
    judged = [t for t in turns if t.words >= MIN_PACE_WORDS]
    fast = [t for t in judged if t.wpm > hi]
    slow = [t for t in judged if t.wpm < lo]
    whole = (
        wpm is not None and words >= MIN_PACE_WORDS and not lo <= wpm <= hi and not (fast or slow)
    )
    figure = {
        "wpm": wpm,
        "range": [lo, hi],
        "turns_judged": len(judged),
        "too_fast": len(fast) + (1 if whole and wpm > hi else 0),
        "too_slow": len(slow) + (1 if whole and wpm < lo else 0),
        "whole_call": whole,
    }
    return figure, sorted(fast + slow, key=lambda t: t.start), whole


def _pace(view: CallView, c: Criterion) -> list[Evidence]:
    lo, hi = view.rubric.thresholds.wpm_range
    figure, outside, whole = pace_figures(view)

    def rule(wpm: int, words: int, span: float, what: str) -> str:
        return (
            f"{wpm} words per minute{what}, {'too fast' if wpm > hi else 'too slow'} "
            f"({words} words in {span:.1f} s; aim for {lo:g}-{hi:g})"
        )

    found = [
        _ev(c, _clip(t.text), t.start, t.end, rule(t.wpm, t.words, t.end - t.start, ""))
        for t in outside
    ]
    if whole:
        turns = turn_paces(view)
        words = sum(t.words for t in turns)
        span = sum(t.end - t.start for t in turns)
        found.append(
            _ev(
                c,
                _clip(" ".join(t.text for t in turns)),
                turns[0].start,
                turns[-1].end,
                rule(figure["wpm"], words, span, " over the call"),
            )
        )
    return found


def _clip(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 3].rstrip() + "..."


def talk_share(stats: dict, thresholds: Thresholds) -> tuple[int, bool]:
    """The trainee's share of the talk as a whole percentage (the figure every view shows)
    and whether it is within ``talk_ratio``: judged on the shown figure, so "30%" never fails
    a 30-60 % range."""
    pct = round(100 * stats["talk_ratio"])
    lo, hi = thresholds.talk_ratio
    return pct, round(100 * lo) <= pct <= round(100 * hi)


def _talk_ratio(view: CallView, c: Criterion) -> list[Evidence]:
    stats = call_stats(view.events)
    lo, hi = view.rubric.thresholds.talk_ratio
    if stats["trainee_talk_s"] + stats["customer_talk_s"] == 0:
        return []
    pct, ok = talk_share(stats, view.rubric.thresholds)
    span = f"{100 * lo:.0f}-{100 * hi:.0f}%"
    return (
        [_ev(c, f"trainee {pct}% of the talk", 0.0, stats["duration_s"], f"{pct}% within {span}")]
        if ok
        else []
    )


def call_figures(view: CallView) -> dict:
    """The figures a person reads beside the scorecard, computed once with the criteria's own
    rules: pace, the talk share, interruptions and dead air (``stats`` in scorecard.json; the
    terminal, the report and the lab show these and never compute their own)."""
    th = view.rubric.thresholds
    stats = call_stats(view.events)
    pace, _, _ = pace_figures(view)
    pct, ok = talk_share(stats, th)
    cut = interruptions(view)
    dead = dead_airs(view)
    return {
        "words_per_minute": pace["wpm"],
        "pace": pace,
        "talk_pct": pct,
        "talk_range_pct": [round(100 * th.talk_ratio[0]), round(100 * th.talk_ratio[1])],
        "talk_within": ok,
        "interruptions": len(cut),
        "interruptions_s": round(sum(float(ev["duration"]) for ev, _ in cut), 1),
        "dead_air": len(dead),
        "dead_air_min_s": th.dead_air_s,
    }


def _order(view: CallView, c: Criterion) -> list[Evidence]:
    """Person before issue: a `before` move precedes the first `first` move."""
    before = [
        (h.start if h.start is not None else u.start, h, u)
        for u in view.utterances
        for h in u.hits
        if h.move in c.before
    ]
    first = [
        (h.start if h.start is not None else u.start, h, u)
        for u in view.utterances
        for h in u.hits
        if h.move in c.first
    ]
    if not first:
        return []
    t_first = min(t for t, _, _ in first)
    earlier = [x for x in before if x[0] <= t_first]
    if not earlier:
        return []
    t, h, _ = min(earlier, key=lambda x: x[0])
    return [
        _ev(
            c,
            h.words,
            t,
            t_first,
            f"{h.move} ({h.words!r}) came before the first {', '.join(c.first)}",
        )
    ]


def _outcome(view: CallView, c: Criterion) -> list[Evidence]:
    end = next((e for e in view.events if e.type == CALL_END), None)
    t = end.t if end else None
    if c.outcome == "resolved":
        return (
            [_ev(c, "call resolved", t, t, "the customer ended the call satisfied")]
            if view.end_state == "resolved"
            else []
        )
    if c.outcome == "mood_improved" and len(view.moods) >= 2:
        first, last = view.moods[0]["mood"], view.moods[-1]["mood"]
        if last < first:
            return [
                _ev(
                    c,
                    f"mood {first:.2f} -> {last:.2f}",
                    view.moods[0]["t"],
                    view.moods[-1]["t"],
                    "the customer ended calmer than they started",
                )
            ]
    return []


EVENT_FINDERS: dict[str, Finder] = {
    "trainee_overtalk": _trainee_overtalk,
    "cutoff": _cutoff,
    "backchannel": _backchannel,
    "dead_air": _dead_air,
    "long_monologue": _long_monologue,
    "raised_voice": _voice_findings,
    "agitated_pitch": _voice_findings,
    "flat_pitch": _voice_findings,
    "filler_cluster": _voice_findings,
    "pace": _pace,
    "unanswered_question": _unanswered,
}


def _applies(view: CallView, c: Criterion) -> bool:
    if c.kind == "penalty" and c.event != "dead_air" and not any(u.text for u in view.utterances):
        return False  # nothing said, nothing to judge: silence must not earn "never blames"
    if (
        c.event in ("raised_voice", "agitated_pitch", "flat_pitch", "filler_cluster")
        and view.voices is None
    ):
        return False  # no audio to judge the voice by
    if c.order and not any(h.move in c.first for u in view.utterances for h in u.hits):
        return False  # nothing was offered, so nothing came first
    if c.event == "unanswered_question" and not view.questions:
        return False  # the customer asked nothing the trainee then replied to
    if c.outcome == "resolved" and view.end_state in (None, "recorded"):
        return False  # a recording has no persona end state
    if c.outcome == "mood_improved" and len(view.moods) < 2:
        return False  # no mood was tracked (a recording)
    when = c.when or {}
    if "customer_said" in when and not any(
        set(when["customer_said"]) & moves for _, moves in view.customer
    ):
        return False
    if "trainee_said" in when and not any(
        h.move in when["trainee_said"] for u in view.utterances for h in u.hits
    ):
        return False
    if "end_state" in when and view.end_state not in when["end_state"]:
        return False
    return True


def _score(c: Criterion, view: CallView) -> CriterionScore:
    if left_out_why(view.measured, c) or not _applies(view, c):
        return CriterionScore(
            c.id, c.description, c.kind, 0.0, 0.0, 0, [], applies=False, label=c.label
        )
    if c.detectors:
        found = _detector_hits(view, c)
    elif c.event:
        found = EVENT_FINDERS[c.event](view, c)
    elif c.metric == "talk_ratio":
        found = _talk_ratio(view, c)
    elif c.order:
        found = _order(view, c)
    else:
        found = _outcome(view, c)
    if c.kind == "penalty" and not found and c.event != "dead_air" and not view.engaged:
        # "I don't know", "can't say": nothing done is not nothing done wrong. A mistake that
        # was made still costs its points.
        return CriterionScore(
            c.id, c.description, c.kind, 0.0, 0.0, 0, [], applies=False, label=c.label
        )
    if c.kind == "reward":
        step, earned = c.points / c.target, 0.0
        for e in found:
            e.points = round(min(step, c.points - earned), 2)
            earned += e.points
    else:
        lost = 0.0
        for e in found:
            e.points = -round(min(c.per_hit, c.points - lost), 2)
            lost -= e.points
        earned = c.points - lost
    return CriterionScore(
        c.id, c.description, c.kind, c.points, round(earned, 2), len(found), found, label=c.label
    )


def _longest_gap(spans: list[tuple[float, float]]) -> float:
    """The longest time between two stretches of speech (either side), i.e. the longest
    silence once the call is under way; dead-air events only report those over the limit."""
    longest, reach = 0.0, None
    for a, b in sorted(spans):
        if reach is not None and a > reach:
            longest = max(longest, a - reach)
        reach = b if reach is None else max(reach, b)
    return longest


def _spans(events: list[Event], start_type: str, end_type: str) -> list[tuple[float, float]]:
    spans, opened = [], None
    for ev in events:
        if ev.type == start_type:
            opened = ev.t
        elif ev.type == end_type and opened is not None:
            spans.append((opened, ev.t))
            opened = None
    return spans


def call_stats(events: list[Event]) -> dict:
    """Plain numbers for the scorecard and the report."""
    end = next((e for e in events if e.type == CALL_END), None)
    duration = end["duration"] if end else max((e.t for e in events), default=0.0)
    trainee = _spans(events, SPEECH_START, SPEECH_END)
    customer = _spans(events, CUSTOMER_LINE_START, CUSTOMER_LINE_END)
    t_talk = sum(b - a for a, b in trainee)
    c_talk = sum(b - a for a, b in customer)
    overtalk = [e for e in events if e.type == OVERTALK]
    silences = [e["duration"] for e in events if e.type == SILENCE]
    n_words = trainee_words(events)
    latencies = []
    for line_end in (e for e in events if e.type == CUSTOMER_LINE_END and not e.get("cut")):
        nxt = next((e.t for e in events if e.type == SPEECH_START and e.t >= line_end.t), None)
        nxt_line = next(
            (e.t for e in events if e.type == CUSTOMER_LINE_START and e.t > line_end.t), None
        )
        if nxt is not None and (nxt_line is None or nxt < nxt_line):
            latencies.append(nxt - line_end.t)
    return {
        "duration_s": round(duration, 2),
        "trainee_talk_s": round(t_talk, 2),
        "customer_talk_s": round(c_talk, 2),
        "talk_ratio": round(t_talk / (t_talk + c_talk), 3) if t_talk + c_talk else 0.0,
        "overtalk_count": len(overtalk),
        "overtalk_by_trainee": sum(1 for e in overtalk if e.get("by") == "trainee"),
        "overtalk_s": round(sum(e["duration"] for e in overtalk), 2),
        "longest_silence_s": round(max([*silences, _longest_gap(trainee + customer)]), 2),
        "trainee_words": n_words,
        "response_latency_median_s": round(float(np.median(latencies)), 2) if latencies else None,
    }


# -- from criteria to the verdict: one place, used by the scorer and by every reviewer ----------
def family_score(earned: float, points: float) -> float | None:
    """100 x earned / possible over the criteria that apply; None when none applies."""
    return 100.0 * earned / points if points else None


def overall_score(families: Iterable[tuple[float | None, float]]) -> float | None:
    """The weighted mean of the families that apply, ``(score or None, weight)`` each; None
    when no family applies (a left-out family never counts, neither as 0 nor as 100)."""
    counted = [(s, w) for s, w in families if s is not None]
    weight = sum(w for _, w in counted)
    return round(sum(s * w for s, w in counted) / weight, 1) if weight else None


def passes(overall: float | None, pass_mark: float, scorable: bool = True) -> bool:
    """The pass decision: a scorable call at or above the pass mark."""
    return bool(scorable) and overall is not None and overall >= pass_mark


def card_passes(card: dict, pass_mark: float | None = None) -> bool:
    """The pass decision for a stored scorecard (``scorecard.json`` as a dict), against
    ``pass_mark`` (a drill's) or the card's own: what the lab calls for a drill attempt, so a
    call that is not scorable is never a pass whatever its number."""
    mark = card.get("pass_mark") if pass_mark is None else pass_mark
    overall = card.get("overall")
    if not isinstance(overall, int | float) or not isinstance(mark, int | float):
        return False
    return passes(float(overall), float(mark), card.get("scorable", True) is not False)


def trainee_words(events: Iterable[Event]) -> int:
    """Words the trainee said (final transcripts)."""
    return sum(
        len(e.get("words") or (e.get("text") or "").split())
        for e in events
        if e.type == FINAL and e.get("who", "trainee") == "trainee"
    )


def not_scorable_reason(events: list[Event], rubric: Rubric) -> str | None:
    """Why the call cannot be judged, or None: too few trainee words for any criterion to
    mean anything (silence, a call cut off after the customer's opening)."""
    need, said = rubric.thresholds.min_trainee_words, trainee_words(events)
    if said < need:
        got = "nothing" if said == 0 else f"only {said} word{'s' if said != 1 else ''}"
        return f"the trainee said {got}; at least {need} are needed to judge a call"
    return None


def grade_call(
    events: Iterable[Event],
    rubric: Rubric,
    persona: Persona | None = None,
    trainee_audio: np.ndarray | None = None,
) -> tuple[Scorecard, CallView]:
    """Score a call, without coaching (``grade.score_call`` adds it), and the view it was
    scored from. ``trainee_audio`` (16 kHz mono, call clock) enables tone-of-voice criteria."""
    events = list(events)
    view = build_view(events, rubric, persona, trainee_audio)
    families, scores = [], []
    for fam in rubric.families:
        crits = [_score(c, view) for c in fam.criteria]
        score = family_score(sum(c.earned for c in crits), sum(c.points for c in crits))
        scores.append((score, fam.weight))
        families.append(
            FamilyScore(
                fam.id, fam.name, fam.weight, round(score or 0.0, 1), crits, score is not None
            )
        )
    overall = overall_score(scores)
    # A few words can still be judged when they were a mistake ("Calm down, sir. There's no
    # need to shout." and the customer hangs up): too little to judge is too little to fault.
    faulted = {
        c.id for fam in rubric.families for c in fam.criteria if c.kind == "penalty" and c.detectors
    }
    said_wrong = any(c.id in faulted and c.hits for f in families for c in f.criteria)
    why = None if said_wrong else not_scorable_reason(events, rubric)
    if why is None and overall is None:
        why = "no criterion of the rubric applies to this call"
    overall = 0.0 if why else overall
    if why:  # too little to judge: no family has a score to show, anywhere
        for fam in families:
            fam.score, fam.applies = 0.0, False
    card = Scorecard(
        rubric={"id": rubric.id, "version": rubric.version, "name": rubric.name},
        persona={"id": persona.id, "version": persona.version, "name": persona.name}
        if persona
        else None,
        overall=overall,
        pass_mark=rubric.pass_mark,
        passed=passes(overall, rubric.pass_mark, why is None),
        families=families,
        outcome={
            "end_state": view.end_state,
            "final_mood": view.moods[-1]["mood"] if view.moods else None,
            "mood": view.moods,
        },
        stats=view.measured.only({**call_stats(events), **call_figures(view)}),
        voice=[v.to_dict() for v in view.voices or []],
        scorable=why is None,
        not_scorable=why,
        left_out=[
            {"criterion": c.id, "label": c.label or c.id, "why": reason}
            for fam in rubric.families
            for c in fam.criteria
            if (reason := left_out_why(view.measured, c))
        ],
    )
    return card, view
