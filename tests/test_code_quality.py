"""The checks that keep the house in order run with the suite: formatting,
lint, types and the direction of imports over the whole code base
(settings in pyproject.toml)."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.slow


def test_ruff_finds_nothing_to_fix_or_reformat():
    for command in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_passes_on_the_whole_code_base():
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def test_imports_point_down_the_layers():
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports"))], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_root_modules_import_down_the_same_layers():
    """import-linter reads packages only: the design's root modules (server.py,
    auth_middleware.py, …) are held here to the layers pyproject.toml names."""
    layers = _layers()
    for module, rank in layers.items():
        path = ROOT / f"{module}.py"
        if not path.exists():
            continue  # a package: lint-imports checks it
        for imported in _imports(path):
            if imported in layers and imported != module:
                assert layers[imported] > rank, f"{module} imports {imported}, which is not below it"


def _layers() -> dict[str, int]:
    """Each top-level name and its layer's rank (0 is the top)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    ranks = {}
    for rank, layer in enumerate(config["layers"]):
        for name in layer.split("|"):
            ranks[name.strip().strip("()")] = rank
    return ranks


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found
