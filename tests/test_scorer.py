"""Rubric criteria scored from scripted timelines: each finder's hit, miss and exemptions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from voicesim.audio.formats import RATE, load_audio, resample
from voicesim.cli import main
from voicesim.events import Event
from voicesim.rubric.grade import score_call
from voicesim.rubric.rubric import load_rubric

RUBRIC = load_rubric()


def words(text: str, start: float, wps: float = 2.5) -> list[dict]:
    out, t = [], start
    for w in text.split():
        out.append({"w": w, "start": round(t, 3), "end": round(t + 0.8 / wps, 3), "p": 0.9})
        t += 1 / wps
    return out


class Call:
    """Builds a call's events by hand, on the call clock."""

    def __init__(self) -> None:
        self.events: list[Event] = [Event("call_start", 0.0, {})]
        self.n = 0
        self.lines = 0

    def customer(self, start: float, end: float, text: str, cut: bool = False) -> Call:
        self.events.append(
            Event("customer_line_start", start, {"line": self.lines, "text": text, "end": end})
        )
        self.events.append(Event("customer_line_end", end, {"line": self.lines, "cut": cut}))
        self.lines += 1
        return self

    def trainee(self, start: float, text: str, wps: float = 2.5) -> Call:
        ws = words(text, start, wps)
        end = ws[-1]["end"]
        self.events.append(Event("speech_start", start, {"who": "trainee"}))
        self.events.append(Event("speech_end", end, {"who": "trainee", "utterance": self.n}))
        self.events.append(
            Event(
                "final",
                start,
                {"who": "trainee", "utterance": self.n, "text": text, "words": ws, "end": end},
            )
        )
        self.n += 1
        return self

    def add(self, kind: str, t: float, **data) -> Call:
        self.events.append(Event(kind, t, data))
        return self

    def end(self, t: float, state: str = "resolved") -> list[Event]:
        self.events.append(Event("call_end", t, {"end_state": state, "duration": t}))
        return sorted(self.events, key=lambda e: e.t)


def crit(events, cid, audio=None):
    return score_call(events, RUBRIC, None, audio).criterion(cid)


def test_trainee_overtalk_is_penalised_but_a_backchannel_is_not():
    base = Call().customer(1, 8, "My order never arrived and I have been waiting for two weeks.")
    over = base.trainee(3, "What is your order number").add(
        "overtalk", 3, by="trainee", end=5.0, duration=2.0
    )
    c = crit(over.end(12), "no_interruptions")
    assert c.hits == 1 and c.earned == c.points - 10
    assert "order number" in c.evidence[0].words.lower() and c.evidence[0].start == 3
    bc = Call().customer(1, 8, "My order never arrived.").trainee(3, "mm-hmm okay")
    bc.add("overtalk", 3, by="trainee", end=3.8, duration=0.8)
    assert crit(bc.end(12), "no_interruptions").hits == 0
    assert crit(bc.end(12), "active_listening").hits == 1
    # the customer talking over the trainee is not the trainee's interruption
    cust = (
        Call()
        .trainee(1, "Let me explain the policy to you")
        .add("overtalk", 2, by="customer", end=3, duration=1.0)
    )
    assert crit(cust.end(6), "no_interruptions").hits == 0


def test_cutting_the_customer_off_is_penalised():
    ev = Call().customer(1, 2.2, "I want to say something", cut=True).trainee(2.0, "Sure").end(5)
    c = crit(ev, "no_cutoffs")
    assert c.hits == 1 and c.evidence[0].start == 2.2


def test_dead_air_unless_a_hold_was_announced():
    plain = (
        Call()
        .customer(1, 3, "Where is my package?")
        .add("silence", 3, end=7.5, duration=4.5, after="customer")
    )
    plain.trainee(7.5, "It is on its way")
    c = crit(plain.end(10), "no_dead_air")
    assert c.hits == 1 and "4.5 s" in c.evidence[0].rule
    held = Call().trainee(0.5, "Let me check that for you, one moment please")
    held.customer(3.5, 4.5, "Okay.").add("silence", 4.5, end=9, duration=4.5, after="customer")
    held.trainee(9, "Thanks for waiting, I found it")
    assert crit(held.end(12), "no_dead_air").hits == 0


def test_long_monologue():
    text = " ".join(["and then the system will process the return request"] * 14)
    ev = Call().customer(0.5, 2, "Hi.").trainee(2.5, text, wps=2.4).end(70)
    c = crit(ev, "no_monologue")
    assert c.hits == 1
    short = Call().customer(0.5, 2, "Hi.").trainee(2.5, "I can help with that today").end(10)
    assert crit(short, "no_monologue").hits == 0


