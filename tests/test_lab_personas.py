"""Persona editing in the lab (issue 27, item 6): trainers add personas as YAML or as an edited
copy made in a form over the persona schema (each mistake on its field, a preview on simulated
calls), drills name them, and the station and the server run and score the same text."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
import yaml

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

from fastapi.testclient import TestClient  # noqa: E402
from lab_support import PASSWORD, form_token, param_store, web_login  # noqa: E402
from test_lab_roster import Desk  # noqa: E402

from voicesim.lab.library import persona_text  # noqa: E402
from voicesim.lab.models import MAX_PERSONA  # noqa: E402
from voicesim.lab.persona_editor import edited, form_of  # noqa: E402
from voicesim.lab.store import Store  # noqa: E402
from voicesim.persona.persona import PERSONA_DIR, persona_files  # noqa: E402
from voicesim.rubric.rubric import load_rubric  # noqa: E402

BLENDER = (PERSONA_DIR / "damaged-blender.yaml").read_text(encoding="utf-8")
MOVES = set(load_rubric(None).library.detectors)


def renamed(text: str, new_id: str, name: str = "Dana Copy") -> str:
    """The damaged-blender persona under another id and name."""
    text = text.replace("id: damaged-blender\n", f"id: {new_id}\n", 1)
    return text.replace("name: Dana Whitfield\n", f"name: {name}\n", 1)


# -- the form ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", persona_files(), ids=lambda p: p.stem)
def test_the_form_holds_every_field_of_a_persona_and_gives_it_back_unchanged(path):
    text = path.read_text(encoding="utf-8")
    form = form_of(text)
    data = yaml.safe_load(text)
    assert form.values["id"] == ""  # a copy gets an id of its own
    assert form.values["mood.start"] == f"{data['mood']['start']:g}"
    assert form.values["opening"].splitlines() == data["opening"]
    assert "voice.rate" in form.values and "reactions.empathy.say" in form.values
    new_text, persona, form = edited(text, {**form.values, "id": "a-copy"}, "a-copy.yaml", MOVES)
    assert not form.errors and persona is not None and persona.id == "a-copy"
    assert yaml.safe_load(new_text) == {**data, "id": "a-copy"}


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("mood.start", "furious", "'furious' is not of type 'number'"),
        ("mood.start", "1.5", "greater than the maximum of 1"),
        ("mood.start", "0.99", "hang up before saying a word"),
        ("voice.rate", "nan", "not of type 'number'"),
        ("opening", "  \n ", "required field 'opening' is missing"),
        ("reactions.empathy.mood", "-3", "less than the minimum of -1"),
        ("id", "", "give the new persona an id of its own"),
        ("id", "Has Spaces", "does not match"),
        ("talked_over.behavior", "sulk", "is not one of"),
        ("interrupts.after_s", "3", "required field 'say' is missing"),
    ],
)
def test_a_mistake_is_shown_on_its_field(field, value, message):
    fields = {"id": "dana-copy", field: value}
    _, persona, form = edited(BLENDER, fields, "dana-copy.yaml", MOVES)
    assert persona is None
    where = "interrupts.say" if field == "interrupts.after_s" else field
    assert message in form.errors[where], form.errors
    assert form.values[field] == value  # what the trainer typed stays in the field


def test_an_edit_becomes_the_persona_the_loader_reads():
    fields = {
        "id": "dana-calm",
        "name": "Dana, calmer",
        "mood.start": "0.4",
        "mood.patience_s": "12",
        "opening": "Hello there.\nI have a question about my blender.",
        "voice.rate": "150",
        "talked_over.behavior": "stop",
        "prosody.hesitant": "true",
    }
    text, persona, form = edited(BLENDER, fields, "dana-calm.yaml", MOVES)
    assert not form.errors and persona is not None
    assert (persona.id, persona.name, persona.mood.start) == ("dana-calm", "Dana, calmer", 0.4)
    assert persona.mood.patience_s == 12 and persona.voice.rate == 150
    assert persona.opening == ["Hello there.", "I have a question about my blender."]
    assert persona.talked_over.behavior == "stop" and persona.prosody.hesitant is True
    assert "dana-calm" in text


# -- the API, on SQLite and PostgreSQL --------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    s = param_store(request, tmp_path, "personas")
    yield s
    s.close()


def desk_of(store: Store) -> Desk:
    """The roster tests' desk (tina: June with ann; tom: his cohort with tess), signed in."""
    desk = Desk(store)
    desk.ann, desk.tess = desk.login("ann"), desk.login("tess")
    return desk


