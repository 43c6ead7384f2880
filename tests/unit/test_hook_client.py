"""The Claude Code hook client alone: standard library only, and fail-safe."""

from __future__ import annotations

import ast
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "hooks" / "memorygate_hook.py"


def test_the_hook_imports_nothing_but_the_standard_library():
    imported = set()
    for node in ast.walk(ast.parse(HOOK.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported and imported <= set(sys.stdlib_module_names) | {"__future__"}


def _run(event: dict | str, config: Path, *arguments: str) -> subprocess.CompletedProcess:
    stdin = event if isinstance(event, str) else json.dumps(event)
    return subprocess.run(
        [
            sys.executable,
            "-I",
            str(HOOK),
            *arguments,
        ],  # -I: no site-packages, no environment: the standard library alone
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        env={"MEMORYGATE_HOOK_CONFIG": str(config)},
    )


def test_a_server_that_is_down_costs_the_agent_nothing(tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    config = tmp_path / "hook.json"
    config.write_text(json.dumps({"url": f"http://127.0.0.1:{port}", "key": "mg_" + "s" * 40}))
    event = {"session_id": "s1", "transcript_path": "/tmp/t.jsonl", "cwd": "/tmp", "hook_event_name": "SessionStart"}
    started = time.monotonic()
    done = _run({**event, "source": "startup"}, config)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert time.monotonic() - started < 10
    for broken in ("not json", json.dumps({"hook_event_name": "Unknown"}), json.dumps({**event, "source": "x"})):
        done = _run(broken, tmp_path / "missing.json")
        assert (done.returncode, done.stdout) == (0, "")
        assert "mg_" not in done.stderr


def test_a_transcript_the_server_did_not_take_is_sent_again_next_time(tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    config = tmp_path / "hook.json"
    config.write_text(json.dumps({"url": f"http://127.0.0.1:{port}", "key": "mg_" + "s" * 40}))
    transcript = tmp_path / "t.jsonl"
    line = {"type": "user", "uuid": "u1", "message": {"role": "user", "content": "hello"}}
    transcript.write_text(json.dumps(line) + "\n")
    event = {"session_id": "s1", "transcript_path": str(transcript), "cwd": "/tmp", "hook_event_name": "Stop"}
    for agent in ([], ["--agent", "claude-code"]):
        done = _run(event, config, *agent)
        assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert not (tmp_path / "sent").exists()  # nothing marked as sent: the next Stop tries again
