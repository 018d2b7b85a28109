"""The persona library: every shipped customer loads and plays a whole call; each persona's good
script resolves and passes, its bad script ends in the failure the persona teaches; talk-over,
interjection, malformed files and seeded replay."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from voicesim.cli import main
from voicesim.errors import ConfigError
from voicesim.events import read_events
from voicesim.persona.engine import DialogueEngine, TraineeTurn
from voicesim.persona.persona import (
    AUDIO_REACTIONS,
    PERSONA_DIR,
    SCHEMA,
    STRICT_WORDINGS,
    Persona,
    load_persona,
    persona_files,
)
from voicesim.rubric.rubric import excuses, load_rubric
from voicesim.session.call import CallOptions
from voicesim.session.script import SCRIPT_DIR, load_script
from voicesim.session.simulate import simulate

pytestmark = pytest.mark.slow

# persona id -> the end state its bad script must reach (the failure the persona is built to teach)
BAD_END = {
    "late-order": "hung_up",  # fobbed off: "you'll just have to wait"
    "refund-out-of-policy": "escalated",  # a bare "no refunds": she demands a manager
    "controlling-customer": "escalated",  # over-explaining and lecturing: he goes over your head
    "abusive-swearer": "hung_up",  # "calm down" instead of a boundary
    "talkative-customer": "time_limit",  # open questions, never steered: the call runs out
    "confused-no-exchange": "hung_up",  # talked over and talked down to: she gives up
    "serial-refunder": "time_limit",  # a doormat: every concession brings a new demand
    "demands-manager": "escalated",  # stonewalled: he forces the escalation
    "terrible-day": "hung_up",  # process before the person
    "missed-callback": "escalated",  # passed around with no follow-up
}

TALK_OVER_SCRIPT = """format: 1
name: Talks over the opening
turns:
  - say: "Sorry, could I just jump in there for a second?"
    interrupt: 1.5
"""

MONOLOGUE_SCRIPT = """format: 1
name: A long monologue
turns:
  - say: "Okay, so basically the way our billing system works is quite complicated. It takes the payment on the first of the month, and if the bank retries a payment, it can show up twice as pending. Normally the second one drops off on its own within a few days."
    after: 0.5
"""

SILENT_SCRIPT = """format: 1
name: Says nothing
turns:
  - after: 1.0
