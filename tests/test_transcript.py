"""Scoring a written call: plain text with speaker labels, WebVTT, SRT and JSON turns.

The formats and their errors are checked on small files; a session made from a transcript is
read back by the one strict reader and replays and reports like any other; and, for the same
words, a transcript scores the word-level criteria exactly as the simulated call it was written
from (the slow tests).
"""

from __future__ import annotations

import csv
import json
import re
import tracemalloc
from pathlib import Path

import pytest
from browser_support import CHROMIUM, launch, watch_requests
from rich.console import Console

from voicesim.cli import main
from voicesim.errors import SessionError, TranscriptError, VoicesimError
from voicesim.events import Event, read_events
from voicesim.report.replay import print_transcript
from voicesim.report.session import LIMITS as SESSION_LIMITS
from voicesim.report.session import load_session, parse_events, read_session
from voicesim.rubric.rubric import load_rubric
from voicesim.session.transcript import (
    AGENT,
    CUSTOMER,
    LIMITS,
    Labels,
    Limits,
    looks_like_transcript,
    read_transcript,
)
from voicesim.session.written import SYNTHETIC_WPM, place

RUBRIC = load_rubric()

# Clear-cut lines: whatever the recogniser's borderline calls, these make moves.
CALL_TXT = """\
Customer: Hello. My desk was supposed to arrive two weeks ago and it still has not come.
Agent: Good morning, thank you for calling. I'm so sorry your desk is two weeks late.
That must be really frustrating.
Customer: It is. I need it for work.
Agent: I'll ship a new desk today by express delivery, and it will be with you by Thursday.
Customer: Okay, thanks.
Agent: Thank you for your patience. Is there anything else I can help you with?
"""

CALL_VTT = """\
WEBVTT - exported

NOTE speakers are voice tags

1
00:00:01.000 --> 00:00:05.500
<v Customer>Hello. My desk was supposed to arrive two weeks ago and it still has not come.

2
00:00:06.000 --> 00:00:08.000
<v.agent Agent>Good morning, thank you for calling. I'm so sorry your desk

00:00:08.200 --> 00:00:11.000
<v Agent>is two weeks late. That must be really <i>frustrating</i>.

00:00:11.500 --> 00:00:13.000
Customer: It is. I need it for work &amp; soon.

00:00:13.500 --> 00:00:18.000
<v Agent>I'll ship a new desk today by express delivery, and it will be with you by Thursday.
"""

CALL_SRT = """\
1
00:00:01,000 --> 00:00:05,500
Customer: Hello. My desk was supposed to arrive two weeks ago and it still has not come.

2
00:00:06,000 --> 00:00:11,000
<b>Agent:</b> Good morning, thank you for calling.
I'm so sorry your desk is two weeks late.
"""

CALL_JSON = [
    {"speaker": "customer", "text": "Hello. My desk is two weeks late.", "start": 1.0, "end": 3.0},
    {"speaker": "Agent", "text": "I'm so sorry your desk is late.", "start": 3.5, "end": 5.5},
    {"speaker": "agent", "text": "I'll ship a new one today.", "start": 6.0, "end": 7.5, "id": 3},
]


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


# -- the formats --------------------------------------------------------------------------------
def test_plain_text_with_labels_and_continuation_lines(tmp_path):
    t = read_transcript(write(tmp_path, "call.txt", CALL_TXT))
    assert t.format == "text" and t.timing == "none"
    assert [x.side for x in t.turns] == [CUSTOMER, AGENT, CUSTOMER, AGENT, CUSTOMER, AGENT]
    assert t.turns[1].text.endswith("late. That must be really frustrating.")  # two lines
    assert [x.line for x in t.turns] == [1, 2, 4, 5, 6, 7]


