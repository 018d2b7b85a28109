"""One set of numbers (issue 24): every view of one call (the terminal scorecard, scorecard.json,
the HTML report and the lab's session page) shows the same pace, talk ratio, overtalk and verdict,
judged by the same rule as the criteria; a call that is not scorable shows no verdict and no
family scores anywhere; and no "None" reaches a person."""

from __future__ import annotations

import html
import io
import json
import re
from pathlib import Path

import pytest
from browser_support import CHROMIUM, launch
from fastapi.testclient import TestClient
from lab_support import PASSWORD, settle
from rich.console import Console
from script_calls import run_script_call
from test_lab_integrity import pack
from test_scorer import Call

from voicesim.lab.app import create_app
from voicesim.lab.archive import directory_files
from voicesim.lab.store import TRAINER, Store, Upload, create_user
from voicesim.persona.persona import find_persona, load_persona
from voicesim.report.html import write_report
from voicesim.report.numbers import call_numbers
from voicesim.report.terminal import print_scorecard
from voicesim.rubric.grade import score_call
from voicesim.rubric.rubric import load_rubric
from voicesim.session.script import find_script, load_script
from voicesim.speech.tts import Synthesizer

RUBRIC = load_rubric()


def _session(out: Path, persona: str, script: str, seed: int = 0) -> dict:
    """A whole simulated call (the script's words for Whisper), its report written."""
    p = load_persona(find_persona(persona), set(RUBRIC.library.detectors))
    run_script_call(p, load_script(find_script(script)), RUBRIC, seed, Synthesizer(), out)
    write_report(out)
    return json.loads((out / "scorecard.json").read_text())


def _terminal(card: dict) -> str:
    buf = io.StringIO()
    print_scorecard(card, Console(file=buf, width=80, highlight=False, color_system=None))
    return buf.getvalue()


def _report_data(out: Path) -> dict:
    page = (out / "report.html").read_text()
    m = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S)
    return json.loads(m.group(1))


class _Lab:
    """A lab with trainer tina and trainee ann, through the API (sqlite store)."""

    def __init__(self, root: Path) -> None:
        self.store = Store(root)
        self.app = create_app(self.store)
        self.http = TestClient(self.app)
        with self.store.Session() as db:
            create_user(db, "tina", PASSWORD, TRAINER)
            db.commit()
        tina = self._login("tina")
        cohort = self.http.post("/api/cohorts", headers=tina, json={"name": "c"}).json()["id"]
        body = {"username": "ann", "password": PASSWORD}
        self.http.post(f"/api/cohorts/{cohort}/trainees", headers=tina, json=body)
        self.ann = self._login("ann")

    def _login(self, name: str) -> dict:
        r = self.http.post("/api/login", json={"username": name, "password": PASSWORD})
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def session_page(self, session_dir: Path) -> str:
        """The lab's page of the call uploaded from ``session_dir``, once the lab has scored
        it (on the words it heard itself; its scorecard is ``self.card``)."""
        r = self.http.post(
            "/api/sessions",
            headers={**self.ann, "Content-Type": "application/zip"},
            content=pack(directory_files(session_dir)),
        )
        assert r.status_code < 300, r.text
        settle(self.app)  # stored at once, scored from the lab's queue
        token = self.ann["Authorization"].removeprefix("Bearer ")
        page = TestClient(self.app, cookies={"lab_token": token}).get(f"/sessions/{r.json()['id']}")
        assert page.status_code == 200, page.text
        with self.store.Session() as db:
            up = db.get(Upload, r.json()["id"])
            self.card = json.loads((self.store.session_path(up) / "scorecard.json").read_text())
        return html.unescape(page.text)


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> _Lab:
    lab = _Lab(tmp_path_factory.mktemp("lab"))
    yield lab
    lab.store.close()


