"""Rubric editing in the browser (issue 27, item 6): a form over the rubric's schema, each
mistake shown on its field, a preview on simulated calls, and the copy saved under a new name."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

from fastapi.testclient import TestClient  # noqa: E402
from lab_support import PASSWORD, form_token, web_login  # noqa: E402

from voicesim.lab.app import create_app  # noqa: E402
from voicesim.lab.editor import edited, form_of  # noqa: E402
from voicesim.lab.store import TRAINER, Store, create_user  # noqa: E402
from voicesim.rubric.rubric import DEFAULT_RUBRIC  # noqa: E402

TEXT = DEFAULT_RUBRIC.read_text(encoding="utf-8")
POINTS = "families.tone.criteria[0].points"


def test_every_field_of_the_form_is_a_field_of_the_rubric():
    form = form_of(TEXT)
    assert form.values["pass_mark"] == "70" and form.values[POINTS] == "10"
    assert "detectors.profanity.phrases" in form.values
    assert "families.tone.weight" in form.values
    assert [f["id"] for f in form.families][:1] == ["tone"]


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("pass_mark", "seventy", "a number from 0 to 100"),
        ("pass_mark", "nan", "a number from 0 to 100"),
        (POINTS, "-5", "a number from 0 to 1000"),
        ("families.tone.weight", "0", "a number above 0"),
        ("id", "", "give the new rubric an id of its own"),
        ("detectors.profanity.phrases", "darn\nre:(a)\\1", "backreference"),
    ],
)
def test_a_mistake_is_shown_on_its_field(field, value, message):
    fields = {"id": "strict", field: value}
    _, rubric, form = edited(TEXT, fields, "strict.yaml")
    assert rubric is None
    assert message.lower() in form.errors[field].lower(), form.errors
    assert form.values[field] == value  # what the trainer typed stays in the field


def test_an_edit_becomes_a_rubric_that_scores_with_it():
    fields = {
        "id": "strict",
        "name": "Strict",
        "pass_mark": "85",
        POINTS: "20",
        "detectors.gratitude.phrases": "thank you\nta very much\n!thanks to the",
    }
    text, rubric, form = edited(TEXT, fields, "strict.yaml")
    assert not form.errors and rubric is not None
    assert (rubric.id, rubric.name, rubric.pass_mark) == ("strict", "Strict", 85)
    assert rubric.families[0].criteria[0].points == 20
    assert "gratitude" in rubric.library.moves("Ta very much for waiting.")
    assert "ta very much" in text


@pytest.fixture
def web(tmp_path):
    store = Store(tmp_path / "lab")
    with store.Session() as db:
        create_user(db, "tina", PASSWORD, TRAINER)
        db.commit()
    client = TestClient(create_app(store))
    assert web_login(client, "tina", follow_redirects=False).status_code == 303
    yield client
    store.close()


def test_the_editor_checks_saves_and_refuses_a_taken_name(web):
    assert 'href="/rubrics/edit"' in web.get("/").text
    page = web.get("/rubrics/edit").text
    assert f'name="{POINTS}"' in page and 'name="pass_mark" value="70"' in page
    base = {"csrf": form_token(page), "source": "default", "lab_name": "strict", "id": "strict"}

    r = web.post("/rubrics/edit", data={**base, "pass_mark": "101", "action": "check"})
    assert r.status_code == 422
    assert re.search(r'data-field="pass_mark">a number from 0 to 100<', r.text)
    assert 'name="pass_mark" value="101"' in r.text

    ok = web.post("/rubrics/edit", data={**base, "pass_mark": "85", "action": "check"})
    assert ok.status_code == 200 and "no mistakes found" in ok.text

    saved = web.post(
        "/rubrics/edit",
        data={**base, "pass_mark": "85", POINTS: "20", "action": "save"},
        follow_redirects=False,
    )
    assert saved.status_code == 303 and "rubric%20strict%20added" in saved.headers["location"]
    listed = {r["name"]: r for r in web.get("/api/rubrics").json()}
    assert listed["strict"]["pass_mark"] == 85 and listed["strict"]["id"] == "strict"

    again = web.post("/rubrics/edit", data={**base, "action": "save"})
    assert again.status_code == 422 and 'data-field="lab_name"' in again.text
    builtin = web.post(
        "/rubrics/edit", data={**base, "lab_name": "x", "id": "default", "action": "save"}
    )
    assert builtin.status_code == 422 and 'data-field="id"' in builtin.text

    # A copy of the trainer's own rubric starts from its values.
    assert 'name="pass_mark" value="85"' in web.get("/rubrics/edit?source=strict").text


def test_the_preview_scores_the_personas_good_and_bad_calls_with_the_edit(web):
    page = web.get("/rubrics/edit").text
    data = {
        "csrf": form_token(page),
        "source": "default",
        "id": "strict",
        "pass_mark": "75",
        "persona": "damaged-blender",
        "action": "preview",
    }
    r = web.post("/rubrics/edit", data=data)
    assert r.status_code == 200, r.text
    rows = re.findall(
        r'<tr data-kind="(good|bad)"><td>[^<]*</td><td class="score">([\d.]+)</td><td>(.*?)</td>',
        r.text,
    )
    scores = {kind: (float(score), "PASS" in verdict) for kind, score, verdict in rows}
    assert set(scores) == {"good", "bad"}, r.text[-2000:]
    assert scores["good"][0] > scores["bad"][0]
    assert scores["good"][1] and not scores["bad"][1]
