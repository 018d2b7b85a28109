"""The detector library of the default rubric: moves, negation, quotation, reflection, timing."""

from __future__ import annotations

import pytest

from voicesim.rubric.rubric import lexicon
from voicesim.rubric.text import Context, tokenize


@pytest.fixture(scope="module")
def lib():
    """The exact-phrase matcher, on the lexicon (the v1 phrase lists): phrases are what a
    trainer writes as overrides, and the lexicon is one of the recogniser's inputs."""
    return lexicon()


@pytest.mark.parametrize(
    "text, move, words",
    [
        ("I'm so sorry about that", "apology", "sorry"),
        ("I can see why that would upset you", "empathy", "i can see why"),
        ("Let me fix this", "ownership", "let me"),
        ("You should have read the manual", "blame", "you should have"),
        ("Calm down", "dismissal", "calm down"),
        ("As I already said", "condescension", "as i already said"),
        ("I\u2019m sorry, that must be frustrating.", "empathy", "that must be"),
    ],
)
def test_phrase_hits(lib, text, move, words):
    hits = [h for h in lib.detect_text(text) if h.move == move]
    assert hits, f"no {move} hit in {text!r}: {lib.detect_text(text)}"
    assert words in [h.words for h in hits]
    assert hits[0].rule.startswith("phrase ")


def test_clean_sentence_has_no_negative_moves(lib):
    moves = lib.moves("Thank you for your patience, I will send a replacement today.")
    assert {"gratitude", "ownership", "solution", "timeframe"} <= moves
    assert not moves & {"blame", "dismissal", "condescension", "refusal", "profanity"}


@pytest.mark.parametrize(
    "text, move",
    [
        ("I'm not sorry", "apology"),
        ("I never said sorry", "apology"),
        ("I don't understand", "empathy"),
        ("It is not frustrating at all", "empathy"),
    ],
)
def test_negated_phrase_is_not_a_hit(lib, text, move):
    assert move not in lib.moves(text)


def test_negation_stays_in_its_clause(lib):
    # "no" ends its own clause; the apology after the comma stands.
    assert "apology" in lib.moves("No, I'm sorry about that")


def test_negation_does_not_cancel_negative_moves(lib):
    # blame/dismissal are not negatable: "don't ... calm down" still tells them to calm down.
    assert "dismissal" in lib.moves("Why don't you just calm down")


@pytest.mark.parametrize(
    "text",
    [
        'You said "please calm down now" to me',
        "You said \u201cjust relax, it\u2019s fine\u201d to me",
    ],
)
def test_words_well_inside_a_quote_are_not_the_trainees_move(lib, text):
    # The dismissal sits strictly between the opening and the closing word of the quote.
    assert "dismissal" not in lib.moves(text), lib.detect_text(text)
    _, tokens = tokenize(text.split())
    assert [t.text for t in tokens if t.quoted][:2] in (["please", "calm"], ["just", "relax"])


@pytest.mark.parametrize(
    "text",
    [
        'You said "calm down" to me earlier',
        "You said \u201ccalm down\u201d to me earlier",
        'You told me to "relax" earlier',
    ],
)
def test_quoted_customer_words_are_not_a_dismissal(lib, text):
    assert "dismissal" not in lib.moves(text), lib.detect_text(text)


def test_unquoted_dismissal_still_counts_next_to_a_quote(lib):
    assert "dismissal" in lib.moves('You said "it broke", so calm down')


def test_reflect_needs_the_customers_terms(lib):
    ctx = Context.from_text("my blender arrived with a cracked jug")
    hits = [h for h in lib.detect_text("I'm sorry the blender jug was cracked", ctx)]
    reflect = [h for h in hits if h.move == "reflect"]
    assert len(reflect) == 1
    assert "blender" in reflect[0].words and "crack" in reflect[0].words
    assert "reflect" not in lib.moves("How can I help", ctx)
    # The same words without the customer's context reflect nothing.
    assert "reflect" not in lib.moves("I'm sorry the blender jug was cracked")
    # One shared term is not enough (min_terms is 2).
    assert "reflect" not in lib.moves("Is the blender working otherwise?", ctx)


def test_word_times_map_to_hit_span(lib):
    words = ["Okay,", "let", "me", "fix", "this", "today."]
    times = [(10.0, 10.3), (10.4, 10.6), (10.6, 10.7), (10.8, 11.0), (11.0, 11.2), (11.3, 11.8)]
    hits = {h.move: h for h in lib.detect(words, times)}
    own, sol, when = hits["ownership"], hits["solution"], hits["timeframe"]
    assert (own.first_word, own.last_word, own.start, own.end) == (1, 2, 10.4, 10.7)
    assert (sol.first_word, sol.last_word, sol.start, sol.end) == (3, 4, 10.8, 11.2)
    assert (when.start, when.end) == (11.3, 11.8)
    assert own.to_dict() == {
        "move": "ownership",
        "words": "let me",
        "rule": 'phrase "let me"',
        "start": 10.4,
        "end": 10.7,
    }
    # Without times there are no times.
    untimed = lib.detect(words)
    assert all(h.start is None and h.end is None for h in untimed)
    assert "start" not in untimed[0].to_dict()


def test_only_restricts_detectors(lib):
    hits = lib.detect("Let me fix this".split(), only=["solution"])
    assert [h.move for h in hits] == ["solution"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("mm-hmm", True),
        ("okay, right", True),
        ("Yeah.", True),
        ("okay, what's the order number", False),
        ("okay, the jug", False),
        ("", False),
    ],
)
def test_is_backchannel(lib, text, expected):
    assert lib.is_backchannel(text) is expected