def call(desk: Desk, method: str, url: str, who: dict, **kw):  # noqa: ANN003, ANN201
    r = getattr(desk.http, method)(url, headers=who, **kw)
    assert r.status_code < 300, r.text
    return r.json()


def test_a_trainers_persona_is_listed_assigned_and_fetched_for_its_drill(store):
    desk = desk_of(store)
    text = renamed(BLENDER, "dana-copy")
    r = desk.http.post("/api/personas", headers=desk.tina, json={"text": text})
    assert r.status_code == 201, r.text
    assert r.json()["id"] == "dana-copy" and r.json()["by"] == "tina"
    listed = {p["id"]: p for p in call(desk, "get", "/api/personas", desk.tom)}
    assert listed["damaged-blender"]["source"] == "built in"
    assert listed["dana-copy"]["name"] == "Dana Copy" and listed["dana-copy"]["by"] == "tina"

    # ids are unique in the lab: neither another trainer's copy nor a bundled persona's id
    again = desk.http.post("/api/personas", headers=desk.tom, json={"text": text})
    assert again.status_code == 409 and "id: the lab has a persona 'dana-copy'" in again.text
    bundled = desk.http.post("/api/personas", headers=desk.tom, json={"text": BLENDER})
    assert bundled.status_code == 409 and "'damaged-blender'" in bundled.text
    bad = text.replace("  start: 0.65", "  start: high")
    wrong = desk.http.post("/api/personas", headers=desk.tina, json={"text": bad})
    assert wrong.status_code == 422
    assert re.search(r"persona\.yaml:\d+: mood\.start: 'high' is not of type", wrong.text)
    # only trainers add or list personas
    assert desk.http.post("/api/personas", headers=desk.ann, json={"text": text}).status_code == 403
    assert desk.http.get("/api/personas", headers=desk.ann).status_code == 403

    drill = call(
        desk, "post", f"/api/cohorts/{desk.june}/drills", desk.tina, json={"persona": "dana-copy"}
    )
    fetched = call(desk, "get", f"/api/drills/{drill['id']}/persona", desk.ann)
    assert fetched == {"drill": drill["id"], "id": "dana-copy", "text": text}
    builtin = call(
        desk, "post", f"/api/cohorts/{desk.june}/drills", desk.tina, json={"persona": "late-order"}
    )
    served = call(desk, "get", f"/api/drills/{builtin['id']}/persona", desk.ann)["text"]
    assert served == (PERSONA_DIR / "late-order.yaml").read_text(encoding="utf-8")
    # another trainer's trainee, and that trainer, get nothing of this drill
    for who in (desk.tess, desk.tom):
        r = desk.http.get(f"/api/drills/{drill['id']}/persona", headers=who)
        assert r.status_code == 404
    # the rubric rule: every trainer may assign any persona of the lab
    july = {"persona": "dana-copy"}
    assert (
        desk.http.post(
            f"/api/cohorts/{desk.theirs}/drills", headers=desk.tom, json=july
        ).status_code
        == 201
    )
    unknown = desk.http.post(
        f"/api/cohorts/{desk.june}/drills", headers=desk.tina, json={"persona": "nobody"}
    )
    assert unknown.status_code == 422 and "dana-copy" in unknown.text


# -- hostile input ----------------------------------------------------------------------------------
@pytest.fixture
def lab(tmp_path):
    store = Store(tmp_path / "lab")
    desk = desk_of(store)
    yield desk
    store.close()


