"""The export format's published JSON Schema (docs/export-schema.json) and
the importer's checks are one description: what one refuses, so does the other."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from core.errors import InvalidInput
from portability import records

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = Draft202012Validator(json.loads((ROOT / "docs" / "export-schema.json").read_text()))

GOOD = [
    {"format": "memorygate", "version": 1, "exported_at": "2026-12-07T08:00:00+00:00", "counts": {"observation": 1}},
    {"kind": "observation", "id": 1, "observation": "Drinks tea", "confidence": 0.9, "evidence": ["said so"]},
    {
        "kind": "concept",
        "id": 2,
        "name": "Garden",
        "type": "project",
        "aliases": ["Yard"],
        "metadata": {"size": 3},
        "created_at": "2026-01-01T00:00:00+00:00",
        "updated_at": "2026-01-01T00:00:00+00:00",
    },
    {
        "kind": "relationship",
        "from": 2,
        "to": 3,
        "rel_type": "part_of",
        "weight": 0.5,
        "created_at": "2026-01-01T00:00:00+00:00",
    },
    {"kind": "embedding", "item": "observation:1", "model": "all-MiniLM-L6-v2", "vector": [0.1, -0.2]},
]

BAD = [
    ({"kind": "observation", "id": 1, "observation": "x", "confidence": 1.5}, "observation.confidence"),
    ({"kind": "observation", "id": 1, "observation": "x", "confidence": 0.5, "colour": "red"}, "observation.colour"),
    ({"kind": "observation", "id": 0, "observation": "x", "confidence": 0.5}, "observation.id"),
    ({"kind": "observation", "id": 1, "confidence": 0.5}, "observation.observation"),
    (
        {
            "kind": "relationship",
            "from": 1,
            "to": 2,
            "rel_type": "loves",
            "weight": 0.5,
            "created_at": "2026-01-01T00:00:00+00:00",
        },
        "relationship.rel_type",
    ),
    ({"kind": "embedding", "item": "observation:1", "model": "m", "vector": []}, "embedding.vector"),
    ({"kind": "diary", "id": 1}, "kind"),
]


@pytest.mark.parametrize("line", GOOD)
def test_lines_the_importer_reads_keep_to_the_published_schema(line):
    PUBLISHED.validate(line)
    if "kind" in line:
        kind, fields = records.checked_fields(line)
        assert kind == line["kind"] and "kind" not in fields


@pytest.mark.parametrize(("line", "field"), BAD)
def test_lines_the_importer_refuses_break_the_published_schema(line, field):
    assert not PUBLISHED.is_valid(line)
    with pytest.raises(InvalidInput) as refused:
        records.checked_fields(line)
    assert refused.value.field == field


def test_a_problem_reads_as_the_rule_a_tool_states():
    with pytest.raises(InvalidInput) as refused:
        records.checked_fields({"kind": "observation", "id": 1, "observation": "x", "confidence": 1.5})
    assert (
        f"{refused.value.field} {refused.value.problem}" == "observation.confidence must be between 0 and 1 (got 1.5)"
    )
