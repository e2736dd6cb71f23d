"""The import layers (pyproject.toml [tool.importlinter], docs/architecture.md) hold, and bite.

``make lint`` runs ``lint-imports`` on the tree; these tests also show that the contract fails
on the two mistakes it exists for: a stage importing a sibling stage, and a lower layer
importing a higher one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint(package_parent: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=package_parent, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "src" / "seqnetquake", tmp_path / "seqnetquake",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def inject(tree: Path, module: str, line: str) -> None:
    path = tree.joinpath(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_tree_keeps_its_layers() -> None:
    result = lint(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("module", "line"), [
    ("seqnetquake.train", "import seqnetquake.evaluate  # a stage importing a sibling stage"),
    ("seqnetquake.background", "from seqnetquake import windows  # sideways"),
    ("seqnetquake.metrics", "import seqnetquake.tuning  # a lower layer importing a higher"),
    ("seqnetquake.contracts", "import seqnetquake.config  # contracts sit at the bottom"),
])
def test_a_broken_layer_fails_the_contract(tree_copy: Path, module: str, line: str) -> None:
    inject(tree_copy, module, line)
    result = lint(tree_copy)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout
