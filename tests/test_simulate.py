"""End to end: `voicesim simulate` with the shipped model and poor agents."""

from __future__ import annotations

import json
import re

import pytest
import soundfile as sf

from voicesim.cli import main
from voicesim.events import read_events

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


def test_same_seed_reproduces_the_call(calls, tmp_path):
    d = tmp_path / "again"
    assert (
        main(
            [
                "simulate",
                "--persona",
                "damaged-blender",
                "--trainee",
                "poor-agent",
                "--out",
                str(d),
                "--quiet",
            ]
        )
        == 0
    )
    first = [e.to_dict() for e in read_events(calls["poor-agent"] / "events.jsonl")]
    second = [e.to_dict() for e in read_events(d / "events.jsonl")]
    assert first == second


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
