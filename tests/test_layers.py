"""The layers hold: nothing imports upward (contracts in pyproject.toml, [tool.importlinter]).

Both tests run the real ``lint-imports`` on the real contracts; the second on a copy of the
package with one upward import added, so a broken contract is known to be reported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter", reason="import-linter is in the dev extra")

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(package_parent: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [str(LINT), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_package_keeps_its_layers(tmp_path):
    proc = lint(ROOT, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Contracts: 4 kept, 0 broken." in proc.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken", "kept", "chain"),
    [
        # errors (the bottom layer) importing persona
        (
            "errors.py",
            "from voicesim import persona",
            ["layers"],
            ["nothing imports voicesim.cli", "the live drill does not import the lab"],
            "voicesim.errors -> voicesim.persona",
        ),
        # the live drill reaching into the lab (a station's job, voicesim/station.py)
        (
            "live/drill.py",
            "from voicesim.lab import client",
            ["layers", "the live drill does not import the lab"],
            ["nothing imports voicesim.cli"],
            "voicesim.live.drill -> voicesim.lab.client",
        ),
        # the text helpers at the bottom of the rubric reaching up to the scorer (issue 23)
        (
            "rubric/text.py",
            "from voicesim.rubric import scorer",
            ["rubric inner order"],
            ["layers", "nothing imports voicesim.cli"],
            "voicesim.rubric.text -> voicesim.rubric.scorer",
        ),
        # the scorer reaching up to the coaching (the circle issue 23 removed)
        (
            "rubric/scorer.py",
            "from voicesim.rubric import coaching",
            ["rubric inner order"],
            ["layers", "nothing imports voicesim.cli"],
            "voicesim.rubric.scorer -> voicesim.rubric.coaching",
        ),
    ],
)
def test_an_upward_import_is_reported(tmp_path, module, line, broken, kept, chain):
    """One import added against the layers is reported, by the contracts it breaks only."""
    copy = tmp_path / "src" / "voicesim"
    shutil.copytree(ROOT / "voicesim", copy, ignore=shutil.ignore_patterns("*.pyc", "__pycache__"))
    path = copy / module
    path.write_text(path.read_text() + f"\n{line}  # against the layers\n")
    proc = lint(tmp_path / "src", tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for name in broken:
        assert f"{name} BROKEN" in proc.stdout
    for name in kept:
        assert f"{name} KEPT" in proc.stdout
    assert chain in proc.stdout