@pytest.mark.parametrize(
    "line, start",
    [
        ("[00:01:23] Agent: Sorry.", 83.0),
        ("00:01:23 Agent: Sorry.", 83.0),
        ("[1:23] Agent: Sorry.", 83.0),
        ("(01:02:03.5) Agent: Sorry.", 3723.5),
        ("Agent [00:01:23]: Sorry.", 83.0),
        ("[00:01:23] - agent:Sorry.", 83.0),
    ],
)
def test_timestamps_in_plain_text(tmp_path, line, start):
    t = read_transcript(write(tmp_path, "t.txt", line + "\n"))
    (turn,) = t.turns
    assert (turn.side, turn.text, turn.start, t.timing) == (AGENT, "Sorry.", start, "starts")


def test_labels_are_configurable_and_match_without_case(tmp_path):
    p = write(tmp_path, "t.txt", "SAM: Hello, how can I help?\nmrs  jones: My bill is wrong.\n")
    with pytest.raises(TranscriptError, match=r"t\.txt:1: unknown speaker 'SAM'"):
        read_transcript(p)
    t = read_transcript(p, Labels(agent=("Sam", "Priya"), customer=("Mrs Jones",)))
    assert [(x.side, x.speaker) for x in t.turns] == [(AGENT, "SAM"), (CUSTOMER, "mrs  jones")]
    with pytest.raises(VoicesimError, match="'Sam' is given for both"):
        Labels(agent=("Sam",), customer=("sam",))


def test_webvtt_voice_tags_prefixes_markup_and_cues_cut_mid_sentence(tmp_path):
    t = read_transcript(write(tmp_path, "call.vtt", CALL_VTT))
    assert t.format == "vtt" and t.timing == "given"
    assert [x.side for x in t.turns] == [CUSTOMER, AGENT, CUSTOMER, AGENT]
    joined = t.turns[1]  # two cues of one sentence are one utterance again
    assert joined.text == (
        "Good morning, thank you for calling. I'm so sorry your desk is two weeks late. "
        "That must be really frustrating."
    )
    assert (joined.start, joined.end) == (6.0, 11.0)
    assert t.turns[2].text == "It is. I need it for work & soon."
    assert (t.turns[3].start, t.turns[3].end) == (13.5, 18.0)


def test_a_webvtt_cue_with_two_voices_is_two_turns(tmp_path):
    vtt = "WEBVTT\n\n00:00:01.000 --> 00:00:05.000\n<v Agent>Sorry about that.\n<v Customer>Fine.\n"
    t = read_transcript(write(tmp_path, "two.vtt", vtt))
    assert [(x.side, x.text) for x in t.turns] == [
        (AGENT, "Sorry about that."),
        (CUSTOMER, "Fine."),
    ]
    assert t.turns[0].start < t.turns[1].start < 5.0


def test_srt_with_name_prefixes(tmp_path):
    t = read_transcript(write(tmp_path, "call.srt", CALL_SRT))
    assert t.format == "srt" and t.timing == "given"
    assert [(x.side, x.start, x.end) for x in t.turns] == [
        (CUSTOMER, 1.0, 5.5),
        (AGENT, 6.0, 11.0),
    ]
    assert t.turns[1].text.startswith("Good morning") and t.turns[1].text.endswith("late.")


def test_json_turns_with_and_without_times(tmp_path):
    t = read_transcript(write(tmp_path, "call.json", json.dumps(CALL_JSON, indent=2)))
    assert t.format == "json" and t.timing == "given"
    assert [x.side for x in t.turns] == [CUSTOMER, AGENT, AGENT]
    assert [x.line for x in t.turns] == [2, 8, 14]  # each turn's line in the file
    untimed = [{"speaker": x["speaker"], "text": x["text"]} for x in CALL_JSON]
    assert read_transcript(write(tmp_path, "u.json", json.dumps(untimed))).timing == "none"


def test_utf8_with_a_bom_utf16_and_windows_line_ends(tmp_path):
    text = "Customer: My order is late.\r\nAgent: I'm sorry, let me check.\r\n"
    for name, data in (
        ("bom.txt", b"\xef\xbb\xbf" + text.encode()),
        ("u16.txt", text.encode("utf-16")),
    ):
        t = read_transcript(write(tmp_path, name, data))
        assert [x.text for x in t.turns] == ["My order is late.", "I'm sorry, let me check."]


