"""Coaching after a call: the few things to work on first, each with its moment and better wording.

A scorecard says what scored; a trainee needs to know what to do next. From the scored criteria
this picks the three behaviours that cost the most overall points (an outcome such as "resolved"
follows from the others, so it is never one of them), favouring those the persona's lesson is
about (a persona is written to teach one thing), and for each finds the moment in the call it is
about (what the customer said, what the trainee said) and an example of better wording from the
rubric. The result is stored in scorecard.json (``coaching``) so the terminal, the report and the
lab all show the same advice.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .rubric import Criterion, Rubric
    from .scorer import CallView, CriterionScore, Persona, Scorecard, Utterance

FOCUS = 3  # how many things to work on first
LESSON_BOOST = 1.5  # a criterion the lesson is about weighs this much more when choosing
SILENT = "(said nothing)"

# What a lesson says when it is about a move, an event or an outcome (regular expressions over
# the lesson's lower-cased text). A clause with "never", "don't", "without" ... names what to
# avoid: it points at penalty criteria; other clauses point at reward criteria.
LESSON_CUES: dict[str, str] = {
    "apology": r"apologi[sz]e|\bsorry\b",
    "empathy": r"empath|\bfeel|acknowledge how",
    "reflect": r"acknowledge|reflect|listen|restate|find out what",
    "ownership": r"\bown\b|ownership",
    "open_question": r"open question|find out|check the",
    "solution": r"\bfix\b|solution|resolve|put it right|\bplan\b",
    "alternative": r"alternative",
    "timeframe": r"\btime\b|time frame|\bdate\b|\bwhen\b",
    "policy": r"\bpolicy\b",
    "boundary": r"boundary|abusive|hold the line",
    "escalation": r"manager|escalat",
    "summary": r"summar|next step|recap",
    "follow_up": r"follow-up|follow up|call back|who, when",
    "blame": r"\bblame",
    "dismissal": r"fob|brush|dismiss|stonewall|hand them off",
    "condescension": r"talk down|patroni[sz]",
    "defensiveness": r"argue|defend|excuse",
    "refusal": r"refusal|stonewall",
    "sarcasm": r"sarcas|matching it",
    "profanity": r"swear|matching it",
    "empty_promise": r"promise",
    "trainee_overtalk": r"interrupt|talk over|over them",
    "cutoff": r"interrupt|cut .* off|over them",
    "raised_voice": r"\bcalm\b",
    "agitated_pitch": r"\bcalm\b",
    "long_monologue": r"brief|over-explain|short",
    "dead_air": r"silence",
    "unanswered_question": r"answer|question|what happens",
    "backchannel": r"listen",
    "person_first": r"person before|first|before any",
    "resolved": r"resolve|\bfix\b",
    "mood_improved": r"\bcalm\b",
}
_NEGATIVE = re.compile(r"\b(never|don't|do not|without|instead of|not)\b")
_END_MOVES = {"summary", "follow_up", "closing"}


def lesson_criteria(lesson: str, rubric: Rubric) -> set[str]:
    """The ids of the criteria a persona's lesson is about."""
    clauses = [c.strip() for c in re.split(r"[,;.()]| then ", lesson.lower()) if c.strip()]
    out = set()
    for fam in rubric.families:
        for c in fam.criteria:
            for clause in clauses:
                if (c.kind == "penalty") != bool(_NEGATIVE.search(clause)):
                    continue
                if any(re.search(LESSON_CUES.get(s, r"$^"), clause) for s in _signals(c)):
                    out.add(c.id)
    return out


def _signals(c: Criterion) -> list[str]:
    """What a criterion is about, in LESSON_CUES's terms."""
    out = [*c.detectors, *(x for x in (c.event, c.outcome) if x)]
    if c.order:
        out.append("person_first")
    return out


def _customer_before(view: CallView, t: float) -> str:
    said = [ev.get("text", "") for ev, _ in view.customer if ev.t <= t + 0.05]
    return said[-1] if said else ""


def _reply_to(view: CallView, line: int) -> str:
    """What the trainee said in answer to the customer's ``line``-th line (1-based)."""
    said = " ".join(u.text for u in view.utterances if u.turn == line and u.text).strip()
    return said or SILENT


def _utterance_at(view: CallView, t: float) -> Utterance | None:
    return next((u for u in view.utterances if u.start - 0.05 <= t <= u.end + 0.05), None)


def _moment_at(view: CallView, t: float | None, words: str) -> dict:
    u = _utterance_at(view, t) if t is not None else None
    trainee = u.text if u else (words if words and words != "(silence)" else SILENT)
    return {
        "t": None if t is None else round(t, 2),
        "customer": _customer_before(view, t) if t is not None else "",
        "trainee": trainee,
    }


