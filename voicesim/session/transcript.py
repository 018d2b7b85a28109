"""Reading a written call: plain text with speaker labels, WebVTT, SRT, or a JSON list of turns.

QA teams hold calls as transcripts exported from their platforms. Every format becomes one list
of ``Turn``s (which side spoke, what they said, and when, where the file says); ``written.py``
turns them into the events a drill records, so a transcript is scored like any other call.

A transcript may come from anyone, so it is read within ``Limits`` (bytes, turns, the length of
a turn, JSON nesting, the call clock), and every problem is one ``TranscriptError`` naming the
file and the line: a file that is not text, an unknown speaker, a time that goes backwards.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TranscriptError, VoicesimError

AGENT, CUSTOMER = "agent", "customer"
FORMATS = {".txt": "text", ".text": "text", ".vtt": "vtt", ".srt": "srt", ".json": "json"}
# Cues of one speaker split mid-sentence (captions are cut for display, not by turn: the first
# ends without a full stop, the next goes on in lower case) are joined back into one utterance
# when the gap between them is at most this.
JOIN_GAP_S = 1.0


@dataclass(frozen=True)
class Limits:
    """What one transcript may hold: generous for a real call (a 4-hour call is some 40,000
    words, a few hundred KB), and never more than the session reader accepts."""

    bytes: int = 4 * 1024 * 1024
    turns: int = 8_000  # the session reader takes 10,000 transcribed lines
    turn_chars: int = 5_000  # the session reader's longest transcribed line (text_chars)
    turn_words: int = 5_000  # the reader's word timings in one transcript event
    words: int = 200_000  # in all (a 4-hour call is ~40,000): keeps events.jsonl ~10 MB
    depth: int = 8  # nesting of one JSON turn
    max_t: float = 4 * 3600.0 - 60.0  # the reader's call clock, less the call's tail


LIMITS = Limits()


@dataclass
class Labels:
    """The speaker names of each side, compared without case or extra spaces."""

    agent: tuple[str, ...] = ("Agent",)
    customer: tuple[str, ...] = ("Customer",)

    def __post_init__(self) -> None:
        both = {_key(a) for a in self.agent} & {_key(c) for c in self.customer}
        if both:
            name = next(a for a in self.agent if _key(a) in both)
            raise VoicesimError(
                f"speaker label {name!r} is given for both the agent and the customer"
            )
        if not all(_key(x) for x in (*self.agent, *self.customer)):
            raise VoicesimError("a speaker label cannot be empty")

    def side(self, name: str) -> str | None:
        key = _key(name)
        if key in {_key(a) for a in self.agent}:
            return AGENT
        if key in {_key(c) for c in self.customer}:
            return CUSTOMER
        return None

    def describe(self) -> str:
        def names(xs: tuple[str, ...]) -> str:
            return " or ".join(repr(x) for x in xs)

        return f"the agent is {names(self.agent)} and the customer {names(self.customer)}"


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


@dataclass
class Turn:
    """What one side said, from ``line`` of the file; times in seconds where the file gives them."""

    side: str  # AGENT or CUSTOMER
    text: str
    line: int
    start: float | None = None
    end: float | None = None
    speaker: str = ""  # the label as the file writes it


@dataclass
class Transcript:
    path: str
    format: str  # text, vtt, srt, json
    turns: list[Turn] = field(default_factory=list)

    @property
    def timing(self) -> str:
        """given (every turn has a start and an end), starts (only starts), or none."""
        if all(t.start is not None and t.end is not None for t in self.turns):
            return "given"
        if all(t.start is not None for t in self.turns):
            return "starts"
        return "none"


# -- reading the file -----------------------------------------------------------------------------
def looks_like_transcript(path: Path) -> bool:
    """A file ``score`` reads as a transcript: by its suffix, or text that starts like one."""
    if path.suffix.lower() in FORMATS:
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError:
        return False
    return head.lstrip(b"\xef\xbb\xbf").startswith(b"WEBVTT")


def read_transcript(
    path: str | Path, labels: Labels | None = None, limits: Limits = LIMITS
) -> Transcript:
    """The turns of a transcript file; TranscriptError naming the file and line if it is not one."""
    labels = labels or Labels()
    name = str(path)
    text = _decode(_read(Path(path), limits), name)
    if not text.strip():
        raise TranscriptError(name, "empty: no turns to score")
    fmt = FORMATS.get(Path(path).suffix.lower(), "text")
    if text.lstrip().startswith("WEBVTT"):
        fmt = "vtt"
    parse = {"text": _parse_text, "vtt": _parse_vtt, "srt": _parse_srt, "json": _parse_json}[fmt]
    transcript = Transcript(name, fmt, parse(text, name, labels, limits))
    _check(transcript, labels, limits)
    return transcript


def _read(path: Path, limits: Limits) -> bytes:
    try:
        if not path.is_file():
            raise TranscriptError(str(path), "no such file" if not path.exists() else "not a file")
        with open(path, "rb") as fh:
            data = fh.read(limits.bytes + 1)
    except OSError as exc:
        raise TranscriptError(str(path), f"cannot read ({exc.strerror or exc})") from None
    if len(data) > limits.bytes:
        raise TranscriptError(
            str(path), f"larger than {limits.bytes // (1024 * 1024)} MB: too large for a call"
        )
    return data


def _decode(data: bytes, name: str) -> str:
    """UTF-8 (with or without a byte-order mark), or UTF-16 with one; never a binary file."""
    try:
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            text = data.decode("utf-16")
        else:
            text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise TranscriptError(name, "not UTF-8 text (a binary file?)", line) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise TranscriptError(name, "holds binary data (a NUL byte), not text", line)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _check(t: Transcript, labels: Labels, limits: Limits) -> None:
    """What every format must satisfy once read."""
    t.turns = [x for x in t.turns if x.text.split()]
    for x in t.turns:
        if len(x.text) > limits.turn_chars:
            raise TranscriptError(
                t.path, f"a turn longer than {limits.turn_chars} characters", x.line
            )
        if len(x.text.split()) > limits.turn_words:
            raise TranscriptError(t.path, f"a turn of more than {limits.turn_words} words", x.line)
    if not t.turns:
        raise TranscriptError(t.path, "no turns with any words to score")
    if sum(len(x.text.split()) for x in t.turns) > limits.words:
        raise TranscriptError(t.path, f"more than {limits.words} words: longer than any call")
    if not any(x.side == AGENT for x in t.turns):
        found = sorted({x.speaker for x in t.turns})
        raise TranscriptError(
            t.path,
            f"no agent turns: every turn is the customer's ({', '.join(map(repr, found))}), so "
            f"there is nothing of the agent's to score ({labels.describe()}; name the agent "
            "with --agent-label)",
        )
    with_start = [x for x in t.turns if x.start is not None]
    if with_start and len(with_start) < len(t.turns):
        missing = next(x for x in t.turns if x.start is None)
        raise TranscriptError(
            t.path,
            "this turn has no time but others do: give every turn a time, or none",
            missing.line,
        )


# -- times ---------------------------------------------------------------------------------------
_TIME = r"(?:\d{1,2}:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?"


def parse_time(text: str) -> float | None:
    """Seconds from ``[hh:]mm:ss[.fff]`` (a comma for the dot, as SRT writes it); None if it is
    not a time."""
    m = re.fullmatch(r"(?:(\d{1,2}):)?(\d{1,2}):(\d{2})(?:[.,](\d{1,3}))?", text.strip())
    if not m:
        return None
    h, mi, s, frac = m.groups()
    if (h is not None and int(mi) >= 60) or int(s) >= 60:
        return None
    return (
        int(h or 0) * 3600 + int(mi) * 60 + int(s) + (int(frac.ljust(3, "0")) / 1000 if frac else 0)
    )


def _time(text: str, name: str, line: int, limits: Limits) -> float:
    t = parse_time(text)
    if t is None:
        raise TranscriptError(name, f"{text.strip()!r} is not a time (hh:mm:ss.mmm)", line)
    if t > limits.max_t:
        raise TranscriptError(
            name, f"time {text.strip()} is beyond {limits.max_t / 3600:.0f} hours", line
        )
    return t


# -- plain text: "Agent: ...", "[00:01:23] Customer: ..." ------------------------------------------
# A speaker label: one to four words, each capitalised or a number ("Agent", "Customer 2",
# "SPEAKER_01", "Dr. Jones"), or any label the user named. Lines without one continue the turn.
def _stamp(group: str) -> str:
    return rf"[\[(]?(?P<{group}>{_TIME})[\])]?"


_LABELLED = re.compile(
    rf"^\s*(?:{_stamp('t1')}\s*(?:-\s*)?)?"
    r"(?P<label>[^\W\d_][^:\[\]()<>\n]{0,39}?)\s*"
    rf"(?:{_stamp('t2')}\s*)?:\s*(?P<text>.*)$"
)
_NAME_WORD = re.compile(r"[A-Z0-9][\w.'-]*")
_STAMP_ONLY = re.compile(rf"^\s*[\[(](?P<t>{_TIME})[\])]")  # "[00:01:23] hello": no label


HEAD = 120  # a label and its timestamps sit in a line's first characters


def split_label(line: str, labels: Labels) -> tuple[str, str, str | None] | None:
    """(label, text, time) when the line starts with a speaker label, else None."""
    m = _LABELLED.match(line[:HEAD])  # never a regular expression over a whole huge line
    if not m:
        return None
    label = m["label"].strip()
    words = label.split()
    name_like = 0 < len(words) <= 4 and all(_NAME_WORD.fullmatch(w) for w in words)
    if not name_like and labels.side(label) is None:
        return None
    return label, (m["text"] + line[HEAD:]).strip(), m["t1"] or m["t2"]


def _parse_text(text: str, name: str, labels: Labels, limits: Limits) -> list[Turn]:
    turns: list[Turn] = []
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        found = split_label(line, labels)
        if found is None:
            if _STAMP_ONLY.match(line):
                raise TranscriptError(
                    name, f"no speaker label after the time ({labels.describe()})", n
                )
            if not turns:
                raise TranscriptError(
                    name,
                    "no speaker label: each turn starts with a label such as 'Agent:' or "
                    f"'Customer:' ({labels.describe()})",
                    n,
                )
            turns[-1].text = _grow(turns[-1].text, line, name, n, limits)  # one turn, more lines
            continue
        label, said, stamp = found
        side = _side(label, labels, name, n)
        start = None if stamp is None else _time(stamp, name, n, limits)
        if start is not None and turns and turns[-1].start is not None and start < turns[-1].start:
            raise TranscriptError(
                name, f"time {stamp} is before the previous turn's: the times go backwards", n
            )
        turns.append(Turn(side, said, n, start, None, label))
        _count(turns, name, n, limits)
    return turns


def _grow(text: str, more: str, name: str, line: int, limits: Limits) -> str:
    """``text`` and ``more``, refused as soon as a turn is longer than the limit (so a file of
    a million short lines never builds a huge turn a line at a time)."""
    text = f"{text} {more.strip()}".strip()
    if len(text) > limits.turn_chars:
        raise TranscriptError(name, f"a turn longer than {limits.turn_chars} characters", line)
    return text


def _side(label: str, labels: Labels, name: str, line: int) -> str:
    side = labels.side(label)
    if side is None:
        raise TranscriptError(
            name,
            f"unknown speaker {label!r}: {labels.describe()} (name them with --agent-label and "
            "--customer-label)",
            line,
        )
    return side


def _count(turns: list, name: str, line: int, limits: Limits) -> None:
    if len(turns) > limits.turns:
        raise TranscriptError(name, f"more than {limits.turns} turns", line)


# -- WebVTT and SRT -------------------------------------------------------------------------------
@dataclass
class _Cue:
    line: int  # of the time line
    start: float
    end: float
    payload: list[tuple[int, str]]  # (line number, text)


_ARROW = re.compile(r"^\s*(\S+)\s+-->\s+(\S+)(?:\s.*)?$")
# Bounded repeats: a line of a million "<v " must cost linear time, not quadratic.
_VOICE = re.compile(r"<v(?:\.[^\s<>]{0,64})?\s+([^<>\n]{1,100})>", re.IGNORECASE)
_TAG = re.compile(r"<[^<>\n]{0,200}>|\{\\[^{}\n]{0,200}\}")  # <i>, <c.x>, <00:01.000>, {\an8}


def _blocks(text: str) -> list[list[tuple[int, str]]]:
    """Groups of non-blank lines, each line with its number."""
    blocks: list[list[tuple[int, str]]] = [[]]
    for n, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            blocks[-1].append((n, line))
        elif blocks[-1]:
            blocks.append([])
    return [b for b in blocks if b]


def _cues(blocks: list[list[tuple[int, str]]], name: str, limits: Limits, srt: bool) -> list[_Cue]:
    cues = []
    for block in blocks:
        at = next((i for i, (_, ln) in enumerate(block[:2]) if "-->" in ln), None)
        if at is None:
            example = "00:00:01,000 --> 00:00:04,000" if srt else "00:00:01.000 --> 00:00:04.000"
            raise TranscriptError(name, f"a cue without its time line ({example})", block[0][0])
        n, timing = block[at]
        m = _ARROW.match(timing)
        if not m:
            raise TranscriptError(name, f"not a cue time line: {timing.strip()[:60]!r}", n)
        start, end = _time(m[1], name, n, limits), _time(m[2], name, n, limits)
        if end < start:
            raise TranscriptError(name, f"the cue ends ({m[2]}) before it starts ({m[1]})", n)
        cues.append(_Cue(n, start, end, block[at + 1 :]))
        _count(cues, name, n, limits)
    return cues


def _parse_vtt(text: str, name: str, labels: Labels, limits: Limits) -> list[Turn]:
    blocks = _blocks(text)
    if not blocks or not blocks[0][0][1].startswith("WEBVTT"):
        raise TranscriptError(name, "not WebVTT: the first line must be WEBVTT", 1)
    cues = [
        b
        for b in blocks[1:]
        if not b[0][1].startswith(("NOTE", "STYLE", "REGION")) or "-->" in b[0][1]
    ]
    return _cue_turns(_cues(cues, name, limits, srt=False), name, labels, limits)


def _parse_srt(text: str, name: str, labels: Labels, limits: Limits) -> list[Turn]:
    return _cue_turns(_cues(_blocks(text), name, limits, srt=True), name, labels, limits)


def _cue_turns(cues: list[_Cue], name: str, labels: Labels, limits: Limits) -> list[Turn]:
    """One turn per speaker in each cue (a cue may hold several voices, one per line); a cue
    that goes on with a sentence its speaker's previous cue left open joins it."""
    cues.sort(key=lambda c: c.start)  # cue order is display order: time decides
    turns: list[Turn] = []
    for cue in cues:
        parts = _voices(cue, name, labels, limits)
        words = sum(len(t.split()) for _, _, _, t in parts) or 1
        t = cue.start
        for n, label, side, said in parts:
            span = (cue.end - cue.start) * max(1, len(said.split())) / words
            turn = Turn(side, said, n, round(t, 3), round(min(cue.end, t + span), 3), label)
            t += span
            prev = turns[-1] if turns else None
            if (
                prev is not None
                and prev.side == side
                and 0 <= turn.start - prev.end <= JOIN_GAP_S
                and prev.text.rstrip("\"')]")[-1:] not in (".", "!", "?", "…")
                and said[:1].islower()
            ):
                prev.text = _grow(prev.text, said, name, n, limits)
                prev.end = max(prev.end, turn.end)
            else:
                turns.append(turn)
    return turns