def test_what_score_reads_as_a_transcript(tmp_path):
    assert looks_like_transcript(write(tmp_path, "a.TXT", "x"))
    assert looks_like_transcript(write(tmp_path, "export.captions", "WEBVTT\n"))
    assert not looks_like_transcript(write(tmp_path, "call.wav", b"RIFF"))


# -- times ---------------------------------------------------------------------------------------
def test_untimed_turns_get_synthetic_times_in_order(tmp_path):
    t = read_transcript(write(tmp_path, "call.txt", CALL_TXT))
    placed = place(t)
    for a, b in zip(placed, placed[1:], strict=False):
        assert a.start < a.end < b.start
    long_turn = placed[3]
    words = len(long_turn.text.split())
    assert long_turn.end - long_turn.start == pytest.approx(60 * words / SYNTHETIC_WPM, abs=0.01)
    for p in placed:  # the words are spread over the turn, in order
        assert p.words[0]["start"] == p.start and p.words[-1]["end"] == pytest.approx(p.end)
        assert [w["w"] for w in p.words] == p.text.split()


def test_turns_sharing_a_timestamp_keep_the_files_order(tmp_path):
    txt = (
        "[00:00:04] Agent: I'm sorry about that. Let me check.\n"
        "[00:00:04] Customer: Thanks.\n"
        "[00:00:09] Agent: It ships today.\n"
    )
    placed = place(read_transcript(write(tmp_path, "t.txt", txt)))
    assert placed[0].start == 4.0 and placed[2].start == 9.0
    assert placed[0].end < placed[1].start < placed[1].end < 9.0


# -- errors: one line naming the file and the line -----------------------------------------------
DEEP = "[" * 100_000
NESTED = '[{"speaker": "agent", "text": "hi", "x": ' + "[" * 40 + "]" * 40 + "}]"
ERRORS = [
    ("unknown.txt", "Agent: Hello.\nRep: Hi there.\n", r"unknown\.txt:2: unknown speaker 'Rep'"),
    ("nolabel.txt", "Hello there.\nAgent: Hi.\n", r"nolabel\.txt:1: no speaker label"),
    ("stamp.txt", "[00:00:01] Agent: Hi.\n[00:00:02] hello\n", r"stamp\.txt:2: no speaker label"),
    ("back.txt", "[00:00:05] Agent: Hi.\n[00:00:02] Customer: Hi.\n", r"back\.txt:2: time .* go"),
    (
        "mixed.txt",
        "[00:00:05] Agent: Hi.\nCustomer: Hello.\n",
        r"mixed\.txt:2: .*every turn a time",
    ),
    ("badtime.txt", "[00:99:05] Agent: Hi.\n", r"badtime\.txt:1: .*not a time"),
    ("empty.txt", "", r"empty\.txt: empty"),
    ("blank.txt", "\n  \n", r"blank\.txt: empty"),
    ("noagent.txt", "Customer: Hello?\nCustomer: Anyone?\n", r"noagent\.txt: no agent turns"),
    ("binary.txt", b"\x00\x01\xff\xfe\x00RIFF", r"binary\.txt:1: not UTF-8 text"),
    ("nul.txt", b"Agent: hi\n\x00\x00", r"nul\.txt:2: .*binary data"),
    ("novtt.vtt", "00:00:01.000 --> 00:00:02.000\n<v Agent>Hi\n", r"novtt\.vtt:1: not WebVTT"),
    (
        "nospeaker.vtt",
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHi\n",
        r"nospeaker\.vtt:4: no speaker",
    ),
    (
        "ambiguous.vtt",
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Agent>Customer: Hi\n",
        r"ambiguous\.vtt:4: ambiguous speaker",
    ),
    (
        "twovoices.vtt",
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Agent>Hi <v Customer>Hello\n",
        r"twovoices\.vtt:4: two speakers",
    ),
    (
        "reversed.srt",
        "1\n00:00:05,000 --> 00:00:02,000\nAgent: Hi\n",
        r"reversed\.srt:2: the cue ends",
    ),
    ("notime.srt", "1\nAgent: Hi\n", r"notime\.srt:1: a cue without its time line"),
    ("object.json", '{"turns": []}', r"object\.json:1: expected a JSON list of turns"),
    ("deep.json", DEEP, r"deep\.json:1: nested more than"),
    ("nested.json", NESTED, r"nested\.json:1: \[0\]: nested more than"),
    ("broken.json", '[{"speaker": "agent",\n "text": }]', r"broken\.json:2: not valid JSON"),
    ("nan.json", '[{"speaker": "agent", "text": "hi", "start": NaN}]', r"nan\.json:1: not valid"),
    ("nospeaker.json", '[{"text": "hi"}]', r"nospeaker\.json:1: \[0\]\.speaker: missing"),
    (
        "bot.json",
        '[{"speaker": "agent", "text": "hi"},\n{"speaker": "bot", "text": "x"}]',
        r"2: \[1\]\.speaker: unknown speaker 'bot'",
    ),
    (
        "time.json",
        '[{"speaker": "agent", "text": "hi", "start": "1s"}]',
        r"\[0\]\.start: must be a number",
    ),
    (
        "late.json",
        '[{"speaker": "agent", "text": "hi", "start": 99999}]',
        r"\[0\]\.start: must be between",
    ),
    ("empty.json", "[]", r"empty\.json: no turns"),
    ("comma.json", '[{"speaker": "agent", "text": "hi"},]', r"comma\.json:1: not valid JSON"),
]


