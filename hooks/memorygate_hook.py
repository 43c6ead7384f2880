"""MemoryGate for coding agents' hooks: memory that arrives without being asked,
and conversations kept without the model having to decide to.

An agent runs this as a command hook with the event's JSON on stdin and
``--agent`` naming which agent it is:

- ``claude-code`` (https://code.claude.com/docs/en/hooks): ``SessionStart``
  brings the brief, ``UserPromptSubmit`` the memories relevant to the prompt
  (both as ``additionalContext``); ``Stop`` and ``SessionEnd`` append the
  transcript's new turns (its JSONL file), each once, however often they run.
- ``codex`` (https://developers.openai.com/codex/hooks): the same events and
  answers as Claude Code; the prompt is kept at ``UserPromptSubmit`` and the
  reply (``last_assistant_message``) at ``Stop``, keyed by ``turn_id``.
- ``gemini`` (https://geminicli.com/docs/hooks/reference): ``SessionStart``
  brings the brief, ``BeforeAgent`` the relevant memories, ``AfterAgent``
  keeps the prompt and the reply (``prompt_response``).

Context goes out on stdout as ``{"hookSpecificOutput": {"hookEventName": ...,
"additionalContext": ...}}``; every other event prints nothing. It fails
safe: when the server is down, slow or refuses, or the input is not what it
expects, it prints nothing and exits 0, so it never blocks or breaks the
agent; it never prints the key. Text inside ``<private>…</private>`` is cut
by the server before anything is stored.

Python's standard library only: agents run it with whatever ``python3`` they
find. The server and key come from the file ``python server.py hooks
install`` writes (``MEMORYGATE_HOOK_CONFIG``, default
``~/.config/memorygate/hook.json``, readable by its owner alone); beside it,
``sent/`` remembers how far each transcript has been sent, so a hook reads
only what is new (the server's turn ids make a resend harmless anyway).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

TIMEOUT_SECONDS = 3.0
APPEND_TIMEOUT_SECONDS = 8.0  # embedding a batch of turns takes longer than a search
BRIEF_TOKENS = 1500
PROMPT_HITS = 5
PROMPT_CHARS = 1200  # about 300 tokens: every prompt pays for it
QUERY_CHARS = 2000
TURN_CHARS = 20_000  # the server's limit for one turn
TURNS_PER_REQUEST = 100
TRANSCRIPT_READ_BYTES = 8 * 1024 * 1024  # a run sends at most this much; the next run carries on
DEFAULT_CONFIG = Path.home() / ".config" / "memorygate" / "hook.json"
AGENTS = {
    "claude-code": ("Claude", "Claude Code"),
    "codex": ("Codex", "Codex CLI"),
    "gemini": ("Gemini", "Gemini CLI"),
}
# Claude Code's own lines in a transcript that no one said: slash commands and their output.
COMMAND_MARKUP = ("<command-", "<local-command-")


def config_path() -> Path:
    return Path(os.environ.get("MEMORYGATE_HOOK_CONFIG") or DEFAULT_CONFIG)


def _request(config: dict[str, str], method: str, path: str, *, body: Any = None, timeout: float) -> Any:
    request = urllib.request.Request(
        f"{config['url'].rstrip('/')}/api/v1/{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {config['key']}",
            "Accept": "application/json",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the configured server
        return json.load(response)


def _get(config: dict[str, str], path: str, params: dict[str, Any]) -> Any:
    query = urllib.parse.urlencode({name: value for name, value in params.items() if value is not None})
    return _request(config, "GET", f"{path}?{query}", timeout=TIMEOUT_SECONDS)


# --- context going in ------------------------------------------------------------------------------


def brief(config: dict[str, str], event: dict[str, Any]) -> str | None:
    found = _get(config, "brief", {"max_tokens": BRIEF_TOKENS, "conversation_id": event.get("session_id")})
    text = found.get("text") or ""
    return f"What MemoryGate (the person's memory) knows now:\n{text}" if text else None


def relevant_memories(config: dict[str, str], event: dict[str, Any]) -> str | None:
    prompt = " ".join(str(event.get("prompt") or "").split())[:QUERY_CHARS]
    if not prompt:
        return None
    found = _get(config, "search", {"query": prompt, "limit": PROMPT_HITS})
    lines, used = [], 0
    for hit in found.get("results", []):
        if hit.get("type") == "turn" and hit.get("conversation_id") == event.get("session_id"):
            continue  # this very conversation: the agent has it already
        line = f"- [{hit['ref']} · {str(hit.get('occurred_at') or hit['recorded_at'])[:10]}] {hit['text']}"
        if used + len(line) > PROMPT_CHARS:
            break
        lines.append(line)
        used += len(line) + 1
    return "Memories relevant to this prompt (MemoryGate):\n" + "\n".join(lines) if lines else None


# --- turns going out ---------------------------------------------------------------------------------


def _turn(speaker: str, text: Any, *, key: str | None, said_at: Any = None) -> dict[str, Any] | None:
    """A turn the server accepts whole (one it refuses would hold back the rest of its batch)."""
    if not isinstance(text, str) or not text.strip():
        return None
    turn: dict[str, Any] = {"speaker": speaker, "text": text[:TURN_CHARS]}
    if isinstance(said_at, str) and 0 < len(said_at) <= 40:
        turn["occurred_at"] = said_at
    if key:
        turn["id"] = key[:200]
    return turn


def append_turns(config: dict[str, str], agent: str, event: dict[str, Any], turns: list[dict[str, Any]]) -> None:
    conversation = str(event.get("session_id") or "")[:500]
    if not conversation or not turns:
        return
    name, platform = AGENTS[agent]
    where = os.path.basename(str(event.get("cwd") or "").rstrip("/"))
    title = f"{platform} in {where}" if where else platform
    path = "conversations/" + urllib.parse.quote(conversation, safe="") + "/turns"
    for start in range(0, len(turns), TURNS_PER_REQUEST):
        body = {
            "turns": turns[start : start + TURNS_PER_REQUEST],
            "title": title,
            "ai_name": name,
            "ai_platform": platform,
        }
        _request(config, "POST", path, body=body, timeout=APPEND_TIMEOUT_SECONDS)


def claude_code_transcript(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    """The turns written to a Claude Code transcript (JSON Lines) after
    ``offset``, and where the last whole line ends: what the person typed
    and the assistant's text, each line's ``uuid`` its key; tool calls,
    tool results, side chains and the agent's own meta lines left out."""
    with path.open("rb") as file:
        file.seek(offset)
        data = file.read(TRANSCRIPT_READ_BYTES)
    whole = data[: data.rfind(b"\n") + 1]
    turns = []
    for raw in whole.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(line, dict) or line.get("type") not in ("user", "assistant"):
            continue
        if line.get("isSidechain") or line.get("isMeta"):
            continue
        message = line.get("message") if isinstance(line.get("message"), dict) else {}
        text = _text_of(message.get("content"))
        if line["type"] == "user" and text.lstrip().startswith(COMMAND_MARKUP):
            continue
        turn = _turn(line["type"], text, key=line.get("uuid"), said_at=line.get("timestamp"))
        if turn is not None:
            turns.append(turn)
    return turns, offset + len(whole)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [block.get("text") for block in content if isinstance(block, dict) and block.get("type") == "text"]
        return "\n\n".join(part for part in parts if isinstance(part, str))
    return ""


