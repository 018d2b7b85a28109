"""The move recogniser: meaning over phrases, context, cancellation, evidence, overrides, data.

The example lines are the ones that the phrase lists misjudged (issue 17): natural good handling
that matched no phrase, and polite-sounding bad handling that earned points.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from voicesim.rubric import moves as mv
from voicesim.rubric import pairmodel
from voicesim.rubric.rubric import load_rubric, parse_rubric
from voicesim.rubric.text import Context
from voicesim.rubric.textscore import score_text

ROOT = Path(__file__).resolve().parents[1]
HELDOUT = ROOT / "tests" / "data" / "moves" / "heldout.jsonl"
PEOPLE = ROOT / "tests" / "data" / "people"


@pytest.fixture(scope="module")
def rubric():
    return load_rubric()


def moves_of(rubric, text: str, customer: str = "") -> set[str]:
    ctx = Context.from_text(customer) if customer else None
    return rubric.library.moves(text, ctx)


def transcript(text: str) -> str:
    return re.sub(r"[^\w\s']", "", text.lower())


GOOD = [
    ("What a morning you've had.", {"empathy"}),
    ("Engineer booked for you first thing tomorrow, between eight and ten.", {"solution"}),
    ("I'll knock today's call-out charge off.", {"solution"}),
    ("That's on us.", {"apology"}),
]
BAD = [
    ("Oh, wonderful, another missed callback, I'm absolutely thrilled.", {"sarcasm"}),
    ("To be fair, if you'd chased us on Tuesday this would have been picked up sooner.", {"blame"}),
    ("I'm sure someone will be in touch about the repair at some point.", {"empty_promise"}),
]


@pytest.mark.parametrize("text,expected", GOOD + BAD)
@pytest.mark.parametrize("style", ["written", "transcript"])
def test_the_issue_lines_are_read_by_meaning(rubric, text, expected, style):
    said = text if style == "written" else transcript(text)
    got = moves_of(rubric, said)
    assert expected <= got, (said, got)


def test_the_engineer_booking_also_gives_a_time(rubric):
    got = moves_of(rubric, "Engineer booked for you first thing tomorrow, between eight and ten.")
    assert "timeframe" in got


@pytest.mark.parametrize(
    "text,absent",
    [
        (
            "Oh, wonderful, another missed callback, I'm absolutely thrilled.",
            {"empathy", "gratitude"},
        ),
        ("The repair team are very busy at the moment.", {"solution"}),
        ("I'm sure someone will be in touch about the repair at some point.", {"follow_up"}),
        ("I understand, but there's nothing I can do.", {"empathy"}),
        ("I do apologise, but honestly that's not our fault.", {"apology"}),
        ("Can I take your postcode please?", {"open_question", "solution"}),
    ],
)
def test_polite_sounding_bad_handling_earns_nothing(rubric, text, absent):
    got = moves_of(rubric, text)
    assert not (absent & got), (text, got)


@pytest.mark.parametrize(
    "text",
    [
        "I understand, but there's nothing I can do.",
        "I hear that you're frustrated, but that's just how the system works.",
        "It's only a small scratch, most customers wouldn't even notice.",
    ],
)
def test_brush_offs_and_minimising_are_dismissals(rubric, text):
    got = moves_of(rubric, text)
    assert "dismissal" in got and "empathy" not in got, got


def test_reflect_credits_a_restatement_of_this_customers_problem(rubric):
    customer = "You've put my monthly bill up by ten pounds and nobody told me a thing."
    mine = "So your monthly bill jumped by a tenner and nobody warned you."
    other = "So the parcel turned up damaged and the box was soaked."
    assert "reflect" in moves_of(rubric, mine, customer)
    assert "reflect" not in moves_of(rubric, other, customer)
    assert "reflect" not in moves_of(rubric, mine)  # nothing said by the customer: no reflection


def test_evidence_is_the_clause_with_word_times(rubric):
    words = "Hello there. I'll knock today's call-out charge off, okay?".split()
    times = [(i * 0.4, i * 0.4 + 0.3) for i in range(len(words))]
    hits = [h for h in rubric.library.detect(words, times) if h.move == "solution"]
    assert hits, "no solution found"
    hit = hits[0]
    assert "knock" in hit.words and "hello" not in hit.words
    assert hit.start == times[hit.first_word][0] and hit.end == times[hit.last_word][1]
    assert hit.rule.startswith("recognised")


def test_quoted_customer_words_are_not_the_trainees(rubric):
    got = moves_of(rubric, 'You said "this is a bloody joke, you useless lot".')
    assert "profanity" not in got


def test_phrases_are_exact_overrides_and_vetoes():
    text = (ROOT / "voicesim" / "rubric" / "default.yaml").read_text(encoding="utf-8")
    text = text.replace(
        'solution: {description: "Offers a concrete fix."}',
        'solution: {description: "x", phrases: ["goodwill gesture", "!knock ** charge"]}',
    )
    r = parse_rubric(text, "override.yaml")
    assert "solution" in r.library.moves("As a goodwill gesture that's covered.")
    # the veto cancels the model's own hit
    assert "solution" not in r.library.moves("I'll knock today's call-out charge off.")


def test_score_text_lists_the_new_moves(rubric):
    out = score_text("I'm sure someone will be in touch at some point.", rubric)
    assert "empty_promise" in out["moves"]
    assert "no_empty_promises" in out["criteria"]
    assert "politeness" in out


def test_customers_asking_for_a_manager_is_read_from_their_words(rubric):
    assert "escalation" in rubric.library.customer_moves("Put me through to your manager now.")
    assert "profanity" in rubric.library.customer_moves("This is a bloody disgrace.")


def test_heldout_figures_hold(rubric):
    """Held-out utterances (other industries and styles, never fitted on): the recogniser must
    stay well above what the phrase lists reached (macro F1 0.5 there)."""
    rows = [json.loads(x) for x in HELDOUT.read_text(encoding="utf-8").splitlines() if x]
    labelled = sorted({m for r in rows for m in r["moves"]})
    preds = [
        rubric.library.moves(
            r["text"], Context.from_text(r["customer"]) if r.get("customer") else None
        )
        for r in rows
    ]
    f1s = {}
    for m in labelled:
        tp = sum(m in r["moves"] and m in p for r, p in zip(rows, preds, strict=True))
        fp = sum(m not in r["moves"] and m in p for r, p in zip(rows, preds, strict=True))
        fn = sum(m in r["moves"] and m not in p for r, p in zip(rows, preds, strict=True))
        f1s[m] = 2 * tp / max(1, 2 * tp + fp + fn)
    macro = sum(f1s.values()) / len(f1s)
    assert macro >= 0.7, f1s
    assert min(f1s.values()) >= 0.4, f1s


def test_the_shipped_model_matches_its_card():
    """The model card says what the shipped network is and what it learned from: a changed
    training file, or data that must never train it, fails here until the model is retrained
    (scripts/train_recogniser.py)."""
    card = pairmodel.card()
    assert card["sha256"] == pairmodel.file_digest(pairmodel.MODEL_FILE)
    assert tuple(card["moves"]) == mv.MOVES
    assert set(card["thresholds"]) == set(mv.MOVES)
    data = card["training_data"]
    for entry in data["own"] + [e for e in data["whisper_views"] if "file" in e]:
        assert pairmodel.file_digest(ROOT / entry["file"]) == entry["sha256"], (
            f"{entry['file']} changed since the model was trained: run scripts/train_recogniser.py"
        )
    files = [e["file"] for e in data["own"]]
    assert not any("heldout" in f or "families" in f or "people" in f for f in files)
    sources = {s["name"]: s for s in json.loads((PEOPLE / "sources.json").read_text())}
    for used in data["people"]:
        # Only corpora whose licence allows commercial use train what we ship.
        assert sources[used["name"]]["use"] == "train", used["name"]
        assert pairmodel.file_digest(ROOT / used["file"]) == used["sha256"]
    assert card["base_model"]["licence"] == "Apache-2.0"


def test_tone_was_fitted_on_the_shipped_sentence_model():
    """The tone score's semantic layer reads the sentence model built by
    scripts/quantize_minilm.py: its weights are only valid on that exact file."""
    from voicesim.rubric import semantic

    shipped = json.loads((pairmodel.MODEL_DIR / "minilm.json").read_text())
    digest = pairmodel.file_digest(semantic.MODEL)
    assert shipped["sha256"] == digest, "minilm.json does not describe the shipped model"
    assert shipped["source"]["licence"] == "Apache-2.0"
    tone = json.loads((pairmodel.MODEL_DIR / "tone_semantic.provenance.json").read_text())
    assert tone["embedder"]["file_sha256"] == digest, "run scripts/fit_tone.py --write"


def test_natural_scripts_share_no_phrase_with_the_rubric(monkeypatch):
    """The -natural scripts are good handling in everyday words: the rubric's own phrases
    (its exact overrides) earn none of their moves, so what they earn the recogniser read."""
    from voicesim.session.script import SCRIPT_DIR, load_script

    monkeypatch.setenv("VOICESIM_RECOGNISER", "phrases")
    library = load_rubric().library
    # backchannel and gratitude keep their lists in the default rubric (closed sets of words)
    markers = {d for d in library.detectors if d not in mv.MOVES} | {"backchannel", "gratitude"}
    scripts = sorted(SCRIPT_DIR.glob("*-natural.yaml"))
    assert len(scripts) == 11
    for path in scripts:
        for turn in load_script(path).turns:
            if turn.say:
                hits = {h.move for h in library.detect(turn.say.split())} - markers
                assert not hits, (path.name, turn.say, hits)


def test_the_pair_cache_stays_bounded_and_correct(monkeypatch):
    """A long-running lab server reads far more lines than the cache holds."""
    clf = pairmodel.get_classifier()
    monkeypatch.setattr(pairmodel, "CACHE_PAIRS", 3)
    first = [clf.probs("my bill went up", t).copy() for t in ("hello there", "thanks")]
    for t in ("a new line", "another new line", "and one more"):
        clf.probs("my bill went up", t)
    assert len(clf._cache) <= 3
    again = [clf.probs("my bill went up", t) for t in ("hello there", "thanks")]
    assert all((a == b).all() for a, b in zip(first, again, strict=True))


def test_a_bad_customer_phrase_regex_names_its_field():
    from voicesim.errors import ConfigError

    text = (ROOT / "voicesim" / "rubric" / "default.yaml").read_text(encoding="utf-8")
    text = text.replace('customer_phrases: ["manager"', 'customer_phrases: ["re:(?=a)b", "manager"')
    with pytest.raises(ConfigError) as err:
        parse_rubric(text, "r.yaml")
    assert "detectors.escalation.customer_phrases[0]" in str(err.value)


def test_undecodable_input_is_read_not_refused(rubric):
    """Bytes that were not UTF-8 arrive as lone surrogates: the tokenizer must never see them."""
    out = score_text("\udcff\udcfe sorry about that", rubric)
    assert "politeness" in out


def test_warm_loads_the_recogniser_before_a_call(monkeypatch):
    """run_call warms the library so the customer's first reply never waits for the model."""
    monkeypatch.setattr(mv, "_RECOGNISER", None)
    load_rubric().library.warm()
    assert mv._RECOGNISER is not None


