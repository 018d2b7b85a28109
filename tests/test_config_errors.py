"""Config mistakes name the file, the line and the field; the CLI turns them into one line."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from voicesim.cli import main
from voicesim.errors import ConfigError, VoicesimError
from voicesim.persona.persona import load_persona
from voicesim.rubric.rubric import DEFAULT_RUBRIC, load_rubric
from voicesim.session.script import load_script

PERSONA = Path(__file__).resolve().parents[1] / "personas" / "damaged-blender.yaml"


@pytest.fixture(scope="module")
def persona_text() -> str:
    return PERSONA.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def known_moves() -> set[str]:
    return set(load_rubric().library.detectors)


# The recogniser's lexicon (the v1 default rubric) is a rubric full of phrases to break.
PHRASE_RUBRIC = (
    Path(__file__).resolve().parents[1] / "voicesim" / "rubric" / "models" / "lexicon.yaml"
)


def _line_of(text: str, needle: str) -> int:
    """1-based line of the first line that starts with ``needle``."""
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith(needle):
            return n
    raise AssertionError(f"{needle!r} not in the test text")


def _sub_line(text: str, pattern: str, new: str) -> str:
    """Replace the first whole line matching ``pattern`` (a regex) with ``new``."""
    out, n = re.subn(pattern, new, text, count=1, flags=re.MULTILINE)
    assert n == 1, f"{pattern!r} not found in the persona file"
    return out


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _persona_error(path: Path, known_moves=None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_persona(path, known_moves)
    err = info.value
    assert isinstance(err, VoicesimError) and err.exit_code == 2
    assert "\n" not in str(err)
    return err


def test_unmodified_persona_loads(persona_text, known_moves, tmp_path):
    p = load_persona(_write(tmp_path, "copy.yaml", persona_text), known_moves)
    assert p.id == "damaged-blender"


def test_malformed_yaml_gives_line(persona_text, tmp_path):
    text = _sub_line(persona_text, r"^  rate: .*$", "    rate: 165")
    path = _write(tmp_path, "bad-indent.yaml", text)
    err = _persona_error(path)
    bad_line = _line_of(text, "    rate: 165")
    assert f"{path}:{bad_line}:" in str(err)
    assert err.line == bad_line
    assert "invalid YAML" in str(err)


def test_missing_required_field(persona_text, tmp_path):
    lines = persona_text.splitlines(keepends=True)
    i = next(k for k, line in enumerate(lines) if line.startswith("opening:"))
    j = next(k for k in range(i + 1, len(lines)) if not lines[k].startswith(" "))
    text = "".join(lines[:i] + lines[j:])
    assert "\nopening:" not in text
    path = _write(tmp_path, "no-opening.yaml", text)
    err = _persona_error(path)
    # The mapping that lacks the field is the top level, which starts at its first key.
    first_key = _line_of(text, "format:")
    assert str(err).startswith(f"{path}:{first_key}:")
    assert "'opening' is missing" in str(err)
    assert err.field == "opening"


def test_wrong_type(persona_text, tmp_path):
    text = _sub_line(persona_text, r"^  start: .*$", '  start: "high"')
    path = _write(tmp_path, "mood-type.yaml", text)
    err = _persona_error(path)
    line = _line_of(text, '  start: "high"')
    assert str(err).startswith(f"{path}:{line}: mood.start: ")
    assert "'high' is not of type 'number'" in str(err)
    assert (err.line, err.field) == (line, "mood.start")


def test_unknown_field(persona_text, tmp_path):
    text = persona_text.replace("format: 1\n", "colour: red\nformat: 1\n", 1)
    path = _write(tmp_path, "colour.yaml", text)
    err = _persona_error(path)
    line = _line_of(text, "colour: red")
    assert str(err).startswith(f"{path}:{line}: colour: unknown field")
    assert "opening" in str(err)  # lists what is allowed
    assert err.field == "colour"


def test_unknown_reaction_move_inline(persona_text, known_moves, tmp_path):
    text = persona_text.replace("reactions:\n", "reactions:\n  flattery: {mood: -0.1}\n", 1)
    path = _write(tmp_path, "flattery-inline.yaml", text)
    err = _persona_error(path, known_moves)
    line = _line_of(text, "  flattery:")
    assert str(err).startswith(f"{path}:{line}: reactions.flattery: unknown move 'flattery'")
    assert "empathy" in str(err)  # lists the known moves
    # Without the move library the file is schema-valid.
    load_persona(path)


def test_unknown_reaction_move_block(persona_text, known_moves, tmp_path):
    text = persona_text.replace("reactions:\n", "reactions:\n  flattery:\n    mood: -0.1\n", 1)
    path = _write(tmp_path, "flattery.yaml", text)
    err = _persona_error(path, known_moves)
    line = _line_of(text, "  flattery:")
    assert "reactions.flattery" in str(err)
    assert str(err).startswith(f"{path}:{line}: reactions.flattery:")


# -- a persona's own model lines (issue 24): validated like the rest ---------------------------
@pytest.mark.parametrize(
    "block, field, says",
    [
        (
            '  flattery:\n    - "You look great."\n',
            "model_lines.flattery",
            "unknown move 'flattery'",
        ),
        ('  blame:\n    - "You should have checked."\n', "model_lines.blame", "a mistake"),
        ("  closing: []\n", "model_lines.closing", ""),
        ('  closing:\n    - ""\n', "model_lines.closing[0]", ""),
    ],
)
def test_a_bad_model_line_is_one_error_with_its_file_line_and_field(
    block, field, says, persona_text, known_moves, tmp_path
):
    text = persona_text.replace("model_lines:\n", "model_lines:\n" + block, 1)
    path = _write(tmp_path, "lines.yaml", text)
    err = _persona_error(path, known_moves)
    line = _line_of(text, "model_lines:") + (2 if "[0]" in field else 1)  # the new entry
    assert str(err).startswith(f"{path}:{line}: {field}:"), str(err)
    assert says in str(err)


def test_cli_says_which_model_line_is_wrong(capsys, persona_text, tmp_path):
    text = persona_text.replace("model_lines:\n", 'model_lines:\n  flattery:\n    - "Hi."\n', 1)
    path = _write(tmp_path, "lines.yaml", text)
    assert main(["personas", "validate", str(path)]) != 0
    out = capsys.readouterr()
    said = (out.out + out.err).strip().splitlines()
    line = _line_of(text, "model_lines:") + 1
    assert any(f"{path}:{line}: model_lines.flattery" in x for x in said)
    assert "Traceback" not in out.err


def test_rubric_unknown_detector_in_criterion(tmp_path):
    src = DEFAULT_RUBRIC.read_text(encoding="utf-8")
    old = "detectors: [greeting, gratitude, please]"
    assert old in src
    text = src.replace(old, "detectors: [greeting, gratitude, pleese]", 1)
    path = _write(tmp_path, "rubric.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_rubric(path)
    line = next(n for n, ln in enumerate(text.splitlines(), 1) if "pleese]" in ln)
    msg = str(info.value)
    assert msg.startswith(f"{path}:{line}: families.tone.criteria[0].detectors[2]: ")
    assert "unknown detector 'pleese'" in msg and "please" in msg


SCRIPT_OK = """format: 1
name: test trainee
turns:
  - say: Hello, thanks for calling.
    after: 0.4
  - say: I'm so sorry about that.