def _voices(
    cue: _Cue, name: str, labels: Labels, limits: Limits
) -> list[tuple[int, str, str, str]]:
    """(line, label, side, text) for each speaker of a cue, in order."""
    parts: list[tuple[int, str | None, str]] = []
    for n, raw in cue.payload:
        voices = _VOICE.findall(raw)
        if len({_key(v) for v in voices}) > 1:
            raise TranscriptError(
                name, "two speakers on one line of a cue: give each voice its own line", n
            )
        said = html.unescape(_TAG.sub("", raw)).strip()
        if voices or not parts or split_label(said, labels) is not None:  # a new speaker's line
            parts.append((n, voices[0].strip() if voices else None, said))
        else:
            ln, v, before = parts[-1]
            parts[-1] = (ln, v, _grow(before, said, name, n, limits))
    out = []
    for n, voice, said in parts:
        prefix = split_label(said, labels)
        if voice is None:
            if prefix is None:
                raise TranscriptError(
                    name,
                    "no speaker: start the cue's text with a voice tag such as <v Agent> or a "
                    f"label such as 'Agent:' ({labels.describe()})",
                    n,
                )
            voice, said = prefix[0], prefix[1]
        elif prefix is not None and labels.side(prefix[0]) is not None:
            if labels.side(prefix[0]) != labels.side(voice):
                raise TranscriptError(
                    name,
                    f"ambiguous speaker: the voice tag says {voice!r} and the text says "
                    f"{prefix[0]!r}",
                    n,
                )
            said = prefix[1]
        out.append((n, voice, _side(voice, labels, name, n), said))
    return out


