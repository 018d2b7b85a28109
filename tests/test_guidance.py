"""In-call guidance: each cue, its cooldown, the gap and the cap, on scripted timelines.

The guide is fed events on a virtual clock (as run_call feeds it) and ticked frame by frame;
what it reads in the trainee's words comes from the real recogniser of the default rubric.
The last tests run whole simulated calls with ``--guidance`` and read the session back.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from voicesim.audio.formats import RATE
from voicesim.errors import SessionError
from voicesim.events import (
    CUSTOMER_LINE_END,
    CUSTOMER_LINE_START,
    FINAL,
    GUIDANCE,
    MOOD,
    OVERTALK_START,
    SPEECH_END,
    SPEECH_START,
    Event,
)
from voicesim.rubric.rubric import load_rubric
from voicesim.session.cues import GuidanceOptions, parse_cues
from voicesim.session.guidance import Guide

HOP = 480  # 30 ms frames, as a call runs
OPENING = "My kettle arrived with a cracked lid and nobody has called me back."


@pytest.fixture(scope="module")
def rubric():
    return load_rubric()


class Timeline:
    """A scripted call: events at their call-clock times, the guide ticked every frame."""

    def __init__(self, rubric, **options):
        self.guide = Guide(rubric, GuidanceOptions(**options))
        self.now = 0
        self.cues: list[Event] = []

    def until(self, t: float) -> Timeline:
        while self.now < int(t * RATE):
            self.now += HOP
            self.cues += self.guide.tick(self.now)
        return self

    def at(self, t: float, kind: str, **data) -> Timeline:
        self.until(t)
        self.guide.observe(Event(kind, t, data))
        return self

    def overtalk(self, t: float, by: str = "trainee") -> Timeline:
        """Someone starts talking over the other at ``t``; the pipeline announces it once the
        overlap has lasted the rubric's 0.5 s, with the overlap's start as its time."""
        self.at(t, SPEECH_START, who="trainee")
        self.until(t + 0.5)
        self.guide.observe(Event(OVERTALK_START, t, {"by": by}))
        return self

    def customer(self, t: float, text: str, mood: float, reason: str = "default", **data):
        """The customer's reply chosen (mood event), then said for two seconds."""
        self.at(t, MOOD, mood=mood, reason=reason, **data)
        self.at(t, CUSTOMER_LINE_START, text=text, reason=reason, end=t + 2.0)
        return self.at(t + 2.0, CUSTOMER_LINE_END, cut=False)

    def trainee(self, t: float, text: str, seconds: float | None = None):
        """One trainee utterance from ``t``, its final transcript with evenly spaced words
        arriving after the endpointer's hangover (0.45 s)."""
        words = text.split()
        seconds = seconds if seconds is not None else len(words) * 0.35
        step = seconds / len(words)
        times = [
            {"w": w, "start": round(t + i * step, 3), "end": round(t + (i + 1) * step, 3)}
            for i, w in enumerate(words)
        ]
        self.at(t, SPEECH_START, who="trainee")
        self.at(t + seconds, SPEECH_END, who="trainee")
        return self.at(t + seconds + 0.45, FINAL, text=text, words=times, end=t + seconds)

    def kinds(self) -> list[str]:
        return [c["cue"] for c in self.cues]


def opened(rubric, **options) -> Timeline:
    return Timeline(rubric, **options).customer(0.5, OPENING, 0.6, reason="opening")


def test_talking_over_the_customer_is_cued_as_it_is_announced(rubric):
    tl = opened(rubric).overtalk(3.2).until(5.0)
    assert tl.kinds() == ["overtalk"]
    cue = tl.cues[0]
    assert cue["since"] == pytest.approx(3.2) and cue.t - cue["since"] < 0.6
    assert "talking over" in cue["text"]


def test_the_customer_talking_over_the_trainee_is_no_cue(rubric):
    assert opened(rubric).overtalk(3.2, by="customer").until(5.0).cues == []


def test_dead_air_is_cued_when_the_silence_passes_the_rubrics_limit(rubric):
    tl = opened(rubric).until(10.0)  # the line ended at 2.5 s and nobody spoke
    assert tl.kinds() == ["dead_air"]
    assert tl.cues[0].t == pytest.approx(2.5 + rubric.thresholds.dead_air_s, abs=0.04)
    assert tl.cues[0]["evidence"]["start"] == pytest.approx(2.5)


def test_an_answer_before_the_limit_is_no_dead_air(rubric):
    tl = opened(rubric).trainee(4.5, "I'm so sorry about the lid, that's really annoying.")
    assert "dead_air" not in tl.until(12.0).kinds()


