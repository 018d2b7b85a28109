"""report.html: one self-contained, offline page to review a call.

Two-lane timeline (customer / trainee) with waveforms, overtalk and dead-air bands, backchannel
marks, the customer's mood curve and the rubric's evidence as markers; the transcript with each
evidence phrase highlighted and its points; the scorecard by family; plain numbers; and the call
audio embedded (FLAC), so clicking a line or a marker seeks it and the current line follows.
No network, no CDN: everything is inline.

The page comes from a Jinja2 template with autoescape on (templates/report.html); the session's
data reaches the script only as JSON through ``tojson``, and the script (templates/report.js)
puts it into the page as text, never as HTML. The lab serves the same page with a
Content-Security-Policy that lets exactly this script and style sheet run (their hashes).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from ..audio.formats import RATE
from ..events import (
    CUSTOMER_LINE_END,
    CUSTOMER_LINE_START,
    FINAL,
    GUIDANCE,
    MOOD,
    OVERTALK,
    SILENCE,
)
from .numbers import call_numbers
from .session import Session, load_session

PEAK_BUCKETS = 1200


# -- templates, shared with the lab's pages -------------------------------------------------------
def finite(obj: object) -> object:
    """``obj`` with every NaN or infinity replaced by None: JSON has no such numbers, and one of
    them in a page's data would stop its script."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    return obj


def _dumps(obj: object, **kwargs: object) -> str:
    return json.dumps(finite(obj), allow_nan=False, ensure_ascii=False, **kwargs)