def test_every_view_of_a_call_shows_the_same_numbers_and_verdict(tmp_path, lab):
    out = tmp_path / "poor"
    card = _session(out, "damaged-blender", "poor-agent")  # talks over the customer
    st = card["stats"]
    crit = {c["id"]: c for f in card["families"] for c in f["criteria"]}
    # scorecard.json: each figure is the one its criterion judged, by the criterion's rule
    assert crit["no_interruptions"]["hits"] == st["interruptions"] >= 1
    assert crit["no_dead_air"]["hits"] == st["dead_air"]
    pace = st["pace"]
    assert crit["steady_pace"]["hits"] == pace["too_fast"] + pace["too_slow"]
    assert st["words_per_minute"] == pace["wpm"]
    lo, hi = st["talk_range_pct"]
    assert st["talk_pct"] == round(100 * st["talk_ratio"])
    talk_ok = crit["talk_ratio"]["earned"] == crit["talk_ratio"]["points"]
    assert talk_ok == (lo <= st["talk_pct"] <= hi) == st["talk_within"]
    rows = dict(call_numbers(card))
    assert f"{pace['wpm']} words a minute" in rows["pace"]
    assert rows["talk ratio"].startswith(f"{st['talk_pct']}% trainee")
    assert f"talked over the customer {st['interruptions']} time" in rows["interruptions"]
    verdict = "PASS" if card["passed"] else "FAIL"

    # the terminal scorecard
    term = _terminal(card)
    for label, value in rows.items():
        assert f"{label}: {value}" in " ".join(term.split()), label
    assert f"-> {verdict}" in term and "None" not in term

    # the HTML report: the same rows, and the same verdict
    data = _report_data(out)
    assert [tuple(r) for r in data["numbers"]] == list(rows.items())
    assert data["passed"] is card["passed"] and data["scorable"] is True

    # the lab's session page: the figures of the lab's own scorecard (the lab scores the words
    # it hears in the call's audio, so its pace may differ by a word or two from the station's)
    page = lab.session_page(out)
    lab_rows = dict(call_numbers(lab.card))
    assert lab_rows.keys() == rows.keys()
    for label, value in lab_rows.items():
        assert re.search(
            rf'data-figure="{label}"><th>{label}</th><td>{re.escape(value)}</td>', page
        )
    lab_verdict = "PASS" if lab.card["passed"] else "FAIL"
    assert lab_verdict == verdict
    assert f'<span class="{verdict.lower()}">{verdict}</span>' in page
    assert "None" not in re.sub(
        r"<[^>]+>", " ", page.replace("<p>None.</p>", "")
    )  # "changes: None."


def test_a_call_that_is_not_scorable_has_no_verdict_and_no_family_scores_anywhere(tmp_path, lab):
    out = tmp_path / "silent"
    card = _session(out, "late-order", "silent-trainee")
    assert card["scorable"] is False and card["passed"] is False
    assert all(f["applies"] is False for f in card["families"])  # no family has a score

    term = _terminal(card)
    assert "Not scorable" in term
    assert not re.search(r"\bPASS\b|\bFAIL\b|pass mark|/100", term)
    assert not any(
        re.match(rf"{f['name']}\b", line) for f in card["families"] for line in term.splitlines()
    )
    assert "None" not in term

    data = _report_data(out)
    assert data["scorable"] is False and data["not_scorable"]
    page = lab.session_page(out)
    assert 'id="not-scorable"' in page and 'id="families"' not in page
    assert not re.search(r">(?:PASS|FAIL)<", page)


def test_a_recording_shows_no_mood_rather_than_none():
    call = Call().customer(
        0.5, 4.0, "My desk is two weeks late and nobody can tell me where it is."
    )
    call.trainee(4.5, "I'm so sorry about your desk. Let me find out what happened, one moment.")
    card = score_call(call.end(12.0, "recorded"), RUBRIC).to_dict()
    assert card["outcome"]["final_mood"] is None  # the data says so; no view prints it
    rows = dict(call_numbers(card))
    assert rows["outcome"] == "a recorded call"
    assert "None" not in _terminal(card)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_the_report_in_a_browser_shows_the_numbers_and_no_verdict_when_not_scorable(tmp_path):
    from playwright.sync_api import sync_playwright

    poor, silent = tmp_path / "poor", tmp_path / "silent"
    card = _session(poor, "damaged-blender", "poor-agent")
    _session(silent, "late-order", "silent-trainee")
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 800, "height": 900})
        page.goto((poor / "report.html").as_uri())
        page.wait_for_selector("#stats tr")
        shown = page.locator("#stats").inner_text()
        for label, value in call_numbers(card):
            assert label in shown and value in shown
        assert ("PASS" if card["passed"] else "FAIL") in page.locator("#verdict").inner_text()
        page.goto((silent / "report.html").as_uri())
        page.wait_for_selector("#not-scorable")
        head = page.locator("#verdict").inner_text()
        assert "Not scorable" in head and "FAIL" not in head and "PASS" not in head
        assert page.locator("#scorecard table").count() == 0
        assert "None" not in page.locator("body").inner_text()
        browser.close()


def test_a_question_is_no_listening_signal():
    """ "Right?" checks with the customer; "mm-hmm" tells them you are listening."""

    def listening(said: str) -> float:
        call = Call().customer(0.5, 8.0, "The desk was due two weeks ago and it never came.")
        call.trainee(3.0, said).trainee(9.0, "I'm so sorry about your desk, let me check it now.")
        card = score_call(call.end(14.0, "recorded"), RUBRIC)
        return card.criterion("active_listening").earned

    assert listening("Mm-hmm.") == 5
    assert listening("Right?") == 0
