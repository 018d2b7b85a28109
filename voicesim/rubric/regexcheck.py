"""Vetting the regular expressions of ``re:`` phrases before they ever run.

A rubric is written by a trainer and matched against text a trainee produced, in the CLI and on
the lab server alike. Python's ``re`` backtracks, so a pattern such as ``(a+)+$`` takes
exponential time on a short word. Rather than time out at scoring, a phrase is refused when the
rubric is loaded, with a line that says why. The checks are syntactic and conservative:

- the pattern compiles, and is at most ``MAX_LENGTH`` characters;
- no nested quantifiers: nothing repeated (``*``, ``+``, ``{2,}``...) holds a part of varying
  length (``(a+)+``, ``(\\w+\\s?)*``, ``(.*x){9}``);
- no repeated alternation whose branches can start alike (``(?:ab|ac)+``);
- at most ``MAX_OPEN`` open-ended quantifiers in the whole pattern (``.*.*.*x`` is polynomial,
  but steep on a long transcript).
"""

from __future__ import annotations

import re

try:  # Python 3.11+: the parser behind re.compile
    import re._parser as _sre
except ImportError:  # pragma: no cover - older interpreters
    import sre_parse as _sre  # type: ignore[no-redef]

from ..errors import ConfigError

MAX_LENGTH = 500
MAX_OPEN = 2

_REPEATS = (_sre.MAX_REPEAT, _sre.MIN_REPEAT, getattr(_sre, "POSSESSIVE_REPEAT", None))
_UNBOUNDED = _sre.MAXREPEAT


class PhraseRegexError(ConfigError):
    """An ``re:`` phrase that does not compile or could take exponential time to match. The
    loader that knows the file (rubric.py) turns it into a ConfigError with file:line: field;
    anywhere else it still reads as one line."""

    def __init__(self, phrase: str, why: str):
        self.phrase, self.why = phrase, why
        shown = phrase if len(phrase) <= 60 else phrase[:57] + "..."
        super().__init__(f"phrase {shown!r}", why)


def vet_regex(pattern: str, phrase: str | None = None) -> re.Pattern[str]:
    """Compile ``pattern`` (the part after ``re:``) or raise PhraseRegexError saying why not."""
    shown = phrase if phrase is not None else f"re:{pattern}"
    if len(pattern) > MAX_LENGTH:
        raise PhraseRegexError(shown, f"regular expression longer than {MAX_LENGTH} characters")
    try:
        compiled = re.compile(pattern)
        tree = _sre.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise PhraseRegexError(shown, f"not a valid regular expression ({exc})") from None
    problem = _problem(tree)
    if problem:
        raise PhraseRegexError(shown, problem)
    return compiled


def _problem(tree) -> str | None:  # noqa: ANN001 - re's private parse tree
    open_ended = 0
    for op, av, inside in _walk(tree, 0):
        if op in _REPEATS:
            lo, hi, body = av
            if hi == _UNBOUNDED:
                open_ended += 1
            if inside and lo != hi:
                return (
                    "nested quantifiers (a repeated group holds a quantifier): this can take "
                    "exponential time to match; repeat a fixed-length group or drop the inner one"
                )
            if hi > 1 and _overlapping_branch(body):
                return (
                    "repeated alternatives that can start with the same character: this can "
                    "take exponential time to match; factor the common start out of the group"
                )
    if open_ended > MAX_OPEN:
        return f"more than {MAX_OPEN} open-ended quantifiers (*, +, {{n,}}): too slow to match"
    return None


def _walk(items, depth: int):  # noqa: ANN001, ANN202
    """(op, argument, inside a repeat) for every node of the parse tree."""
    for op, av in items:
        inside = depth > 0
        yield op, av, inside
        if op in _REPEATS:
            yield from _walk(av[2], depth + 1 if av[1] > 1 else depth)
        elif op == _sre.SUBPATTERN:
            yield from _walk(av[-1], depth)
        elif op == _sre.BRANCH:
            for alt in av[1]:
                yield from _walk(alt, depth)
        elif op in (_sre.ASSERT, _sre.ASSERT_NOT):
            yield from _walk(av[1], depth)
        elif op == _sre.GROUPREF_EXISTS:
            for part in av[1:]:
                if part is not None:
                    yield from _walk(part, depth)
        elif op == getattr(_sre, "ATOMIC_GROUP", None):
            yield from _walk(av, depth)


def _overlapping_branch(items) -> bool:  # noqa: ANN001
    """Whether a repeated body holds an alternation whose branches may start alike."""
    for op, av, _ in _walk(items, 0):
        if op != _sre.BRANCH:
            continue
        starts: set[int] = set()
        for alt in av[1]:
            first = _first_literal(alt)
            if first is None or first in starts:
                return True
            starts.add(first)
    return False


def _first_literal(items) -> int | None:  # noqa: ANN001
    """The character a branch must start with, when it is one known literal."""
    for op, av in items:
        if op == _sre.LITERAL:
            return av
        if op == _sre.SUBPATTERN:
            return _first_literal(av[-1])
        return None
    return None
