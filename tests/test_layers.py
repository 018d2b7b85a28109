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
    assert "Contracts: 2 kept, 0 broken." in proc.stdout


def test_an_upward_import_is_reported(tmp_path):
    """errors (the bottom layer) importing persona breaks the layers contract."""
    copy = tmp_path / "src" / "voicesim"
    shutil.copytree(ROOT / "voicesim", copy, ignore=shutil.ignore_patterns("*.pyc", "__pycache__"))
    errors = copy / "errors.py"
    errors.write_text(errors.read_text() + "\nfrom voicesim import persona  # upward\n")
    proc = lint(tmp_path / "src", tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "layers BROKEN" in proc.stdout
    assert "voicesim.errors -> voicesim.persona" in proc.stdout
    assert "nothing imports voicesim.cli KEPT" in proc.stdout
