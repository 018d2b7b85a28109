"""Fuzz cases shared by tests/test_fuzz.py and benchmarks/bench_fuzz.py.

Each case turns a shipped, valid file (persona, rubric, trainee script) into a broken or odd
one: a structural mutation of its YAML tree, or a textual one of its bytes. The contract: the
loader returns a valid object or raises ConfigError; whatever loads also runs (engine, scorer).

Sessions and lab uploads have their own corpus (``hostile_sessions``, ``hostile_archives``,
``damaged_events``): the session reader loads them or raises one SessionError naming the file;
the lab answers a 4xx and keeps nothing.
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import tarfile
import zipfile
from pathlib import Path

import yaml
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
PERSONA = ROOT / "personas" / "damaged-blender.yaml"
SCRIPT = ROOT / "personas" / "scripts" / "model-agent.yaml"
RUBRIC = ROOT / "voicesim" / "rubric" / "default.yaml"
# A rubric full of phrases (the recogniser's lexicon, the v1 default rubric): regex cases edit it.
PHRASE_RUBRIC = ROOT / "voicesim" / "rubric" / "models" / "lexicon.yaml"

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", "-1", "1e999", "nan", "~", "*", "re:(", "re:[", "{", "empathy", "0x10"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


def _get(node, path):
    for k in path:
        node = node[k]
    return node


@st.composite
def mutated_yaml(draw, source: Path) -> str:
    """The source file's YAML tree with 1-3 random edits: delete, replace, add, retype."""
    doc = copy.deepcopy(yaml.safe_load(source.read_text()))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(doc))[1:]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _get(doc, path[:-1]), path[-1]
        op = draw(st.sampled_from(["delete", "replace", "add", "wrap"]))
        if op == "delete":
            del parent[key]
        elif op == "replace":
            parent[key] = draw(values)
        elif op == "wrap":
            parent[key] = [parent[key]]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=10))] = draw(values)
        else:
            parent.append(draw(values))
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


@st.composite
def mangled_text(draw, source: Path) -> str:
    """The source file's text with characters cut, inserted or replaced (broken YAML too)."""
    text = source.read_text()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["cut", "insert", "truncate"]))
        if op == "cut":
            text = text[:i] + text[i + draw(st.integers(1, 40)) :]
        elif op == "insert":
            text = (
                text[:i]
                + draw(
                    st.sampled_from(
                        [
                            ":",
                            "- ",
                            "\t",
                            '"',
                            "'",
                            "{",
                            "[",
                            "&a",
                            "*a",
                            "\n  x: 1\n",
                            "!!python/object:os.system",
                            "\x00",
                            "%",
                        ]
                    )
                )
                + text[i:]
            )
        else:
            text = text[:i]
    return text


SAMPLE_TURNS = [
    "Hello, thank you for calling. I'm so sorry.",
    "Calm down, that's not my problem.",
    "I will send a replacement today.",
    "",
    "mm-hmm",
]


# -- sessions and uploads ---------------------------------------------------------------------------
# A small, complete session held in memory (no call.wav, no scorecard: readers rescore it with the
# built-in rubric), and hostile variants of it: the corpus the session reader and the lab's upload
# path must refuse with one clear line (a 4xx for the lab), never a traceback, hang or blow-up.
BASE_EVENTS: list[dict] = [
    {"type": "call_start", "t": 0.0, "persona": "damaged-blender", "rubric": "default"},
    {"type": "mood", "t": 0.5, "mood": 0.6, "reason": "opening", "moves": [], "end_state": None},
    {"type": "customer_line_start", "t": 0.5, "line": 0, "text": "My blender arrived cracked.",
     "reason": "opening", "mood": 0.6, "keeps_turn": False, "end": 3.0},
    {"type": "customer_line_end", "t": 3.0, "line": 0, "cut": False},
    {"type": "final", "t": 3.5, "who": "trainee", "utterance": 0, "end": 5.5,
     "text": "I'm so sorry, let me replace it today.",
     "words": [{"w": "I'm", "start": 3.5, "end": 3.7, "p": 0.9},
               {"w": "sorry,", "start": 3.8, "end": 4.1, "p": 0.95}]},
    {"type": "overtalk", "t": 1.0, "by": "trainee", "end": 2.0, "duration": 1.0, "line": 0},
    {"type": "silence", "t": 3.0, "end": 6.5, "duration": 3.5, "after": "customer"},
    {"type": "call_end", "t": 7.0, "end_state": "resolved", "duration": 7.0},
]  # fmt: skip
BASE_META: dict = {
    "format": 1,
    "created": "2026-01-01T10:00:00+00:00",
    "persona": {"id": "damaged-blender", "name": "Dana Whitfield", "version": "1"},
    "rubric": {"id": "default", "version": "1"},
    "source": {"kind": "simulated"},
    "status": "complete",
}
BAD_NUMBERS = [float("nan"), float("inf"), -1.0, 1e308, 10**40, "3", True, None, [1], {"a": 1}]