"""


@pytest.fixture(scope="module")
def rubric():
    return load_rubric()


@pytest.fixture(scope="module")
def known_moves(rubric) -> set[str]:
    return set(rubric.library.detectors)


@pytest.fixture(scope="module")
def personas(known_moves) -> dict[str, Persona]:
    return {p.stem: load_persona(p, known_moves) for p in sorted(PERSONA_DIR.glob("*.yaml"))}


@pytest.fixture(scope="module")
def call(tmp_path_factory, transcriber, rubric, known_moves):
    """Run (or reuse) a whole simulated call: call(persona_id, script_path_or_yaml, seed)."""
    cache: dict[tuple, tuple] = {}

    def run(persona_id: str, script: str | Path, seed: int = 0, fresh: bool = False):
        key = (persona_id, str(script), seed)
        if key in cache and not fresh:
            return cache[key]
        tmp = tmp_path_factory.mktemp(persona_id)
        if isinstance(script, str):  # the text of a test-local script
            path = tmp / "script.yaml"
            path.write_text(script, encoding="utf-8")
            script = path
        persona = load_persona(PERSONA_DIR / f"{persona_id}.yaml", known_moves)
        result = simulate(
            persona,
            load_script(script),
            rubric,
            tmp / "session",
            CallOptions(seed=seed),
            transcriber=transcriber,
        )
        events = [e.to_dict() for e in read_events(result.session_dir / "events.jsonl")]
        if not fresh:
            cache[key] = (result, events)
        return result, events

    return run


def _of(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["type"] == kind]


# --- the library ---------------------------------------------------------------------------


def test_every_persona_validates_through_the_cli(capsys):
    assert main(["personas", "validate"]) == 0
    out = capsys.readouterr().out
    for path in persona_files():
        assert f"ok    {path}" in out
    assert re.search(r"^\d+ valid, 0 invalid$", out, re.MULTILINE)


def test_every_shipped_persona_gives_each_line_three_wordings(capsys):
    """The shipped library passes the strict check (a trainer's own persona need not)."""
    assert main(["personas", "validate", "--strict"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^\d+ valid, 0 invalid$", out, re.MULTILINE), out


def test_the_library_covers_the_situations_each_with_its_own_voice(personas):
    assert set(BAD_END) | {"damaged-blender"} <= set(personas)
    voices = {}
    for pid, p in personas.items():
        assert p.id == pid
        assert p.lesson and 1 <= p.difficulty <= 5
        v = p.voice
        voices.setdefault((v.engine, v.voice, v.rate, v.pitch), []).append(pid)
    shared = {k: v for k, v in voices.items() if len(v) > 1}
    assert not shared, f"personas sharing a voice: {shared}"


def test_every_scripted_persona_has_a_row_and_scripts_name_their_persona():
    scripted = {
        re.sub(r"-(good|bad|natural|polite-bad)$", "", p.stem)
        for p in SCRIPT_DIR.glob("*.yaml")
        if re.search(r"-(good|bad|natural|polite-bad)$", p.stem)
    }
    assert scripted == set(BAD_END) | {"damaged-blender"}, "add the persona's failure to BAD_END"
    for pid in BAD_END:
        for kind in ("good", "bad", "natural", "polite-bad"):
            script = load_script(SCRIPT_DIR / f"{pid}-{kind}.yaml")
            assert script.persona == pid
            assert script.voice.engine == "hibari"


# --- whole calls: the good script resolves, the bad one fails the persona's way -------------


@pytest.mark.parametrize("persona_id", sorted(BAD_END))
def test_good_script_resolves_and_passes(call, persona_id):
    result, events = call(persona_id, SCRIPT_DIR / f"{persona_id}-good.yaml")
    card = result.scorecard
    assert result.end_state == "resolved", [(e["reason"], e["moves"]) for e in _of(events, "mood")]
    assert card.passed and card.overall >= card.pass_mark
    assert _of(events, "call_end")[0]["end_state"] == "resolved"
    assert _of(events, "mood")[-1]["end_state"] == "resolved"
    # the customer agreed to an offer, then closed the call
    reasons = [e["reason"] for e in _of(events, "mood")]
    assert reasons[-1] == "resolved"
    assert reasons[-2] in load_persona(PERSONA_DIR / f"{persona_id}.yaml").accept


@pytest.mark.parametrize("persona_id", sorted(BAD_END))
def test_bad_script_fails_the_way_the_persona_teaches(call, persona_id):
    result, events = call(persona_id, SCRIPT_DIR / f"{persona_id}-bad.yaml")
    expected = BAD_END[persona_id]
    assert result.end_state == expected, [(e["reason"], e["moves"]) for e in _of(events, "mood")]
    assert not result.scorecard.passed
    assert _of(events, "call_end")[0]["end_state"] == expected
    last = _of(events, "mood")[-1]
    assert (last["reason"], last["end_state"]) == (expected, expected)
    if expected != "time_limit":
        assert result.scorecard.outcome["final_mood"] > _of(events, "mood")[0]["mood"]


ALL_PERSONAS = sorted(BAD_END) + ["damaged-blender"]


@pytest.mark.parametrize("persona_id", ALL_PERSONAS)
def test_natural_wording_resolves_and_passes(call, persona_id):
    """Good handling in everyday words that share no stock phrase with the rubric."""
    result, events = call(persona_id, SCRIPT_DIR / f"{persona_id}-natural.yaml")
    moods = [(e["reason"], e["moves"]) for e in _of(events, "mood")]
    assert result.end_state == "resolved", moods
    assert result.scorecard.passed, (result.scorecard.overall, moods)


@pytest.mark.parametrize("persona_id", ALL_PERSONAS)
def test_polite_bad_handling_fails(call, persona_id):
    """Courteous words, bad substance (sarcasm, polite blame, empty promises, minimising)."""
    result, events = call(persona_id, SCRIPT_DIR / f"{persona_id}-polite-bad.yaml")
    assert result.end_state != "resolved", [(e["reason"], e["moves"]) for e in _of(events, "mood")]
    assert not result.scorecard.passed, result.scorecard.overall


# Offers that skip the persona's lesson: the customer must not agree (text only, no audio).
PREMATURE = [
    ("refund-out-of-policy", "I'm so sorry about that. I'll refund the coat for you today.", None),
    ("serial-refunder", "I'm so sorry about that. I'll refund the earbuds for you today.", None),
    ("abusive-swearer", "I'm sorry about that. I'll book an engineer for tomorrow.", "not_ready"),
    ("missed-callback", "I'm so sorry. I'll book the repair for Thursday.", "not_ready"),
    ("terrible-day", "I'll book a repair for tomorrow morning.", "not_ready"),
    ("talkative-customer", "We can send you a replacement kettle today.", "not_ready"),
    ("demands-manager", "I'll transfer you to a manager.", "not_ready"),
    ("late-order", "I'm sorry. I'll send you a replacement desk.", "not_ready"),
    ("confused-no-exchange", "What I can do instead is send you a printed guide.", "not_ready"),
]


@pytest.mark.parametrize(("persona_id", "offer", "reason"), PREMATURE)
def test_an_offer_that_skips_the_lesson_is_not_agreed(personas, rubric, persona_id, offer, reason):
    engine = DialogueEngine(personas[persona_id], rubric.library, seed=0)
    engine.opening()
    line = engine.respond(TraineeTurn(offer))
    assert not engine.agreed and line.end_state is None
    assert line.reason not in personas[persona_id].accept
    if reason:
        assert line.reason == reason


def _customer_lines(persona: Persona, script: Path, rubric, seed: int) -> list[tuple[str, str]]:
    """The customer's (reason, line) over a script's words, text only (no audio, no timing)."""
    engine = DialogueEngine(persona, rubric.library, seed=seed, excuses=excuses(rubric))
    said = [engine.opening()]
    for turn in load_script(script).turns:
        if turn.say and engine.end_state is None:
            said.append(engine.respond(TraineeTurn(turn.say)))
    return [(line.reason, line.text) for line in said]


@pytest.mark.parametrize("persona_id", sorted(BAD_END))
def test_seeds_vary_the_reactions_wording_and_the_same_seed_repeats_it(
    personas, rubric, persona_id
):
    """A trainee who says the same things on three attempts hears other wordings of the same
    reactions; the same seed gives the same lines."""
    script = SCRIPT_DIR / f"{persona_id}-good.yaml"  # the whole call: many reactions
    calls = {
        seed: _customer_lines(personas[persona_id], script, rubric, seed) for seed in (1, 2, 3)
    }
    assert _customer_lines(personas[persona_id], script, rubric, 2) == calls[2]
    worded: dict[tuple[int, str], set[str]] = {}
    for lines in calls.values():
        for i, (reason, text) in enumerate(lines[1:], 1):  # the replies, not the opening
            worded.setdefault((i, reason), set()).add(text)
    assert any(len(texts) >= 2 for texts in worded.values()), calls


# --- talk-over and interjection ------------------------------------------------------------


def _talk_over(call, persona_id: str):
    _, events = call(persona_id, TALK_OVER_SCRIPT)
    line0 = _of(events, "customer_line_start")[0]
    onset = next(e for e in _of(events, "speech_start") if e["t"] > line0["t"])
    assert onset["t"] < line0["end"], "the trainee must start while the opening plays"
    end0 = next(e for e in _of(events, "customer_line_end") if e["line"] == 0)
    after = [e for e in _of(events, "mood") if e["t"] > end0["t"]]
    return line0, onset, end0, after, events


def _by_behavior(behavior: str) -> list[str]:
    return [
        p.stem
        for p in sorted(PERSONA_DIR.glob("*.yaml"))
        if load_persona(p).talked_over.behavior == behavior
    ]


@pytest.mark.parametrize("persona_id", _by_behavior("stop"))
def test_talk_over_makes_a_yielding_persona_stop(call, persona_id):
    line0, onset, end0, _, _ = _talk_over(call, persona_id)
    assert end0["cut"] is True
    assert 0.0 <= end0["t"] - onset["t"] <= 0.3
    assert end0["t"] < line0["end"] - 1.0  # well before the line would have ended


@pytest.mark.parametrize("persona_id", _by_behavior("stop"))
def test_talk_over_draws_the_yielding_personas_interrupted_line(call, persona_id):
    *_, after, _ = _talk_over(call, persona_id)
    assert after[0]["reason"] == "interrupted"


def test_talk_over_does_not_stop_a_talk_on_persona(call, personas):
    persona_id = "talkative-customer"
    assert personas[persona_id].talked_over.behavior == "talk_on"
    line0, onset, end0, after, events = _talk_over(call, persona_id)
    assert end0["cut"] is False
    assert abs(end0["t"] - line0["end"]) < 0.05  # played to the end
    overtalk = [e for e in _of(events, "overtalk") if e["by"] == "trainee" and e["line"] == 0]
    assert len(overtalk) == 1 and abs(overtalk[0]["t"] - onset["t"]) < 0.1
    assert after[0]["reason"] == "interrupted"  # and she reacts to it after her line


@pytest.mark.parametrize(
    "persona_id",
    [p.stem for p in sorted(PERSONA_DIR.glob("*.yaml")) if load_persona(p).interrupts],
)
def test_customer_interjection_on_a_monologue_is_an_event(call, personas, persona_id):
    inter = personas[persona_id].interrupts
    assert personas[persona_id].mood.start >= inter.mood_at_least
    _, events = call(persona_id, MONOLOGUE_SCRIPT)
    lines = [e for e in _of(events, "customer_line_start") if e["reason"] == "interjection"]
    assert len(lines) == 1, [e["reason"] for e in _of(events, "customer_line_start")]
    line = lines[0]
    assert line["text"] in inter.say
    opening = _of(events, "customer_line_start")[0]
    turn_start = next(e for e in _of(events, "speech_start") if e["t"] > opening["t"])
    assert line["t"] - turn_start["t"] >= inter.after_s - 0.031  # one 30 ms frame
    overtalk = [e for e in _of(events, "overtalk") if e["by"] == "customer"]
    assert len(overtalk) == 1
    assert overtalk[0]["t"] == pytest.approx(line["t"], abs=0.05)
    assert overtalk[0]["duration"] >= 0.5 and overtalk[0]["line"] == line["line"]
    assert any(e["by"] == "customer" for e in _of(events, "overtalk_start"))
    mood = next(e for e in _of(events, "mood") if e["reason"] == "interjection")
    assert mood["mood"] > opening["mood"]  # cutting in costs the trainee


# --- seeded replay -------------------------------------------------------------------------


def test_same_seed_replays_the_call_event_for_event(call):
    script = SCRIPT_DIR / "controlling-customer-bad.yaml"  # overtalk, an interjection, escalation
    _, first = call("controlling-customer", script, seed=0)
    _, again = call("controlling-customer", script, seed=0, fresh=True)
    assert first == again


def test_different_seeds_vary_the_customers_wording(call):
    said = {
        seed: tuple(
            e["text"]
            for e in _of(
                call("refund-out-of-policy", SILENT_SCRIPT, seed)[1], "customer_line_start"
            )
        )
        for seed in range(5)
    }
    assert len(set(said.values())) >= 2, said
    openings = {s[0] for s in said.values()}
    assert len(openings) >= 2


# --- malformed persona files ---------------------------------------------------------------

BASE = PERSONA_DIR / "abusive-swearer.yaml"


def _line_of(text: str, needle: str) -> int:
    """1-based number of the first line that starts with ``needle``."""
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith(needle):
            return n
    raise AssertionError(f"{needle!r} not in the test text")


def _replace_line(text: str, pattern: str, new: str) -> str:
    out, n = re.subn(pattern, new, text, count=1, flags=re.MULTILINE)
    assert n == 1, f"{pattern!r} not found in {BASE.name}"
    return out


def _drop_block(text: str, header: str) -> str:
    """Remove the line starting with ``header`` and the more-indented lines under it."""
    lines = text.splitlines(keepends=True)
    i = next(k for k, line in enumerate(lines) if line.startswith(header))
    indent = len(header) - len(header.lstrip())
    j = i + 1
    while j < len(lines) and (
        len(lines[j]) - len(lines[j].lstrip()) > indent or not lines[j].strip()
    ):
        j += 1
    return "".join(lines[:i] + lines[j:])


def _error(tmp_path: Path, name: str, text: str, known_moves) -> tuple[Path, ConfigError]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_persona(path, known_moves)
    err = info.value
    assert "\n" not in str(err) and err.exit_code == 2
    return path, err


@pytest.fixture(scope="module")
def base_text() -> str:
    return BASE.read_text(encoding="utf-8")


def test_unmodified_base_persona_loads(base_text, known_moves, tmp_path):
    path = tmp_path / "copy.yaml"
    path.write_text(base_text, encoding="utf-8")
    assert load_persona(path, known_moves).id == "abusive-swearer"


def test_missing_top_level_field(base_text, known_moves, tmp_path):
    text = _drop_block(base_text, "endings:")
    path, err = _error(tmp_path, "no-endings.yaml", text, known_moves)
    line = _line_of(text, "format:")  # the mapping that lacks it starts at its first key
    assert str(err) == f"{path}:{line}: endings: required field 'endings' is missing"
    assert (err.line, err.field) == (line, "endings")


def test_missing_nested_field(base_text, known_moves, tmp_path):
    text = _drop_block(base_text, "  agreed:")
    path, err = _error(tmp_path, "no-agreed.yaml", text, known_moves)
    line = _line_of(text, "  accept:")  # first key of the resolutions mapping
    assert str(err) == (f"{path}:{line}: resolutions.agreed: required field 'agreed' is missing")


@pytest.mark.parametrize(
    ("pattern", "new", "field", "message"),
    [
        (r"^  start: .*$", '  start: "high"', "mood.start", "'high' is not of type 'number'"),
        (r"^difficulty: .*$", "difficulty: hard", "difficulty", "'hard' is not of type 'integer'"),
        (
            r"^  max_silences: .*$",
            "  max_silences: 2.5",
            "mood.max_silences",
            "2.5 is not of type 'integer'",
        ),
        (
            r"^  behavior: .*$",
            "  behavior: shout",
            "talked_over.behavior",
            "'shout' is not one of ['stop', 'talk_on']",
        ),
        (
            r"^timing: .*$",
            "timing: {answer_after_s: 0.3, eagerness: 1.5}",
            "timing.eagerness",
            "1.5 is greater than the maximum of 0.95",
        ),
    ],
)
def test_wrong_type(base_text, known_moves, tmp_path, pattern, new, field, message):
    text = _replace_line(base_text, pattern, new)
    path, err = _error(tmp_path, "wrong-type.yaml", text, known_moves)
    line = _line_of(text, new)
    assert str(err) == f"{path}:{line}: {field}: {message}"
    assert (err.line, err.field) == (line, field)


def test_unknown_move_in_reactions(base_text, known_moves, tmp_path):
    text = base_text.replace("reactions:\n", "reactions:\n  flattery:\n    mood: -0.1\n", 1)
    path, err = _error(tmp_path, "flattery.yaml", text, known_moves)
    line = _line_of(text, "  flattery:")
    known = ", ".join(sorted(known_moves | set(AUDIO_REACTIONS)))
    assert (
        str(err) == f"{path}:{line}: reactions.flattery: unknown move 'flattery' (known: {known})"
    )
    load_persona(path)  # schema-valid: only the move library rejects it


@pytest.mark.parametrize(
    ("pattern", "new", "field", "move"),
    [
        (r"^  accept: .*$", "  accept: [solution, discount]", "resolutions.accept[1]", "discount"),
        (r"^  requires: .*$", "  requires: [bondary]", "resolutions.requires[0]", "bondary"),
    ],
)
def test_unknown_move_in_resolutions(base_text, known_moves, tmp_path, pattern, new, field, move):
    text = _replace_line(base_text, pattern, new)
    path, err = _error(tmp_path, "resolution-move.yaml", text, known_moves)
    line = _line_of(text, new)
    known = ", ".join(sorted(known_moves))
    assert str(err) == f"{path}:{line}: {field}: unknown move {move!r} (known: {known})"
    assert (err.line, err.field) == (line, field)


def test_bad_yaml(base_text, known_moves, tmp_path):
    # An unquoted colon in a plain value, the most common hand-editing slip.
    text = _replace_line(base_text, r"^lesson: .*$", "lesson: Boundary first: then fix it.")
    path, err = _error(tmp_path, "colon.yaml", text, known_moves)
    line = _line_of(text, "lesson:")
    assert str(err) == f"{path}:{line}: invalid YAML: mapping values are not allowed here"
    assert (err.line, err.field) == (line, None)


def test_unknown_top_level_field(base_text, known_moves, tmp_path):
    text = base_text.replace("format: 1\n", "format: 1\naccent: scouse\n", 1)
    path, err = _error(tmp_path, "accent.yaml", text, known_moves)
    line = _line_of(text, "accent:")
    allowed = ", ".join(sorted(SCHEMA["properties"]))
    assert str(err) == f"{path}:{line}: accent: unknown field (allowed: {allowed})"


def test_strict_validation_names_a_reaction_with_too_few_wordings(base_text, known_moves, tmp_path):
    apology = base_text.index("  apology:\n")
    say = base_text.index("      - ", apology)  # keep the first wording, drop the others
    rest = base_text.index("\n  reflect:", say)
    first_end = base_text.index("\n", say)
    text = base_text[:first_end] + base_text[rest:]
    path = tmp_path / "one-apology.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_persona(path, known_moves).reactions["apology"].say  # fine for a trainer
    with pytest.raises(ConfigError) as info:
        load_persona(path, known_moves, STRICT_WORDINGS)
    err = info.value
    assert err.field == "reactions.apology.say"
    assert err.line == text[:apology].count("\n") + 3  # its say: line
    assert "1 wording, fewer than 3" in str(err) and str(path) in str(err)
    assert main(["personas", "validate", "--strict", str(path)]) == 2
    assert main(["personas", "validate", str(path)]) == 0


def test_start_at_or_above_hang_up(base_text, known_moves, tmp_path):
    hang_up = float(re.search(r"^  hang_up_at: (.*)$", base_text, re.MULTILINE).group(1))
    text = _replace_line(base_text, r"^  start: .*$", f"  start: {hang_up}")
    path, err = _error(tmp_path, "start.yaml", text, known_moves)
    line = _line_of(text, "  start:")
    assert str(err) == (
        f"{path}:{line}: mood.start: the customer would hang up before saying a word "
        "(start must be below hang_up_at)"
    )
