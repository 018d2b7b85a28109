"""Coaching after a call: the few things to work on first, each with its moment and better wording.

A scorecard says what scored; a trainee needs to know what to do next. From the scored criteria
this picks the behaviours to work on first: harm first (a mistake the customer felt: blame, a
brush-off, sarcasm ... outranks anything missed), then the other mistakes in how the call ran
(talking over them, dead air), then what was missed, most overall points first and favouring
what the persona's lesson is about (a persona is written to teach one thing). An outcome such as
"resolved" follows from the rest, so it is never one of them, and a move the lesson warns
against (open questions to a talkative customer) is never coached as something to do. A
near-perfect call gets praise and at most one refinement. Each tip says why it comes where it
does, finds the moment it is about (what the customer said, what the trainee said, how the
customer took it) and offers better wording about this customer (``wording``). The result is
stored in scorecard.json (``coaching``) so the terminal, the report and the lab all show the
same advice.
"""

from __future__ import annotations

import re
from dataclasses import replace

from .moves import MOVES, NEGATIVE
from .rubric import Criterion, Rubric
from .scorer import CallView, CriterionScore, Evidence, Persona, Scorecard, Utterance
from .wording import Moment, Situation, suggest, target_moves

FOCUS = 3  # how many things to work on first
NEAR_PERFECT = 90.0  # a passed call at or above this, with no harm done: praise, one refinement
PRAISED = 3  # how many things done well a passed call is told about
LESSON_BOOST = 1.5  # a criterion the lesson is about weighs this much more when choosing
SILENT = "(said nothing)"
REACTION_S = 10.0  # the customer's next line within this long after a mistake is their answer
# Why a tip comes where it does, by its priority.
FIRST_BECAUSE = {
    "harm": "First: the customer felt this, and a mistake they hear outranks anything missed.",
    "mistake": "Before what was missed: it happened in this call and cost points.",
    "lesson": "What this customer is here to teach.",
    "missed": "The most points still to gain.",
    "refine": "The one thing to refine in a call that went well.",
}

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
_GOODBYES = {"resolved", "hung_up", "escalated", "time_limit"}  # a customer's last line


def _clauses(lesson: str) -> list[str]:
    return [c.strip() for c in re.split(r"[,;.()]| then ", lesson.lower()) if c.strip()]


def lesson_against(lesson: str) -> set[str]:
    """The moves a lesson warns against that are no mistake elsewhere ("don't feed the story
    with open questions"): never coached as something to do for this customer."""
    out = set()
    for clause in _clauses(lesson):
        if _NEGATIVE.search(clause):
            for move, cue in LESSON_CUES.items():
                if move in MOVES and move not in NEGATIVE and re.search(cue, clause):
                    out.add(move)
    return out


def lesson_criteria(lesson: str, rubric: Rubric) -> set[str]:
    """The ids of the criteria a persona's lesson is about."""
    clauses = _clauses(lesson)
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
    said = [ev.get("text") or "" for ev, _ in view.customer if ev.t <= t + 0.05]
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


def _reaction(view: CallView, after: float) -> str:
    """How the customer took it: their next line, when it came soon after."""
    line = next((ev for ev, _ in view.customer if after < ev.t <= after + REACTION_S), None)
    return (line.get("text") or "") if line is not None else ""


