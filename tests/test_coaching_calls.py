"""Coaching a trainer would sign (issue 24), across every persona and every shipped bad and
polite-bad script, seeds 0-2: each "Try:" line is about this customer (it names no object,
product, service or fact of another persona) and keeps the persona's lesson (no refund offered
where the lesson is a polite no); and harm comes first: when the call had a penalised behaviour,
the first thing to work on is one of them.

The calls are whole simulated calls (the call loop, the persona, the voices, the VAD, overtalk and
the scorer) with the script's own words standing in for Whisper (``script_calls``): about a
second each."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from script_calls import run_script_call

from voicesim.persona.persona import Persona, load_persona, persona_files
from voicesim.rubric.grade import score_call
from voicesim.rubric.moves import NEGATIVE
from voicesim.rubric.rubric import load_rubric
from voicesim.rubric.text import stem
from voicesim.session.script import SCRIPT_DIR, load_script, persona_script_name
from voicesim.speech.tts import Synthesizer

RUBRIC = load_rubric()
PERSONAS = {
    p.id: p for p in (load_persona(f, set(RUBRIC.library.detectors)) for f in persona_files())
}
DEFS = {c.id: c for f in RUBRIC.families for c in f.criteria}
SEEDS = (0, 1, 2)
KINDS = ("bad", "polite-bad")
SHIPPED = sorted(
    pid
    for pid in PERSONAS
    if all((SCRIPT_DIR / f"{persona_script_name(pid, k)}.yaml").exists() for k in KINDS)
)
# Words in a persona's facts that name no object, product, service or fact of its own: times,
# numbers, days and everyday words that any call may use ("within two days", "call you back").
GENERIC = {
    stem(w)
    for w in "after ago back but come came day days today within hour hours minutes last never "
    "nobody week weeks monday friday two three four ten eight twelve forty hundred second "
    "third till twice usually late stopped arrived arriving down wait waiting call called "
    "work working item items home money hold".split()
}
# What would contradict each persona's lesson if a suggestion said it (read from the lessons).
CONTRADICTS = {
    "refund-out-of-policy": r"\b(?:(?:i'll|i will|we'll|we will|we can|i can) (?:give you |process "
    r"|issue |arrange )?(?:a |your |the )?(?:full )?refund|refund (?:goes|will go) through)\b",
    "serial-refunder": r"\b(?:refund (?:it|you) (?:now|today)|without (?:sending|returning)|"
    r"keep the earbuds|(?:i'll|we'll|we can) refund (?:it|that|them|you) (?:now|today|straight))",
    "confused-no-exchange": r"\b(?:i'll|i will|we'll|we can|i can) (?:swap|exchange)\b",
    "talkative-customer": r"\b(?:tell me more|what happened|walk me through|how did that)\b",
    "abusive-swearer": r"\bcalm down\b",
    "late-order": r"\b(?:have to wait|on its way|be patient)\b",
    "demands-manager": r"\b(?:no manager|nobody else|can't transfer|not available)\b",
    "controlling-customer": r"\b(?:basically|the way (?:our|the) (?:system|billing))\b",
    "missed-callback": r"\b(?:someone will|at some point|eventually|not my department)\b",
    "terrible-day": r"\b(?:not a big deal|these things happen)\b",
    "damaged-blender": r"\b(?:check(?:ed)? the box|opened items)\b",
}
# Said to no customer, whatever the lesson: the mistakes the rubric scores down.
NEVER = re.compile(
    r"\b(?:calm down|nothing i can do|you should have|not my fault|at some point|"
    r"someone will get back|policy is policy|like i said|with respect)\b",
    re.IGNORECASE,
)


def _words(text: str) -> set[str]:
    return {stem(w) for w in re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower())}


def vocabulary(p: Persona) -> set[str]:
    """Every word the persona's own file says about its situation (not its model lines)."""
    texts = [p.summary, p.lesson, p.name, *p.complaint_terms, *p.opening, *p.agreed]
    texts += [f"{k} {v}".replace("_", " ") for k, v in p.facts.items()]
    texts += [x for r in (*p.reactions.values(), *p.refuse.values()) for x in r.say]
    texts += [x for v in p.endings.values() for x in v] + [x for a in p.answers for x in a.say]
    return set().union(*(_words(t) for t in texts))