def test_no_cue_after_the_customer_says_goodbye(rubric):
    tl = opened(rubric).trainee(3.0, "I'm so sorry about the lid.")
    tl.customer(6.0, "Forget it, I'm going elsewhere.", 0.95, reason="hung_up", end_state="hung_up")
    assert tl.until(20.0).cues == []


def test_no_acknowledgement_after_the_complaint_is_cued_when_the_customer_answers(rubric):
    tl = opened(rubric).trainee(3.0, "What's the order number?")
    tl.customer(5.0, "It's four four one two.", 0.6)
    assert tl.until(6.0).kinds() == ["acknowledge"]
    assert tl.cues[0]["since"] == pytest.approx(5.0)


def test_an_apology_or_empathy_is_acknowledgement_enough(rubric):
    for said in ("I'm so sorry the lid arrived cracked.", "That sounds really frustrating."):
        tl = opened(rubric).trainee(3.0, said)
        tl.customer(6.0, "Well, what are you going to do about it?", 0.55)
        assert tl.until(9.0).cues == [], said


def test_restating_the_problem_alone_does_not_acknowledge_the_feeling(rubric):
    tl = opened(rubric).trainee(
        3.0, "So the kettle lid arrived cracked and nobody called you back."
    )
    tl.customer(7.0, "Yes. So what are you going to do?", 0.6)
    assert tl.until(8.0).kinds() == ["acknowledge"]


def test_a_customer_cutting_into_an_unacknowledging_explanation_brings_the_cue(rubric):
    tl = opened(rubric).trainee(3.0, "Okay so basically the way our returns work is complicated.")
    tl.trainee(7.0, "The warehouse checks every item before anything else happens.")
    tl.customer(10.0, "Stop. Is it fixed or not?", 0.65, reason="interjection")
    cue = [c for c in tl.until(13.0).cues if c["cue"] == "acknowledge"]
    assert len(cue) == 1 and cue[0]["since"] == pytest.approx(10.0)


def test_a_penalised_move_is_cued_as_soon_as_its_transcript_arrives(rubric):
    tl = opened(rubric).trainee(
        3.0, "I'm sorry, but you must have dropped it, that's your own fault.", 3.0
    )
    assert tl.until(6.6).kinds() == ["move"]
    cue = tl.cues[0]
    assert cue["evidence"]["move"] == "blame" and cue["since"] == pytest.approx(6.0)
    assert cue.t - cue["since"] <= 0.5  # the hangover, and the frame it came in


def test_a_refusal_waits_for_the_turn_and_an_alternative_excuses_it(rubric):
    bare = opened(rubric).trainee(3.0, "I'm sorry, we can't refund that.")
    bare.until(8.0)
    assert bare.kinds() == []  # the turn may still bring an alternative
    bare.customer(8.0, "So what now?", 0.65)
    assert bare.until(9.0).kinds() == ["move"]
    assert bare.cues[0]["evidence"]["move"] == "refusal"

    fair = opened(rubric).trainee(3.0, "I'm sorry, we can't refund that.")
    fair.trainee(6.0, "But I can send you a new lid today, it will arrive by Friday.")
    fair.customer(11.0, "Oh, fine.", 0.4)
    assert "move" not in fair.until(12.0).kinds()


def test_pace_is_cued_once_when_clearly_over_the_limit(rubric):
    fast = " ".join(["I will sort the replacement lid for you right now today"] * 3)  # 33 words
    tl = opened(rubric).trainee(3.0, "I'm so sorry about that. " + fast, 7.0)  # ~320 wpm
    tl.customer(12.0, "Right.", 0.5)
    tl.trainee(15.0, fast, 6.0)
    assert tl.until(25.0).kinds() == ["pace"]
    assert tl.cues[0]["evidence"]["wpm"] > rubric.thresholds.wpm_range[1]

    calm = opened(rubric).trainee(3.0, "I'm so sorry about that. " + fast, 14.0)  # ~160 wpm
    assert calm.until(20.0).cues == []


def test_a_rising_mood_is_cued_unless_its_move_was_just_cued(rubric):
    tl = opened(rubric).trainee(3.0, "I'm so sorry. Can you read me the order number?")
    tl.customer(6.0, "I've told you twice already.", 0.8, reason="unanswered")
    assert tl.until(7.0).kinds() == ["mood"]

    blamed = opened(rubric).trainee(3.0, "I'm sorry, but you must have dropped it, your fault.")
    blamed.customer(6.5, "How dare you.", 0.85, reason="blame")
    assert "mood" not in blamed.until(9.0).kinds()  # the blame has its own cue
    assert blamed.kinds()[0] == "move"


def test_the_same_cue_waits_for_its_cooldown(rubric):
    tl = opened(rubric, cooldown_s=30.0)
    tl.overtalk(3.0).overtalk(13.0)
    assert tl.until(20.0).kinds() == ["overtalk"]
    tl.overtalk(34.0)
    assert tl.until(36.0).kinds() == ["overtalk", "overtalk"]