def session_files(events: list | None = None, meta=None, card=None, raw: bytes | None = None):
    """The files of a session (name -> bytes); ``events`` are dicts or ready-made text lines."""
    evs = BASE_EVENTS if events is None else events
    lines = [e if isinstance(e, str) else json.dumps(e) for e in evs]
    files = {"events.jsonl": raw if raw is not None else ("\n".join(lines) + "\n").encode()}
    meta = BASE_META if meta is None else meta
    files["meta.json"] = meta if isinstance(meta, bytes) else json.dumps(meta).encode()
    if card is not None:
        files["scorecard.json"] = card if isinstance(card, bytes) else json.dumps(card).encode()
    return files


def _with(index: int, **fields) -> list:
    evs = copy.deepcopy(BASE_EVENTS)
    evs[index].update(fields)
    return evs


def hostile_sessions() -> list[tuple[str, dict[str, bytes]]]:
    """(name, files) of damaged and hostile sessions: each must be refused with one line."""
    base = (json.dumps(e) for e in BASE_EVENTS)
    text = "\n".join(base) + "\n"
    cases: list[tuple[str, dict[str, bytes]]] = []
    for v in BAD_NUMBERS:
        cases.append((f"t = {v!r}"[:40], session_files(_with(4, t=v))))
    cases += [
        ("t = 1e9, one event", session_files([{"type": "call_start", "t": 1e9}])),
        ("t huge integer", session_files([text.splitlines()[0].replace('"t": 0.0', '"t": ' + "9" * 5000)])),
        ("t NaN literal", session_files(raw=text.replace('"t": 7.0', '"t": NaN').encode())),
        ("deep nesting 100000", session_files(['{"type":"x","t":1,"a":' + "[" * 100_000 + "]" * 100_000 + "}"])),
        ("deep nesting 40", session_files(['{"type":"x","t":1,"a":' + "[" * 40 + "]" * 40 + "}"])),
        ("invalid UTF-8", session_files(raw=text.encode()[:90] + b"\xff\xfe" + text.encode()[90:])),
        ("NUL bytes", session_files(raw=b"\x00" * 64 + b"\n" + text.encode())),
        ("a list per line", session_files(["[1, 2, 3]"])),
        ("no type", session_files([{"t": 1.0}])),
        ("type a number", session_files([{"type": 5, "t": 1.0}])),
        ("type very long", session_files([{"type": "x" * 100, "t": 1.0}])),
        ("words a string", session_files(_with(4, words="I'm sorry"))),
        ("words of numbers", session_files(_with(4, words=[1, 2, 3]))),
        ("word time NaN", session_files(raw=text.replace('"start": 3.5', '"start": NaN').encode())),
        ("text a number", session_files(_with(4, text=42))),
        ("text a list", session_files(_with(2, text=["a"]))),
        ("mood a string", session_files(_with(1, mood="calm"))),
        ("duration a string", session_files(_with(7, duration="7"))),
        ("call_end without duration", session_files(BASE_EVENTS[:-1] + [{"type": "call_end", "t": 7.0}])),
        ("overtalk without end", session_files(_with(5, end=None))),
        ("line a float", session_files(_with(3, line=0.5))),
        ("a 300 KB line", session_files(_with(4, text="x" * 300_000))),
        ("10 001 transcribed lines", session_files([BASE_EVENTS[4]] * 10_001)),
        ("a 30 000-character text", session_files(_with(4, text="y" * 30_000))),
        ("meta a list", session_files(meta=[1, 2])),
        ("meta not JSON", session_files(meta=b"{not json")),
        ("meta format 999", session_files(meta={**BASE_META, "format": 999})),
        ("meta format a string", session_files(meta={**BASE_META, "format": "1"})),
        ("persona a string", session_files(meta={**BASE_META, "persona": "damaged-blender"})),
        ("source a list", session_files(meta={**BASE_META, "source": ["x"]})),
        ("meta deep", session_files(meta=b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}")),
        ("scorecard a list", session_files(card=[1])),
        ("scorecard families a dict", session_files(card={"families": {"a": 1}})),
        ("scorecard overall a string", session_files(card={"families": [], "overall": "high"})),
        ("scorecard overall 1e308", session_files(card={"families": [], "overall": 1e308})),
        ("scorecard family without id", session_files(card={"families": [{"score": 5}]})),
    ]  # fmt: skip
    return cases


def bad_rubric_session(tmp: Path) -> dict[str, bytes]:
    """A session without a scorecard whose meta names a rubric with a regex RE2 cannot run."""
    rubric = tmp / "slow-rubric.yaml"
    rubric.write_text(PHRASE_RUBRIC.read_text().replace('"re:\\\\bby \\\\d"', '"re:(?=a)b"'))
    return session_files(meta={**BASE_META, "rubric": {"id": "x", "file": str(rubric)}})


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buf.getvalue()


def _tar(add) -> bytes:  # noqa: ANN001
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        add(tf)
    return buf.getvalue()


def _tar_false_size() -> bytes:
    """A tar whose one member's header claims 8 GB (checksum fixed up) over 10 bytes of data."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("events.jsonl")
        info.size = 10
        tf.addfile(info, io.BytesIO(b"x" * 10))
    raw = bytearray(buf.getvalue())
    raw[124:136] = b"77777777777\0"
    raw[148:156] = b" " * 8
    raw[148:156] = b"%06o\0 " % sum(raw[:512])
    return gzip.compress(bytes(raw))


def _tar_member(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE):  # noqa: ANN202
    def add(tf: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.size = kind, len(data)
        if kind == tarfile.SYMTYPE:
            info.linkname = "/etc/passwd"
        tf.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

    return add


def hostile_archives() -> list[tuple[str, bytes]]:
    """(name, upload body) of damaged and hostile archives, beside the hostile sessions zipped."""
    good = _zip(session_files())
    # a bad CRC: flip one byte of the first member's compressed data
    crc = bytearray(good)
    at = good.index(b"events.jsonl") + len("events.jsonl") + 5
    crc[at] ^= 0xFF
    # a false declared size: the local and central headers say 10 bytes, the data holds more
    stored = bytearray(_zip(session_files(), zipfile.ZIP_STORED))
    for header in (b"PK\x03\x04", b"PK\x01\x02"):
        i = stored.index(header)
        size_at = i + (22 if header == b"PK\x03\x04" else 24)
        stored[size_at : size_at + 4] = (10).to_bytes(4, "little")
    # a zip bomb: 100 MiB of events (one valid line repeated) in a few hundred KB
    line = (json.dumps(BASE_EVENTS[1]) + "\n").encode()
    bomb = _zip({"events.jsonl": line * (100 * 1024 * 1024 // len(line)), "meta.json": b"{}"})
    many = _zip({f"d{i}/x": b"" for i in range(5000)})
    return [
        ("bad CRC", bytes(crc)),
        ("false declared size", bytes(stored)),
        ("zip bomb, 100 MiB of events", bomb),
        ("5000 members", many),
        ("cut in half", good[: len(good) // 2]),
        ("not an archive", b"PK\x03\x04" + b"\x00" * 100),
        ("empty", b""),
        ("path traversal", _zip({"../events.jsonl": b"{}"})),
        ("absolute path", _zip({"/tmp/events.jsonl": b"{}"})),
        ("unknown member", _zip({**session_files(), "evil.sh": b"rm -rf /"})),
        ("two sessions", _zip({"a/events.jsonl": b"", "b/events.jsonl": b""})),
        ("tar symlink", _tar(_tar_member("events.jsonl", kind=tarfile.SYMTYPE))),
        ("tar false size", _tar_false_size()),
        ("gzip of garbage", gzip.compress(b"\x00" * 10_000)),
    ]


@st.composite
def damaged_events(draw) -> bytes:
    """The base events.jsonl with one event's field replaced by a hostile value, or its bytes
    cut, doubled or corrupted."""
    evs = copy.deepcopy(BASE_EVENTS)
    if draw(st.booleans()):
        ev = draw(st.sampled_from(evs))
        key = draw(st.sampled_from([*ev, "words", "text", "mood", "end", "duration", "line"]))
        hostile = st.one_of(values, st.sampled_from(BAD_NUMBERS), st.integers(-(10**30), 10**30))
        ev[key] = draw(hostile)
        return ("\n".join(json.dumps(e) for e in evs) + "\n").encode()
    data = bytearray(("\n".join(json.dumps(e) for e in evs) + "\n").encode())
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["cut", "insert", "flip"]))
        if op == "cut":
            del data[i : i + draw(st.integers(1, 40))]
        elif op == "insert":
            data[i:i] = draw(
                st.sampled_from(
                    [b"[", b"{", b'"', b"\n", b"\xff", b"\x00", b"NaN", b"1e999", b"9" * 400]
                )
            )
        elif i < len(data):
            data[i] = draw(st.integers(0, 255))
    return bytes(data)


def _laughs() -> str:
    """A 4.6 KB "billion laughs": nine levels of nine aliases each (10^9 values expanded)."""
    out = 'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for i in range(1, 10):
        out += f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n"
    return out


def hostile_configs() -> list[tuple[str, str, str]]:
    """(name, "persona" or "rubric", YAML text): each must end in one ConfigError, quickly."""
    persona, rubric = PERSONA.read_text(), RUBRIC.read_text()
    phrases = PHRASE_RUBRIC.read_text()
    return [
        ("persona: billion laughs", "persona", _laughs() + persona),
        ("rubric: billion laughs", "rubric", _laughs() + rubric),
        ("persona: 20 000-deep nesting", "persona", "a: " + "[" * 20_000 + "]" * 20_000 + "\n"),
        ("rubric: 20 000-deep mapping", "rubric", "".join(" " * i + "k:\n" for i in range(2000))),
        ("persona: 5000-digit integer", "persona", persona.replace("difficulty: ", "difficulty: " + "9" * 5000 + " #", 1)),
        ("persona: mood.start .nan", "persona", persona.replace("start: 0.", "start: .nan #", 1)),
        ("rubric: pass_mark .nan", "rubric", rubric.replace("pass_mark: 70", "pass_mark: .nan", 1)),
        ("rubric: pass_mark .inf", "rubric", rubric.replace("pass_mark: 70", "pass_mark: .inf", 1)),
        ("rubric: unclosed regex", "rubric", phrases.replace('"re:\\\\bby \\\\d"', '"re:(unclosed"')),
        ("rubric: backreference", "rubric", phrases.replace('"re:\\\\bby \\\\d"', '"re:(?P<x>a)(?P=x)"')),
        ("rubric: lookbehind", "rubric", phrases.replace('"re:\\\\bby \\\\d"', '"re:(?<=a)b"')),
        ("rubric: recursive alias", "rubric", "a: &x [*x]\n" + rubric),
    ]  # fmt: skip