def facts_of(p: Persona) -> set[str]:
    """The words that name a persona's objects and facts: its facts' values and its terms."""
    return set().union(*(_words(str(t)) for t in [*p.facts.values(), *p.complaint_terms]))


FOREIGN = {
    pid: set().union(*(facts_of(q) for q in PERSONAS.values() if q.id != pid))
    - vocabulary(p)
    - GENERIC
    for pid, p in PERSONAS.items()
}


def problems(pid: str, line: str) -> list[str]:
    """What is wrong with a suggested line for persona ``pid`` (nothing, for a good one): the
    words to say, after any "(how to say it)" note."""
    line = re.sub(r"^\([^)]*\)\s*", "", line)
    out = []
    foreign = _words(line) & FOREIGN[pid]
    if foreign:
        out.append(f"names another persona's {sorted(foreign)}")
    if re.search(CONTRADICTS[pid], line, re.IGNORECASE):
        out.append("contradicts the lesson")
    if NEVER.search(line):
        out.append("makes a mistake the rubric scores down")
    return out


def test_the_check_catches_the_lines_issue_24_found():
    """The three lines the issue quotes are caught for the personas they were offered to."""
    assert problems("abusive-swearer", "I'll send a replacement by express delivery today.")
    assert problems("damaged-blender", "So the order still has not arrived; is that right?") == []
    assert problems(
        "refund-out-of-policy",
        "Just to summarise what happens next: the refund goes through today and you'll see it "
        "by Friday.",
    )
    assert problems("terrible-day", "So your order was due two weeks ago, and the desk is late.")


def test_every_persona_s_model_lines_are_about_its_own_situation():
    for pid, p in PERSONAS.items():
        assert p.model_lines, f"{pid} has no model lines"
        for move, lines in p.model_lines.items():
            assert move not in NEGATIVE
            for line in lines:
                assert not problems(pid, line), (pid, move, line, problems(pid, line))


@pytest.fixture(scope="module")
def calls() -> list[tuple[str, str, int, object]]:
    """Every shipped persona's bad and polite-bad script, seeds 0-2, as whole calls."""
    synth = Synthesizer()
    out = []
    for pid in SHIPPED:
        for kind in KINDS:
            name = persona_script_name(pid, kind)
            script = load_script(SCRIPT_DIR / f"{name}.yaml")
            for seed in SEEDS:
                out.append(
                    (pid, kind, seed, run_script_call(PERSONAS[pid], script, RUBRIC, seed, synth))
                )
    return out


def _tries(coaching: dict) -> list[str]:
    return [t["examples"][0] for t in coaching["focus"] if t.get("examples")]


def test_try_lines_are_about_this_customer_and_keep_the_lesson(calls):
    bad = []
    grounded: dict[str, int] = {}
    for pid, kind, seed, res in calls:
        card = res.scorecard
        # the same call coached for a persona a trainer wrote without model lines
        plain = score_call(res.events, RUBRIC, replace(PERSONAS[pid], model_lines={}))
        for who, coaching in (("persona", card.coaching), ("no model lines", plain.coaching)):
            tries = _tries(coaching)
            assert tries or not coaching["focus"], (pid, kind, seed)
            for line in tries:
                bad += [(pid, kind, seed, who, line, p) for p in problems(pid, line)]
        # grounded: without model lines, suggestions still name this customer's situation
        own = facts_of(PERSONAS[pid]) - GENERIC
        grounded[pid] = grounded.get(pid, 0) + sum(
            bool(_words(line) & own) for line in _tries(plain.coaching)
        )
    assert not bad, "\n".join(map(str, bad))
    assert all(grounded.get(pid) for pid in SHIPPED), grounded


def test_harm_comes_first_in_every_bad_call(calls):
    for pid, kind, seed, res in calls:
        card, focus = res.scorecard, res.scorecard.coaching["focus"]
        penalised = {
            c.id: c
            for f in card.families
            for c in f.criteria
            if any(e.points < 0 for e in c.evidence)
        }
        if not penalised:
            continue
        first = focus[0]
        where = (pid, kind, seed, first["criterion"], sorted(penalised))
        assert first["status"] == "penalised" and first["criterion"] in penalised, where
        harmed = [cid for cid in penalised if set(DEFS[cid].detectors) & NEGATIVE]
        if harmed:
            assert first["priority"] == "harm" and first["criterion"] in harmed, where
            assert "customer felt" in first["first_because"]