def test_two_cues_at_once_come_a_gap_apart_the_specific_one_first(rubric):
    tl = opened(rubric, gap_s=1.5)
    tl.trainee(3.0, "I'm sorry, but you must have dropped it, that's your own fault.", 4.5)
    tl.overtalk(7.7)  # announced right after the blame's transcript came
    tl.until(10.0)
    assert tl.kinds()[:2] == ["move", "overtalk"]
    assert tl.cues[1].t - tl.cues[0].t >= 1.5 - 1e-6


def test_a_cue_held_back_too_long_is_dropped(rubric):
    tl = opened(rubric, gap_s=10.0, stale_s=3.0).overtalk(2.6)
    tl.trainee(3.5, "You must have dropped it, that's your own fault.", 2.5)
    assert tl.until(20.0).kinds() == ["overtalk"]  # the blame came during the gap, then went stale


def test_the_cap_holds_for_the_whole_call(rubric):
    tl = opened(rubric, cap=2, cooldown_s=0.0, gap_s=0.5)
    for t in (3.0, 6.0, 9.0, 12.0):
        tl.overtalk(t)
    assert len(tl.until(30.0).cues) == 2


def test_only_the_chosen_cues_are_shown(rubric):
    tl = opened(rubric, cues=("dead_air",)).until(6.0)
    tl.trainee(6.0, "I'm sorry, but you must have dropped it, that's your own fault.", 3.0)
    tl.customer(10.0, "How dare you.", 0.85, reason="blame")
    assert tl.until(14.0).kinds() == ["dead_air"]


def test_options_and_the_command_line_flag_are_checked():
    assert parse_cues("all") == GuidanceOptions().cues
    assert parse_cues("pace, dead-air") == ("pace", "dead_air")
    with pytest.raises(Exception, match="unknown cue 'shouting'"):
        parse_cues("pace,shouting")
    with pytest.raises(ValueError, match="unknown guidance cue"):
        GuidanceOptions(cues=("nagging",))
    assert GuidanceOptions.for_difficulty(5).cap < GuidanceOptions.for_difficulty(1).cap
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "voicesim",
            "simulate",
            "--persona",
            "late-order",
            "--trainee",
            "late-order-bad",
            "--guidance",
            "shouting",
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "unknown cue 'shouting'" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.slow
def test_a_simulated_call_with_guidance_records_and_shows_its_cues(tmp_path):
    from voicesim.report.html import report_data
    from voicesim.report.replay import shown
    from voicesim.report.session import load_session

    out = tmp_path / "s"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "voicesim",
            "simulate",
            "--persona",
            "late-order",
            "--trainee",
            "late-order-bad",
            "--guidance",
            "--seed",
            "0",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert " CUE " in run.stdout  # printed as it happens
    session = load_session(out)  # the strict reader takes the new events
    cues = [e for e in session.events if e.type == GUIDANCE]
    assert {"dead_air", "acknowledge", "move"} <= {c["cue"] for c in cues}
    for c in cues:
        assert 0 <= c.t - c["since"] <= 3.0 and c["reason"] and c["text"]
    assert [e for e in shown(session.events) if e.type == GUIDANCE] == cues  # replay
    data = report_data(session)
    assert [g["cue"] for g in data["guidance"]] == [c["cue"] for c in cues]  # report timeline
    meta = json.loads((out / "meta.json").read_text())
    assert meta["guidance"]["cap"] == GuidanceOptions.for_difficulty(2).cap or meta["guidance"]

    plain = tmp_path / "plain"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "voicesim",
            "simulate",
            "--persona",
            "late-order",
            "--trainee",
            "late-order-bad",
            "--quiet",
            "--out",
            str(plain),
        ],
        check=True,
        capture_output=True,
    )
    assert not [e for e in load_session(plain).events if e.type == GUIDANCE]  # opt-in only
    assert json.loads((plain / "meta.json").read_text())["guidance"] is None


def test_the_session_reader_refuses_a_malformed_cue():
    from voicesim.report.session import parse_events

    ok = b'{"type":"guidance","t":3.2,"cue":"pace","text":"Slow down","since":2.9}\n'
    assert parse_events(ok, "events.jsonl")[0]["cue"] == "pace"
    with pytest.raises(SessionError, match="since"):
        parse_events(b'{"type":"guidance","t":3.2,"cue":"pace","text":"Slow down"}\n', "e")
    with pytest.raises(SessionError, match="evidence"):
        parse_events(
            b'{"type":"guidance","t":3,"cue":"x","text":"y","since":1,"evidence":[1]}\n', "e"
        )
