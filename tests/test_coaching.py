"""Coaching after a call: what to work on first, readable labels, the 80-column scorecard and the
report at phone, tablet and desktop widths."""

from __future__ import annotations

import io
import json

import pytest
from browser_support import CHROMIUM, launch
from rich.console import Console
from test_scorer import Call

from voicesim.errors import ConfigError
from voicesim.persona.persona import find_persona, load_persona
from voicesim.report.html import write_report
from voicesim.report.terminal import print_scorecard
from voicesim.rubric.coaching import _fitting, lesson_criteria
from voicesim.rubric.rubric import load_rubric, parse_rubric
from voicesim.rubric.scorer import score_call

RUBRIC = load_rubric()
MANAGER = "This is ridiculous. I want to speak to your manager right now."


def _persona(pid: str):
    return load_persona(find_persona(pid), set(RUBRIC.library.detectors))


def _stonewall() -> list:
    """A trainee who refuses outright when the customer asks for a manager."""
    call = Call().customer(0.5, 4.0, "Hello. My blender arrived with a cracked jug.")
    call.trainee(4.5, "Okay.")
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
def test_coaching_names_the_costliest_behaviours_with_their_moment_and_better_wording():
    card = score_call(_stonewall(), RUBRIC, _persona("demands-manager"))
    focus = card.coaching["focus"]
    assert len(focus) == 3
    gains = [t["gain"] for t in focus]
    assert all(g > 0 for g in gains)
    by_id = {t["criterion"]: t for t in focus}
    # the bare "no" to a manager request cost the most: penalised at the moment it was said
    refusal = by_id["no_bare_refusal"]
    assert refusal["status"] == "penalised" and refusal["label"] == "Never says a bare no"
    assert "nothing i can do" in refusal["moment"]["trainee"].lower()
    assert refusal["moment"]["customer"] == MANAGER
    assert refusal["examples"] and "but" in refusal["examples"][0]
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


def test_examples_that_fit_the_persona_come_first():
    examples = next(
        c for f in RUBRIC.families for c in f.criteria if c.id == "acknowledge"
    ).examples
    assert "blender" not in examples[0]
    assert "blender" in _fitting(examples, _persona("damaged-blender"))[0]
    assert _fitting(examples, None) == examples


def test_a_silent_trainee_earns_nothing_for_mistakes_not_made():
    card = score_call(_silent(), RUBRIC, _persona("damaged-blender"))
    assert card.overall < 5
    assert not card.criterion("no_blame").applies
    assert card.criterion("no_dead_air").earned < card.criterion("no_dead_air").points
    assert card.coaching["focus"][0]["moment"]["trainee"] == "(said nothing)"


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
