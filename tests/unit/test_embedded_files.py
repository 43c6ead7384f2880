"""The embedded PostgreSQL's files and settings, without starting one: its
settings sized for the machine, the process list beside it, and where the
data lives."""

from __future__ import annotations

import json
import os

import pytest

from core import embedded_postgres
from core.settings import Settings
from tests.support import ROOT

GIB = 1024**3


def test_settings_scale_with_memory_within_bounds():
    small = embedded_postgres.server_settings(2 * GIB, 2)
    assert small["shared_buffers"] == "512MB" and small["effective_cache_size"] == "1024MB"
    large = embedded_postgres.server_settings(256 * GIB, 32)
    assert large["shared_buffers"] == "8192MB" and large["maintenance_work_mem"] == "1024MB"
    tiny = embedded_postgres.server_settings(256 * 1024 * 1024, 1)
    assert tiny["shared_buffers"] == "128MB" and tiny["max_parallel_maintenance_workers"] == "1"


def test_a_containers_memory_limit_counts_not_the_hosts(tmp_path):
    machine = embedded_postgres.available_memory(tmp_path / "no cgroup here")
    (tmp_path / "memory.max").write_text("max\n")  # cgroup v2, unlimited
    assert embedded_postgres.available_memory(tmp_path) == machine
    (tmp_path / "memory.max").write_text(f"{GIB}\n")
    assert embedded_postgres.available_memory(tmp_path) == min(machine, GIB)
    (tmp_path / "memory.max").unlink()
    (tmp_path / "memory").mkdir()  # cgroup v1
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text(f"{GIB // 2}\n")
    assert embedded_postgres.available_memory(tmp_path) == min(machine, GIB // 2)


def test_a_link_planted_at_the_process_list_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "pgdata.users.json").symlink_to(victim)
    (data_dir / "pgdata.users.lock").symlink_to(tmp_path / "made-through-a-link")
    registry = embedded_postgres.EmbeddedPostgres(data_dir)._users
    with pytest.raises(OSError), registry.locked():  # the lock is never opened through a link
        pass
    (data_dir / "pgdata.users.lock").unlink()
    with registry.locked() as users:
        users.add_self()
    assert victim.read_text() == "precious" and not (tmp_path / "made-through-a-link").exists()
    assert not (data_dir / "pgdata.users.json").is_symlink()
    assert json.loads((data_dir / "pgdata.users.json").read_text())[0][0] == os.getpid()


def test_every_command_meets_the_same_data_wherever_it_starts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({}, read_dotenv=False)
    assert settings.data_dir == ROOT / "data"