FAMILIES = ROOT / "tests" / "data" / "moves" / "families.jsonl"
# Every family must be handled: at most this many of a family's 14 rows may be misread.
FAMILY_MISSES = 2
# Families the shipped model does not yet handle, held at what it reaches so that they cannot
# get worse unnoticed (misses allowed; the target stays FAMILY_MISSES): wait-and-see read as
# advice, a polite blame read as a suggestion, a non-apology read only as defensiveness.
FAMILY_SHORTFALLS = {"deflection_as_fix": 4, "polite_blame": 3, "non_apology": 3}


def test_failure_families_are_handled(rubric):
    """The ways the old recogniser failed trainers (issue 23): polite blame, non-apologies,
    brush-offs, deflections and policies taken for fixes, warm lines read as sarcasm or
    condescension, firm 'today'/'tomorrow' promises, lead-ins before an offer, fair diagnostic
    questions, restatements, suggestions, feelings and open questions in people's own words.
    Written apart from the training data (tests/data/moves/families.md), never fitted on."""
    rows = [json.loads(x) for x in FAMILIES.read_text(encoding="utf-8").splitlines() if x]
    misses: dict[str, list[str]] = {}
    for r in rows:
        got = moves_of(rubric, r["text"], r["customer"])
        if not set(r["must"]) <= got or set(r["must_not"]) & got:
            misses.setdefault(r["family"], []).append(f"{r['text']!r} -> {sorted(got)}")
    assert len({r["family"] for r in rows}) == 14
    bad = {f: m for f, m in misses.items() if len(m) > FAMILY_SHORTFALLS.get(f, FAMILY_MISSES)}
    assert not bad, json.dumps(bad, indent=1)


