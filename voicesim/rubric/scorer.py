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
from .coaching import coach
from .detectors import Context, Hit
from .moves import MOVES
from .rubric import Criterion, Rubric

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
        return self.event.get("text", "")


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
            text = ev.get("text", "")
            customer_said.append(text)
            customer.append((ev, lib.customer_moves(text)))
            turn += 1
            continue
        words = ev.get("words") or []
        if words:
            tokens, times = [w["w"] for w in words], [(w["start"], w["end"]) for w in words]
        else:
            tokens, times = ev.get("text", "").split(), None
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


def _trainee_overtalk(view: CallView, c: Criterion) -> list[Evidence]:
    th, lib = view.rubric.thresholds, view.rubric.library
    found = []
    for ev in view.of(OVERTALK):
        if ev.get("by") != "trainee":
            continue
        said = _said_during(view, ev.t, ev["end"])
        if said and lib.is_backchannel(said, th.backchannel_max_words):
            continue  # "mm-hmm" over the customer is listening, not interrupting
        found.append(
            _ev(
                c,
                said or "(speech)",
                ev.t,
                ev["end"],
                f"talked over the customer for {ev['duration']:.1f} s",
            )
        )
    return found


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
        if lib.is_backchannel(u.text, th.backchannel_max_words)
        and any(a <= u.start < b for a, b in playing)
        and not any(a - 0.05 <= u.start < b for a, b in grabs)
    ]


def _dead_air(view: CallView, c: Criterion) -> list[Evidence]:
    th = view.rubric.thresholds
    found = []
    for ev in view.of(SILENCE):
        if ev["duration"] < th.dead_air_s:
            continue
        before = [u for u in view.utterances if u.end <= ev.t + 0.01 and u.end > ev.t - 30]
        if before and any(h.move == "hold" for h in before[-1].hits):
            continue  # the trainee announced the pause ("one moment while I check")
        found.append(
            _ev(
                c,
                "(silence)",
                ev.t,
                ev["end"],
                f"{ev['duration']:.1f} s of dead air after the customer",
            )
        )
    return found


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
        tracker.customer_said(line.get("text", ""))
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


def _pace(view: CallView, c: Criterion) -> list[Evidence]:
    lo, hi = view.rubric.thresholds.wpm_range
    found = []
    for turn in sorted({u.turn for u in view.utterances}):
        said = [u for u in view.utterances if u.turn == turn]
        words = [w for u in said for w in (u.event.get("words") or [])]
        if len(words) < 12:
            continue  # too little speech to judge a pace
        span = words[-1]["end"] - words[0]["start"]
        wpm = 60 * len(words) / span if span > 0 else 0
        if not lo <= wpm <= hi:
            found.append(
                _ev(
                    c,
                    _clip(" ".join(u.text for u in said)),
                    words[0]["start"],
                    words[-1]["end"],
                    f"{wpm:.0f} words per minute, {'too fast' if wpm > hi else 'too slow'} "
                    f"({len(words)} words in {span:.1f} s; aim for {lo:g}-{hi:g})",
                )
            )
    return found


def _clip(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 3].rstrip() + "..."


def _talk_ratio(view: CallView, c: Criterion) -> list[Evidence]:
    stats = call_stats(view.events)
    lo, hi = view.rubric.thresholds.talk_ratio
    r = stats["talk_ratio"]
    if stats["trainee_talk_s"] + stats["customer_talk_s"] == 0:
        return []
    ok = lo <= r <= hi
    return (
        [
            _ev(
                c,
                f"trainee {r:.0%} of the talk",
                0.0,
                stats["duration_s"],
                f"talk ratio {r:.2f} {'within' if ok else 'outside'} {lo:g}-{hi:g}",
            )
        ]
        if ok
        else []
    )


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
    if not _applies(view, c):
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
        "words_per_minute": round(60 * n_words / t_talk, 1) if t_talk else 0.0,
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
        len(e.get("words") or e.get("text", "").split())
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


def score_call(
    events: Iterable[Event],
    rubric: Rubric,
    persona: Persona | None = None,
    trainee_audio: np.ndarray | None = None,
) -> Scorecard:
    """Score a call. ``trainee_audio`` (16 kHz mono, call clock) enables tone-of-voice criteria."""
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
        stats=call_stats(events),
        voice=[v.to_dict() for v in view.voices or []],
        scorable=why is None,
        not_scorable=why,
    )
    card.coaching = coach(card, view, rubric, persona)
    return card
