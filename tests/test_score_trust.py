"""Scores a lab can trust (issue 13): families with nothing to judge are left out, a call with too
little trainee speech is not scorable and never a pass, and `voicesim score` doubts its input
(silent or swapped sides) and keeps one side's bleed out of the other's speech."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_scorer import Call

from voicesim.cli import main
from voicesim.errors import ConfigError
from voicesim.lab.reviews import reviewed_card
from voicesim.rubric.grade import score_call
from voicesim.rubric.rubric import load_rubric, parse_rubric
from voicesim.rubric.scorer import card_passes

RUBRIC = load_rubric()
ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "audio" / "demo-call.wav"
ANGRY = "My desk was supposed to be delivered two weeks ago. Every time I call I'm told it's on its way!"
JFK = "Ask not what your country can do for you, ask what you can do for your country."


def _recorded(*trainee: tuple[float, str]) -> list:
    """A recording's timeline: an angry customer, the trainee's replies, no persona state."""
    call = Call().customer(0.5, 5.0, ANGRY)
    for t, text in trainee:
        call.trainee(t, text)
    call.customer(14.0, 16.0, "This is hopeless. I'm going elsewhere.")
    return call.end(17.0, "recorded")


# -- A: scores that do not inflate ------------------------------------------------------------
def test_a_family_with_nothing_that_applies_is_left_out_not_counted_as_100():
    card = score_call(_recorded((6.0, JFK)), RUBRIC)
    outcome = card.family("outcome")  # no persona state, no solution offered: nothing applies
    assert not outcome.applies
    counted = [f for f in card.families if f.applies]
    mean = sum(f.score * f.weight for f in counted) / sum(f.weight for f in counted)
    assert card.overall == pytest.approx(mean, abs=0.05)  # was the mean with outcome as 100


def test_an_irrelevant_reply_to_an_angry_customer_fails():
    card = score_call(_recorded((6.0, JFK)), RUBRIC)
    assert card.scorable
    assert not card.passed and card.overall < RUBRIC.pass_mark  # was 71.2 PASS


def test_a_recording_where_the_trainee_says_nothing_is_not_scorable():
    card = score_call(_recorded(), RUBRIC)  # was 69.0
    assert not card.scorable and "said nothing" in card.not_scorable
    assert card.overall == 0.0 and not card.passed
    assert not card_passes(card.to_dict(), pass_mark=0)  # not a pass at any pass mark


def test_a_call_killed_after_the_customers_opening_is_never_a_pass():
    events = Call().customer(0.5, 5.0, ANGRY).end(5.5, "interrupted")
    card = score_call(events, RUBRIC)  # was 71.2 and passed a drill
    assert not card.scorable and not card.passed
    d = card.to_dict()
    assert d["scorable"] is False and d["not_scorable"]
    # the lab's verdict for a drill attempt and a trainer's override both keep it a fail
    assert not card_passes(d, pass_mark=10)
    over = {"no_blame": {"earned": 10.0, "by": "t", "at": "", "reason": "x"}}
    assert not reviewed_card(d, over)["passed"]


def test_a_few_words_are_not_enough_but_a_short_real_reply_is():
    short = score_call(_recorded((6.0, "Hello, sorry.")), RUBRIC)
    assert not short.scorable and "only 2 words" in short.not_scorable
    real = score_call(
        _recorded((6.0, "I'm so sorry about your desk, let me check it now.")), RUBRIC
    )
    assert real.scorable


EVASIVE = ["Okay.", "I don't really know about that.", "Can't say, to be honest.", "Hmm. Not sure.",
           "I don't know what to tell you."]  # fmt: skip


def test_an_evasive_trainee_gets_no_credit_for_mistakes_never_made():
    """Issue 14: "I don't know", "can't say" earned every "never blames" for doing nothing and
    scored above the bad scripts; words that make no move leave the penalties n/a."""
    call = Call().customer(0.5, 5.0, ANGRY)
    for i, text in enumerate(EVASIVE):
        call.trainee(6.0 + 6 * i, text).customer(
            9.0 + 6 * i, 11.0 + 6 * i, "Hello? What is going on?"
        )
    card = score_call(call.end(40.0, "hung_up"), RUBRIC)
    assert card.scorable
    assert not card.criterion("no_blame").applies and not card.criterion("no_interruptions").applies
    assert card.overall < 25  # the shipped bad scripts score 26 and up

    helped = (
        Call().customer(0.5, 5.0, ANGRY).trainee(6.0, "I'm so sorry, that's really frustrating.")
    )
    for i, text in enumerate(EVASIVE):
        helped.trainee(9.0 + 3 * i, text)
    card = score_call(helped.end(40.0, "hung_up"), RUBRIC)
    assert card.criterion("no_blame").applies and card.criterion("no_blame").earned == 10


def test_min_trainee_words_is_a_validated_rubric_setting():
    text = (RUBRIC.path and Path(RUBRIC.path).read_text()).replace(
        "pass_mark: 70\n", "pass_mark: 70\nthresholds: {min_trainee_words: 3}\n"
    )
    assert parse_rubric(text, "r.yaml").thresholds.min_trainee_words == 3
    card = score_call(_recorded((6.0, "Hello, sorry, okay.")), parse_rubric(text, "r.yaml"))
    assert card.scorable
    with pytest.raises(ConfigError, match="min_trainee_words"):
        parse_rubric(text.replace("min_trainee_words: 3", "min_trainee_words: -1"), "r.yaml")


def test_reviewed_card_leaves_out_families_with_nothing_that_applies():
    d = score_call(_recorded((6.0, "I'm so sorry. " + JFK)), RUBRIC).to_dict()
    over = {"no_blame": {"earned": 10.0, "by": "t", "at": "", "reason": "x"}}
    assert reviewed_card(d, over)["overall"] == d["overall"]  # no_blame was already full


def test_the_terminal_says_not_scorable(capsys):
    from rich.console import Console

    from voicesim.report.terminal import print_scorecard

    card = score_call(_recorded(), RUBRIC)
    print_scorecard(card, Console(width=80, color_system=None))
    out = capsys.readouterr().out
    # issue 24: no verdict and no family scores for a call with nothing to judge
    assert "Not scorable" in out and "FAIL" not in out and "PASS" not in out
    assert "pass mark" not in out and "/100" not in out
    assert not any(line.startswith(f.name) for f in card.families for line in out.splitlines())


# -- B: score doubts its input ----------------------------------------------------------------
@pytest.fixture(scope="module")
def demo() -> tuple[np.ndarray, int]:
    x, rate = sf.read(str(DEMO), dtype="float32")
    return x, rate


def _score(tmp_path: Path, wav: Path, *args: str) -> tuple[dict, dict, list]:
    out = tmp_path / (wav.stem + "-session")
    assert main(["score", str(wav), "--out", str(out), "--quiet", *args]) == 0
    card = json.loads((out / "scorecard.json").read_text())
    meta = json.loads((out / "meta.json").read_text())
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    return card, meta, events


def test_score_warns_when_the_channels_look_swapped(tmp_path, capsys):
    card, meta, _ = _score(tmp_path, DEMO, "--customer-channel", "right")
    err = capsys.readouterr().err
    assert err.count("voicesim: warning:") == 1 and "swapped" in err
    assert meta["source"]["sides"]["swapped"] and any("swapped" in w for w in card["warnings"])


def test_score_does_not_warn_on_the_right_channels(tmp_path, capsys):
    card, meta, _ = _score(tmp_path, DEMO)
    assert "warning" not in capsys.readouterr().err
    assert card["warnings"] == [] and not meta["source"]["sides"]["swapped"]


def test_score_warns_when_a_channel_is_silent(tmp_path, demo, capsys):
    x, rate = demo
    silent = x.copy()
    silent[:, 1] = 0.0
    wav = tmp_path / "silent-trainee.wav"
    sf.write(str(wav), silent, rate, subtype="PCM_16")
    card, meta, _ = _score(tmp_path, wav)
    err = capsys.readouterr().err
    assert "trainee channel (right) is silent" in err
    assert meta["warnings"] == card["warnings"] and len(card["warnings"]) == 1
    assert card["scorable"] is False and card["passed"] is False


def test_bleed_between_channels_is_neither_trainee_speech_nor_overtalk(tmp_path, demo):
    """Each microphone also hears the other voice, 25 ms late at -12 dB (open headsets)."""
    x, rate = demo
    d, g = int(0.025 * rate), 0.25
    late = np.vstack([np.zeros((d, 2), np.float32), x[:-d]])
    mixed = np.stack([x[:, 0] + g * late[:, 1], x[:, 1] + g * late[:, 0]], axis=1)
    wav = tmp_path / "bleed.wav"
    sf.write(str(wav), mixed / max(1.0, float(np.abs(mixed).max()) / 0.95), rate, subtype="PCM_16")
    clean, _, clean_events = _score(tmp_path, DEMO)
    card, meta, events = _score(tmp_path, wav)
    bleed = meta["source"]["bleed"]
    assert bleed["customer_in_trainee"]["detected"] and bleed["trainee_in_customer"]["detected"]

    def said(evs: list, kind: str) -> list[str]:
        return [e["text"] for e in evs if e["type"] == kind]

    # no customer words as the trainee's, no trainee words as the customer's
    assert len(said(events, "final")) == len(said(clean_events, "final"))
    assert len(said(events, "customer_line_start")) == len(
        said(clean_events, "customer_line_start")
    )
    assert not any("jug" in t or "bye" in t.lower() for t in said(events, "final"))
    # no interruption counted: the one overlap is the agent's real "Right." backchannel
    assert card["stats"]["overtalk_s"] < 1.0
    crit = next(c for f in card["families"] for c in f["criteria"] if c["id"] == "no_interruptions")
    assert crit["earned"] == crit["points"]
    assert card["stats"]["trainee_words"] == clean["stats"]["trainee_words"]


def test_a_few_words_that_were_a_mistake_are_judged():
    """Eight words that made the customer hang up ("Calm down, sir. There's no need to shout.")
    are a bad call, not one with too little to judge."""
    call = (
        Call().customer(0.5, 5.0, ANGRY).trainee(6.0, "Calm down, sir. There's no need to shout.")
    )
    card = score_call(call.end(12.0, "hung_up"), RUBRIC)
    assert card.scorable and not card.passed
    assert card.criterion("no_dismissal").hits + card.criterion("no_condescension").hits >= 1


def test_coaching_follows_a_trainers_override():
    """Issue 14: a criterion the trainer gave full credit is no longer "work on this first"."""
    d = score_call(_recorded((6.0, "I'm so sorry. " + JFK)), RUBRIC).to_dict()
    tips = [t["criterion"] for t in d["coaching"]["focus"]]
    assert tips, "the machine's coaching names something to work on"
    first = next(c for f in d["families"] for c in f["criteria"] if c["id"] == tips[0])
    full = {tips[0]: {"earned": first["points"], "by": "t", "at": "", "reason": "heard it"}}
    after = reviewed_card(d, full)["coaching"]["focus"]
    assert tips[0] not in [t["criterion"] for t in after]
    half = {tips[0]: {"earned": first["points"] / 2, "by": "t", "at": "", "reason": "partly"}}
    tip = reviewed_card(d, half)["coaching"]["focus"][0]
    assert tip["overridden"] and tip["lost"] == first["points"] / 2
    assert d["coaching"]["focus"][0]["criterion"] == tips[0]  # the machine's card is untouched
