"""The dialogue and mood engine, turn by turn (no audio): every rule of the persona format."""

from __future__ import annotations

import textwrap

import pytest

from voicesim.persona.engine import DialogueEngine, TraineeTurn
from voicesim.persona.persona import load_persona
from voicesim.rubric.rubric import load_rubric

LIB = load_rubric().library

BASE = """
format: 1
id: test-customer
name: Terry Test
version: 1
voice: {engine: espeak, voice: en-us, rate: 170, pitch: 50, volume: 0.8}
situation:
  summary: Terry's parcel is lost.
  complaint_terms: [parcel, lost]
  answers:
    - asked: ["order number", "reference"]
      say: ["It's order five five two."]
opening: ["My parcel is lost.", "Where is my parcel?"]
mood: {start: 0.6, baseline: 0.6, max_step: 0.2, drift: 0.0, resolve_below: 0.5, hang_up_at: 0.95,
       escalate_at: 0.9, patience_s: 5, max_silences: 2}
interrupts: {after_s: 8, mood_at_least: 0.7, mood: 0.05, say: ["Get to the point!"]}
reactions:
  empathy: {mood: -0.15, say: ["Thanks, that helps."]}
  apology: {mood: -0.1}
  blame: {mood: 0.15, say: ["How is that my fault?", "Don't blame me!"]}
  dismissal: {mood: 0.3, say: ["Don't tell me to calm down."]}
  interrupted: {mood: 0.1, say: ["Let me finish!"]}
  not_ready: {say: ["You haven't even apologised."]}
  silence: {mood: 0.1, say: ["Hello?"]}
  default: {mood: 0.0, say: ["So?"]}
resolutions:
  accept: [solution]
  requires: [apology]
  refuse:
    refusal: {mood: 0.1, say: ["That's not acceptable."]}
  agreed: ["Okay, that works."]
endings:
  resolved: ["Thanks, bye."]
  hung_up: ["I'm done."]
  escalated: ["Get me your manager."]
"""


@pytest.fixture
def persona(tmp_path):
    def make(extra: str = ""):
        path = tmp_path / "p.yaml"
        path.write_text(textwrap.dedent(BASE) + textwrap.dedent(extra))
        return load_persona(path, set(LIB.detectors))

    return make


def engine(persona, seed=0, **changes):
    p = persona()
    for k, v in changes.items():
        setattr(p.mood, k, v)
    return DialogueEngine(p, LIB, seed=seed)


def test_mood_moves_within_max_step_and_drifts(persona):
    e = engine(persona, drift=0.5, baseline=0.4)
    e.opening()
    line = e.respond(
        TraineeTurn("Calm down. That's not my problem.")
    )  # dismissal +0.3, capped at 0.2
    assert line.reason == "dismissal"
    assert e.mood == pytest.approx(0.6 + 0.2 + 0.5 * (0.4 - 0.8))


def test_negative_moves_are_answered_first(persona):
    e = engine(persona)
    line = e.respond(TraineeTurn("I understand, but you should have checked the parcel."))
    assert line.reason == "blame" and line.text in ("How is that my fault?", "Don't blame me!")


def test_resolution_needs_the_required_move_first(persona):
    e = engine(persona, start=0.4)
    line = e.respond(TraineeTurn("I will send you a replacement today."))
    assert line.reason == "not_ready" and not e.agreed
    line = e.respond(TraineeTurn("I'm so sorry about this. I will send you a replacement today."))
    assert line.text == "Okay, that works." and e.agreed
    line = e.respond(TraineeTurn("Is there anything else I can help you with?"))
    assert line.end_state == "resolved" and e.end_state == "resolved"


def test_refused_offer_and_escalation_and_hang_up(persona):
    e = engine(persona)
    line = e.respond(TraineeTurn("We can't do that."))
    assert line.reason == "refused refusal" and line.text == "That's not acceptable."
    e = engine(persona, start=0.78)  # 0.78 + 0.15: past escalate_at (0.9), short of hang_up_at
    assert e.respond(TraineeTurn("You should have read the terms.")).end_state == "escalated"
    e = engine(persona, start=0.85, escalate_at=None)
    assert e.respond(TraineeTurn("You should have read the terms.")).end_state == "hung_up"


def test_fact_question_is_answered_from_the_persona(persona):
    e = engine(persona)
    line = e.respond(TraineeTurn("Can I have your order number please?"))
    assert line.reason == "answer" and "five five two" in line.text


def test_being_talked_over_is_answered(persona):
    e = engine(persona)
    line = e.respond(TraineeTurn("Okay so the parcel", interrupted=True))
    assert line.reason == "interrupted" and line.text == "Let me finish!"


def test_interjection_only_when_upset(persona):
    calm = engine(persona, start=0.5)
    assert calm.interject() is None
    upset = engine(persona, start=0.8)
    line = upset.interject()
    assert line.text == "Get to the point!" and upset.mood == pytest.approx(0.85)


def test_silence_prompts_then_hangs_up(persona):
    e = engine(persona)
    assert e.on_silence().text == "Hello?"
    assert e.on_silence().end_state == "hung_up"


def test_a_reaction_without_lines_says_the_default(persona):
    e = engine(persona, start=0.7)
    line = e.respond(TraineeTurn("Sorry about that."))  # apology has no lines of its own
    assert line.text == "So?" and e.mood == pytest.approx(0.6)


def test_mood_shapes_the_voice(persona):
    e = engine(persona, start=0.2)
    calm = e.opening().voice
    e.mood = 0.9
    upset = e.respond(TraineeTurn("hmm")).voice
    assert upset.rate > calm.rate and upset.pitch > calm.pitch and upset.volume > calm.volume


def test_seeds_vary_the_wording_and_repeat_exactly(persona):
    openings = {engine(persona, seed=s).opening().text for s in range(8)}
    assert len(openings) == 2
    a = [
        engine(persona, seed=3).respond(TraineeTurn("You should have known.")).text
        for _ in range(2)
    ]
    assert a[0] == a[1]
