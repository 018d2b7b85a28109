"""Coaching after a call: what to work on first, readable labels, the 80-column scorecard and the
report at phone, tablet and desktop widths."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import pytest
from browser_support import CHROMIUM, launch
from rich.console import Console
from test_scorer import Call

from voicesim.errors import ConfigError
from voicesim.persona.persona import find_persona, load_persona
from voicesim.report.html import write_report
from voicesim.report.terminal import print_scorecard
from voicesim.rubric.coaching import NEAR_PERFECT, coach, lesson_against, lesson_criteria
from voicesim.rubric.grade import score_call
from voicesim.rubric.rubric import load_rubric, parse_rubric
from voicesim.rubric.scorer import Evidence, grade_call

RUBRIC = load_rubric()
MANAGER = "This is ridiculous. I want to speak to your manager right now."


def _persona(pid: str):
    return load_persona(find_persona(pid), set(RUBRIC.library.detectors))


def _stonewall() -> list:
    """A trainee who refuses outright when the customer asks for a manager."""
    call = Call().customer(0.5, 4.0, "Hello. My blender arrived with a cracked jug.")
    call.trainee(4.5, "Okay, go on then.")  # enough words to judge the call
    call.customer(6.0, 9.0, MANAGER)
    call.trainee(9.5, "No. There's nothing I can do about it.")
    return call.end(14.0, "hung_up")


def _silent() -> list:
    call = Call().customer(0.5, 4.0, "Hello. My blender arrived with a cracked jug.")
    call.add("silence", 4.0, end=9.0, duration=5.0)
    call.customer(9.0, 11.0, "Hello? Is anyone there?")
    call.add("silence", 11.0, end=16.0, duration=5.0)
    return call.end(16.0, "hung_up")


# -- rubric files ----------------------------------------------------------------------------
MINIMAL = """\
format: 1
id: mini
version: 1
pass_mark: 50
detectors:
  apology: {description: "Apologises."}
families:
  tone:
    weight: 1
    criteria:
      - id: sorry
        kind: reward
        detectors: [apology]
        points: 10
