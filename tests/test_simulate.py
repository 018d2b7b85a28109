"""End to end: `voicesim simulate` with the shipped model and poor agents."""

from __future__ import annotations

import json
import re

import pytest
import soundfile as sf

from voicesim.cli import build_parser, main
from voicesim.events import read_events
from voicesim.session.seed import SEED_RANGE, call_seed

pytestmark = pytest.mark.slow

ONSET_TOLERANCE_S = 0.100


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


@pytest.fixture(scope="module")
def calls(tmp_path_factory):
    """Run each shipped trainee script once through the CLI; reuse the sessions in every test."""
    out = {}
    for script in ("model-agent", "poor-agent"):
        d = tmp_path_factory.mktemp(script) / "session"
        rc = main(
            [
                "simulate",
                "--persona",
                "damaged-blender",
                "--trainee",
                script,
                "--seed",
                "0",  # the tests below know this call's customer lines
                "--out",
                str(d),
                "--quiet",
            ]
        )
        assert rc == 0
        out[script] = d
    return out


def _load(d):
    events = list(read_events(d / "events.jsonl"))
    card = json.loads((d / "scorecard.json").read_text())
    meta = json.loads((d / "meta.json").read_text())
    return events, card, meta


@pytest.mark.parametrize("script", ["model-agent", "poor-agent"])
def test_session_directory_is_complete(calls, script):
    d = calls[script]
    events, card, meta = _load(d)
    info = sf.info(str(d / "call.wav"))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 2, "PCM_16")
    end = next(e for e in events if e.type == "call_end")
    assert abs(info.frames / 16000 - end["duration"]) < 0.05
    assert meta["format"] == 1 and meta["status"] == "complete"
    assert meta["persona"]["id"] == "damaged-blender" and meta["rubric"]["id"] == "default"
    # the tests speak with the fast voices (conftest): the session says what spoke the persona
    spoken_by = meta["voices"]["customer"]["spoken_by"]
    assert spoken_by["voices"] == "fast" and spoken_by["engine"] == "hibari"
    assert card["format"] == 1 and 0 <= card["overall"] <= 100
    # the customer's channel holds audio exactly where its lines were played
    audio, _ = sf.read(str(d / "call.wav"), dtype="float32")
    first = next(e for e in events if e.type == "customer_line_start")
    before = audio[: int(first.t * 16000) - 10, 0]
    assert abs(before).max() < 1e-3
    assert abs(audio[int(first.t * 16000) : int(first.t * 16000) + 16000, 0]).max() > 0.05


