"""Bulk roster import (issue 27, item 6): a CSV of names and e-mails into a cohort, with a
one-time welcome link per new trainee and a report of every line."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

from fastapi.testclient import TestClient  # noqa: E402
from lab_support import PASSWORD, param_store, web_login  # noqa: E402

from voicesim.lab.app import create_app  # noqa: E402
from voicesim.lab.store import TRAINER, create_user  # noqa: E402

NEW_PASSWORD = "violet staple engine"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    s = param_store(request, tmp_path, "roster")
    yield s
    s.close()


class Desk:
    """Trainers tina (cohorts June and July; ann in June) and tom (trainee tess)."""

    def __init__(self, store) -> None:  # noqa: ANN001
        self.http = TestClient(create_app(store))
        with store.Session() as db:
            create_user(db, "tina", PASSWORD, TRAINER)
            create_user(db, "tom", PASSWORD, TRAINER)
            db.commit()
        self.tina, self.tom = self.login("tina"), self.login("tom")
        self.june = self.post("/api/cohorts", self.tina, json={"name": "June"}).json()["id"]
        self.july = self.post("/api/cohorts", self.tina, json={"name": "July"}).json()["id"]
        self.theirs = self.post("/api/cohorts", self.tom, json={"name": "Tom's"}).json()["id"]
        self.add(self.june, "ann", self.tina)
        self.add(self.theirs, "tess", self.tom)

    def login(self, name: str, password: str = PASSWORD) -> dict:
        r = self.http.post("/api/login", json={"username": name, "password": password})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def post(self, url: str, headers: dict, **kw):  # noqa: ANN003, ANN201
        return self.http.post(url, headers=headers, **kw)

    def add(self, cohort: int, name: str, headers: dict) -> None:
        body = {"username": name, "password": PASSWORD}
        r = self.post(f"/api/cohorts/{cohort}/trainees", headers, json=body)
        assert r.status_code == 201, r.text

    def roster(self, cohort: int, text: str | bytes, headers: dict | None = None):  # noqa: ANN201
        data = text.encode() if isinstance(text, str) else text
        hdrs = {**(headers or self.tina), "Content-Type": "text/csv"}
        return self.post(f"/api/cohorts/{cohort}/roster", hdrs, content=data)

    def members(self, cohort: int) -> set[str]:
        r = self.http.get(f"/api/cohorts/{cohort}/table", headers=self.tina)
        assert r.status_code == 200, r.text
        return {row["trainee"] for row in r.json()} if isinstance(r.json(), list) else set()


def cannot_sign_in(desk: Desk, name: str) -> bool:
    """Whether no password (not even the stored marker's text) signs ``name`` in."""
    tries = ["!no password yet", PASSWORD, "x" * 12]
    return all(
        desk.http.post("/api/login", json={"username": name, "password": p}).status_code == 401
        for p in tries
    )


@pytest.fixture
def desk(store) -> Desk:
    return Desk(store)


ROSTER = """name,email
cara,cara@example.com
dan,
ann,ann@example.com
tess,tess@example.com
Cara.,cara2@example.com

eve smith,eve@example.com
fay,not-an-address
"""


def test_a_roster_creates_adds_invites_and_refuses_line_by_line(desk):
    r = desk.roster(desk.july, ROSTER)
    assert r.status_code == 200, r.text
    rows = {row["line"]: row for row in r.json()["rows"]}
    assert r.json()["counts"] == {
        "created": 2,
        "added": 1,
        "invited": 1,
        "already": 0,
        "refused": 3,
    }
    assert rows[2]["status"] == rows[3]["status"] == "created"
    assert rows[2]["email"] == "cara@example.com" and "email" not in rows[3]
    assert rows[2]["link"].startswith("http://testserver/welcome/")
    assert rows[4]["status"] == "added"  # tina's own trainee from June
    assert rows[5]["status"] == "invited"  # tom's trainee: only she may accept
    assert rows[6]["status"] == "refused"
    assert (
        rows[6]["detail"]
        == "roster:6: name: already on line 2 of this file (names ignore case and dots)"
    )
    assert rows[8]["detail"].startswith("roster:8: name:")  # a space in the name
    assert rows[9]["detail"] == "roster:9: email: not an e-mail address"
    assert 7 not in rows  # a blank line is no trainee

    # Imported again: nobody is created twice, everyone is already there.
    again = desk.roster(desk.july, "cara\ndan\nann\n").json()
    assert [row["status"] for row in again["rows"]] == ["already"] * 3

    # A new trainee cannot sign in before choosing a password with the link.
    assert cannot_sign_in(desk, "cara")


def test_the_welcome_link_sets_a_password_once(desk):
    link = desk.roster(desk.june, "cara,cara@example.com\n").json()["rows"][0]["link"]
    path = link.removeprefix("http://testserver")
    web = TestClient(desk.http.app)
    form = web.get(path)
    assert form.status_code == 200 and "Welcome, cara" in form.text
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', form.text).group(1)

    weak = web.post(path, data={"password": "password", "csrf": token}, follow_redirects=False)
    assert weak.status_code == 303 and "error=password" in weak.headers["location"]

    done = web.post(path, data={"password": NEW_PASSWORD, "csrf": token}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert "cara (trainee)" in web.get("/").text  # signed in by the link
    desk.login("cara", NEW_PASSWORD)

    # Spent: the same link opens nothing, and cannot set another password.
    assert TestClient(desk.http.app).get(path).status_code == 404
    again = web.post(path, data={"password": "another long phrase", "csrf": token})
    assert again.status_code == 404
    desk.login("cara", NEW_PASSWORD)


def test_a_password_set_by_the_trainer_spends_the_link(desk):
    link = desk.roster(desk.june, "dan\n").json()["rows"][0]["link"]
    url = f"/api/cohorts/{desk.june}/trainees/dan/password"
    assert desk.post(url, desk.tina, json={"password": NEW_PASSWORD}).status_code < 300
    assert desk.http.get(link.removeprefix("http://testserver")).status_code == 404
    assert desk.http.get("/welcome/not-a-real-token").status_code == 404


@pytest.mark.parametrize(
    "data,status,message",
    [
        (b"cara\n\xff\xfe broken\n", 422, "roster:2: not UTF-8 text"),
        (b"", 422, "roster: no trainees in it"),
        (b"name\n" + b"x\n" * 1001, 413, "roster: 1001 trainees; at most 1000 per import"),
        (b"a" * (256 * 1024 + 1), 413, "larger than 256 KiB"),
        (b"cara\x00,\n", 422, "roster: not a text file"),
    ],
)
def test_a_file_that_is_no_roster_changes_nothing(desk, data, status, message):
    r = desk.roster(desk.june, data)
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]
    assert cannot_sign_in(desk, "cara")
    again = desk.roster(desk.june, "cara\n").json()["rows"][0]
    assert again["status"] == "created"  # the refused file created nobody


def test_only_the_cohorts_trainer_imports(desk):
    r = desk.roster(desk.june, "cara\n", headers=desk.tom)
    assert r.status_code == 404
    ann = desk.login("ann")
    assert desk.roster(desk.june, "cara\n", headers=ann).status_code == 403


def test_the_cohort_page_imports_a_roster_file_and_shows_the_links(desk):
    web = TestClient(desk.http.app)
    assert web_login(web, "tina", follow_redirects=False).status_code == 303
    page = web.get(f"/cohorts/{desk.june}").text
    assert 'id="roster"' in page and 'enctype="multipart/form-data"' in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    files = {"file": ("june.csv", b"name,email\ncara,cara@example.com\nbad name,\n", "text/csv")}
    r = web.post(f"/cohorts/{desk.june}/roster", data={"csrf": csrf}, files=files)
    assert r.status_code == 200, r.text
    assert "1 created, 0 added, 0 invited, 0 already in the cohort, 1 refused." in r.text
    assert "june.csv:3: name:" in r.text
    link = re.search(r'<code class="link">([^<]+)</code>', r.text).group(1)
    assert TestClient(desk.http.app).get(link.removeprefix("http://testserver")).status_code == 200

    # A file that cannot be read goes back to the cohort page with the reason.
    bad = {"file": ("june.csv", b"\xff\xfe", "text/csv")}
    r = web.post(
        f"/cohorts/{desk.june}/roster", data={"csrf": csrf}, files=bad, follow_redirects=False
    )
    assert r.status_code == 303 and "june.csv%3A1%3A%20not%20UTF-8" in r.headers["location"]


def test_in_a_browser_at_375_px_the_roster_and_the_welcome_page_fit(tmp_path):
    """The trainer picks the file on the cohort page, copies a link from the report; the
    trainee opens it, chooses a password and is signed in: nothing wider than a phone."""
    from browser_support import CHROMIUM, launch
    from lab_support import LiveServer, page_login
    from playwright.sync_api import sync_playwright

    from voicesim.lab.store import Store

    if CHROMIUM is None:
        pytest.skip("chromium is not installed (`make setup-test` installs it)")
    desk = Desk(Store(tmp_path / "lab"))
    roster = tmp_path / "june.csv"
    long_mail = "a.very.long.address.for.a.narrow.phone@training-department.example.com"
    roster.write_text(f"name,email\ncara,{long_mail}\nbad name,\n", encoding="utf-8")
    wide = {}
    with LiveServer(desk.http.app) as server, sync_playwright() as p:
        browser = launch(p)
        trainer = browser.new_page(viewport={"width": 375, "height": 800})
        page_login(trainer, server.url, "tina")
        trainer.goto(f"{server.url}/cohorts/{desk.june}")
        trainer.set_input_files("#roster input[name=file]", str(roster))
        with trainer.expect_navigation():
            trainer.click("#roster button")
        assert "1 created" in trainer.inner_text("#roster-counts")
        wide["report"] = trainer.evaluate("document.documentElement.scrollWidth")
        link = trainer.inner_text("#roster-report code.link")

        trainee = browser.new_context(viewport={"width": 375, "height": 800}).new_page()
        trainee.goto(link)
        wide["welcome"] = trainee.evaluate("document.documentElement.scrollWidth")
        trainee.fill("input[name=password]", NEW_PASSWORD)
        with trainee.expect_navigation():
            trainee.click("button:has-text('Set password')")
        assert "cara (trainee)" in trainee.inner_text("header")
        browser.close()
    assert all(w <= 375 for w in wide.values()), wide
