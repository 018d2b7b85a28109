"""Fuzz cases shared by tests/test_fuzz.py and benchmarks/bench_fuzz.py.

Each case turns a shipped, valid file (persona, rubric, trainee script) into a broken or odd
one: a structural mutation of its YAML tree, or a textual one of its bytes. The contract: the
loader returns a valid object or raises ConfigError; whatever loads also runs (engine, scorer).
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
PERSONA = ROOT / "personas" / "damaged-blender.yaml"
SCRIPT = ROOT / "personas" / "scripts" / "model-agent.yaml"
RUBRIC = ROOT / "voicesim" / "rubric" / "default.yaml"

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