def environment(package: str) -> Environment:
    """The Jinja2 environment for ``package``'s templates/ folder: autoescape on for every
    template, undefined names are errors, and ``tojson`` writes finite, HTML-safe JSON."""
    env = Environment(
        loader=PackageLoader(package, "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.policies["json.dumps_function"] = _dumps
    env.policies["json.dumps_kwargs"] = {}
    return env


@dataclass(frozen=True)
class Asset:
    """A script or style sheet of ours (package data), inlined in a page, with the CSP source
    that lets exactly this text run: a page with it needs no 'unsafe-inline'."""

    text: Markup
    csp: str


@cache
def asset(package: str, name: str) -> Asset:
    text = (resources.files(package) / "templates" / name).read_text(encoding="utf-8")
    if "</script" in text.lower() or "</style" in text.lower():
        raise ValueError(f"{name} must not close its own element")
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return Asset(Markup(text), f"'sha256-{digest}'")


@cache
def _env() -> Environment:
    return environment("voicesim.report")


def report_csp() -> str:
    """The Content-Security-Policy for a report served by the lab: only the report's own script
    and styles run, nothing is loaded from anywhere, and the page runs sandboxed (an origin of
    its own), so it can never act as the signed-in user."""
    js, css = asset("voicesim.report", "report.js"), asset("voicesim.report", "report.css")
    return (
        f"default-src 'none'; script-src {js.csp}; style-src {css.csp}; media-src data:; "
        "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
        "sandbox allow-scripts"
    )


def _peaks(x: np.ndarray, n: int) -> list[float]:
    if x.size == 0:
        return []
    n = max(1, min(n, x.size))
    edges = np.linspace(0, x.size, n + 1).astype(int)
    peaks = np.maximum.reduceat(np.abs(x), edges[:-1]) if x.size else np.zeros(n)
    top = float(np.percentile(peaks, 99)) or 1.0
    return [round(float(min(1.0, p / top)), 3) for p in peaks]


def _audio_data_uri(customer: np.ndarray, trainee: np.ndarray) -> str:
    import soundfile as sf

    if customer.size == 0:
        return ""
    buf = io.BytesIO()
    sf.write(buf, np.stack([customer, trainee], axis=1), RATE, format="FLAC", subtype="PCM_16")
    return "data:audio/flac;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _backchannels(session: Session, trainee_finals: list[dict], lines: list[dict]) -> list[dict]:
    from ..rubric.rubric import load_rubric
    from ..rubric.scorer import listening_signal

    rubric_file = (session.meta.get("rubric") or {}).get("file")
    try:
        rubric = load_rubric(rubric_file if rubric_file and Path(rubric_file).exists() else None)
    except Exception:  # a broken rubric file must not stop the report
        return []
    lib, limit = rubric.library, rubric.thresholds.backchannel_max_words
    return [
        {"t": f["t"], "end": f["end"], "text": f["text"]}
        for f in trainee_finals
        if listening_signal(f["text"], lib, limit)
        and any(c["t"] <= f["t"] < c["end"] for c in lines)
    ]


def _num(x: object, default: float | None = 0.0) -> float | None:
    """A number from a session file as a finite float (uploads may hold anything)."""
    try:
        f = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return f if math.isfinite(f) else default


def _text(x: object) -> str:
    return "" if x is None else str(x)


def _words(words: object) -> list[dict]:
    if not isinstance(words, list):
        return []
    return [
        {"w": _text(w.get("w")), "start": _num(w.get("start")), "end": _num(w.get("end"))}
        for w in words
        if isinstance(w, dict)
    ]


def report_data(session: Session, review: dict | None = None) -> dict:
    """The page's data. ``review``: trainers' ``comments`` and ``overrides`` (the lab's; the
    session's scorecard then already carries the overridden points)."""
    ev = session.events
    customer, trainee = session.audio()
    card = session.scorecard
    ends = {e.get("line"): e for e in ev if e.type == CUSTOMER_LINE_END}
    lines = []
    for e in ev:
        if e.type == CUSTOMER_LINE_START:
            end = ends.get(e.get("line"))
            lines.append(
                {
                    "t": _num(e.t),
                    "end": _num(end.t if end else e.get("end", e.t)),
                    "text": _text(e.get("text", "")),
                    "reason": _text(e.get("reason")),
                    "cut": bool(end and end.get("cut")),
                    "words": _words(e.get("words")),
                }
            )
    finals = [
        {
            "t": _num(e.t),
            "end": _num(e.get("end", e.t)),
            "text": _text(e.get("text", "")),
            "words": _words(e.get("words")),
        }
        for e in ev
        if e.type == FINAL and e.get("who", "trainee") == "trainee"
    ]
    evidence = []
    for fam in card.get("families", []):
        for c in fam.get("criteria", []):
            for x in c.get("evidence", []):
                evidence.append(
                    {
                        **x,
                        "family": fam["name"],
                        "criterion": c["id"],
                        "label": c.get("label") or c["id"],
                    }
                )
    meta = session.meta if isinstance(session.meta, dict) else {}
    persona = meta.get("persona") if isinstance(meta.get("persona"), dict) else {}
    source = meta.get("source") if isinstance(meta.get("source"), dict) else {}
    created = meta.get("created")
    return {
        "title": _text(persona.get("name") or "Recorded call"),
        "persona": _text(persona.get("id")) or None,
        "source": _text(source.get("kind")) or None,
        "created": None if created is None else _text(created),
        "rubric": card.get("rubric", {}),
        "complete": session.complete,
        "duration": round(max(session.duration_s, customer.size / RATE), 3),
        "overall": card.get("overall"),
        "machine_overall": card.get("machine_overall"),
        "pass_mark": card.get("pass_mark"),
        "passed": card.get("passed"),
        "scorable": card.get("scorable", True) is not False,
        "not_scorable": _text(card.get("not_scorable")) or None,
        "outcome": card.get("outcome", {}),
        "families": card.get("families", []),
        "coaching": card.get("coaching") or {},
        "stats": card.get("stats", {}),
        "numbers": [list(row) for row in call_numbers(card)],
        "peaks": {
            "customer": _peaks(customer, PEAK_BUCKETS),
            "trainee": _peaks(trainee, PEAK_BUCKETS),
        },
        "lines": lines,
        "trainee": finals,
        "overtalk": [
            {
                "t": _num(e.t),
                "end": _num(e.get("end")),
                "by": _text(e.get("by")),
                "duration": _num(e.get("duration")),
            }
            for e in ev
            if e.type == OVERTALK
        ],
        "silences": [
            {"t": _num(e.t), "end": _num(e.get("end")), "duration": _num(e.get("duration"))}
            for e in ev
            if e.type == SILENCE
        ],
        "backchannels": _backchannels(session, finals, lines),
        "moods": [
            {"t": _num(e.t), "mood": _num(e.get("mood")), "reason": _text(e.get("reason"))}
            for e in ev
            if e.type == MOOD
        ],
        "guidance": [
            {
                "t": _num(e.t),
                "cue": _text(e.get("cue")),
                "text": _text(e.get("text")),
                "reason": _text(e.get("reason")),
            }
            for e in ev
            if e.type == GUIDANCE
        ],
        "evidence": evidence,
        "review": review or {"comments": [], "overrides": []},
    }


def render_report(session: Session, review: dict | None = None) -> str:
    """The whole page, script and styles inline: one self-contained file that works offline."""
    customer, trainee = session.audio()
    return (
        _env()
        .get_template("report.html")
        .render(
            data=report_data(session, review),
            audio=_audio_data_uri(customer, trainee),
            css=asset("voicesim.report", "report.css").text,
            js=asset("voicesim.report", "report.js").text,
        )
    )


def write_report(directory: str | Path, out: str | Path | None = None) -> Path:
    session = load_session(directory)
    path = Path(out) if out else session.dir / "report.html"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render_report(session), encoding="utf-8")
    tmp.replace(path)
    return path
