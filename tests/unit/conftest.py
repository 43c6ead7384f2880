"""The unit tier: pure logic (parsing, checks, scoring, settings), with no
PostgreSQL and no server — `pytest tests/unit` runs in seconds.

It replaces the suite's session database with nothing, so a test here that
reached for the database would fail rather than quietly start one."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def database():
    yield None