def _line_moment(view: CallView, index: int) -> dict:
    ev = view.customer[index][0]
    return {
        "t": round(ev.t, 2),
        "customer": ev.get("text", ""),
        "trainee": _reply_to(view, index + 1),
    }


def _first_hit(view: CallView, moves: set[str]) -> Utterance | None:
    return next((u for u in view.utterances if any(h.move in moves for h in u.hits)), None)


def _missed_moment(view: CallView, c: Criterion) -> dict | None:
    """Where a missed reward belonged: the customer line that called for it, or the trainee's
    turn that needed it; the opening when nothing more specific applies."""
    if not view.customer:
        return None
    when = c.when or {}
    if "customer_said" in when:
        wanted = set(when["customer_said"])
        for i, (_, moves) in enumerate(view.customer):
            if wanted & moves:
                return _line_moment(view, i)
    if "trainee_said" in when:
        u = _first_hit(view, set(when["trainee_said"]))
        if u:
            return _moment_at(view, u.start, u.text)
    if c.order or "timeframe" in c.detectors:
        u = _first_hit(view, set(c.first or ["solution", "alternative"]))
        if u:
            return _moment_at(view, u.start, u.text)
    if c.outcome or set(c.detectors) & _END_MOVES:
        return _line_moment(view, len(view.customer) - 1)
    if c.event == "backchannel":
        longest = max(
            range(len(view.customer)),
            key=lambda i: (
                float(view.customer[i][0].get("end", view.customer[i][0].t)) - view.customer[i][0].t
            ),
        )
        return _line_moment(view, longest)
    if c.metric:
        return None  # the whole call, not a moment
    return _line_moment(view, 0)


def _fitting(examples: list[str], persona: Persona | None) -> list[str]:
    """The examples, those that speak of this persona's situation first (a blender example for
    the blender call)."""
    if not persona:
        return list(examples)
    terms = {w.lower() for w in persona.complaint_terms}
    terms |= set(re.findall(r"[a-z]{4,}", persona.summary.lower()))

    def overlap(ex: str) -> int:
        return len(terms & set(re.findall(r"[a-z]+", ex.lower())))

    return sorted(examples, key=lambda ex: -overlap(ex))


def _tip(
    view: CallView,
    c: Criterion,
    s: CriterionScore,
    family: str,
    gain: float,
    lesson: bool,
    persona: Persona | None = None,
) -> dict:
    lost = [e for e in s.evidence if e.points < 0]
    if lost:
        status, moment = "penalised", _moment_at(view, lost[0].start, lost[0].words)
        # a recogniser's hit is explained by the criterion; a measured event by its rule
        why = c.description if c.detectors and c.description else lost[0].rule
        if len(lost) > 1:
            why = f"{why.rstrip('.')} ({len(lost)} times)"
    else:
        status = "partly" if s.earned > 0 else "missed"
        why = c.description
        moment = _missed_moment(view, c)
    return {
        "criterion": c.id,
        "label": c.label,
        "family": family,
        "kind": c.kind,
        "status": status,
        "lost": round(s.points - s.earned, 2),
        "gain": round(gain, 1),
        "lesson": lesson,
        "why": why,
        "moment": moment,
        "examples": _fitting(c.examples, persona),
    }


def coach(card: Scorecard, view: CallView, rubric: Rubric, persona: Persona | None) -> dict:
    """``{"lesson": str, "focus": [tip, ...]}``: up to FOCUS criteria to work on first, most
    overall points (weighted by the lesson) first. Each tip names the criterion (id, label),
    how it went (``missed``, ``partly``, ``penalised``), the overall points it would add, the
    moment (``t``, ``customer``, ``trainee``) and better wording (``examples``)."""
    lesson = persona.lesson if persona else ""
    about = lesson_criteria(lesson, rubric) if lesson else set()
    weights = sum(f.weight for f in card.families) or 1.0
    defs = {c.id: c for fam in rubric.families for c in fam.criteria}
    ranked = []
    for fam in card.families:
        total = sum(c.points for c in fam.criteria)
        if not total:
            continue
        for s in fam.criteria:
            if not s.applies or s.earned >= s.points or s.id not in defs:
                continue
            if defs[s.id].outcome:
                continue  # how the call ended follows from the rest: not a thing to practise
            gain = 100.0 * (s.points - s.earned) / total * fam.weight / weights
            boost = LESSON_BOOST if s.id in about else 1.0
            ranked.append((gain * boost, gain, fam.name, s))
    ranked.sort(key=lambda x: -x[0])
    focus = [
        _tip(view, defs[s.id], s, name, gain, s.id in about, persona)
        for _, gain, name, s in ranked[:FOCUS]
    ]
    return {"lesson": lesson, "focus": focus}
