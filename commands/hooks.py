"""``python server.py hooks install``: wire MemoryGate into a coding agent's
hooks (Claude Code, Codex CLI, Gemini CLI).

Writes the hook's own configuration (the server's URL and a key) to a file
only its owner can read, and merges the hook commands into the agent's hook
settings: every hook and setting already there is kept, an earlier MemoryGate
entry is replaced, not repeated, and the file as it was is kept beside it as
a backup. Settings never hold the key.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.settings import Settings

HOOK_SCRIPT = Path(__file__).resolve().parent.parent / "hooks" / "memorygate_hook.py"
EARLIER_SCRIPTS = ("claude_code.py",)  # entries an earlier version installed, replaced too
HOOK_TIMEOUT_SECONDS = 10  # the agent's own limit; the hook gives up sooner (3 s, 8 s to append)


@dataclass(frozen=True)
class Agent:
    """Where an agent keeps its hooks, which of its events the hook answers,
    and how its settings spell a hook's time limit."""

    settings: Path
    events: tuple[str, ...]
    timeout: int
    words: str
    named: bool = False  # hooks carry a name (Gemini CLI enables and disables them by it)
    switch: tuple[str, str] | None = None  # a setting that must be true for any hook to run


AGENTS = {
    "claude-code": Agent(
        Path.home() / ".claude" / "settings.json",
        ("SessionStart", "UserPromptSubmit", "Stop", "SessionEnd"),
        HOOK_TIMEOUT_SECONDS,
        "Claude Code",
    ),
    "codex": Agent(
        Path.home() / ".codex" / "hooks.json",
        ("SessionStart", "UserPromptSubmit", "Stop"),
        HOOK_TIMEOUT_SECONDS,
        "Codex CLI",
    ),
    # Gemini CLI counts a hook's timeout in milliseconds.
    "gemini": Agent(
        Path.home() / ".gemini" / "settings.json",
        ("SessionStart", "BeforeAgent", "AfterAgent"),
        HOOK_TIMEOUT_SECONDS * 1000,
        "Gemini CLI",
        named=True,
        switch=("tools", "enableHooks"),
    ),
}


def add_parser(commands: Any) -> None:
    hooks = commands.add_parser("hooks", help="connect a coding agent's hooks to MemoryGate")
    actions = hooks.add_subparsers(dest="hooks_command", required=True)
    install = actions.add_parser("install", help="write the hook configuration for an agent")
    install.add_argument("--client", choices=sorted(AGENTS), default="claude-code")
    install.add_argument("--url", help="the MemoryGate server (default: this server's public address)")
    install.add_argument("--key", help="an API key (default: $MEMORYGATE_KEY); create one with create-key")
    install.add_argument("--settings", type=Path, help="the agent's hook settings (default: its own file)")
    install.add_argument("--config", type=Path, help="where the hook keeps the URL and key")


def install_command(settings: Settings, args: argparse.Namespace) -> int:
    key = args.key or os.environ.get("MEMORYGATE_KEY")
    if not key or not key.startswith("mg_"):
        print(
            "error: --key (or MEMORYGATE_KEY) must be a MemoryGate API key (mg_...); create one with create-key",
            file=sys.stderr,
        )
        return 2
    agent = AGENTS[args.client]
    url = (args.url or settings.public_base_url).rstrip("/")
    config = args.config or Path(
        os.environ.get("MEMORYGATE_HOOK_CONFIG") or Path.home() / ".config/memorygate/hook.json"
    )
    target = args.settings or agent.settings
    _write_private(config, {"url": url, "key": key})
    backup = merge_hook_settings(target, agent, hook_command(config, args.client))
    print(
        f"{agent.words} will get MemoryGate's brief at session start and relevant memories with each prompt, "
        f"and keep each conversation's turns.\n"
        f"hooks: {target}"
        + (f" (the earlier file kept as {backup})" if backup else "")
        + f"\nserver and key: {config} (readable by you alone)",
        file=sys.stderr,
    )
    return 0


def hook_command(config: Path, client: str) -> str:
    """The command the agent runs: this Python, the stdlib-only hook, its config."""
    program = " ".join(shlex.quote(part) for part in (sys.executable, str(HOOK_SCRIPT), "--agent", client))
    return f"MEMORYGATE_HOOK_CONFIG={shlex.quote(str(config))} {program}"


def merge_hook_settings(path: Path, agent: Agent, command: str) -> Path | None:
    """Add the MemoryGate hooks to the agent's settings, keeping everything
    else; returns the backup of the file as it was (None when there was none)."""
    current: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    if not isinstance(current, dict) or not isinstance(current.get("hooks", {}), dict):
        raise SystemExit(f"error: {path} is not a {agent.words} settings file (a JSON object with a hooks object)")
    backup = None
    if path.exists():
        backup = path.with_name(f"{path.name}.{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}.bak")
        shutil.copy2(path, backup)
    hooks = current.setdefault("hooks", {})
    for event in agent.events:
        groups = [group for group in hooks.get(event, []) if not _is_ours(group)]
        hook = {"type": "command", "command": command, "timeout": agent.timeout}
        if agent.named:
            hook["name"] = f"memorygate-{event}"
        groups.append({"hooks": [hook]})
        hooks[event] = groups
    if agent.switch:
        section, name = agent.switch
        if not isinstance(current.setdefault(section, {}), dict):
            raise SystemExit(f"error: {path}: {section} is not an object")
        current[section][name] = True
    _write_atomically(path, json.dumps(current, indent=2) + "\n", mode=None)
    return backup


def _is_ours(group: Any) -> bool:
    """A matcher group an earlier install wrote (its command runs this hook)."""
    commands = [str(hook.get("command", "")) for hook in group.get("hooks", []) if isinstance(hook, dict)]
    scripts = (HOOK_SCRIPT.name, *EARLIER_SCRIPTS)
    return any("MEMORYGATE_HOOK_CONFIG=" in command and any(s in command for s in scripts) for command in commands)


def _write_private(path: Path, content: dict[str, str]) -> None:
    _write_atomically(path, json.dumps(content) + "\n", mode=0o600)


def _write_atomically(path: Path, text: str, *, mode: int | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
        if mode is not None:
            os.chmod(temporary, mode)
        elif path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