@pytest.mark.parametrize("script", ["model-agent", "poor-agent"])
def test_transcripts_contain_the_scripted_words(calls, script):
    events, _, _ = _load(calls[script])
    finals = [e for e in events if e.type == "final"]
    replies = [e for e in events if e.type == "scripted" and e["kind"] in ("reply", "interrupt")]
    assert replies
    for r in replies:
        heard = " ".join(f["text"] for f in finals if f.t < r["end"] + 0.3 and f["end"] > r.t - 0.3)
        key = {w for w in _words(r["text"]) if len(w) >= 5}
        got = set(_words(heard))
        missing = key - got
        assert len(missing) <= max(1, len(key) // 10), f"{r['text']!r} heard as {heard!r}"


def test_every_scripted_interruption_is_found_and_none_invented(calls):
    events, _, _ = _load(calls["poor-agent"])
    interrupts = [e for e in events if e.type == "scripted" and e["kind"] == "interrupt"]
    overtalk = [e for e in events if e.type == "overtalk" and e["by"] == "trainee"]
    assert len(interrupts) == 2
    assert len(overtalk) == len(interrupts)
    for planned, found in zip(interrupts, overtalk, strict=True):
        assert abs(found.t - planned.t) <= ONSET_TOLERANCE_S
        assert found["duration"] >= 0.5
    # each overtalk was announced live, before it ended
    starts = [e for e in events if e.type == "overtalk_start"]
    assert [round(s.t, 3) for s in starts] == [round(o.t, 3) for o in overtalk]


def test_model_agent_never_talks_over_and_backchannel_is_not_overtalk(calls):
    events, card, _ = _load(calls["model-agent"])
    assert not [e for e in events if e.type in ("overtalk", "overtalk_start")]
    backchannels = [e for e in events if e.type == "scripted" and e["kind"] == "backchannel"]
    assert backchannels, "the model script has a backchannel during the customer's line"
    crit = {c["id"]: c for f in card["families"] for c in f["criteria"]}
    assert crit["no_interruptions"]["hits"] == 0


def test_poor_agent_dead_air_is_measured(calls):
    events, _, _ = _load(calls["poor-agent"])
    silences = [e for e in events if e.type == "silence"]
    assert len(silences) == 1
    assert 4.3 <= silences[0]["duration"] <= 4.9  # scripted: 4.5 s after the customer stops


def test_model_agent_outscores_poor_agent_in_every_family(calls):
    _, good, _ = _load(calls["model-agent"])
    _, bad, _ = _load(calls["poor-agent"])
    good_f = {f["id"]: f["score"] for f in good["families"]}
    bad_f = {f["id"]: f["score"] for f in bad["families"]}
    assert {"tone", "interruptions", "resolution", "outcome"} == set(good_f)
    for fam in good_f:
        assert good_f[fam] > bad_f[fam], fam
    assert good["passed"] and not bad["passed"]
    assert good["outcome"]["end_state"] == "resolved"
    assert bad["outcome"]["end_state"] == "hung_up"


def test_evidence_names_words_and_seconds(calls):
    _, card, _ = _load(calls["poor-agent"])
    crit = {c["id"]: c for f in card["families"] for c in f["criteria"]}
    blame = crit["no_blame"]["evidence"]
    assert blame and "should have" in blame[0]["words"].lower()
    assert blame[0]["points"] < 0 and blame[0]["start"] < blame[0]["end"]
    assert "blame" in blame[0]["rule"]


def test_mood_is_recorded_after_every_customer_reply(calls):
    events, card, _ = _load(calls["poor-agent"])
    moods = [e for e in events if e.type == "mood"]
    lines = [e for e in events if e.type == "customer_line_start"]
    assert len(moods) == len(lines)
    assert moods[-1]["mood"] > moods[0]["mood"]  # the poor agent makes things worse
    assert card["outcome"]["mood"][-1]["mood"] == moods[-1]["mood"]


def test_a_call_without_seed_draws_one_that_replays_it(tmp_path, capsys):
    """No --seed: a fresh seed, printed and saved in meta.json; --seed with it replays the
    call event for event (the customer's lines, their timing, the scores)."""
    argv = ["simulate", "--persona", "damaged-blender", "--trainee", "poor-agent", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "first")]) == 0
    seed = json.loads((tmp_path / "first" / "meta.json").read_text())["seed"]
    assert isinstance(seed, int) and 0 <= seed < SEED_RANGE
    assert f"seed {seed};" in capsys.readouterr().out
    assert main([*argv, "--seed", str(seed), "--out", str(tmp_path / "again")]) == 0
    first = [e.to_dict() for e in read_events(tmp_path / "first" / "events.jsonl")]
    again = [e.to_dict() for e in read_events(tmp_path / "again" / "events.jsonl")]
    assert first == again
    assert json.loads((tmp_path / "again" / "meta.json").read_text())["seed"] == seed


def test_drill_and_simulate_draw_a_seed_unless_given():
    parser = build_parser()
    for argv in (["simulate", "--persona", "p", "--trainee", "t"], ["drill", "--persona", "p"]):
        assert parser.parse_args(argv).seed is None
        assert parser.parse_args([*argv, "--seed", "7"]).seed == 7
    assert call_seed(7) == 7 and call_seed(0) == 0
    drawn = {call_seed(None) for _ in range(20)}
    assert len(drawn) > 1 and all(0 <= s < SEED_RANGE for s in drawn)


def test_out_directory_with_files_is_refused(calls, capsys):
    rc = main(
        [
            "simulate",
            "--persona",
            "damaged-blender",
            "--trainee",
            "model-agent",
            "--out",
            str(calls["model-agent"]),
        ]
    )
    assert rc == 2
    assert "already holds files" in capsys.readouterr().err