"""


def test_a_rubric_may_name_its_criteria_and_give_better_wording():
    text = MINIMAL + '        label: "Says sorry"\n        examples: ["I\'m so sorry."]\n'
    c = parse_rubric(text, "mini.yaml").families[0].criteria[0]
    assert c.label == "Says sorry" and c.examples == ["I'm so sorry."]
    # without them: a readable name from the id, no examples
    c = parse_rubric(MINIMAL, "mini.yaml").families[0].criteria[0]
    assert c.label == "Sorry" and c.examples == []


@pytest.mark.parametrize(
    "extra, field",
    [('        examples: [""]\n', "examples"), ("        label: [1, 2]\n", "label")],
)
def test_a_bad_label_or_example_is_one_clear_error_with_its_line(extra, field):
    with pytest.raises(ConfigError) as err:
        parse_rubric(MINIMAL + extra, "mini.yaml")
    msg = str(err.value)
    assert "mini.yaml:" in msg and field in msg and "Traceback" not in msg


def test_the_default_rubric_names_every_criterion_and_shows_better_wording():
    criteria = {c.id: c for f in RUBRIC.families for c in f.criteria}
    assert {"no_sarcasm", "no_empty_promises"} <= set(criteria)
    for c in criteria.values():
        assert c.label and c.label != c.id and "_" not in c.label, c.id
        assert c.examples and all(len(e) > 5 for e in c.examples), c.id


# -- choosing what to work on ------------------------------------------------------------------
def test_coaching_names_harm_first_with_its_moment_and_better_wording():
    card = score_call(_stonewall(), RUBRIC, _persona("demands-manager"))
    focus = card.coaching["focus"]
    assert len(focus) == 3
    gains = [t["gain"] for t in focus]
    assert all(g > 0 for g in gains)
    by_id = {t["criterion"]: t for t in focus}
    # the bare "no" to a manager request comes first: the customer felt it, and it says so
    refusal = focus[0]
    assert refusal["criterion"] == "no_bare_refusal" and refusal["priority"] == "harm"
    assert refusal["status"] == "penalised" and refusal["label"] == "Never says a bare no"
    assert "customer felt" in refusal["first_because"]
    assert "nothing i can do" in refusal["moment"]["trainee"].lower()
    assert refusal["moment"]["customer"] == MANAGER
    # better wording: what resolves this customer (an escalation), in the persona's own words
    assert refusal["example_from"] == "persona"
    assert refusal["examples"][0] in _persona("demands-manager").model_lines["escalation"]
    # the missed escalation points at the customer's request for a manager
    esc = by_id["escalation_offered"]
    assert esc["status"] == "missed" and esc["moment"]["customer"] == MANAGER
    assert esc["moment"]["t"] == pytest.approx(6.0)
    # the lesson (escalate properly, never stonewall) is shown and steers the choice
    assert "manager" in card.coaching["lesson"]
    assert esc["lesson"] and refusal["lesson"]
    # outcomes follow from behaviour: never something to practise
    assert not {"resolved", "mood_improved"} & set(by_id)
    # stored in scorecard.json, so the terminal, report and lab show the same advice
    assert json.loads(json.dumps(card.to_dict()))["coaching"] == card.coaching


def test_the_lesson_points_at_what_to_do_and_what_to_avoid():
    late = lesson_criteria(_persona("late-order").lesson, RUBRIC)
    assert {"empathy", "ownership", "timeframe", "no_dismissal"} <= late
    talkative = lesson_criteria(_persona("talkative-customer").lesson, RUBRIC)
    assert "open_question" not in talkative  # "don't feed the story with open questions"
    assert "next_steps" in talkative


def test_a_lesson_that_warns_against_a_move_never_gets_it_coached():
    """Talkative-customer: "don't feed the story with open questions"."""
    assert lesson_against(_persona("talkative-customer").lesson) == {"open_question"}
    assert not lesson_against(_persona("late-order").lesson)
    call = Call().customer(
        0.5, 6.0, "Oh, hello, dear. My kettle stopped working, the light comes on."
    )
    call.trainee(6.5, "Okay. Right. Hmm, I see what you mean there, yes.")
    card = score_call(call.end(12.0, "time_limit"), RUBRIC, _persona("talkative-customer"))
    tips = card.coaching["focus"]
    assert tips and "open_question" not in {t["criterion"] for t in tips}
    assert not any("tell me" in x.lower() for t in tips for x in t["examples"])


def test_without_model_lines_the_wording_comes_from_the_persona_s_facts_and_the_call():
    persona = replace(_persona("demands-manager"), model_lines={})
    card = score_call(_stonewall(), RUBRIC, persona)
    first = card.coaching["focus"][0]
    assert first["example_from"] == "the situation"
    assert "account 4419" in first["examples"][0]  # this customer's account, no other's
    # no persona at all (a recording): nothing about any customer's situation
    card = score_call(_stonewall(), RUBRIC)
    for tip in card.coaching["focus"]:
        assert not any(w in " ".join(tip["examples"]).lower() for w in ("4419", "order", "desk"))


def test_reflecting_back_turns_the_customer_s_own_words():
    from voicesim.rubric.wording import reflect_back

    said = "Hi. I ordered a standing desk three weeks ago. It was due two weeks ago and it still hasn't turned up. Can you help?"
    line = reflect_back(said, frozenset({"desk", "due"}))
    assert line == (
        "So you ordered a standing desk three weeks ago, and it was due two weeks ago and it "
        "still hasn't turned up; is that right?"
    )
    assert reflect_back("Please don't tell me to calm down. Where is it?") is None


def test_a_near_perfect_call_gets_praise_and_at_most_one_refinement():
    persona = _persona("damaged-blender")
    call = Call().customer(0.5, 5.0, "Hello. My blender arrived today with the jug cracked.")
    call.trainee(5.5, "I'm so sorry, that's really frustrating. I'll send you a new blender today.")
    call.customer(11.0, 13.0, "Okay, thank you.")
    call.trainee(13.5, "Is there anything else I can help you with today?")
    card, view = grade_call(call.end(18.0, "resolved"), RUBRIC, persona)
    # make it a near-perfect call: everything full but one thing to refine
    for fam in card.families:
        for c in fam.criteria:
            if c.applies:
                c.earned = c.points
                c.evidence = [e for e in c.evidence if e.points >= 0]
                if c.kind == "reward" and not c.evidence:
                    c.evidence = [Evidence(c.id, c.points, "I'm so sorry", 5.5, 6.5, "r")]
    card.criterion("next_steps").earned = 0.0
    card.criterion("next_steps").evidence = []
    card.overall, card.passed = max(NEAR_PERFECT, 95.0), True
    out = coach(card, view, RUBRIC, persona)
    assert out["near_perfect"] and len(out["focus"]) == 1
    assert out["focus"][0]["criterion"] == "next_steps"
    assert out["focus"][0]["examples"][0] in persona.model_lines["summary"]
    assert out["praise"] and all(p["words"] for p in out["praise"])
    # one harm in the same call and it is no longer near perfect: harm is never hidden
    card.criterion("no_blame").earned = 0.0
    card.criterion("no_blame").evidence = [
        Evidence("no_blame", -10.0, "you should have", 13.5, 14.0, "blame")
    ]
    out = coach(card, view, RUBRIC, persona)
    assert not out["near_perfect"] and out["focus"][0]["criterion"] == "no_blame"


def test_a_silent_trainee_earns_nothing_for_mistakes_not_made():
    card = score_call(_silent(), RUBRIC, _persona("damaged-blender"))
    assert card.overall < 5
    assert not card.criterion("no_blame").applies
    assert card.criterion("no_dead_air").earned < card.criterion("no_dead_air").points
    assert card.coaching["focus"][0]["moment"]["trainee"] == "(said nothing)"
    # not scorable: no points to gain, no praise
    assert not card.scorable and all(t["gain"] is None for t in card.coaching["focus"])
    assert card.coaching["praise"] == []


# -- readable at 80 columns -------------------------------------------------------------------
def test_the_terminal_scorecard_stays_readable_at_80_columns():
    card = score_call(_stonewall(), RUBRIC, _persona("demands-manager"))
    out = io.StringIO()
    print_scorecard(card, Console(file=out, width=80, highlight=False, color_system=None))
    text = out.getvalue()
    lines = text.splitlines()
    assert max(len(ln) for ln in lines) <= 80
    for fam in card.families:
        assert any(ln.startswith(fam.name) for ln in lines)
        for c in fam.criteria:
            if c.applies:  # each label whole on one line, with its points
                assert any(c.label in ln and f"{c.earned:g}/{c.points:g}" in ln for ln in lines)
    # evidence on lines of its own, stating the rule in words
    assert any("refusal: says no" in ln and "|" not in ln for ln in lines)
    # the coaching follows: what to work on, the moment, better wording, the lesson
    assert "Work on these first" in text and "Try:" in text and "Lesson:" in text
    assert "no_bare_refusal" not in text  # labels, not ids


def test_rubric_show_and_personas_list_fit_80_columns(capsys, monkeypatch):
    from voicesim.cli import main

    monkeypatch.setenv("COLUMNS", "80")
    assert main(["rubric", "show"]) == 0
    out = capsys.readouterr().out
    assert max(len(ln) for ln in out.splitlines()) <= 80
    assert "Never says a bare no" in out
    assert main(["personas", "list"]) == 0
    out = capsys.readouterr().out
    assert max(len(ln) for ln in out.splitlines()) <= 80
    assert "Set a polite, firm boundary" in out  # the lesson is not lost


# -- the report at phone, tablet and desktop widths ---------------------------------------------
def _session(tmp_path):
    """A session directory written by hand (no audio): events, meta and the scorecard."""
    d = tmp_path / "session"
    d.mkdir()
    events = _stonewall()
    (d / "events.jsonl").write_text("".join(e.to_json() + "\n" for e in events))
    meta = {"format": 1, "persona": {"id": "demands-manager", "name": "Gordon Price"}}
    (d / "meta.json").write_text(json.dumps(meta))
    card = score_call(events, RUBRIC, _persona("demands-manager"))
    (d / "scorecard.json").write_text(json.dumps(card.to_dict()))
    write_report(d)
    return d, card


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_the_report_coaches_and_reflows_from_phone_to_desktop(tmp_path):
    from playwright.sync_api import sync_playwright

    d, card = _session(tmp_path)
    with sync_playwright() as p:
        browser = launch(p)
        for width in (375, 800, 1400):
            page = browser.new_page(viewport={"width": width, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.goto((d / "report.html").as_uri())
            page.wait_for_selector("#coaching li.tip")
            assert not errors
            # no sideways scrolling
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            # the coaching: three tips with their moment and better wording, and the lesson
            tips = page.locator("#coaching li.tip")
            assert tips.count() == 3
            first = tips.first
            assert first.is_visible()
            assert card.coaching["focus"][0]["label"] in first.inner_text()
            assert "Try:" in first.inner_text() and "You:" in first.inner_text()
            assert "Lesson of this call" in page.locator("#lesson").inner_text()
            # the scorecard's evidence is whole inside the window, with its rule in words
            ev = page.locator("#scorecard .ev-list").first
            ev.scroll_into_view_if_needed()
            box = ev.bounding_box()
            assert ev.is_visible() and box["x"] >= 0 and box["x"] + box["width"] <= width
            first_ev = next(
                e for f in card.families for c in f.criteria for e in c.evidence if e.points
            )
            assert first_ev.rule.split("; ")[0] in ev.inner_text()  # e.g. "refusal: says no"
            assert page.locator("#scorecard", has_text="Never says a bare no").count() == 1
            page.screenshot(path=str(tmp_path / f"report-{width}.png"), full_page=True)
            page.close()
        browser.close()


def test_a_pace_rewrite_keeps_the_trainee_s_words_in_short_sentences():
    from voicesim.rubric.wording import paced

    said = "Just to confirm, a new one ships today, and it arrives by Thursday. Anything else?"
    assert paced(said) == (
        "Just to confirm. A new one ships today. And it arrives by Thursday. Anything else?"
    )
