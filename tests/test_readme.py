"""The README is the front door: short, its commands the ones CI runs, and
its quickstart code runs as printed against a real server."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from server import create_app
from tests.support import ROOT, serve, user_with_key

README = (ROOT / "README.md").read_text()


def _block(language: str, containing: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)
    return next(block for block in blocks if containing in block)


def test_the_readme_stays_the_front_door():
    assert len(README.encode()) < 12 * 1024
    for page in re.findall(r"\]\((docs/[^)#]+)", README):
        assert (ROOT / page).is_file(), page


def test_ci_runs_exactly_the_readmes_test_command():
    test_command = _block("sh", "pytest").strip()
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == test_command


@pytest.mark.slow
def test_the_quickstart_stores_and_finds_a_memory_as_printed():
    code = _block("python", "memory_search")
    with serve(create_app) as served:
        _, key = user_with_key("quickstart")
        run = subprocess.run(
            [sys.executable, "-c", code.replace("http://localhost:8080", served.url)],
            env={**os.environ, "KEY": key},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "Ann drinks only tea now"


@pytest.mark.slow
def test_the_docs_build_in_strict_mode(tmp_path):
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert (tmp_path / "site" / "security" / "index.html").is_file()