# -- JSON: [{"speaker": "agent", "text": "...", "start": 1.2, "end": 3.4}, ...] ------------------
def _parse_json(text: str, name: str, labels: Labels, limits: Limits) -> list[Turn]:
    decoder = json.JSONDecoder(parse_constant=_no_constant, parse_int=_small_int)
    seen = [0, 1]  # (offset, line): line numbers counted once over the text, not per turn

    def _line(text: str, i: int) -> int:
        if i < seen[0]:
            return text.count("\n", 0, i) + 1
        seen[:] = [i, seen[1] + text.count("\n", seen[0], i)]
        return seen[1]

    i = _skip(text, 0)
    if not text.startswith("[", i):
        found = "an object" if text.startswith("{", i) else "something else"
        raise TranscriptError(
            name,
            f'expected a JSON list of turns, [{{"speaker": "agent", "text": "..."}}], found {found}',
            _line(text, i),
        )
    i = _skip(text, i + 1)
    turns: list[Turn] = []
    while not text.startswith("]", i):
        n = _line(text, i)
        try:
            item, i = decoder.raw_decode(text, i)
        except RecursionError:
            raise TranscriptError(name, f"nested more than {limits.depth} levels deep", n) from None
        except (json.JSONDecodeError, ValueError) as exc:
            msg, at = (exc.msg, exc.lineno) if isinstance(exc, json.JSONDecodeError) else (exc, n)
            raise TranscriptError(name, f"not valid JSON ({msg})", at) from None
        turns.append(_json_turn(item, len(turns), name, n, labels, limits))
        _count(turns, name, n, limits)
        i = _skip(text, i)
        if text.startswith(",", i):
            i = _skip(text, i + 1)
            if text.startswith("]", i):
                raise TranscriptError(name, "not valid JSON (a comma before ']')", _line(text, i))
        elif not text.startswith("]", i):
            raise TranscriptError(name, "not valid JSON (expected ',' or ']')", _line(text, i))
    if text[_skip(text, i + 1) :]:
        raise TranscriptError(name, "not valid JSON (text after the list)", _line(text, i))
    for prev, turn in zip(turns, turns[1:], strict=False):
        if prev.start is not None and turn.start is not None and turn.start < prev.start:
            raise TranscriptError(
                name, "start: earlier than the previous turn's: the times go backwards", turn.line
            )
    return turns


