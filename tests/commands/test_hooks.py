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

HOOK = ROOT / "hooks" / "memorygate_hook.py"


def _hook(event: dict, config, agent: str | None = None) -> dict | None:
    """The hook run as an agent runs it: the event on stdin, its answer on stdout."""
    done = subprocess.run(
        [sys.executable, "-I", str(HOOK), *(["--agent", agent] if agent else [])],
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
    earlier = "MEMORYGATE_HOOK_CONFIG=/x/hook.json /usr/bin/python3 /srv/memorygate/hooks/claude_code.py"
    theirs = {
        "model": "opus",
        "hooks": {
            "SessionStart": [{"hooks": [{"type": "command", "command": "echo hi"}]}],
            "UserPromptSubmit": [{"hooks": [{"type": "command", "command": earlier, "timeout": 10}]}],
        },
    }
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
    assert len(merged["hooks"]["UserPromptSubmit"]) == 1  # the earlier version's entry replaced
    assert {event: len(merged["hooks"][event]) for event in ("Stop", "SessionEnd")} == {"Stop": 1, "SessionEnd": 1}
    command = starts[1]["hooks"][0]["command"]
    assert str(HOOK) in command and "mg_" not in settings.read_text()
    assert json.loads(config.read_text())["key"] == "mg_" + "k" * 43
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    backups = sorted(settings.parent.glob("settings.json.*.bak"))
    assert backups and json.loads(backups[0].read_text()) == theirs
    refused = run_cli("hooks", "install", "--settings", str(settings), env=subprocess_env())
    assert refused.returncode == 2 and "MEMORYGATE_KEY" in refused.stderr


def _line(kind: str, uuid: str, content, **extra) -> str:
    """One line of a Claude Code transcript (JSON Lines), as Claude Code writes it."""
    message = {"role": kind, "content": content}
    if kind == "assistant":
        message = {"id": f"msg_{uuid}", "type": "message", "model": "claude-sonnet-4-5", **message}
    line = {
        "parentUuid": None,
        "isSidechain": False,
        "userType": "external",
        "cwd": "/home/dev/shop",
        "sessionId": "sess-42",
        "version": "2.0.14",
        "type": kind,
        "message": message,
        "uuid": uuid,
        "timestamp": f"2026-11-30T09:00:{uuid[-2:]}.000Z",
        **extra,
    }
    return json.dumps(line) + "\n"


def _turns(server, key: str, conversation: str) -> list[dict]:
    answer = httpx.get(
        f"{server.url}/api/v1/conversations/{conversation}/turns",
        params={"limit": 100},
        headers={"Authorization": f"Bearer {key}"},
    )
    return answer.json()["turns"] if answer.status_code == 200 else []


def test_a_claude_code_transcript_is_appended_once_however_often_stop_runs(server, tmp_path):
    _, key = user_with_key("transcript")
    config = tmp_path / "hook.json"
    config.write_text(json.dumps({"url": server.url, "key": key}))
    transcript = tmp_path / "sess-42.jsonl"
    transcript.write_text(
        json.dumps({"type": "summary", "summary": "Shop checkout", "leafUuid": "u-00"})
        + "\n"
        + _line("user", "u-01", "The checkout page must support iDEAL payments for Dutch customers")
        + _line("assistant", "a-02", [{"type": "text", "text": "I'll add iDEAL through the Mollie API."}])
        + _line(
            "assistant", "a-03", [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}]
        )
        + _line("user", "u-04", [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "checkout.py"}])
        + _line("user", "u-05", "Caveat: the messages below were generated by the user", isMeta=True)
        + _line("user", "u-06", "<command-name>/clear</command-name>")
        + _line("user", "u-07", "Remember the staging key is <private>sk_test_123</private> in the vault")
    )
    event = {
        "session_id": "sess-42",
        "transcript_path": str(transcript),
        "cwd": "/home/dev/shop",
        "permission_mode": "default",
        "hook_event_name": "Stop",
        "stop_hook_active": False,
    }
    assert _hook(event, config) is None  # Stop answers nothing
    assert _hook(event, config) is None
    kept = _turns(server, key, "sess-42")
    assert [(t["speaker"], t["text"]) for t in kept] == [
        ("user", "The checkout page must support iDEAL payments for Dutch customers"),
        ("assistant", "I'll add iDEAL through the Mollie API."),
        ("user", "Remember the staging key is  in the vault"),
    ]
    assert kept[0]["occurred_at"].startswith("2026-11-30T09:00:01")

    # The session goes on; the end of the session sends only what is new, once.
    with transcript.open("a") as file:
        file.write(_line("assistant", "a-08", [{"type": "text", "text": "Noted, I won't store the key."}]))
        file.write('{"type": "user", "uuid": "u-09", "message": {"role": "user", "con')  # being written
    assert _hook({**event, "hook_event_name": "SessionEnd", "reason": "prompt_input_exit"}, config) is None
    assert len(_turns(server, key, "sess-42")) == 4
    # Even with the hook's own record of what it sent gone, nothing is appended twice.
    for marker in (tmp_path / "sent").iterdir():
        marker.unlink()
    assert _hook(event, config) is None
    assert len(_turns(server, key, "sess-42")) == 4

    found = httpx.get(
        server.url + "/api/v1/search",
        params={"query": "which payment method for the Netherlands"},
        headers={"Authorization": f"Bearer {key}"},
    ).json()["results"]
    assert found[0]["text"].startswith("The checkout page must support iDEAL") and found[0]["type"] == "turn"

    # A prompt gets memories from elsewhere, not the turns of its own session (the agent has those).
    prompt = {**event, "hook_event_name": "UserPromptSubmit", "prompt": "iDEAL payments for Dutch customers"}
    assert _hook(prompt, config) is None
    elsewhere = _hook({**prompt, "session_id": "sess-43"}, config)
    assert "iDEAL payments for Dutch customers" in elsewhere["hookSpecificOutput"]["additionalContext"]


