"""The embedded PostgreSQL runs with settings sized for the machine."""

from __future__ import annotations

import os

from sqlalchemy import text

from core import db
from tests.support import session_scope

GIB = 1024**3


def test_settings_scale_with_memory_within_bounds():
    small = db.server_settings(2 * GIB, 2)
    assert small["shared_buffers"] == "256MB" and small["effective_cache_size"] == "1024MB"
    large = db.server_settings(256 * GIB, 32)
    assert large["shared_buffers"] == "2048MB" and large["maintenance_work_mem"] == "1024MB"
    tiny = db.server_settings(512 * 1024 * 1024, 1)
    assert tiny["shared_buffers"] == "128MB" and tiny["max_parallel_maintenance_workers"] == "1"


def test_the_running_embedded_server_uses_them():
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    wanted = db.server_settings(memory, os.cpu_count() or 1)
    with session_scope() as session:
        shown = {name: session.execute(text(f"SHOW {name}")).scalar() for name in ("jit", "shared_buffers")}
    assert shown["jit"] == "off"
    # PostgreSQL shows buffers in its own unit: compare in megabytes.
    value = shown["shared_buffers"]
    megabytes = int(value[:-2]) * (1024 if value.endswith("GB") else 1)
    assert megabytes == int(wanted["shared_buffers"][:-2])