@pytest.mark.parametrize("name, content, message", ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_transcripts_are_one_clear_error(tmp_path, capsys, name, content, message):
    p = write(tmp_path, name, content)
    with pytest.raises(TranscriptError, match=message):
        read_transcript(p)
    out = tmp_path / "session"
    assert main(["score", str(p), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"voicesim: error: {p}")
    assert "Traceback" not in err
    assert not out.exists()  # nothing written for a call that could not be read


def test_a_huge_file_is_refused_without_reading_it(tmp_path):
    p = tmp_path / "huge.txt"
    with open(p, "wb") as fh:
        fh.truncate(200 * 1024 * 1024)  # a sparse file: costs no disk
    tracemalloc.start()
    try:
        with pytest.raises(TranscriptError, match=r"huge\.txt: larger than 4 MB"):
            read_transcript(p)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * LIMITS.bytes  # read up to the limit, never the whole file


def test_too_many_turns_and_too_long_a_turn(tmp_path):
    p = write(tmp_path, "many.txt", "Agent: Hi.\n" * 10)
    with pytest.raises(TranscriptError, match=r"many\.txt:6: more than 5 turns"):
        read_transcript(p, limits=Limits(turns=5))
    p = write(tmp_path, "long.txt", "Customer: Hi.\nAgent: " + "word " * 30 + "\n")
    with pytest.raises(TranscriptError, match=r"long\.txt:2: a turn of more than 20 words"):
        read_transcript(p, limits=Limits(turn_words=20))
    with pytest.raises(TranscriptError, match=r"long\.txt: more than 25 words"):
        read_transcript(p, limits=Limits(words=25))
    lines = write(tmp_path, "lines.txt", "Agent: Hi\n" + "and more\n" * 20)  # one turn, many lines
    with pytest.raises(TranscriptError, match=r"lines\.txt:\d+: a turn longer than 50 char"):
        read_transcript(lines, limits=Limits(turn_chars=50))


def test_a_transcript_always_fits_the_session_reader():
    assert LIMITS.turns <= SESSION_LIMITS.lines
    assert LIMITS.turn_chars <= SESSION_LIMITS.text_chars
    assert LIMITS.turn_words <= SESSION_LIMITS.words
    assert LIMITS.max_t < SESSION_LIMITS.max_t
    # each word is timed in events.jsonl: {"w":"word","start":1234.567,"end":1234.899} and text
    assert LIMITS.words * 80 < SESSION_LIMITS.events_bytes


# -- the session --------------------------------------------------------------------------------
def score(tmp_path: Path, name: str, content: str, *extra: str) -> Path:
    out = tmp_path / f"s-{name}"
    assert main(["score", str(write(tmp_path, name, content)), "--out", str(out), *extra]) == 0
    return out


def criteria(card: dict) -> dict[str, dict]:
    return {c["id"]: c for f in card["families"] for c in f["criteria"]}


AUDIO_ONLY = {
    "no_interruptions",
    "no_cutoffs",
    "active_listening",
    "no_dead_air",
    "calm_voice",
    "steady_pitch",
    "lively_voice",
    "few_fillers",
}
NEEDS_TIMES = {"steady_pace", "talk_ratio", "no_monologue"}


def test_an_untimed_transcript_is_a_whole_session_with_what_it_cannot_show_left_out(tmp_path):
    out = score(tmp_path, "call.txt", CALL_TXT, "--quiet")
    assert sorted(p.name for p in out.iterdir()) == [
        "events.jsonl",
        "meta.json",
        "report.html",
        "scorecard.json",
    ]  # no call.wav: there is no audio
    session = read_session(out)  # the one strict reader accepts it
    assert session.complete
    card, meta = session.scorecard, session.meta
    assert meta["source"]["kind"] == "transcript" and meta["source"]["times"] == "synthetic"
    assert "synthetic" in meta["source"]["timing"] and meta["status"] == "complete"
    start = next(e for e in session.events if e.type == "call_start")
    assert start["audio"] is False and start["timed"] is False
    crit = criteria(card)
    left = {x["criterion"]: x["why"] for x in card["left_out"]}
    assert set(left) == AUDIO_ONLY | NEEDS_TIMES
    assert all(not crit[c]["applies"] for c in left)
    assert "audio" in left["no_interruptions"] and "how long" in left["steady_pace"]
    stats = card["stats"]
    for key in ("talk_ratio", "words_per_minute", "overtalk_count", "longest_silence_s"):
        assert key not in stats  # not measured, never a made-up number
    agent = [x for x in read_transcript(tmp_path / "call.txt").turns if x.side == AGENT]
    assert stats["trainee_words"] == sum(len(x.text.split()) for x in agent)
    # the agent's clear moves are scored
    assert crit["politeness"]["earned"] > 0 and crit["solution"]["earned"] > 0
    assert card["scorable"] and card["overall"] > 0


def test_a_timed_transcript_keeps_pace_and_talk_ratio(tmp_path):
    out = score(tmp_path, "call.vtt", CALL_VTT, "--quiet")
    card = json.loads((out / "scorecard.json").read_text())
    left = {x["criterion"] for x in card["left_out"]}
    assert left == AUDIO_ONLY
    assert card["stats"]["talk_ratio"] > 0 and "overtalk_count" not in card["stats"]
    events = list(read_events(out / "events.jsonl"))
    final = next(e for e in events if e.type == "final")
    assert (final.t, final["end"]) == (6.0, 11.0)
    assert json.loads((out / "meta.json").read_text())["source"]["times"] == "given"


def test_a_rescored_transcript_session_gives_the_same_card(tmp_path):
    out = score(tmp_path, "call.json", json.dumps(CALL_JSON), "--quiet")
    saved = json.loads((out / "scorecard.json").read_text())
    (out / "scorecard.json").unlink()
    again = load_session(out).scorecard  # recomputed from events.jsonl, as after a crash
    assert again["left_out"] == saved["left_out"] and again["stats"] == saved["stats"]
    assert criteria(again) == criteria(saved)


def test_persona_informs_a_transcripts_judgement(tmp_path):
    out = score(tmp_path, "call.txt", CALL_TXT, "--quiet", "--persona", "late-order")
    meta = json.loads((out / "meta.json").read_text())
    card = json.loads((out / "scorecard.json").read_text())
    assert meta["persona"]["id"] == "late-order" and card["persona"]["id"] == "late-order"
    assert not criteria(card)["resolved"]["applies"]  # no persona outcome in a transcript


def test_score_prints_the_transcript_in_time_order_and_says_what_is_left_out(tmp_path, capsys):
    score(tmp_path, "call.vtt", CALL_VTT)
    out = capsys.readouterr().out
    stamps = re.findall(r"^(\d\d:\d\d\.\d) (CUSTOMER|TRAINEE)", out, re.M)
    assert [who for _, who in stamps] == ["CUSTOMER", "TRAINEE", "CUSTOMER", "TRAINEE"]
    assert [t for t, _ in stamps] == sorted(t for t, _ in stamps)
    assert "Left out (needs the call audio" in out and "Lets the customer finish" in out
    assert "Scorecard" in out
    flat = " ".join(out.split())
    assert "interruptions:" not in flat and "dead air:" not in flat  # never a made-up 0
    assert "talk ratio:" in flat and "pace:" in flat  # a timed transcript has both


def test_print_transcript_orders_by_time_not_by_logging():
    """A recording logs the trainee's transcripts at the end (decoded last): ``score`` prints
    the call in time order, as ``replay`` does."""
    events = [
        Event("customer_line_start", 0.5, {"text": "first customer line", "end": 2.0}),
        Event("customer_line_start", 6.0, {"text": "second customer line", "end": 8.0}),
        Event("final", 3.0, {"who": "trainee", "text": "trainee answer", "end": 5.0}),
        Event("call_end", 9.0, {"duration": 9.0, "end_state": "recorded"}),
    ]
    console = Console(record=True, width=120)
    print_transcript(events, console)
    text = console.export_text()
    assert text.index("first customer") < text.index("trainee answer") < text.index("second")


def test_replay_of_a_transcript_shows_captions_without_audio(tmp_path, capsys):
    out = score(tmp_path, "call.json", json.dumps(CALL_JSON), "--quiet")
    capsys.readouterr()
    assert main(["replay", str(out), "--speed", "10000"]) == 0  # no --no-audio needed
    text = capsys.readouterr().out
    assert "no call audio" in text and "written call" in text
    assert text.index("desk is two weeks late") < text.index("ship a new one")


def test_the_reader_checks_the_source_flags():
    bad = b'{"type":"call_start","t":0,"audio":"no"}\n'
    with pytest.raises(SessionError, match="audio: must be true/false"):
        parse_events(bad, "events.jsonl")


def test_a_folder_mixes_formats_and_skips_sessions_and_bad_files(local_ray, tmp_path, capsys):
    folder = tmp_path / "calls"
    folder.mkdir()
    write(folder, "call.txt", CALL_TXT)
    write(folder, "call.vtt", CALL_VTT)
    (folder / "more").mkdir()
    write(folder / "more", "turns.json", json.dumps(CALL_JSON))
    write(folder, "notes.txt", "Rep: this is not a call\n")
    old = write(tmp_path, "old.txt", CALL_TXT)
    assert main(["score", str(old), "--out", str(folder / "old-session"), "--quiet"]) == 0
    out = tmp_path / "batch"
    assert main(["score", str(folder), "--out", str(out)]) == 2  # notes.txt could not be read
    # rich wraps long lines, and folds a path longer than the terminal inside the word
    printed = "".join(capsys.readouterr().out.split())
    assert "notes.txt:1:unknownspeaker'Rep'" in printed
    rows = list(csv.DictReader(open(out / "summary.csv", encoding="utf-8")))
    bad = [r for r in rows if r["error"]]
    assert [Path(r["file"]).name for r in bad] == ["notes.txt"]
    rows = [r for r in rows if not r["error"]]
    assert sorted(Path(r["file"]).name for r in rows) == ["call.txt", "call.vtt", "turns.json"]
    assert {r["kind"] for r in rows} == {"transcript"}
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["call", "call-vtt", "turns"]
    for r in rows:
        assert (Path(r["session"]) / "report.html").exists()


def test_an_existing_session_directory_is_never_written_into(tmp_path, capsys):
    out = score(tmp_path, "call.txt", CALL_TXT, "--quiet")
    before = (out / "events.jsonl").read_bytes()
    assert main(["score", str(tmp_path / "call.txt"), "--out", str(out)]) == 2
    assert "already holds files" in capsys.readouterr().err
    assert (out / "events.jsonl").read_bytes() == before


def test_persona_is_refused_for_a_recording(tmp_path, capsys):
    wav = write(tmp_path, "call.wav", b"RIFF")
    assert main(["score", str(wav), "--persona", "late-order"]) == 2
    assert "--persona is for transcripts" in capsys.readouterr().err


def test_score_text_points_a_pasted_transcript_to_score(tmp_path, capsys):
    p = write(tmp_path, "lines.txt", "I'm sorry.\nCustomer: My order is late.\n")
    assert main(["rubric", "score-text", str(p)]) == 2
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 1  # the agent's line was judged
    assert "lines.txt:2: 'Customer:'" in captured.err and "voicesim score" in captured.err


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_a_transcripts_report_in_a_real_browser(tmp_path):
    from playwright.sync_api import sync_playwright

    out = score(tmp_path, "call.vtt", CALL_VTT, "--quiet")
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        outside = watch_requests(page, ("file:",))
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((out / "report.html").as_uri())
        page.wait_for_selector(".line.trainee")
        assert page.locator(".line.trainee").count() == 2
        assert page.locator(".line.customer").count() == 2
        assert not errors and not outside
        browser.close()


# -- the same words score the same: a simulated call written out as a transcript -----------------
def word_level(card: dict) -> dict[str, tuple]:
    """The criteria judged from the words alone (detector moves, their order, answering the
    customer's questions), with what each found; evidence compared by its words, spaces aside
    (Whisper times "8-8-12" as the words "8", "-8", "-12": the same words)."""
    ids = {
        c.id
        for f in RUBRIC.families
        for c in f.criteria
        if c.detectors or c.order or c.event == "unanswered_question"
    }
    return {
        cid: (
            c["applies"],
            c["earned"],
            c["hits"],
            sorted("".join(e["words"].lower().split()) for e in c["evidence"]),
        )
        for cid, c in criteria(card).items()
        if cid in ids
    }


def _vtt_time(t: float) -> str:
    h, rest = divmod(t, 3600)
    m, s = divmod(rest, 60)
    return f"{int(h):02d}:{int(m):02d}:{s:06.3f}"


def spoken(events: list[Event]) -> list[tuple[str, str, float, float]]:
    """(side, text, start, end) of every line, in the order the scorer reads them."""
    ends = {e.get("line"): e.t for e in events if e.type == "customer_line_end"}
    said = sorted(
        (e for e in events if e.type in ("final", "customer_line_start")),
        key=lambda e: (e.t, e.type != "customer_line_start"),
    )
    out = []
    for e in said:
        if not (e.get("text") or "").strip():
            continue
        if e.type == "customer_line_start":
            out.append(("Customer", e["text"], e.t, ends.get(e.get("line"), e.get("end", e.t))))
        else:
            out.append(("Agent", e["text"], e.t, e["end"]))
    return out


def as_text(lines) -> str:
    return "".join(f"{who}: {text}\n" for who, text, _, _ in lines)


def as_vtt(lines) -> str:
    cues = [
        f"{_vtt_time(a)} --> {_vtt_time(max(a, b))}\n<v {who}>{text}\n" for who, text, a, b in lines
    ]
    return "WEBVTT\n\n" + "\n".join(cues)


def as_srt(lines) -> str:
    return "\n".join(
        f"{k}\n{_vtt_time(a).replace('.', ',')} --> {_vtt_time(max(a, b)).replace('.', ',')}\n"
        f"{who}: {text}\n"
        for k, (who, text, a, b) in enumerate(lines, 1)
    )


def as_json(lines) -> str:
    return json.dumps(
        [{"speaker": who, "text": text, "start": a, "end": max(a, b)} for who, text, a, b in lines]
    )


@pytest.fixture(
    scope="module",
    params=[
        "late-order/late-order-good",
        "late-order/late-order-bad",
        "damaged-blender/poor-agent",
    ],
)
def simulated(request, tmp_path_factory):
    persona, script = request.param.split("/")
    out = tmp_path_factory.mktemp("sim") / "session"
    args = ["simulate", "--persona", persona, "--trainee", script, "--seed", "0"]
    args += ["--out", str(out), "--quiet"]
    assert main(args) == 0
    return persona, out


@pytest.mark.slow
@pytest.mark.parametrize(
    "suffix, writer", [(".txt", as_text), (".vtt", as_vtt), (".srt", as_srt), (".json", as_json)]
)
def test_a_transcript_scores_the_words_as_the_simulated_call_did(
    simulated, tmp_path, suffix, writer
):
    persona, sim = simulated
    events = list(read_events(sim / "events.jsonl"))
    lines = spoken(events)
    out = score(tmp_path, "call" + suffix, writer(lines), "--quiet", "--persona", persona)
    written = json.loads((out / "scorecard.json").read_text())
    drilled = json.loads((sim / "scorecard.json").read_text())
    assert word_level(written) == word_level(drilled)
    assert any(v[2] for v in word_level(drilled).values())  # the call made moves to compare
    said = [e["text"] for e in read_events(out / "events.jsonl") if e.type == "final"]
    assert said == [text for who, text, _, _ in lines if who == "Agent"]  # one turn a line


@pytest.mark.slow
def test_score_prints_a_recording_in_time_order(project_root, tmp_path, capsys):
    """The trainee's side of a recording is decoded after the customer's, so its transcripts
    are logged last: the printout is still one call in time order, as ``replay`` shows it."""
    out = tmp_path / "rec"
    wav = project_root / "audio" / "demo-session" / "call.wav"  # a stereo call, 3 lines a side
    assert main(["score", str(wav), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    rows = re.findall(r"^(\d\d:\d\d\.\d) (CUSTOMER|TRAINEE)", printed, re.M)
    assert [t for t, _ in rows] == sorted(t for t, _ in rows)
    who = [w for _, w in rows]
    assert who.count("CUSTOMER") >= 2 and who.count("TRAINEE") >= 2
    assert who.index("TRAINEE") < len(who) - who[::-1].index("CUSTOMER") - 1  # interleaved
    said = [
        e for e in read_events(out / "events.jsonl") if e.type in ("final", "customer_line_start")
    ]
    assert [e.t for e in said] != sorted(e.t for e in said)  # logged out of time order


@pytest.mark.slow
def test_a_folder_mixes_recordings_and_transcripts(shared_data, local_ray, tmp_path):
    folder = tmp_path / "calls"
    folder.mkdir()
    (folder / "call.wav").write_bytes(
        (shared_data / "speech" / "stereo_diarization.wav").read_bytes()
    )
    write(folder, "call.txt", CALL_TXT)
    out = tmp_path / "batch"
    assert main(["score", str(folder), "--out", str(out)]) == 0
    rows = {r["kind"]: r for r in csv.DictReader(open(out / "summary.csv", encoding="utf-8"))}
    assert set(rows) == {"recording", "transcript"}
    assert int(rows["recording"]["overtalk_count"]) >= 1
    assert rows["transcript"]["overtalk_count"] == ""  # not measured, not 0
    sessions = {kind: Path(r["session"]) for kind, r in rows.items()}
    assert (sessions["recording"] / "call.wav").exists()
    assert not (sessions["transcript"] / "call.wav").exists()
    assert sessions["recording"] != sessions["transcript"]  # call.wav and call.txt both kept
