"""The pages made from schemas (the tool reference, the export schema) are current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_generated_pages_match_the_schemas():
    checked = subprocess.run(
        [sys.executable, "scripts/generated_docs.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr


def test_the_reference_names_every_argument_and_answer_field():
    page = (ROOT / "docs" / "tool-reference.md").read_text()
    assert page.count("\n## `memory_") == 26 and "\n## `search`" in page and "\n## `fetch`" in page
    assert "| `recency_half_life_days` | number \\| null | `null` |" in page  # an argument, with its default
    assert "| `results[].text` | string |" in page  # a nested answer field