"""


def test_trainee_script_after_and_interrupt_rejected(tmp_path):
    assert len(load_script(_write(tmp_path, "ok.yaml", SCRIPT_OK)).turns) == 2
    text = SCRIPT_OK + "    after: 0.3\n    interrupt: 1.0\n"
    path = _write(tmp_path, "both.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_script(path)
    err = info.value
    assert err.field == "turns[1]"
    assert err.line == _line_of(text, "  - say: I'm so sorry")
    assert str(err).startswith(f"{path}:{err.line}: turns[1]:")
    assert "after" in str(err) and "interrupt" in str(err)


@pytest.mark.parametrize(
    ("voice", "message"),
    [
        ("en-xx+f3", "espeak-ng has no voice 'en-xx'"),
        ("en-us+f9", "espeak-ng has no voice variant 'f9'"),
    ],
)
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng (optional) is not here")
def test_a_voice_espeak_does_not_know_is_an_error(persona_text, tmp_path, voice, message):
    # espeak-ng would quietly speak with its default voice instead
    text = _sub_line(persona_text, r"^  engine: kokoro$", "  engine: espeak")
    text = _sub_line(text, r"^  intonation: .*$", "")  # a Kokoro blend
    text = _sub_line(text, r"^  voice: jf_alpha$", f"  voice: {voice}")
    err = _persona_error(_write(tmp_path, "typo.yaml", text))
    assert err.field == "voice.voice" and err.line == _line_of(text, f"  voice: {voice}")
    assert message in str(err)


def test_a_hibari_voice_that_is_not_here_is_an_error(tmp_path):
    text = SCRIPT_OK.replace("turns:", "voice:\n  engine: hibari\n  voice: nobody\nturns:")
    path = _write(tmp_path, "voice.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_script(path)
    assert info.value.field == "voice.voice" and info.value.line == 5
    assert "hibari has no voice 'nobody' here (available: heart" in str(info.value)


# --- the command line ------------------------------------------------------------------------


def _one_error_line(capsys) -> str:
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("voicesim: error: ")
    assert "Traceback" not in out + err
    return lines[0]


def test_cli_unknown_persona(capsys, tmp_path):
    code = main(
        [
            "simulate",
            "--persona",
            "no-such-person",
            "--trainee",
            "model-agent",
            "--out",
            str(tmp_path / "s"),
        ]
    )
    assert code == 2
    line = _one_error_line(capsys)
    assert "no-such-person" in line
    assert "available:" in line and "damaged-blender" in line
    assert not (tmp_path / "s").exists()


def test_cli_unknown_trainee_script(capsys, tmp_path):
    code = main(
        [
            "simulate",
            "--persona",
            "damaged-blender",
            "--trainee",
            "no-such-script",
            "--out",
            str(tmp_path / "s"),
        ]
    )
    assert code == 2
    line = _one_error_line(capsys)
    assert "no-such-script" in line and "model-agent" in line


def test_cli_persona_with_bad_yaml(capsys, persona_text, tmp_path):
    text = _sub_line(persona_text, r"^  rate: .*$", " rate: 165")
    path = _write(tmp_path, "broken.yaml", text)
    code = main(
        [
            "simulate",
            "--persona",
            str(path),
            "--trainee",
            "model-agent",
            "--out",
            str(tmp_path / "s"),
        ]
    )
    assert code == 2
    line = _one_error_line(capsys)
    assert f"{path}:{_line_of(text, ' rate: 165')}:" in line


def test_cli_no_command_prints_help(capsys):
    assert main([]) == 2
    out, _ = capsys.readouterr()
    assert "usage: voicesim" in out and "simulate" in out


def test_cli_missing_required_option_is_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["simulate", "--trainee", "model-agent"])
    assert info.value.code == 2
    _, err = capsys.readouterr()
    assert "--persona" in err


def test_cli_bad_vad_aggressiveness_is_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["simulate", "--persona", "x", "--trainee", "y", "--vad-aggressiveness", "7"])
    assert info.value.code == 2


# -- hostile YAML and phrase regexes ---------------------------------------------------------------
def _hostile_configs():
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fuzzcases import hostile_configs

    return hostile_configs()


@pytest.mark.parametrize("name, kind, text", _hostile_configs(), ids=lambda v: str(v)[:32])
def test_hostile_yaml_is_one_config_error(name, kind, text, tmp_path):
    path = _write(tmp_path, f"{kind}.yaml", text)
    with pytest.raises(ConfigError) as info:
        (load_persona if kind == "persona" else load_rubric)(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value), name


def test_a_billion_laughs_is_refused_by_its_alias_budget(tmp_path):
    from fuzzcases import _laughs

    path = _write(tmp_path, "laughs.yaml", _laughs() + PERSONA.read_text())
    with pytest.raises(ConfigError, match="expands to more than"):
        load_persona(path)


def test_nan_and_huge_numbers_name_their_line(tmp_path):
    text = PERSONA.read_text().replace("  start: 0.65", "  start: .nan", 1)
    line = _line_of(text, "  start: .nan")
    with pytest.raises(ConfigError, match=rf":{line}: invalid YAML: '.nan' is not a finite number"):
        load_persona(_write(tmp_path, "p.yaml", text))


@pytest.mark.parametrize(
    "phrase, why",
    [
        ("re:(unclosed", "not a valid regular expression"),
        ("re:(?=a)b", "lookahead"),
        ("re:(?<!x)y", "needs a backtracking engine"),
        ("re:(?>ab)c", "atomic group"),
        ("re:a{0,5000}", "not a valid regular expression for RE2"),
        ("!re:[z-a]", "not a valid regular expression"),
    ],
)
def test_bad_phrase_regexes_are_refused_where_the_rubric_is_read(phrase, why, tmp_path, capsys):
    text = PHRASE_RUBRIC.read_text().replace('"re:\\\\bby \\\\d"', f'"{phrase}"')
    assert phrase in text
    path = _write(tmp_path, "r.yaml", text)
    line = next(n for n, t in enumerate(text.splitlines(), 1) if phrase in t)
    where = f"{path}:{line}: detectors.timeframe.phrases[10]:"
    assert main(["rubric", "validate", str(path)]) == 2
    out = capsys.readouterr().out
    assert f"error {where}" in out and why in out and "Traceback" not in out, out
    assert main(["rubric", "show", str(path)]) == 2
    err = _one_error_line(capsys)
    assert where in err and why in err, err


def test_score_text_refuses_a_slow_regex_before_scoring(tmp_path, capsys, monkeypatch):
    import io

    text = PHRASE_RUBRIC.read_text().replace('"re:\\\\bby \\\\d"', '"re:(?=a)b"')
    path = _write(tmp_path, "r.yaml", text)
    monkeypatch.setattr("sys.stdin", io.StringIO("a" * 27 + "!\n"))
    assert main(["rubric", "score-text", "--rubric", str(path)]) == 2
    assert "backtracking" in _one_error_line(capsys)


def test_safe_phrase_regexes_still_work():
    from voicesim.rubric.regexcheck import vet_regex

    for ok in (r"\bby \d", r"(?:very |really )*sorry", r"\b(refund|replace)\b", r"(\d{3}-){2}"):
        assert vet_regex(ok).pattern == ok


@pytest.mark.parametrize("phrase", ["re:(unclosed", "re:(?=a)b"])
def test_a_bad_regex_in_a_persona_answer_names_its_line(tmp_path, phrase):
    original = (PERSONA.parent / "late-order.yaml").read_text(encoding="utf-8")
    text = original.replace("asked: [", f'asked: ["{phrase}", ', 1)
    assert text != original
    path = _write(tmp_path, "p.yaml", text)
    with pytest.raises(ConfigError) as err:
        load_persona(path)
    line = next(n for n, s in enumerate(text.splitlines(), 1) if phrase in s)
    assert f"p.yaml:{line}: situation.answers[0].asked[0]:" in str(err.value)


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"text": "I will fix it.", "customer": 42}', "-:1: customer: must be a string"),
        ('{"text": "ok", "customer": ["when?"]}', "-:1: customer: must be a string"),
        ('{"text": "' + "x " * 6000 + '"}', "-:1: text: longer than 10000 characters"),
    ],
)
def test_score_text_refuses_a_bad_json_line_in_one_line(capsys, monkeypatch, line, message):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(line + "\n"))
    assert main(["rubric", "score-text"]) == 2
    assert message in _one_error_line(capsys)


def test_score_text_replaces_a_lone_surrogate(capsys, monkeypatch):
    import io
    import json

    monkeypatch.setattr(
        "sys.stdin", io.StringIO('{"text": "\\ud800 sorry", "customer": "\\udfff why?"}\n')
    )
    assert main(["rubric", "score-text"]) == 0
    assert "apology" in json.loads(capsys.readouterr().out)["moves"]


@pytest.mark.parametrize("pattern", ["a*a*c", "(a|b)*(a|b)*c", "a{0,1000}a{0,1000}a{0,1000}c"])
def test_polynomial_phrase_regexes_run_on_a_linear_time_engine(pattern):
    """These passed the old shape checks and took cubic time on ``re`` (29.7 s for a
    5,000-character line, the GIL held throughout): a trainer's pattern now runs on RE2."""
    import re2

    from voicesim.rubric.detectors import Detector
    from voicesim.rubric.regexcheck import vet_regex

    compiled = vet_regex(pattern)
    assert isinstance(compiled, re2._Regexp)
    line = "a" * 20_000
    assert compiled.search(line) is None and compiled.search(line + "c").end() == 20_001
    found = Detector(id="x", phrases=[f"re:{pattern}"])._patterns[0][1]
    assert isinstance(found, re2._Regexp)


def test_a_phrase_regex_hit_group_still_marks_the_hit():
    from voicesim.rubric.detectors import Detector
    from voicesim.rubric.text import Context, tokenize

    text, tokens = tokenize("I will call you back by Friday".split())
    d = Detector(id="x", phrases=[r"re:call you back (?P<hit>by \w+day)"])
    (hit,) = d.find(text, tokens, Context())
    assert hit.words == "by friday"