def _sent_marker(transcript: Path) -> Path:
    digest = hashlib.sha256(str(transcript.resolve()).encode()).hexdigest()[:32]
    return config_path().parent / "sent" / digest


def keep_claude_code_transcript(config: dict[str, str], event: dict[str, Any]) -> None:
    transcript = Path(str(event["transcript_path"]))
    marker = _sent_marker(transcript)
    try:
        offset = int(marker.read_text())
    except (OSError, ValueError):
        offset = 0
    if offset > transcript.stat().st_size:  # a new file under the old name
        offset = 0
    turns, reached = claude_code_transcript(transcript, offset)
    append_turns(config, "claude-code", event, turns)
    if reached != offset:
        marker.parent.mkdir(parents=True, exist_ok=True)
        temporary = marker.with_suffix(".tmp")
        temporary.write_text(str(reached))
        os.replace(temporary, marker)


def keep_codex_prompt(config: dict[str, str], event: dict[str, Any]) -> None:
    turn = _turn("user", event.get("prompt"), key=f"{event.get('turn_id')}:user")
    append_turns(config, "codex", event, [turn] if turn else [])


def keep_codex_reply(config: dict[str, str], event: dict[str, Any]) -> None:
    turn = _turn("assistant", event.get("last_assistant_message"), key=f"{event.get('turn_id')}:assistant")
    append_turns(config, "codex", event, [turn] if turn else [])


def keep_gemini_exchange(config: dict[str, str], event: dict[str, Any]) -> None:
    prompt, reply = event.get("prompt"), event.get("prompt_response")
    exchange = hashlib.sha256(json.dumps([prompt, reply]).encode()).hexdigest()[:32]
    said_at = event.get("timestamp")
    turns = [
        _turn("user", prompt, key=f"{exchange}:user", said_at=said_at),
        _turn("assistant", reply, key=f"{exchange}:assistant", said_at=said_at),
    ]
    append_turns(config, "gemini", event, [turn for turn in turns if turn])


# --- each agent's events ------------------------------------------------------------------------------


def _with_prompt_kept(config: dict[str, str], event: dict[str, Any]) -> str | None:
    """Codex's UserPromptSubmit: the relevant memories, then the prompt kept."""
    context = None
    with contextlib.suppress(Exception):  # each part fails safe on its own
        context = relevant_memories(config, event)
    with contextlib.suppress(Exception):
        keep_codex_prompt(config, event)
    return context


# Each agent's events: a handler's text goes in as additional context; one
# that only keeps turns answers nothing.
HANDLERS: dict[str, dict[str, Any]] = {
    "claude-code": {
        "SessionStart": brief,
        "UserPromptSubmit": relevant_memories,
        "Stop": keep_claude_code_transcript,
        "SessionEnd": keep_claude_code_transcript,
    },
    "codex": {
        "SessionStart": brief,
        "UserPromptSubmit": _with_prompt_kept,
        "Stop": keep_codex_reply,
    },
    "gemini": {
        "SessionStart": brief,
        "BeforeAgent": relevant_memories,
        "AfterAgent": keep_gemini_exchange,
    },
}


def agent_named(argv: list[str]) -> str:
    if "--agent" in argv[:-1]:
        return argv[argv.index("--agent") + 1]
    return "claude-code"


def main(argv: list[str]) -> int:
    try:
        event = json.load(sys.stdin)
        name = event["hook_event_name"]
        handler = HANDLERS[agent_named(argv)][name]
        config = json.loads(config_path().read_text())
        context = handler(config, event)
    except Exception:  # fail safe: whatever went wrong, the agent carries on without memory
        return 0
    if context:
        json.dump({"hookSpecificOutput": {"hookEventName": name, "additionalContext": context}}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