BOMB = """format: 1
id: bomb
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
"""


def test_hostile_personas_are_refused_with_a_reason_and_markup_stays_text(lab):
    def add(text: str):  # noqa: ANN202
        return lab.http.post("/api/personas", headers=lab.tina, json={"text": text})

    big = add(BLENDER + "#" * MAX_PERSONA)
    assert big.status_code == 422 and "at most 65536 characters" in big.text
    bomb = add(BOMB)
    assert bomb.status_code == 422 and "expands to more than" in bomb.text
    many = "x: &x 1\n" + "".join(f"y{i}: *x\n" for i in range(150))
    aliases = add(many)
    assert aliases.status_code == 422 and "more than 100 aliases" in aliases.text
    deep = add("a: " + "[" * 200 + "]" * 200)
    assert deep.status_code == 422 and "nested more than" in deep.text
    not_mapping = add("- just\n- a list\n")
    assert not_mapping.status_code == 422 and "expected a mapping" in not_mapping.text
    path_id = add(renamed(BLENDER, "../../etc"))
    assert path_id.status_code == 422 and "id: '../../etc' does not match" in path_id.text

    markup = '"<script>alert(1)</script><b>Dana</b>"'
    assert add(renamed(BLENDER, "dana-markup", markup)).status_code == 201
    web = TestClient(lab.http.app)
    web_login(web, "tina")
    for url in ("/", "/personas/edit?source=dana-markup"):
        page = web.get(url).text
        assert "<script>alert(1)" not in page and "<b>Dana" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;Dana&lt;/b&gt;" in page

    # the page's upload: a file too large, not UTF-8, or a bomb goes back home with the reason
    csrf = form_token(web.get("/").text)
    for content, reason in (
        (BLENDER.encode() + b"#" * (4 * MAX_PERSONA + 8), "at most 65536 characters"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (BOMB.encode(), "expands to more than"),
    ):
        r = web.post(
            "/personas",
            data={"csrf": csrf},
            files={"file": ("p.yaml", content, "application/yaml")},
            follow_redirects=False,
        )
        assert r.status_code == 303 and "error=" in r.headers["location"]
        assert reason.replace(" ", "%20") in r.headers["location"], r.headers["location"]

    # a trainee has no persona pages; nobody changes a stored persona (a copy needs a new id)
    trainee = TestClient(lab.http.app)
    web_login(trainee, "ann")
    assert trainee.get("/personas/edit", follow_redirects=False).status_code in (303, 403)
    tom = TestClient(lab.http.app)
    web_login(tom, "tom")
    page = tom.get("/personas/edit?source=dana-markup").text
    form = {"csrf": form_token(page)}
    r = tom.post(
        "/personas/edit",
        data={**form, "source": "dana-markup", "id": "dana-markup", "action": "save"},
    )
    assert r.status_code == 422 and 'data-field="id"' in r.text
    stored = call(lab, "get", "/api/personas", lab.tina)
    assert [p["by"] for p in stored if p["id"] == "dana-markup"] == ["tina"]


# -- the editor's pages -----------------------------------------------------------------------------
def test_the_editor_checks_saves_and_the_copy_runs_a_drill(lab):
    web = TestClient(lab.http.app)
    web_login(web, "tina")
    home = web.get("/").text
    assert 'href="/personas/edit"' in home and 'id="personas"' in home
    page = web.get("/personas/edit?source=damaged-blender").text
    assert 'name="mood.start" value="0.65"' in page and 'name="voice.rate"' in page
    base = {"csrf": form_token(page), "source": "damaged-blender", "id": "dana-copy"}

    r = web.post("/personas/edit", data={**base, "mood.start": "2", "action": "check"})
    assert r.status_code == 422
    assert re.search(r'data-field="mood.start">2 is greater than the maximum of 1<', r.text)
    assert 'name="mood.start" value="2"' in r.text

    ok = web.post("/personas/edit", data={**base, "mood.start": "0.5", "action": "check"})
    assert ok.status_code == 200 and "no mistakes found" in ok.text
    saved = web.post(
        "/personas/edit",
        data={**base, "mood.start": "0.5", "name": "Dana Copy", "action": "save"},
        follow_redirects=False,
    )
    assert saved.status_code == 303 and "persona%20dana-copy%20added" in saved.headers["location"]
    listed = {p["id"]: p for p in call(lab, "get", "/api/personas", lab.tina)}
    assert listed["dana-copy"]["based_on"] == "damaged-blender"
    drill = call(
        lab, "post", f"/api/cohorts/{lab.june}/drills", lab.tina, json={"persona": "dana-copy"}
    )
    text = call(lab, "get", f"/api/drills/{drill['id']}/persona", lab.ann)["text"]
    assert yaml.safe_load(text)["mood"]["start"] == 0.5

    # a copy of the copy starts from its values, and its id is taken now
    assert 'name="mood.start" value="0.5"' in web.get("/personas/edit?source=dana-copy").text
    again = web.post("/personas/edit", data={**base, "action": "save"})
    assert again.status_code == 422 and re.search(r'data-field="id">[^<]*dana-copy', again.text)


class _Submitted(HTMLParser):
    """What a browser submits of a page's form: inputs, textareas, and each select's selected
    option (else its first)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "input" and a.get("name") and a.get("type") not in ("file", "checkbox"):
            self.fields[a["name"]] = a.get("value") or ""
        elif tag == "textarea":
            self._textarea = a["name"]
            self.fields[self._textarea] = ""
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select:
            if self._select not in self.fields or "selected" in a:
                self.fields[self._select] = a.get("value", "\0")  # "\0": its text follows
            self._option = self._select if self.fields[self._select] == "\0" else None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.fields[self._textarea] += data
        elif getattr(self, "_option", None):
            self.fields[self._option] = data
            self._option = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None


@pytest.mark.parametrize("source", ["damaged-blender", "confused-no-exchange"])
def test_the_page_as_a_browser_submits_it_saves_the_persona_unchanged(lab, source):
    """Optional fields a persona leaves out (talked_over, interrupts, prosody.hesitant) stay
    out: a select the browser submits with its first option must not fill them in."""
    web = TestClient(lab.http.app)
    web_login(web, "tina")
    parser = _Submitted()
    parser.feed(web.get(f"/personas/edit?source={source}").text)
    fields = {**parser.fields, "id": "a-copy", "action": "save"}
    r = web.post("/personas/edit", data=fields, follow_redirects=False)
    assert r.status_code == 303, r.text[-3000:]
    with lab.http.app.state.store.Session() as db:
        saved = yaml.safe_load(persona_text(db, "a-copy"))
    original = yaml.safe_load((PERSONA_DIR / f"{source}.yaml").read_text(encoding="utf-8"))
    assert saved == {**original, "id": "a-copy"}


def test_the_preview_runs_the_edited_customer_in_simulated_calls(lab):
    web = TestClient(lab.http.app)
    web_login(web, "tina")
    page = web.get("/personas/edit?source=damaged-blender").text
    opening = "Good morning. My new blender's jug came cracked, order four four seven one."
    data = {
        "csrf": form_token(page),
        "source": "damaged-blender",
        "id": "dana-copy",
        "opening": opening,
        "trainees": "damaged-blender",
        "preview_rubric": "default",
        "action": "preview",
    }
    r = web.post("/personas/edit", data=data)
    assert r.status_code == 200, r.text[-2000:]
    rows = re.findall(
        r'<tr data-kind="(good|bad)"><td>[^<]*</td><td class="score">([\d.]+)</td>', r.text
    )
    scores = {kind: float(score) for kind, score in rows}
    assert set(scores) == {"good", "bad"} and scores["good"] > scores["bad"]
    said = re.search(r'<details data-customer="good">.*?<li>([^<]*)</li>', r.text, re.S)
    assert said.group(1) == opening.replace("'", "&#39;")
    assert "dana-copy" not in {p["id"] for p in call(lab, "get", "/api/personas", lab.tina)}


# -- in a browser, and at the station ---------------------------------------------------------------
def test_in_a_browser_at_375_px_a_persona_is_edited_saved_assigned_and_run(tmp_path):
    """The trainer sees a mistake on its field, saves the copy, assigns a drill with it; the
    station fetches the copy's text, runs the call with it, and the lab scores it with it."""
    from browser_support import CHROMIUM, launch
    from lab_support import LiveServer, page_login, settle
    from playwright.sync_api import sync_playwright

    from voicesim.cli import main
    from voicesim.lab.station import prepare, upload

    if CHROMIUM is None:
        pytest.skip("chromium is not installed (`make setup-test` installs it)")
    store = Store(tmp_path / "lab")
    desk = desk_of(store)
    wide = {}
    with LiveServer(desk.http.app) as server, sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 375, "height": 800})
        page_login(page, server.url, "tina")
        wide["home"] = page.evaluate("document.documentElement.scrollWidth")
        with page.expect_navigation():
            page.click("#edit-persona")  # a copy of damaged-blender to start with
        wide["editor"] = page.evaluate("document.documentElement.scrollWidth")
        page.fill("input[name=id]", "dana-copy")
        page.fill("input[name=name]", "Dana Copy")
        page.fill("input[name='mood.start']", "2")
        with page.expect_navigation():
            page.click("button[value=check]")
        error = page.locator("label[data-field-name='mood.start'] .field-error")
        assert "greater than the maximum of 1" in error.inner_text()
        wide["editor with a mistake"] = page.evaluate("document.documentElement.scrollWidth")
        page.fill("input[name='mood.start']", "0.5")
        with page.expect_navigation():
            page.click("button[value=save]")
        assert "persona dana-copy added" in page.inner_text("body")
        assert "Dana Copy" in page.inner_text("#personas tr[data-persona=dana-copy]")
        page.goto(f"{server.url}/cohorts/{desk.june}")
        page.select_option("select[name=persona]", "dana-copy")
        page.check("input[name=allow_practice]")
        with page.expect_navigation():
            page.click("button:has-text('Assign drill')")
        assert "dana-copy" in page.inner_text("#drills")
        wide["cohort"] = page.evaluate("document.documentElement.scrollWidth")
        browser.close()

        station = prepare(server.url, "ann", PASSWORD, outbox=tmp_path / "outbox", say=print)
        assert station.persona == "dana-copy"
        stored = call(desk, "get", f"/api/drills/{station.drill['id']}/persona", desk.ann)
        assert station.persona_file.read_text(encoding="utf-8") == stored["text"]
        out = tmp_path / "call"
        argv = ["simulate", "--persona", str(station.persona_file), "--trainee", "model-agent"]
        assert (
            main([*argv, "--rubric", str(station.rubric_file), "--out", str(out), "--quiet"]) == 0
        )
        assert json.loads((out / "meta.json").read_text())["persona"]["id"] == "dana-copy"
        outcome, path = upload(station, out)
    answer = outcome.arrived[path]
    assert answer["drill"] == station.drill["id"] and answer["persona"] == "dana-copy"
    settle(desk.http.app)  # stored at once, scored from the lab's queue
    (session,) = [u for u in store.sessions_dir.iterdir() if u.is_dir()]
    card = json.loads((session / "scorecard.json").read_text())
    assert card["persona"]["name"] == "Dana Copy"  # the server scored with the lab's text
    store.close()
    assert all(w <= 375 for w in wide.values()), wide


@pytest.mark.parametrize(
    "field,value",
    [("time_limit_s", "1e9"), ("mood.patience_s", "99999"), ("mood.max_silences", "10000")],
)
def test_a_call_cannot_be_made_endless(field, value):
    """A preview runs the persona in the lab's scoring pool: no field may hold it for ever."""
    _, persona, form = edited(BLENDER, {"id": "slow", field: value}, "slow.yaml", MOVES)
    assert persona is None and "greater than the maximum" in form.errors[field]
