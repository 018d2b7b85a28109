"""Answering the customer's question: recognised from the question's kind and the reply's
moves, shared by the persona engine and the rubric (``rubric/answers.py``)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from test_scorer import Call, crit

from voicesim.cli import main
from voicesim.persona.engine import DialogueEngine, TraineeTurn
from voicesim.persona.persona import load_persona
from voicesim.rubric.answers import (
    ANSWERED,
    ASKED_BACK,
    UNANSWERED,
    QuestionTracker,
    customer_question,
    judge,
)
from voicesim.rubric.rubric import excuses, load_rubric
from voicesim.rubric.text import Context

DATA = Path(__file__).parent / "data" / "moves"
RUBRIC = load_rubric()
LIB = RUBRIC.library
PERSONAS = Path(__file__).resolve().parents[1] / "personas"


def verdict(question: str, reply: str) -> str:
    q = customer_question(question)
    assert q is not None, question
    words = reply.split()
    return judge(q, words, LIB.detect(words, None, Context.from_text(question))).verdict


def whisper(text: str) -> str:
    """As Whisper may write it: lower case, no punctuation."""
    return re.sub(r"[^\w' ]", "", text.lower())


def rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line]


@pytest.mark.parametrize("name,floor", [("answers.jsonl", 0.95), ("answers_heldout.jsonl", 0.85)])
@pytest.mark.parametrize("style", [str, whisper])
def test_question_and_reply_pairs(name, floor, style):
    data = rows(name)
    right = sum(verdict(r["question"], style(r["reply"])) == r["label"] for r in data)
    assert right / len(data) >= floor, f"{right}/{len(data)}"


def test_the_issue_lines():
    asked = "So what happens now?"
    good = "engineer booked for you first thing tomorrow, between eight and ten"
    assert verdict(asked, good) == ANSWERED
    empty = "I'm sure someone will be in touch about the repair at some point."
    assert verdict(asked, empty) == UNANSWERED
    assert (
        verdict("When will my refund come through?", "Refunds are handled by our finance team.")
        == UNANSWERED
    )
    assert verdict("Why was I charged twice?", "These things happen sometimes.") == UNANSWERED


def test_venting_and_tag_questions_are_not_questions():
    assert customer_question("Are you being sarcastic with me? Seriously?") is None
    assert customer_question("They don't make things like they used to, do they, dear?") is None
    assert customer_question("Sorry, can I just finish?") is None
    q = customer_question("My order is late. Where is it?")
    assert q is not None and q.kind == "where"
    assert customer_question("so when is it actually going to arrive").kind == "when"


def test_asking_back_keeps_the_question_open_until_the_next_turn():
    tracker = QuestionTracker()
    tracker.customer_said("I've been waiting ages. When will it arrive?")

    def turn(text: str):
        words = text.split()
        return tracker.trainee_said(words, LIB.detect(words))

    assert turn("Can I take your order number, please?").verdict == ASKED_BACK
    tracker.customer_said("It's four four one two.")  # no new question: the old one stays open
    reply = turn("Thank you. It's on the van and will be with you by two o'clock today.")
    assert reply.verdict == ANSWERED and "two o'clock" in reply.words
    assert turn("Anything else?") is None  # answered: nothing is open any more


def test_scorecard_penalises_an_unanswered_question_with_its_words_and_time():
    events = (
        Call()
        .customer(1, 5, "My refund still hasn't arrived. When will it come through?")
        .trainee(6, "I completely understand. Refunds are handled by our finance team.")
        .end(20, "hung_up")
    )
    c = crit(events, "answers_questions")
    assert c.applies and c.hits == 1 and c.earned == c.points - 5
    ev = c.evidence[0]
    assert "finance team" in ev.words and ev.start == pytest.approx(6.0)
    assert "When will it come through?" in ev.rule

    answered = (
        Call()
        .customer(1, 5, "My refund still hasn't arrived. When will it come through?")
        .trainee(6, "Can I take your order number?")
        .customer(8, 9, "It's 4412.")
        .trainee(10, "I'm sorry. It went out today, so you'll have it by Friday.")
        .end(20)
    )
    c = crit(answered, "answers_questions")
    assert c.applies and c.hits == 0 and c.earned == c.points

    nothing_asked = (
        Call().customer(1, 5, "My refund hasn't arrived.").trainee(6, "I'm sorry.").end(9)
    )
    assert not crit(nothing_asked, "answers_questions").applies


def engine(pid: str, seed: int = 0) -> DialogueEngine:
    persona = load_persona(PERSONAS / f"{pid}.yaml", set(LIB.detectors))
    return DialogueEngine(persona, LIB, seed=seed, excuses=excuses(RUBRIC))


def test_customer_presses_an_unanswered_question_and_drops_an_answered_one():
    eng = engine("late-order")
    eng.opening()
    eng.said.append("So where is it? When is it actually going to arrive?")
    eng.questions.customer_said(eng.said[-1])
    before = eng.mood
    line = eng.respond(TraineeTurn("Our couriers are usually very reliable."))
    assert "unanswered" in line.moves and eng.mood > before
    assert line.reason in ("unanswered", "dismissal", "defensiveness")

    eng = engine("terrible-day")
    eng.opening()
    eng.said.append("So what happens now?")
    eng.questions.customer_said("So what happens now?")
    line = eng.respond(TraineeTurn("I've booked an engineer for tomorrow between eight and ten."))
    assert "answered" in line.moves
    assert "So what happens now?" in eng.answered
    for _ in range(4):  # the default lines: the answered question is never asked again
        line = eng.respond(TraineeTurn("Okay."))
        assert "So what happens now?" not in line.text


def test_score_text_reports_the_answer(monkeypatch, capsys):
    lines = [
        {
            "text": "I'm sure someone will be in touch at some point.",
            "customer": "So what happens now?",
        },
        {
            "text": "I've booked the engineer for eight tomorrow.",
            "customer": "So what happens now?",
        },
        {"text": "I'm sorry about that."},
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(json.dumps(x) for x in lines) + "\n"))
    assert main(["rubric", "score-text"]) == 0
    out = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert out[0]["answer"]["verdict"] == UNANSWERED and "answers_questions" in out[0]["criteria"]
    assert out[1]["answer"]["verdict"] == ANSWERED and "answers_questions" not in out[1]["criteria"]
    assert "answer" not in out[2]
