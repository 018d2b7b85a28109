"""Compiling the regular expressions of ``re:`` phrases so that they can never explode.

A rubric is written by a trainer and matched against text a trainee produced, in the CLI and on
the lab server alike. Python's ``re`` backtracks: ``(a+)+$`` takes exponential time on a short
word, and even patterns that look harmless (``a*a*c``, ``a{0,1000}a{0,1000}a{0,1000}c``) take
cubic time on a long line, holding the GIL all the while. Heuristics on the pattern's shape
missed those, so a trainer's pattern now runs on RE2 (``google-re2``), whose matching time is
linear in the text whatever the pattern. RE2 has no backtracking features: a pattern that needs
one (a backreference ``\\1``, a lookahead or lookbehind, an atomic group, a possessive or
conditional) is refused when the rubric is loaded, with a line that names the feature. RE2's
``\\b``, ``\\w`` and ``\\d`` are ASCII, which is what a lower-cased English transcript holds.
"""

from __future__ import annotations

import re
from typing import Any

import re2

try:  # Python 3.11+: the parser behind re.compile
    import re._parser as _sre
except ImportError:  # pragma: no cover - older interpreters
    import sre_parse as _sre  # type: ignore[no-redef]

from ..errors import ConfigError

MAX_LENGTH = 500
MAX_MEMORY = 8 << 20  # bytes RE2 may use for one compiled pattern (its default)

# what only a backtracking engine can do, by the parse-tree node that asks for it
_BACKTRACKING = {
    _sre.GROUPREF: "a backreference (\\1, (?P=name))",
    _sre.GROUPREF_EXISTS: "a conditional group ((?(1)...))",
    _sre.ASSERT: "a lookahead or lookbehind ((?=...), (?<=...))",
    _sre.ASSERT_NOT: "a negative lookahead or lookbehind ((?!...), (?<!...))",
}
for _name, _what in (
    ("ATOMIC_GROUP", "an atomic group ((?>...))"),
    ("POSSESSIVE_REPEAT", "a possessive quantifier (*+, ++, ?+)"),
):
    if hasattr(_sre, _name):
        _BACKTRACKING[getattr(_sre, _name)] = _what


class PhraseRegexError(ConfigError):
    """An ``re:`` phrase that does not compile or needs a backtracking feature. The loader that
    knows the file (rubric.py) turns it into a ConfigError with file:line: field; anywhere
    else it still reads as one line."""

    def __init__(self, phrase: str, why: str):
        self.phrase, self.why = phrase, why
        shown = phrase if len(phrase) <= 60 else phrase[:57] + "..."
        super().__init__(f"phrase {shown!r}", why)


def _options() -> re2.Options:
    opts = re2.Options()
    opts.log_errors = False  # the refusal is ours to word, on one line
    opts.max_mem = MAX_MEMORY
    return opts


def vet_regex(pattern: str, phrase: str | None = None) -> Any:  # noqa: ANN401 - re2's _Regexp
    """``pattern`` (the part after ``re:``) compiled for RE2, or PhraseRegexError saying why
    not. The result has ``re``'s interface (search, finditer, groupindex, pattern)."""
    shown = phrase if phrase is not None else f"re:{pattern}"
    if len(pattern) > MAX_LENGTH:
        raise PhraseRegexError(shown, f"regular expression longer than {MAX_LENGTH} characters")
    try:
        tree = _sre.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise PhraseRegexError(shown, f"not a valid regular expression ({exc})") from None
    feature = _backtracking(tree)
    if feature:
        raise PhraseRegexError(
            shown,
            f"uses {feature}, which needs a backtracking engine; phrases run on a linear-time "
            "engine (RE2) so that no text can make them slow: rewrite it without",
        )
    try:
        return re2.compile(pattern, _options())
    except re2.error as exc:
        why = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise PhraseRegexError(shown, f"not a valid regular expression for RE2 ({why})") from None


def _backtracking(tree) -> str | None:  # noqa: ANN001 - re's private parse tree
    """The first backtracking-only feature the pattern uses, in words, else None."""
    stack = [tree]
    while stack:
        items = stack.pop()
        for op, av in items:
            if op in _BACKTRACKING:
                return _BACKTRACKING[op]
            stack.extend(_children(op, av))
    return None


def _children(op, av) -> list:  # noqa: ANN001
    if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
        return [av[2]]
    if op == _sre.SUBPATTERN:
        return [av[-1]]
    if op == _sre.BRANCH:
        return list(av[1])
    return []
