"""Word error rate: how far one transcript is from another, word by word. The benchmarks
measure Whisper with it; the lab measures how far an upload's events are from what the lab
itself hears in the upload's audio."""

from __future__ import annotations

import re


def normalise_words(text: str) -> list[str]:
    """Lower-case words without punctuation, for word error rate."""
    text = text.lower().replace("\u2019", "'")
    return re.findall(r"[a-z0-9']+", text.replace("-", " "))


def word_errors(ref: list[str], hyp: list[str]) -> int:
    """Substitutions + deletions + insertions that turn ``ref`` into ``hyp`` (two rows of the
    edit-distance table: memory in the hypothesis's length only)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: (substitutions + deletions + insertions) / reference words."""
    ref, hyp = normalise_words(reference), normalise_words(hypothesis)
    return word_errors(ref, hyp) / max(1, len(ref))
