"""The README and docs/ tell the truth by construction: their command examples are what the
commands print now (scripts/make_readme_examples.py writes them), and docs/ builds with MkDocs in
strict mode, so a broken link, a missing anchor or a page left out of the nav fails."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import markdown
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "make_readme_examples.py"
REGENERATE = f"{sys.executable} scripts/make_readme_examples.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("make_readme_examples", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


ex = _load_script()


def _mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_docs_build_in_strict_mode_and_read_offline(tmp_path):
    proc = _mkdocs_build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}{proc.stderr}"
    pages = sorted(p.stem for p in (ROOT / "docs").glob("*.md"))
    for page in pages:
        built = tmp_path / "site" / ("index.html" if page == "index" else f"{page}/index.html")
        assert built.exists(), f"docs/{page}.md was not built"
        html = built.read_text(encoding="utf-8")
        # Nothing the page loads comes from the network (the theme's highlight.js is off).
        assert not re.search(r"<(script|link)[^>]+(src|href)=\"(https?:)?//", html), page


def test_a_broken_link_or_anchor_fails_the_build(tmp_path):
    """The strict build is the check: it must keep failing on what it is there to catch."""
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    page = tmp_path / "docs" / "benchmarks.md"
    page.write_text(
        page.read_text(encoding="utf-8")
        + "\n[gone](no-such-page.md), [lost](scoring.md#no-such)\n",
        encoding="utf-8",
    )
    proc = _mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert proc.returncode != 0
    assert "no-such-page.md" in proc.stderr and "#no-such" in proc.stderr


def _anchors(path: Path) -> set[str]:
    """The heading ids of a markdown file, as MkDocs (Python-Markdown's toc) makes them."""
    md = markdown.Markdown(extensions=["toc", "tables", "fenced_code"])
    md.convert(path.read_text(encoding="utf-8"))
    ids: set[str] = set()
    stack = list(md.toc_tokens)
    while stack:
        token = stack.pop()
        ids.add(token["id"])
        stack.extend(token["children"])
    return ids


def _links(text: str) -> list[str]:
    without_code = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    without_code = re.sub(r"`[^`\n]*`", "", without_code)
    return re.findall(r"\]\(([^)\s]+)\)", without_code)


def test_the_readme_links_resolve():
    """MkDocs checks docs/; the README is outside it, so its links are checked here."""
    readme = ROOT / "README.md"
    links = _links(readme.read_text(encoding="utf-8"))
    assert any(link.startswith("docs/") for link in links)
    for link in links:
        if re.match(r"[a-z]+:", link):
            continue
        target, _, anchor = link.partition("#")
        path = (readme.parent / target) if target else readme
        assert path.exists(), f"README.md links to {link}, which does not exist"
        if anchor:
            assert anchor in _anchors(path), f"README.md links to {link}: no such heading"


def test_every_example_marker_names_a_known_example_and_shows_its_command():
    used: set[str] = set()
    for path in ex.markdown_files(ROOT):
        text = path.read_text(encoding="utf-8")
        used.update(ex.examples_in(text, path.name))
        for m in ex.MARKER.finditer(text):
            run = ex.RUNS[ex.EXAMPLES[m.group("name")].run]
            assert m.group("body").startswith(f"\n```text\n$ {run.command}\n"), (
                f"{path.name}: example {m.group('name')} was edited by hand; run {REGENERATE}"
            )
    assert used == set(ex.EXAMPLES), "an example in EXAMPLES is shown nowhere"
    assert {e.run for e in ex.EXAMPLES.values()} == set(ex.RUNS), "a run no example shows"


def test_an_unclosed_or_unknown_marker_is_an_error():
    with pytest.raises(ex.ExampleError, match="not closed"):
        ex.examples_in("<!-- example: replay-demo-session -->\ntext\n", "X.md")
    with pytest.raises(ex.ExampleError, match="unknown example 'nope'"):
        ex.examples_in("<!-- example: nope -->\n<!-- /example -->\n", "X.md")


def test_normalising_drops_what_varies_between_runs(tmp_path):
    raw = (
        f"\x1b[1msession -> {tmp_path}/sessions/20240601-093015-late-order\x1b[0m   \n"
        "listening...\rdone\n"
        "2024-06-01 09:30  pass\n\n"
    )
    assert ex.normalise(raw, tmp_path) == (
        "session -> sessions/YYYYMMDD-HHMMSS-late-order\ndone\nYYYY-MM-DD HH:MM  pass"
    )


def test_abridging_keeps_the_ranges_and_marks_each_gap_once():
    text = "head\nA\n  a1\n  a2\nB\n  b1\nC\nc1\nend"
    keep = (ex.Keep("^head", count=1), ex.Keep("^B", stop="^C"), ex.Keep("^end"))
    assert ex.abridge(text, keep) == "head\n...\nB\n  b1\n...\nend"
    assert ex.abridge("x" * 20, width=10) == "xxxxxx ..."
    with pytest.raises(ex.ExampleError, match="no line matches 'Z'"):
        ex.abridge(text, (ex.Keep("Z"),))


def test_check_reports_a_stale_example_and_writing_fixes_it(tmp_path, monkeypatch, capsys):
    """--check fails on markdown that differs from the output; a plain run rewrites it."""
    page = tmp_path / "README.md"
    page.write_text(
        "intro\n<!-- example: replay-demo-session -->\nold output\n<!-- /example -->\nend\n",
        encoding="utf-8",
    )
    block = ex.render(ex.RUNS["replay-demo-session"], "new output")
    monkeypatch.setattr(ex, "ROOT", tmp_path)
    monkeypatch.setattr(ex, "markdown_files", lambda root=tmp_path: [page])
    monkeypatch.setattr(ex, "make_blocks", lambda wanted: dict.fromkeys(wanted, block))

    assert ex.main(["--check"]) == 1
    out, err = capsys.readouterr()
    assert "-old output" in out and "+new output" in out
    assert "scripts/make_readme_examples.py" in err
    assert "old output" in page.read_text(encoding="utf-8")

    assert ex.main([]) == 0
    assert "new output" in page.read_text(encoding="utf-8")
    assert page.read_text(encoding="utf-8").startswith("intro\n") and ex.main(["--check"]) == 0


def test_runs_happen_in_a_fresh_folder_with_their_files(monkeypatch):
    """A run sees the shipped audio and its own input files, its output is normalised, and an
    exit code other than the expected one is an error that shows the output."""
    monkeypatch.setattr(
        ex,
        "RUNS",
        {
            "files": ex.Run(
                "cat notes/site.yml | head -1; ls audio; pwd",
                files=(("notes/site.yml", "mkdocs.yml"),),
            ),
            "fails": ex.Run("echo broken; exit 3"),
        },
    )
    out = ex.run_commands(["files"])["files"].split("\n")
    assert out[0] == (ROOT / "mkdocs.yml").read_text(encoding="utf-8").split("\n")[0]
    assert "demo-call.wav" in out and out[-1] == "."
    with pytest.raises(ex.ExampleError, match="exited 3, not 0:\nbroken"):
        ex.run_commands(["fails"])


@pytest.mark.slow
def test_the_examples_are_what_the_commands_print_now():
    """Runs every example's command (about half a minute) and compares with the markdown."""
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, (
        f"{proc.stdout[-6000:]}{proc.stderr[-3000:]}\n"
        f"The README/docs examples are stale: run {REGENERATE}"
    )