@pytest.mark.parametrize(
    "text",
    [
        "Ten days missing isn't a big deal, parcels go astray all the time.",
        "Ten days is nothing, honestly, you're overreacting.",
        "A parcel missing for ten days is normal at this time of year, it's hardly worth "
        "worrying about.",
    ],
)
def test_restating_the_problem_to_wave_it_away_is_no_reflection(rubric, text):
    """The recogniser's reflection, like the phrase rule's, does not count in a sentence it
    reads as a dismissal: the problem is restated only to be made small."""
    said = Context.from_text("My parcel has been missing for ten days and nobody answers me.")
    found = rubric.library.moves(text, said)
    assert "dismissal" in found and "reflect" not in found


@pytest.mark.parametrize(
    "text,thanks",
    [
        ("Right, and one more thanks to Priya for sorting the refund.", True),
        ("And in which case I thank you, honestly.", True),
        ("Thanks to the storm, every delivery is late this week.", False),
        ("Thank you for nothing, as they say.", False),
    ],
)
def test_thanks_are_read_from_the_list_and_the_model(rubric, text, thanks):
    """Thanks are a closed set of words: the default rubric's list finds the forms the model
    misses ("thanks to Priya"), and its vetoes cancel the model's hits ("thanks to the storm").
    A listed phrase always counts, as a trainer's does: sarcastic thanks still cost the
    sarcasm ("Oh thanks so much, another week of waiting" is both)."""
    assert ("gratitude" in moves_of(rubric, text)) is thanks, text
    sarcastic = moves_of(
        rubric, "Oh thanks so much, that's just brilliant, another week of waiting."
    )
    assert "sarcasm" in sarcastic
