"""A drill station of a lab, before and after the call (no audio): choosing the drill, the
rubric fetched for it, the outbox sent at sign-in, and the clear errors of `voicesim drill --lab`
that all come before any audio device is opened."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from lab_support import (  # noqa: E402
    PASSWORD,
    LiveServer,
    TrainerDesk,
    simulated_session,
    strict_rubric,
)

from voicesim.cli import main  # noqa: E402
from voicesim.errors import VoicesimError  # noqa: E402
from voicesim.lab.client import enqueue  # noqa: E402
from voicesim.lab.station import choose_drill, prepare, upload  # noqa: E402


def _drill(i: int, left: int = 3, due: str | None = None) -> dict:
    return {
        "id": i,
        "persona": "damaged-blender",
        "rubric": "default",
        "pass_mark": 70,
        "due": due,
        "attempts_allowed": 3,
        "attempts_left": left,
    }


def test_choose_drill_rules():
    one, used, two = _drill(1), _drill(2, left=0), _drill(3)
    assert choose_drill([one, used], None) is one  # the only one with attempts left
    assert choose_drill([one, used, two], 3) is two
    with pytest.raises(VoicesimError, match="no attempts left for drill #2"):
        choose_drill([one, used], 2)
    with pytest.raises(VoicesimError, match=r"drill #9 is not assigned to you \(yours: #1"):
        choose_drill([one], 9)
    with pytest.raises(VoicesimError, match="no drills are assigned to you"):
        choose_drill([], None)
    with pytest.raises(VoicesimError, match="all your drills are used up"):
        choose_drill([used], None)
    with pytest.raises(VoicesimError, match="choose one with --drill N: #1 .*; #3 "):
        choose_drill([one, used, two], None)  # no terminal to ask on
    assert choose_drill([one, used, two], None, ask=lambda open_: open_[-1]) is two


@pytest.fixture(scope="module")
def session_dir(tmp_path_factory) -> Path:
    return simulated_session(tmp_path_factory.mktemp("stationsim") / "session", "model-agent")


@pytest.fixture
def lab(tmp_path):
    """A running lab with trainer tina, trainee ann in a cohort, and no drills yet."""
    desk = TrainerDesk(tmp_path / "lab")
    with LiveServer(desk.app) as server:
        server.desk = desk
        yield server
    desk.close()


def test_prepare_sends_the_outbox_then_fetches_the_drill_and_rubric(lab, session_dir, tmp_path):
    lab.desk.add_rubric("strict", strict_rubric())
    drill_id = lab.desk.assign(
        persona="damaged-blender", rubric="strict", due="2020-01-01", allow_practice=True
    )
    outbox = tmp_path / "outbox"
    earlier = tmp_path / "earlier"  # another session, left in the outbox by an earlier run
    shutil.copytree(session_dir, earlier)
    meta = json.loads((earlier / "meta.json").read_text())
    (earlier / "meta.json").write_text(json.dumps({**meta, "seed": 12345}))
    enqueue(earlier, outbox)
    said: list[str] = []
    station = prepare(lab.url, "ann", PASSWORD, outbox=outbox, say=said.append)
    assert any("sent 1 earlier session" in s for s in said)
    assert any("was due on 2020-01-01" in s for s in said)
    assert station.drill["id"] == drill_id and station.persona == "damaged-blender"
    assert station.rubric_file.parent == tmp_path / ".lab-rubrics"
    assert station.rubric_file.read_text() == strict_rubric()
    # this session is for the drill: the server scores it with the drill's rubric
    outcome, path = upload(station, session_dir)
    answer = outcome.arrived[path]
    assert answer["drill"] == drill_id and answer["duplicate"] is False
    card = json.loads((session_dir / "scorecard.json").read_text())
    assert card["rubric"]["id"] == "default" and answer["overall"] != card["overall"]
    sessions = lab.desk.call("get", "/api/sessions")
    assert [s["drill"] for s in sessions] == [drill_id, None]
    assert list(outbox.glob("*.zip")) == []


def _drill_cli(lab, *extra: str) -> list[str]:
    return ["drill", "--lab", lab.url, "--user", "ann", "--password", PASSWORD, *extra]


def test_drill_lab_errors_come_before_any_audio(lab, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default outbox and rubric folder land here
    wrong = ["drill", "--lab", lab.url, "--user", "ann", "--password", "wrong password"]
    assert main(wrong) == 2
    assert "lab sign-in failed: 401 wrong user name or password" in capsys.readouterr().err
    assert main(_drill_cli(lab)) == 2
    assert "nothing to run: no drills are assigned to you" in capsys.readouterr().err
    first = lab.desk.assign(persona="damaged-blender")
    second = lab.desk.assign(persona="late-order", attempts_allowed=1)
    assert main(_drill_cli(lab)) == 2  # two drills and no terminal to ask on
    err = capsys.readouterr().err
    assert "choose one with --drill N" in err and f"#{first} " in err and f"#{second} " in err
    assert main(_drill_cli(lab, "--drill", "99")) == 2
    assert "drill #99 is not assigned to you" in capsys.readouterr().err
    assert main(_drill_cli(lab, "--persona", "late-order")) == 2
    assert "leave out --persona and --rubric" in capsys.readouterr().err
    assert main(["drill", "--lab", lab.url]) == 2
    assert "--lab needs --user" in capsys.readouterr().err
    assert main(["drill", "--lab", "http://127.0.0.1:9", "--user", "ann", "--password", "x"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the lab at http://127.0.0.1:9" in err
    assert "To practise meanwhile: voicesim drill --persona ID" in err
    assert main(["drill", "--user", "ann", "--persona", "late-order"]) == 2
    assert "--drill and --user go with --lab" in capsys.readouterr().err
    assert main(["lab", "drills", "--lab", lab.url, "--user", "ann", "--password", PASSWORD]) == 0
    listed = capsys.readouterr().out
    assert f"#{second} late-order (rubric default, pass mark 70, 1 of 1 attempts left)" in listed
    assert not (tmp_path / "sessions").exists() or not list((tmp_path / "sessions").glob("2*"))
