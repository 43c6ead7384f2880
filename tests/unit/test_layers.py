"""The design's root modules (server.py, auth_middleware.py, …) import down
the same layers as the packages: import-linter (scripts/lint) reads packages
only, so this holds the root modules to the layers pyproject.toml names."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from tests.support import ROOT


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