def test_talk_ratio_in_and_out_of_range():
    balanced = (
        Call().customer(0, 6, "x").trainee(6.5, "I understand how you feel about that").end(12)
    )
    assert crit(balanced, "talk_ratio").earned == 5
    hog = Call().customer(0, 1, "x").trainee(1.5, " ".join(["word"] * 40)).end(20)
    assert crit(hog, "talk_ratio").earned == 0


def test_person_before_issue():
    good = Call().customer(0, 3, "The jug is cracked.")
    good.trainee(3.5, "I'm so sorry about that").trainee(6, "I will send a replacement today")
    c = crit(good.end(10), "person_first")
    assert c.earned == c.points and "apology" in c.evidence[0].rule
    bad = Call().customer(0, 3, "The jug is cracked.")
    bad.trainee(3.5, "I will send a replacement").trainee(6, "I'm so sorry about that")
    assert crit(bad.end(10), "person_first").earned == 0
    nothing = (
        Call().customer(0, 3, "The jug is cracked.").trainee(3.5, "I'm sorry to hear that").end(6)
    )
    assert not crit(nothing, "person_first").applies  # nothing was offered, so nothing came first


def test_boundary_applies_only_when_the_customer_was_abusive():
    polite = Call().customer(0, 3, "My order is late.").trainee(3.5, "Let me check that").end(6)
    assert not crit(polite, "boundary").applies
    abusive = Call().customer(0, 3, "This is damn ridiculous, you idiots.")
    abusive.trainee(3.5, "I want to help you but please don't use that language")
    c = crit(abusive.end(7), "boundary")
    assert c.applies and c.earned == c.points
    ignored = (
        Call().customer(0, 3, "This is damn ridiculous.").trainee(3.5, "Let me check that").end(6)
    )
    c = crit(ignored, "boundary")
    assert c.applies and c.earned == 0


def test_escalation_offered_when_the_customer_asks_for_a_manager():
    asked = Call().customer(0, 3, "I want to speak to your manager right now.")
    offered = asked.trainee(3.5, "I can arrange for my supervisor to call you back today")
    assert crit(offered.end(8), "escalation_offered").earned == 15
    assert not crit(Call().customer(0, 2, "Hello.").end(3), "escalation_offered").applies


def test_bare_refusal_versus_refusal_with_an_alternative():
    bare = Call().customer(0, 2, "I want a refund.").trainee(2.5, "No we cannot do that").end(6)
    assert crit(bare, "no_bare_refusal").hits == 1
    assert crit(bare, "policy_with_alternative").earned == 0
    alt = Call().customer(0, 2, "I want a refund.")
    alt.trainee(2.5, "We cannot refund it, but what I can do is offer an exchange")
    ev = alt.end(8)
    assert crit(ev, "no_bare_refusal").hits == 0
    assert crit(ev, "policy_with_alternative").earned == 10


def test_outcome_criteria():
    calm = (
        Call()
        .add("mood", 0.5, mood=0.8, reason="opening")
        .add("mood", 9, mood=0.3, reason="empathy")
    )
    ev = calm.end(10, "resolved")
    assert crit(ev, "resolved").earned == 10 and crit(ev, "mood_improved").earned == 5
    worse = (
        Call().add("mood", 0.5, mood=0.5, reason="opening").add("mood", 9, mood=1.0, reason="blame")
    )
    ev = worse.end(10, "hung_up")
    assert crit(ev, "resolved").earned == 0 and crit(ev, "mood_improved").earned == 0


def test_fillers_and_pace():
    ev = (
        Call()
        .customer(0, 2, "Hi")
        .trainee(2.5, "um so uh you know I mean we can look at it")
        .end(8)
    )
    assert crit(ev, "few_fillers", np.zeros(8 * RATE, np.float32)).hits == 1
    fast = Call().customer(0, 2, "Hi").trainee(2.5, " ".join(["word"] * 20), wps=5.0).end(8)
    c = crit(fast, "steady_pace")
    assert c.hits == 1 and "words per minute" in c.evidence[0].rule
    ok = Call().customer(0, 2, "Hi").trainee(2.5, " ".join(["word"] * 20), wps=2.5).end(12)
    assert crit(ok, "steady_pace").hits == 0


@pytest.fixture(scope="module")
def speech(shared_data):
    return load_audio(shared_data / "speech" / "jfk.flac")


def _voice_call(speech, clips):
    """Trainee utterances from real speech placed at 1 s, 4 s, 7 s, ...; returns events, audio."""
    audio = np.zeros((3 * len(clips) + 2) * RATE, np.float32)
    call = Call()
    for i, clip in enumerate(clips):
        start = 1 + 3 * i
        audio[start * RATE : start * RATE + clip.size] += clip
        call.trainee(start, "and so my fellow americans")
        call.events[-1].data["end"] = start + clip.size / RATE
    return call.end(audio.size / RATE), audio


