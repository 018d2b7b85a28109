"""The call's numbers in words, one row each: what the terminal, the report and the lab all show.

The figures are computed once, by the scorer, with the criteria's own rules (``stats`` in
scorecard.json: the pace a criterion judged, the talk share it judged on, the interruptions it
counted); here they are only put into words, so that no view can show a number another view
contradicts. A figure the call does not have (a recording has no customer mood) is left out
rather than shown as "None".
"""

from __future__ import annotations

import math


def _num(x: object) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        return None
    return float(x)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _pace(s: dict) -> str | None:
    pace = s.get("pace") if isinstance(s.get("pace"), dict) else {}
    wpm = _num(pace.get("wpm", s.get("words_per_minute")))
    if wpm is None or not _num(s.get("trainee_words")):
        return None
    text = f"{round(wpm)} words a minute"
    rng = pace.get("range")
    if isinstance(rng, list) and len(rng) == 2 and all(_num(x) is not None for x in rng):
        text += f" (aim for {rng[0]:g}-{rng[1]:g})"
    fast, slow = int(_num(pace.get("too_fast")) or 0), int(_num(pace.get("too_slow")) or 0)
    whole = bool(pace.get("whole_call"))
    judged = int(_num(pace.get("turns_judged")) or 0)
    if whole:
        text += ", too fast over the call" if fast else ", too slow over the call"
    elif fast or slow:
        parts = [f"{n} too {w}" for n, w in ((fast, "fast"), (slow, "slow")) if n]
        text += f"; of {_plural(judged, 'long turn')}, {' and '.join(parts)}"
    return text


def _talk(s: dict) -> str | None:
    ratio = _num(s.get("talk_ratio"))
    pct = _num(s.get("talk_pct"))
    if pct is None and ratio is None:
        return None
    if not (_num(s.get("trainee_talk_s")) or _num(s.get("customer_talk_s"))):
        return None
    pct = round(pct if pct is not None else 100 * (ratio or 0.0))
    text = f"{pct}% trainee"
    rng = s.get("talk_range_pct")
    if isinstance(rng, list) and len(rng) == 2:
        text += f" (aim for {rng[0]}-{rng[1]}%)"
    return text


def _interruptions(s: dict) -> str | None:
    if "interruptions" not in s and "overtalk_count" not in s:
        return None  # not measured: a written transcript has no audio
    n = _num(s.get("interruptions"))
    secs = _num(s.get("interruptions_s"))
    if n is None:  # a scorecard from before the figure existed: every overtalk by the trainee
        n, secs = _num(s.get("overtalk_by_trainee")) or 0, None
    text = f"you talked over the customer {_plural(int(n), 'time')}"
    if n and secs is not None:
        text += f" ({secs:.1f} s)"
    theirs = int(_num(s.get("overtalk_count")) or 0) - int(_num(s.get("overtalk_by_trainee")) or 0)
    if theirs > 0:
        text += f"; the customer talked over you {_plural(theirs, 'time')}"
    return text


def _dead_air(s: dict) -> str | None:
    if "dead_air" not in s and "longest_silence_s" not in s:
        return None  # not measured: a written transcript has no audio
    longest = _num(s.get("longest_silence_s")) or 0.0
    n, least = _num(s.get("dead_air")), _num(s.get("dead_air_min_s"))
    if n is None or least is None:
        return f"longest silence {longest:.1f} s"
    return f"{_plural(int(n), 'silence')} of {least:g} s or more; longest {longest:.1f} s"


def _outcome(o: dict) -> str | None:
    end = o.get("end_state")
    moods = [
        m for m in o.get("mood") or [] if isinstance(m, dict) and _num(m.get("mood")) is not None
    ]
    words = {
        "resolved": "resolved",
        "hung_up": "the customer hung up",
        "escalated": "the customer demanded a manager",
        "time_limit": "ran out of time",
        "interrupted": "stopped before the end",
        "recorded": "a recorded call",
    }
    text = words.get(str(end), str(end)) if end else None
    if len(moods) >= 2:
        mood = (
            f"customer mood {moods[0]['mood']:.2f} -> {moods[-1]['mood']:.2f} (0 calm, 1 furious)"
        )
        text = f"{text}; {mood}" if text else mood
    return text


def call_numbers(card: dict) -> list[tuple[str, str]]:
    """``[(label, value), ...]``: the call's outcome, talk share, pace, interruptions, dead air
    and reply time, in words. Rows the call has no figure for are left out."""
    s = card.get("stats") if isinstance(card.get("stats"), dict) else {}
    o = card.get("outcome") if isinstance(card.get("outcome"), dict) else {}
    rows = [
        ("outcome", _outcome(o)),
        ("talk ratio", _talk(s)),
        ("pace", _pace(s)),
        ("interruptions", _interruptions(s)),
        ("dead air", _dead_air(s)),
    ]
    latency = _num(s.get("response_latency_median_s"))
    if latency is not None:
        rows.append(("reply time", f"{latency:.1f} s median after the customer stops"))
    return [(k, v) for k, v in rows if v]
