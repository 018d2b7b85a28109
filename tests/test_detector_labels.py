"""The lexicon (the v1 phrase lists, one input of the move recogniser, and the syntax a trainer
writes overrides in) against the labelled agent utterances in tests/data/utterances.jsonl.
The recogniser itself is measured on held-out utterances in tests/test_moves.py.

Every labelled move must keep F1 >= 0.9 over the whole set (dev and held-out test), so that a
phrase-list or matcher change that breaks one criterion fails here. The examples below pin the
behaviour the rubric and the personas rely on: plain hits, paraphrases, negation, quotation and
reported speech, and near misses that must not fire.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voicesim.rubric.rubric import lexicon
from voicesim.rubric.text import Context

DATA = Path(__file__).parent / "data" / "utterances.jsonl"
ROWS = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line]
LABELLED = sorted({m for r in ROWS for m in r["moves"]})
F1_FLOOR = 0.9


@pytest.fixture(scope="module")
def lib():
    return lexicon()


@pytest.fixture(scope="module")
def predictions(lib):
    return [
        lib.moves(r["text"], Context.from_text(r["customer"]) if r.get("customer") else None)
        for r in ROWS
    ]


def test_the_labelled_set_is_what_it_says():
    assert len(ROWS) >= 320
    notes = {r["note"] for r in ROWS}
    assert notes == {"plain", "paraphrase", "negated", "quoted", "hard-negative"}
    assert {r["split"] for r in ROWS} == {"dev", "test"}
    test_share = sum(r["split"] == "test" for r in ROWS) / len(ROWS)
    assert 0.25 <= test_share <= 0.4
    lib = lexicon()
    assert set(LABELLED) <= set(lib.detectors), set(LABELLED) - set(lib.detectors)
    assert "defensiveness" in LABELLED


@pytest.mark.parametrize("move", LABELLED)
def test_f1_per_detector(predictions, move):
    tp = fp = fn = 0
    wrong = []
    for r, pred in zip(ROWS, predictions, strict=True):
        truth, got = move in r["moves"], move in pred
        tp += truth and got
        fp += got and not truth
        fn += truth and not got
        if truth != got:
            wrong.append(("missed" if truth else "extra", r["text"]))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    assert f1 >= F1_FLOOR, f"{move}: P={precision:.2f} R={recall:.2f} F1={f1:.2f} {wrong}"


@pytest.mark.parametrize(
    "text, move, expected",
    [
        # tone: politeness and empathy, plain and paraphrased
        ("Good morning, you're through to the returns team.", "greeting", True),
        ("Hello? Are you still there?", "greeting", False),
        ("I really appreciate you explaining all that.", "gratitude", True),
        ("Thanks to the new system, it's faster.", "gratitude", False),
        ("Kindly send us a photo of the damage.", "please", True),
        ("I regret that your order arrived damaged.", "apology", True),
        ("There's no need to apologise.", "apology", False),
        ("I can see why that would upset you.", "empathy", True),
        ("No wonder you're annoyed.", "empathy", True),
        ("I'm not surprised you're angry.", "empathy", True),
        ("I can't imagine how annoying that was.", "empathy", True),
        ("That sounds like the seal has worn out.", "empathy", False),
        ("It must have been delivered next door.", "empathy", False),
        # penalties: blame, dismissal, condescension, defensiveness, refusal, profanity
        ("You should have read the manual.", "blame", True),
        ("You should have received an email.", "blame", False),
        ("You shouldn't have to chase us for this.", "blame", False),
        ("None of this is your fault.", "blame", False),
        ("There's nothing I can do about it.", "dismissal", True),
        ("Whatever suits you best.", "dismissal", False),
        ("I'd never tell you to calm down.", "dismissal", False),
        ("I'm sorry you were told to calm down.", "dismissal", False),
        ("As I already said, it has shipped.", "condescension", True),
        ("That's not my fault.", "defensiveness", True),
        ("I'm just doing my job.", "defensiveness", True),
        ("It's not your fault.", "defensiveness", False),
        ("I'm afraid that won't be happening.", "refusal", True),
        ("I can't believe that happened to you.", "refusal", False),
        ("I won't keep you long.", "refusal", False),
        ("What the hell happened?", "profanity", True),
        ("Hello, this is Shelly.", "profanity", False),
        # resolution wording
        ("Could you walk me through what happened?", "open_question", True),
        ("What's your order number?", "open_question", False),
        ("Why didn't you call us sooner?", "open_question", False),
        ("Leave it with me.", "ownership", True),
        ("I will not be doing that.", "ownership", False),
        ("I'll have to end the call if this continues.", "ownership", False),
        ("We can swap it for a new one.", "solution", True),
        ("We can't refund opened items.", "solution", False),
        ("Did you ask for a refund in the store?", "solution", False),
        ("It should arrive within two working days.", "timeframe", True),
        ("How can I help you today?", "timeframe", False),
        ("It arrived today, didn't it?", "timeframe", False),
        ("What I can do instead is lend you a unit.", "alternative", True),
        ("I don't have any other options for you.", "alternative", False),
        ("Unfortunately the warranty doesn't cover accidental damage.", "policy", True),
        ("Unfortunately the courier is late.", "policy", False),
        ("I want to help, but I need you to stop swearing.", "boundary", True),
        ("I'm here to help with your delivery.", "boundary", False),
        ("Would it help to speak with someone more senior?", "escalation", True),
        ("My manager approved your refund.", "escalation", False),
        ("Just to recap, the refund goes out today.", "summary", True),
        ("Just to confirm, is it the large jug?", "summary", False),
        ("I'll give you a ring tomorrow to check.", "follow_up", True),
        ("Did anyone call you back last week?", "follow_up", False),
        ("Is there anything else I can do for you?", "closing", True),
        ("Is there anything else wrong with it?", "closing", False),
        ("Give me a second to look that up.", "hold", True),
        ("Thank you for holding.", "hold", False),
        ("Mm-hmm, right.", "backchannel", True),
        ("Okay, what's the order number?", "backchannel", False),
        # quotation and reported speech: the customer's words are not the trainee's
        ('You said "sorry doesn\'t cut it", fair enough.', "apology", False),
        ("You mentioned the last agent never said sorry.", "apology", False),
        ('The driver said "you should have been home".', "blame", False),
        ('The store told you "we can\'t take it back"?', "refusal", False),
        # transcriber output without apostrophes or punctuation
        ("calm down sir theres nothing i can do", "dismissal", True),
        ("im so sorry about that", "apology", True),
    ],
)
def test_examples(lib, text, move, expected):
    assert (move in lib.moves(text)) is expected, lib.detect_text(text)


def test_reflect_uses_synonyms_but_not_quotes(lib):
    ctx = Context.from_text("I was charged twice for my subscription this month.")
    assert "reflect" in lib.moves("So you were billed two times for the subscription.", ctx)
    assert "reflect" not in lib.moves('You said "charged twice for my subscription"?', ctx)
    assert "reflect" not in lib.moves("What's your postcode?", ctx)


def test_timeframe_evidence_is_the_time_words(lib):
    hits = [
        h
        for h in lib.detect_text("I'll send you a replacement jug today.")
        if h.move == "timeframe"
    ]
    assert [h.words for h in hits] == ["today"]