def test_raised_voice_against_the_trainees_own_level(speech):
    piece = speech[int(0.3 * RATE) : int(2.3 * RATE)]
    events, audio = _voice_call(speech, [piece, piece, piece * 3.0, piece])
    c = crit(events, "calm_voice", audio)
    assert c.hits == 1 and c.evidence[0].start == 7  # the third utterance, ~9.5 dB louder
    assert "LU louder" in c.evidence[0].rule
    events, audio = _voice_call(speech, [piece, piece, piece, piece])
    assert crit(events, "calm_voice", audio).hits == 0
    assert not crit(events, "calm_voice").applies  # no audio: the voice is not judged


def test_agitated_and_flat_pitch(speech):
    piece = speech[int(0.3 * RATE) : int(2.3 * RATE)]
    # playing speech 5 semitones faster raises its pitch by 5 semitones
    higher = resample(piece, int(RATE * 2 ** (5 / 12)), RATE)
    events, audio = _voice_call(speech, [piece, piece, higher, piece])
    c = crit(events, "steady_pitch", audio)
    assert c.hits == 1 and c.evidence[0].start == 7
    t = np.arange(int(2.5 * RATE)) / RATE
    drone = (0.3 * np.sin(2 * np.pi * 140 * t) * (1 + 0.3 * np.sin(2 * np.pi * 280 * t))).astype(
        np.float32
    )
    events, audio = _voice_call(speech, [piece, drone, piece])
    c = crit(events, "lively_voice", audio)
    assert c.hits == 1 and c.evidence[0].start == 4 and "monotone" in c.evidence[0].rule


def test_evidence_points_add_up_to_the_family_score():
    ev = Call().customer(0, 3, "My blender arrived broken.")
    ev.trainee(3.5, "Calm down. You should have checked it. That is not my problem.")
    card = score_call(ev.end(8, "hung_up"), RUBRIC)
    for fam in card.families:
        for c in fam.criteria:
            if c.applies and c.kind == "penalty":
                assert c.earned == pytest.approx(c.points + sum(e.points for e in c.evidence))
    tone = card.family("tone")
    assert tone.score < 60
    assert 0 <= card.overall <= 100 and not card.passed


def test_score_text_cli(tmp_path, capsys):
    src = tmp_path / "lines.jsonl"
    src.write_text(
        '{"text": "I am sorry, so your jug came with a crack in it", "customer": "my jug arrived cracked"}\n'
        "Calm down.\n"
    )
    assert main(["rubric", "score-text", str(src)]) == 0
    first, second = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert {"apology", "reflect"} <= set(first["moves"]) and "acknowledge" in first["criteria"]
    assert (
        second["moves"] == ["dismissal"]
        and second["criteria"]["no_dismissal"][0]["words"] == "calm down"
    )
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"text": \n')
    assert main(["rubric", "score-text", str(bad)]) == 2
    assert f"{bad}:2: not valid JSON" in capsys.readouterr().err


def test_rubric_validate_and_show_cli(tmp_path, capsys):
    assert main(["rubric", "validate"]) == 0
    broken = tmp_path / "r.yaml"
    broken.write_text("format: 1\nid: x\nversion: 1\npass_mark: 200\ndetectors: {}\nfamilies: {}\n")
    assert main(["rubric", "validate", str(broken)]) == 2
    out = capsys.readouterr().out
    assert f"{broken}:4: pass_mark" in out
    assert main(["rubric", "show"]) == 0
    assert "no_interruptions" in capsys.readouterr().out


def test_longest_silence_is_the_longest_gap_between_either_sides_speech():
    from voicesim.rubric.scorer import call_stats

    call = (
        Call()
        .customer(0.5, 4.0, "My order never came.")
        .trainee(5.2, "I'm sorry to hear that.")  # 1.2 s after the customer
        .customer(7.0, 9.0, "So where is it?")  # overlaps nothing
        .trainee(11.5, "Let me check.")  # 2.5 s: the longest, below any dead-air limit
        .customer(12.5, 14.0, "Fine.")
    )
    stats = call_stats(sorted(call.events, key=lambda e: e.t))
    assert stats["longest_silence_s"] == pytest.approx(2.5)
    # a dead-air event longer than any gap is what is reported
    call.add("silence", 14.0, duration=6.0)
    assert call_stats(sorted(call.events, key=lambda e: e.t))["longest_silence_s"] == 6.0
