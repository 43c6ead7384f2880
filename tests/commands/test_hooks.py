"""Claude Code's hooks against a real server: the documented hook JSON on
stdin, the documented answer on stdout; and the command that installs them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import httpx

from tests.support import ROOT, run_cli, subprocess_env, user_with_key

HOOK = ROOT / "hooks" / "claude_code.py"


def _hook(event: dict, config) -> dict | None:
    done = subprocess.run(
        [sys.executable, "-I", str(HOOK)],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        timeout=30,
        env={"MEMORYGATE_HOOK_CONFIG": str(config)},
    )
    assert done.returncode == 0 and done.stderr == ""
    return json.loads(done.stdout) if done.stdout else None


def test_session_start_brings_the_brief_and_a_prompt_its_relevant_memories(server, tmp_path):
    _, key = user_with_key("hooks")
    headers = {"Authorization": f"Bearer {key}"}
    stored = httpx.post(
        server.url + "/api/v1/memories", json={"observation": "Deploys with fly deploy on Fridays"}, headers=headers
    ).json()
    config = tmp_path / "hook.json"
    config.write_text(json.dumps({"url": server.url, "key": key}))
    common = {"session_id": "abc-123", "transcript_path": str(tmp_path / "t.jsonl"), "cwd": str(tmp_path)}

    started = _hook({**common, "hook_event_name": "SessionStart", "source": "startup"}, config)
    assert set(started) == {"hookSpecificOutput"}
    assert set(started["hookSpecificOutput"]) == {"hookEventName", "additionalContext"}
    assert started["hookSpecificOutput"]["hookEventName"] == "SessionStart"
    assert f"[{stored['ref']} ·" in started["hookSpecificOutput"]["additionalContext"]

    prompted = _hook({**common, "hook_event_name": "UserPromptSubmit", "prompt": "how do we deploy?"}, config)
    assert prompted["hookSpecificOutput"]["hookEventName"] == "UserPromptSubmit"
    context = prompted["hookSpecificOutput"]["additionalContext"]
    assert f"[{stored['ref']} ·" in context and "Deploys with fly deploy on Fridays" in context
    assert len(context) < 1400  # a small budget: every prompt pays for it

    nothing = _hook({**common, "hook_event_name": "UserPromptSubmit", "prompt": "zzqx"}, config)
    assert nothing is None  # nothing relevant: no context at all


def test_install_merges_into_claude_codes_settings_keeps_a_backup_and_never_writes_the_key_there(tmp_path):
    settings = tmp_path / "claude" / "settings.json"
    settings.parent.mkdir()
    theirs = {"model": "opus", "hooks": {"SessionStart": [{"hooks": [{"type": "command", "command": "echo hi"}]}]}}
    settings.write_text(json.dumps(theirs))
    config = tmp_path / "memorygate" / "hook.json"
    env = subprocess_env(MEMORYGATE_KEY="mg_" + "k" * 43)
    for _ in range(2):  # a second install replaces its own entries, never repeats them
        done = run_cli("hooks", "install", "--settings", str(settings), "--config", str(config), env=env)
        assert done.returncode == 0, done.stderr
    merged = json.loads(settings.read_text())
    assert merged["model"] == "opus"
    starts = merged["hooks"]["SessionStart"]
    assert starts[0] == theirs["hooks"]["SessionStart"][0] and len(starts) == 2
    assert len(merged["hooks"]["UserPromptSubmit"]) == 1
    command = starts[1]["hooks"][0]["command"]
    assert str(HOOK) in command and "mg_" not in settings.read_text()
    assert json.loads(config.read_text())["key"] == "mg_" + "k" * 43
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    backups = sorted(settings.parent.glob("settings.json.*.bak"))
    assert backups and json.loads(backups[0].read_text()) == theirs
    refused = run_cli("hooks", "install", "--settings", str(settings), env=subprocess_env())
    assert refused.returncode == 2 and "MEMORYGATE_KEY" in refused.stderr
