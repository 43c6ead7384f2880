"""MemoryGate for Claude Code's hooks: memory that arrives without being asked.

Claude Code runs this as a command hook, with the event's JSON on stdin
(https://code.claude.com/docs/en/hooks):

- ``SessionStart``: the brief (what to know about the person, what changed
  since this client's last session) goes in as ``additionalContext``;
- ``UserPromptSubmit``: the memories most relevant to the prompt, within a
  small budget, go in the same way.

It answers on stdout with ``{"hookSpecificOutput": {"hookEventName": ...,
"additionalContext": ...}}`` and exits 0. It fails safe: when the server is
down, slow (``TIMEOUT_SECONDS``) or refuses, or the input is not what it
expects, it prints nothing and exits 0, so it never blocks or breaks the
agent. It never prints the key.

Python's standard library only: Claude Code runs it with whatever
``python3`` it finds. The server and key come from the file
``python server.py hooks install`` writes (``MEMORYGATE_HOOK_CONFIG``, default
``~/.config/memorygate/hook.json``, readable by its owner alone).
"""

from __future__ import annotations

import json
import os
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

TIMEOUT_SECONDS = 3.0
BRIEF_TOKENS = 1500
PROMPT_HITS = 5
PROMPT_CHARS = 1200  # about 300 tokens: every prompt pays for it
QUERY_CHARS = 2000
DEFAULT_CONFIG = Path.home() / ".config" / "memorygate" / "hook.json"


def config_path() -> Path:
    return Path(os.environ.get("MEMORYGATE_HOOK_CONFIG") or DEFAULT_CONFIG)


def _get(config: dict[str, str], path: str, params: dict[str, Any]) -> dict[str, Any]:
    query = urllib.parse.urlencode({name: value for name, value in params.items() if value is not None})
    request = urllib.request.Request(
        f"{config['url'].rstrip('/')}/api/v1/{path}?{query}",
        headers={"Authorization": f"Bearer {config['key']}", "Accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - the configured server
        return json.load(response)


def session_start(config: dict[str, str], event: dict[str, Any]) -> str | None:
    brief = _get(config, "brief", {"max_tokens": BRIEF_TOKENS, "conversation_id": event.get("session_id")})
    text = brief.get("text") or ""
    return f"What MemoryGate (the person's memory) knows now:\n{text}" if text else None


def user_prompt_submit(config: dict[str, str], event: dict[str, Any]) -> str | None:
    prompt = " ".join(str(event.get("prompt") or "").split())[:QUERY_CHARS]
    if not prompt:
        return None
    found = _get(config, "search", {"query": prompt, "limit": PROMPT_HITS})
    lines, used = [], 0
    for hit in found.get("results", []):
        line = f"- [{hit['ref']} · {str(hit.get('occurred_at') or hit['recorded_at'])[:10]}] {hit['text']}"
        if used + len(line) > PROMPT_CHARS:
            break
        lines.append(line)
        used += len(line) + 1
    return "Memories relevant to this prompt (MemoryGate):\n" + "\n".join(lines) if lines else None


HANDLERS = {"SessionStart": session_start, "UserPromptSubmit": user_prompt_submit}


def main() -> int:
    try:
        event = json.load(sys.stdin)
        name = event["hook_event_name"]
        handler = HANDLERS[name]
        config = json.loads(config_path().read_text())
        context = handler(config, event)
    except Exception:  # fail safe: whatever went wrong, the agent carries on without memory
        return 0
    if context:
        json.dump({"hookSpecificOutput": {"hookEventName": name, "additionalContext": context}}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
