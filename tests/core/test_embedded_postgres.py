"""The embedded PostgreSQL runs with settings sized for the machine."""

from __future__ import annotations

import os

from sqlalchemy import text

from core import db
from tests.support import session_scope

GIB = 1024**3


def test_settings_scale_with_memory_within_bounds():
    small = db.server_settings(2 * GIB, 2)
    assert small["shared_buffers"] == "512MB" and small["effective_cache_size"] == "1024MB"
    large = db.server_settings(256 * GIB, 32)
    assert large["shared_buffers"] == "8192MB" and large["maintenance_work_mem"] == "1024MB"
    tiny = db.server_settings(256 * 1024 * 1024, 1)
    assert tiny["shared_buffers"] == "128MB" and tiny["max_parallel_maintenance_workers"] == "1"


def test_a_containers_memory_limit_counts_not_the_hosts(tmp_path):
    machine = db.available_memory(tmp_path / "no cgroup here")
    (tmp_path / "memory.max").write_text("max\n")  # cgroup v2, unlimited
    assert db.available_memory(tmp_path) == machine
    (tmp_path / "memory.max").write_text(f"{GIB}\n")
    assert db.available_memory(tmp_path) == min(machine, GIB)
    (tmp_path / "memory.max").unlink()
    (tmp_path / "memory").mkdir()  # cgroup v1
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text(f"{GIB // 2}\n")
    assert db.available_memory(tmp_path) == min(machine, GIB // 2)


def test_the_running_embedded_server_uses_them():
    wanted = db.server_settings(db.available_memory(), os.cpu_count() or 1)
    with session_scope() as session:
        shown = {name: session.execute(text(f"SHOW {name}")).scalar() for name in ("jit", "shared_buffers")}
    assert shown["jit"] == "off"
    # PostgreSQL shows buffers in its own unit: compare in megabytes.
    value = shown["shared_buffers"]
    megabytes = int(value[:-2]) * (1024 if value.endswith("GB") else 1)
    assert megabytes == int(wanted["shared_buffers"][:-2])