def _line_moment(view: CallView, index: int) -> dict:
    ev = view.customer[index][0]
    return {
        "t": round(ev.t, 2),
        "customer": ev.get("text") or "",
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
        # the customer's last line before their goodbye: where the wrap-up belonged
        said = [i for i, (ev, _) in enumerate(view.customer) if ev.get("reason") not in _GOODBYES]
        return _line_moment(view, said[-1] if said else len(view.customer) - 1)
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


def _priority(c: Criterion, s: CriterionScore) -> str:
    """harm (a penalised move the customer heard), mistake (another penalised behaviour) or
    missed (a reward not earned in full)."""
    if c.kind == "penalty" and any(e.points < 0 for e in s.evidence):
        return "harm" if set(c.detectors) & NEGATIVE else "mistake"
    return "missed"


def _talk(card: Scorecard) -> tuple[int, int, int] | None:
    st = card.stats
    if "talk_pct" not in st:
        return None
    lo, hi = st.get("talk_range_pct") or (0, 100)
    return int(st["talk_pct"]), int(lo), int(hi)


def _tip(
    view: CallView,
    card: Scorecard,
    c: Criterion,
    s: CriterionScore,
    family: str,
    gain: float | None,
    lesson: bool,
    situation: Situation,
    priority: str,
) -> dict:
    lost = [e for e in s.evidence if e.points < 0]
    said = None
    lost_words: list[str] = []
    if lost:
        status, moment = "penalised", _moment_at(view, lost[0].start, lost[0].words)
        # a recogniser's hit is explained by the criterion; a measured event by its rule
        described = bool(c.detectors and c.description)
        why = c.description if described else lost[0].rule
        if s.hits > 1:  # every time it happened, also those beyond the points it could lose
            times = f"{s.hits} times" if described else f"the first of {s.hits} times"
            why = f"{why.rstrip('.')} ({times})"
        said = _utterance_at(view, lost[0].start) if lost[0].start is not None else None
        lost_words = [e.words for e in lost if said and _within(e, said)]
        if priority == "harm":
            end = said.end if said else (lost[0].end or lost[0].start or 0.0)
            reaction = _reaction(view, end)
            if reaction:
                moment["reaction"] = reaction
    else:
        status = "partly" if s.earned > 0 else "missed"
        why = c.description
        moment = _missed_moment(view, c)
        if c.metric == "talk_ratio" and (talk := _talk(card)):
            pct, lo, hi = talk
            side = "above" if pct > hi else "below"
            why = f"{c.description.rstrip('.')}: you had {pct}% of the talk, {side} {lo}-{hi}%."
    question = None
    if c.event == "unanswered_question" and lost:
        asked = next((r.question for r, a, _ in view.questions if a == lost[0].start), None)
        question = (asked.text, asked.kind) if asked else None
    moment_words = Moment(
        customer=(moment or {}).get("customer", ""),
        said=said,
        turn=[u for u in view.utterances if said is not None and u.turn == said.turn],
        lost_words=lost_words,
        question=question,
        talk=_talk(card),
        wpm_range=tuple(view.rubric.thresholds.wpm_range),
    )
    better = suggest(c, view, situation, moment_words)
    examples = better.lines or list(c.examples)
    sources = better.sources or ["rubric"] * len(examples)
    return {
        "criterion": c.id,
        "label": c.label,
        "family": family,
        "kind": c.kind,
        "status": status,
        "lost": round(s.points - s.earned, 2),
        "gain": None if gain is None else round(gain, 1),
        "lesson": lesson,
        "priority": priority,
        "first_because": FIRST_BECAUSE["lesson" if priority == "missed" and lesson else priority],
        "why": why,
        "moment": moment,
        "examples": examples,
        "example_from": sources[0] if sources else "",
        "_from": sources,  # each example's source, until _distinct has picked the first
    }


def _distinct(focus: list[dict]) -> list[dict]:
    """No two tips offer the same line to try: a later tip shows its next line instead."""
    shown: set[str] = set()
    for tip in focus:
        pairs = list(zip(tip["examples"], tip.pop("_from"), strict=True))
        fresh = [p for p in pairs if p[0] not in shown]
        if fresh:
            pairs = [fresh[0], *[p for p in pairs if p is not fresh[0]]]
            shown.add(fresh[0][0])
        tip["examples"] = [x for x, _ in pairs]
        tip["example_from"] = pairs[0][1] if pairs else ""
    return focus


def _warned_against(c: Criterion, situation: Situation) -> bool:
    """Everything ``c`` asks for is a move this persona's lesson warns against."""
    free = replace(situation, against=frozenset())
    wanted = target_moves(c, free, Moment())
    return bool(wanted) and not target_moves(c, situation, Moment())


def _done_otherwise(c: Criterion, situation: Situation, view: CallView) -> bool:
    """The trainee made the move that ``c`` asks of this customer, though not the one the
    rubric counts (an escalation for a customer who accepts only that, not a "solution")."""
    if not c.detectors:
        return False  # timing, the talk ratio, the order of moves: nothing done otherwise
    wanted = set(target_moves(c, situation, Moment())) - set(c.detectors)
    return bool(wanted) and any(h.move in wanted for u in view.utterances for h in u.hits)


def _within(e: Evidence, u: Utterance) -> bool:
    return e.start is not None and u.start - 0.05 <= e.start <= u.end + 0.05


def _praise(card: Scorecard, defs: dict[str, Criterion]) -> list[dict]:
    """What went well, in the trainee's own words: the rewards earned in full, most points
    first (outcomes and the talk ratio have no words of their own)."""
    done = []
    for fam in card.families:
        for s in fam.criteria:
            c = defs.get(s.id)
            if c is None or c.kind != "reward" or c.outcome or c.metric or not s.applies:
                continue
            shown = next((e for e in s.evidence if e.points > 0), None)
            if s.points and s.earned >= s.points and shown is not None:
                done.append(
                    (
                        s.points,
                        {
                            "criterion": s.id,
                            "label": c.label,
                            "words": shown.words,
                            "t": None if shown.start is None else round(shown.start, 2),
                        },
                    )
                )
    done.sort(key=lambda x: -x[0])
    return [d for _, d in done[:PRAISED]]


def coach(card: Scorecard, view: CallView, rubric: Rubric, persona: Persona | None) -> dict:
    """``{"lesson", "focus": [tip, ...], "praise": [...], "near_perfect": bool}``: up to FOCUS
    criteria to work on first, harm first (see the module's docstring). Each tip names the
    criterion (id, label), how it went (``missed``, ``partly``, ``penalised``), why it comes
    where it does (``priority``, ``first_because``), the overall points it would add (``gain``;
    None when the call is not scorable), the moment (``t``, ``customer``, ``trainee``, and the
    customer's ``reaction`` to a harm) and better wording (``examples``, from
    ``example_from``)."""
    lesson = persona.lesson if persona else ""
    about = lesson_criteria(lesson, rubric) if lesson else set()
    situation = Situation.of(persona, lesson_against(lesson) if lesson else set())
    weights = sum(f.weight for f in rubric.families) or 1.0
    defs = {c.id: c for fam in rubric.families for c in fam.criteria}
    tiers = {"harm": 0, "mistake": 1, "missed": 2}
    ranked = []
    for fam in card.families:
        total = sum(c.points for c in fam.criteria)
        if not total:
            continue
        for s in fam.criteria:
            c = defs.get(s.id)
            if c is None or not s.applies or s.earned >= s.points or c.outcome:
                continue  # how the call ended follows from the rest: not a thing to practise
            priority = _priority(c, s)
            if priority == "missed" and _warned_against(c, situation):
                continue  # all it asks for, the lesson warns against (open questions ...)
            if s.earned == 0 and c.kind == "reward" and _done_otherwise(c, situation, view):
                continue  # done the way this customer needed (a manager, not a "solution")
            gain = 100.0 * (s.points - s.earned) / total * fam.weight / weights
            boost = LESSON_BOOST if s.id in about else 1.0
            ranked.append((tiers[priority], -gain * boost, gain, fam.name, c, s, priority))
    ranked.sort(key=lambda x: x[:2])
    harmed = any(r[6] == "harm" for r in ranked)
    near = card.scorable and card.passed and card.overall >= NEAR_PERFECT and not harmed
    focus = _distinct(
        [
            _tip(
                view,
                card,
                c,
                s,
                name,
                gain if card.scorable else None,
                s.id in about,
                situation,
                "refine" if near else priority,
            )
            for _, _, gain, name, c, s, priority in ranked[: 1 if near else FOCUS]
        ]
    )
    return {
        "lesson": lesson,
        "focus": focus,
        "praise": _praise(card, defs) if card.scorable and card.passed else [],
        "near_perfect": near,
    }