def test_codex_gets_the_brief_and_memories_and_keeps_each_prompt_and_reply_once(server, tmp_path):
    _, key = user_with_key("codex")
    headers = {"Authorization": f"Bearer {key}"}
    stored = httpx.post(
        server.url + "/api/v1/memories", json={"observation": "Runs the test suite with tox -e py311"}, headers=headers
    ).json()
    config = tmp_path / "hook.json"
    config.write_text(json.dumps({"url": server.url, "key": key}))
    # The fields Codex documents for each event (codex-rs/hooks/schema).
    common = {
        "session_id": "019d036d-c7fa",
        "transcript_path": None,
        "cwd": "/home/dev/api",
        "model": "gpt-5-codex",
        "permission_mode": "default",
    }
    started = _hook({**common, "hook_event_name": "SessionStart", "source": "startup"}, config, "codex")
    assert started["hookSpecificOutput"]["hookEventName"] == "SessionStart"
    assert f"[{stored['ref']} ·" in started["hookSpecificOutput"]["additionalContext"]
    prompt = {**common, "hook_event_name": "UserPromptSubmit", "turn_id": "t-1", "prompt": "how do I run the tests?"}
    prompted = _hook(prompt, config, "codex")
    assert set(prompted["hookSpecificOutput"]) == {"hookEventName", "additionalContext"}
    assert "tox -e py311" in prompted["hookSpecificOutput"]["additionalContext"]
    stop = {
        **common,
        "hook_event_name": "Stop",
        "turn_id": "t-1",
        "stop_hook_active": False,
        "last_assistant_message": "Run tox -e py311 from the repository root.",
    }
    for _ in range(2):
        assert _hook(stop, config, "codex") is None
    _hook(prompt, config, "codex")
    kept = _turns(server, key, "019d036d-c7fa")
    assert [(t["speaker"], t["text"]) for t in kept] == [
        ("user", "how do I run the tests?"),
        ("assistant", "Run tox -e py311 from the repository root."),
    ]


def test_gemini_cli_gets_the_brief_and_memories_and_keeps_each_exchange_once(server, tmp_path):
    _, key = user_with_key("gemini")
    headers = {"Authorization": f"Bearer {key}"}
    stored = httpx.post(
        server.url + "/api/v1/memories", json={"observation": "Prefers pnpm over npm"}, headers=headers
    ).json()
    config = tmp_path / "hook.json"
    config.write_text(json.dumps({"url": server.url, "key": key}))
    common = {
        "session_id": "gem-7",
        "transcript_path": str(tmp_path / "chat.json"),
        "cwd": "/home/dev/web",
        "timestamp": "2026-12-01T10:30:00Z",
    }
    started = _hook({**common, "hook_event_name": "SessionStart", "source": "startup"}, config, "gemini")
    assert started["hookSpecificOutput"]["hookEventName"] == "SessionStart"
    assert f"[{stored['ref']} ·" in started["hookSpecificOutput"]["additionalContext"]
    before = _hook({**common, "hook_event_name": "BeforeAgent", "prompt": "install with pnpm?"}, config, "gemini")
    assert before["hookSpecificOutput"]["hookEventName"] == "BeforeAgent"
    assert "Prefers pnpm over npm" in before["hookSpecificOutput"]["additionalContext"]
    after = {
        **common,
        "hook_event_name": "AfterAgent",
        "prompt": "Which package manager should I use here?",
        "prompt_response": "pnpm, as you prefer.",
        "stop_hook_active": False,
    }
    for _ in range(2):
        assert _hook(after, config, "gemini") is None
    kept = _turns(server, key, "gem-7")
    assert [(t["speaker"], t["text"], t["occurred_at"][:19]) for t in kept] == [
        ("user", "Which package manager should I use here?", "2026-12-01T10:30:00"),
        ("assistant", "pnpm, as you prefer.", "2026-12-01T10:30:00"),
    ]


def test_install_writes_codex_and_gemini_hooks_in_their_own_shapes(tmp_path):
    env = subprocess_env(MEMORYGATE_KEY="mg_" + "g" * 43)
    config = tmp_path / "memorygate" / "hook.json"
    codex = tmp_path / "codex" / "hooks.json"
    gemini = tmp_path / "gemini" / "settings.json"
    gemini.parent.mkdir()
    gemini.write_text(json.dumps({"theme": "Dracula", "tools": {"sandbox": True}}))
    for client, path in (("codex", codex), ("gemini", gemini)):
        for _ in range(2):
            done = run_cli(
                "hooks", "install", "--client", client, "--settings", str(path), "--config", str(config), env=env
            )
            assert done.returncode == 0, done.stderr
    codex_hooks = json.loads(codex.read_text())["hooks"]
    assert set(codex_hooks) == {"SessionStart", "UserPromptSubmit", "Stop"}
    hook = codex_hooks["Stop"][0]["hooks"][0]
    assert len(codex_hooks["Stop"]) == 1 and hook["type"] == "command" and hook["timeout"] == 10
    assert hook["command"].endswith("--agent codex")
    settings = json.loads(gemini.read_text())
    assert settings["theme"] == "Dracula" and settings["tools"] == {"sandbox": True, "enableHooks": True}
    assert set(settings["hooks"]) == {"SessionStart", "BeforeAgent", "AfterAgent"}
    hook = settings["hooks"]["AfterAgent"][0]["hooks"][0]
    assert hook["timeout"] == 10_000 and hook["name"] == "memorygate-AfterAgent"
    assert hook["command"].endswith("--agent gemini") and "mg_" not in gemini.read_text()
