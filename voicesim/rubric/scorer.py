"""Scoring a call from its timeline: every point won or lost carries its evidence.

The scorer reads only events (the same ones in ``events.jsonl``), so a live drill, a simulated
call and a recorded call are scored by one code path.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

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
from ..persona.persona import Persona
from .detectors import Context, Hit
from .rubric import Criterion, Rubric

SCORECARD_FORMAT = 1


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
    points: float
    earned: float
    hits: int
    evidence: list[Evidence] = field(default_factory=list)


@dataclass
class FamilyScore:
    id: str
    name: str
    weight: float
    score: float  # 0..100
    criteria: list[CriterionScore]


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

    def to_dict(self) -> dict:
        return {"format": SCORECARD_FORMAT, **asdict(self)}

    def family(self, fid: str) -> FamilyScore:
        return next(f for f in self.families if f.id == fid)


@dataclass
class _Utterance:
    event: Event
    turn: int
    context: Context
    hits: list[Hit]


def _utterances(events: list[Event], rubric: Rubric, persona: Persona | None) -> list[_Utterance]:
    customer_said: list[str] = []
    extra = persona.complaint_terms if persona else []
    turn = 0
    out: list[_Utterance] = []
    timeline = sorted(
        (e for e in events if e.type in (FINAL, CUSTOMER_LINE_START)),
        key=lambda e: (e.t, e.type != CUSTOMER_LINE_START),
    )
    for ev in timeline:
        if ev.type == CUSTOMER_LINE_START:
            customer_said.append(ev.get("text", ""))
            turn += 1
            continue
        if ev.get("who", "trainee") != "trainee":
            continue
        words = ev.get("words") or []
        if words:
            tokens = [w["w"] for w in words]
            times = [(w["start"], w["end"]) for w in words]
        else:
            tokens, times = ev.get("text", "").split(), None
        ctx = Context.from_text(*customer_said, extra_terms=extra)
        hits = rubric.library.detect(tokens, times, ctx)
        out.append(_Utterance(ev, turn, ctx, hits))
    return out


def _criterion(
    c: Criterion, utts: list[_Utterance], events: list[Event], rubric: Rubric
) -> CriterionScore:
    found: list[Evidence] = []
    if c.detectors:
        blocked_turns = {u.turn for u in utts if any(h.move in c.unless for h in u.hits)}
        for u in utts:
            if u.turn in blocked_turns:
                continue
            for h in u.hits:
                if h.move in c.detectors:
                    start = h.start if h.start is not None else u.event.t
                    end = h.end if h.end is not None else u.event.get("end", u.event.t)
                    found.append(Evidence(c.id, 0.0, h.words, start, end, f"{h.move}: {h.rule}"))
    elif c.event == "trainee_overtalk":
        for ev in events:
            if ev.type != OVERTALK or ev.get("by") != "trainee":
                continue
            said = _said_during(utts, ev.t, ev["end"])
            if said and rubric.library.is_backchannel(
                said, rubric.thresholds.backchannel_max_words
            ):
                continue  # "mm-hmm" over the customer is listening, not interrupting
            found.append(
                Evidence(
                    c.id,
                    0.0,
                    said or "(speech)",
                    ev.t,
                    ev["end"],
                    f"talked over the customer for {ev['duration']:.1f} s",
                )
            )
    elif c.event == "dead_air":
        for ev in events:
            if ev.type == SILENCE and ev["duration"] >= rubric.thresholds.dead_air_s:
                found.append(
                    Evidence(
                        c.id,
                        0.0,
                        "(silence)",
                        ev.t,
                        ev["end"],
                        f"{ev['duration']:.1f} s of dead air after the customer",
                    )
                )
    if c.kind == "reward":
        step = c.points / c.target
        earned = 0.0
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
        c.id, c.description, c.kind, c.points, round(earned, 2), len(found), found
    )


def _said_during(utts: list[_Utterance], start: float, end: float) -> str:
    texts = [
        u.event.get("text", "")
        for u in utts
        if u.event.t < end and u.event.get("end", u.event.t) > start
    ]
    return " ".join(t for t in texts if t).strip()


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
    n_words = sum(
        len(e.get("words") or e.get("text", "").split())
        for e in events
        if e.type == FINAL and e.get("who", "trainee") == "trainee"
    )
    return {
        "duration_s": round(duration, 2),
        "trainee_talk_s": round(t_talk, 2),
        "customer_talk_s": round(c_talk, 2),
        "talk_ratio": round(t_talk / (t_talk + c_talk), 3) if t_talk + c_talk else 0.0,
        "overtalk_count": len(overtalk),
        "overtalk_by_trainee": sum(1 for e in overtalk if e.get("by") == "trainee"),
        "overtalk_s": round(sum(e["duration"] for e in overtalk), 2),
        "longest_silence_s": round(max(silences, default=0.0), 2),
        "trainee_words": n_words,
        "words_per_minute": round(60 * n_words / t_talk, 1) if t_talk else 0.0,
    }


def score_call(
    events: Iterable[Event], rubric: Rubric, persona: Persona | None = None
) -> Scorecard:
    events = list(events)
    utts = _utterances(events, rubric, persona)
    families = []
    for fam in rubric.families:
        crits = [_criterion(c, utts, events, rubric) for c in fam.criteria]
        total = sum(c.points for c in crits)
        score = 100.0 * sum(c.earned for c in crits) / total if total else 0.0
        families.append(FamilyScore(fam.id, fam.name, fam.weight, round(score, 1), crits))
    weight = sum(f.weight for f in families)
    overall = round(sum(f.score * f.weight for f in families) / weight, 1) if weight else 0.0
    moods = [
        {"t": round(e.t, 2), "mood": e["mood"], "reason": e.get("reason")}
        for e in events
        if e.type == MOOD
    ]
    end = next((e for e in events if e.type == CALL_END), None)
    return Scorecard(
        rubric={"id": rubric.id, "version": rubric.version, "name": rubric.name},
        persona={"id": persona.id, "version": persona.version, "name": persona.name}
        if persona
        else None,
        overall=overall,
        pass_mark=rubric.pass_mark,
        passed=overall >= rubric.pass_mark,
        families=families,
        outcome={
            "end_state": end.get("end_state") if end else None,
            "final_mood": moods[-1]["mood"] if moods else None,
            "mood": moods,
        },
        stats=call_stats(events),
    )