def _json_turn(item: Any, k: int, name: str, line: int, labels: Labels, limits: Limits) -> Turn:
    def bad(field: str | None, what: str) -> TranscriptError:
        return TranscriptError(name, what, line, f"[{k}].{field}" if field else f"[{k}]")

    if not isinstance(item, dict):
        raise bad(None, 'each turn must be an object {"speaker": ..., "text": ...}')
    _depth(item, limits, bad)
    for key in ("speaker", "text"):
        if not isinstance(item.get(key), str):
            raise bad(key, "missing" if key not in item else "must be text")
    times = {}
    for key in ("start", "end"):
        v = item.get(key)
        if v is None:
            times[key] = None
            continue
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise bad(key, "must be a number of seconds")
        if not 0 <= v <= limits.max_t:
            raise bad(key, f"must be between 0 and {limits.max_t:g} seconds (found {v:g})")
        times[key] = float(v)
    if times["end"] is not None and times["start"] is None:
        raise bad("start", "missing: a turn with an end needs a start")
    if times["end"] is not None and times["end"] < times["start"]:
        raise bad("end", "before the start")
    side = labels.side(item["speaker"])
    if side is None:
        raise bad(
            "speaker",
            f"unknown speaker {item['speaker'][:40]!r}: {labels.describe()} (name them with "
            "--agent-label and --customer-label)",
        )
    return Turn(side, item["text"], line, times["start"], times["end"], item["speaker"])


def _depth(item: Any, limits: Limits, bad: Any) -> None:
    stack = [(item, 1)]
    while stack:
        node, d = stack.pop()
        if isinstance(node, dict | list):
            if d > limits.depth:
                raise bad(None, f"nested more than {limits.depth} levels deep")
            stack.extend((v, d + 1) for v in (node.values() if isinstance(node, dict) else node))


_SPACE = re.compile(r"[ \t\n]*")


def _skip(text: str, i: int) -> int:
    return _SPACE.match(text, i).end()


def _no_constant(s: str) -> Any:
    raise ValueError(f"{s} is not a number JSON allows")


def _small_int(s: str) -> int:
    if len(s.lstrip("-")) > 20:
        raise ValueError("an integer with more than 20 digits")
    return int(s)
