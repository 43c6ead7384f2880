"""Moving in the history people already have: ChatGPT's data export, the
Claude.ai data export, and Claude Code's transcripts, each conversation kept
as a conversation of turns with its real times.

- ChatGPT (Settings → Data controls → Export): ``conversations.json``, a
  list of conversations whose ``mapping`` is a tree of messages; the branch
  the person last saw (``current_node`` back to the root) is the one kept.
  Each message's ``author.role`` (user or assistant), ``content.parts`` (the
  text of ``text`` and ``multimodal_text`` content) and ``create_time`` (Unix
  seconds) make a turn, its ``id`` the turn's key.
- Claude.ai (Settings → Privacy → Export data): ``conversations.json``, a
  list of conversations (``uuid``, ``name``, ``created_at``) whose
  ``chat_messages`` have a ``sender`` (human or assistant), ``text`` (or
  ``content`` text blocks), ``created_at`` and ``uuid``.
- Claude Code: a folder of session transcripts (``~/.claude/projects/…``),
  JSON Lines, one line per event; what the person typed and the assistant's
  text are kept (tool calls and results, side chains, meta lines and slash
  commands are not), each line's ``uuid`` its key and ``sessionId`` its
  conversation: the ids the hooks use, so an import after the hooks adds
  only what they missed.

Each becomes a ``ParsedFile`` of MemoryGate records (an AI instance,
sessions, turns), checked like an export's lines, so the preview, the
progress and matching what is already there (by conversation and key: a
second import adds nothing) are the JSON Lines import's own. Text inside
``<private>…</private>`` is cut; a message longer than a turn holds becomes
several turns (``key``, ``key#2``, …); messages with no text (images, tool
calls, code runs) are counted as left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from core.errors import InvalidInput
from memory.turns import MAX_TURN_CHARS, without_private
from portability import records
from portability.jsonl_schema import FileRejected, ParsedFile, Record, problem

CHATGPT, CLAUDE_AI, CLAUDE_CODE = "chatgpt", "claude-ai", "claude-code"
SOURCES = (CHATGPT, CLAUDE_AI, CLAUDE_CODE)
AI = {CHATGPT: ("ChatGPT", "ChatGPT"), CLAUDE_AI: ("Claude", "Claude.ai"), CLAUDE_CODE: ("Claude", "Claude Code")}
NO_TEXT = "messages with no text (images, tool calls, code runs)"
CHATGPT_TEXT = ("text", "multimodal_text")
# Claude Code's own lines in a transcript that no one said: slash commands and their output.
COMMAND_MARKUP = ("<command-", "<local-command-")


def export_kind(data: Any) -> str | None:
    """Which export a parsed ``conversations.json`` is, if either."""
    if not isinstance(data, list):
        return None
    first = next((item for item in data if isinstance(item, dict)), None)
    if first is None:
        return None
    if "mapping" in first:
        return CHATGPT
    if "chat_messages" in first:
        return CLAUDE_AI
    return None


def looks_like_transcript(first: Any) -> bool:
    """A Claude Code transcript's first line: an event of a session, or its summary."""
    if not isinstance(first, dict):
        return False
    return ("sessionId" in first and "uuid" in first) or (first.get("type") == "summary" and "leafUuid" in first)


def from_export(data: Any) -> ParsedFile:
    kind = export_kind(data)
    if kind is None:
        raise FileRejected(["conversations.json: not a ChatGPT or Claude.ai export (a list of conversations)"])
    history = _History(kind)
    read = _chatgpt if kind == CHATGPT else _claude_ai
    for number, conversation in enumerate(data, start=1):
        if isinstance(conversation, dict):
            history.add(number, *read(conversation))
    return history.finish()


def from_transcripts(files: Iterable[Iterable[tuple[int, Any]]]) -> ParsedFile:
    """Claude Code transcripts, each file's decoded lines (line number, JSON)."""
    history = _History(CLAUDE_CODE)
    sessions: dict[str, tuple[int, str | None, list[_Said]]] = {}
    summaries: dict[str, str] = {}  # a summary names the last turn it covers (its leafUuid)
    for lines in files:
        for number, line in lines:
            if not isinstance(line, dict):
                continue
            session = line.get("sessionId")
            if line.get("type") == "summary" and isinstance(line.get("summary"), str):
                summaries[str(line.get("leafUuid"))] = line["summary"]
            if not isinstance(session, str) or not session:
                continue
            start, title, said = sessions.setdefault(session, (number, _project(line), []))
            turn = _transcript_turn(line)
            if turn is None:
                if line.get("type") in ("user", "assistant"):
                    history.skip(NO_TEXT)
                continue
            said.append(turn)
    for session, (number, place, said) in sessions.items():
        summary = next((summaries[t.key] for t in said if t.key in summaries), None)
        history.add(number, session, summary or place, said)
    return history.finish()


class _Said:
    """One message as said: who, what, when, and its id in the export."""

    __slots__ = ("key", "speaker", "text", "when")

    def __init__(self, speaker: str, text: str, when: datetime | None, key: str | None) -> None:
        self.speaker, self.text, self.when, self.key = speaker, text, when, key


def _chatgpt(conversation: dict[str, Any]) -> tuple[Any, Any, list[_Said]]:
    given = conversation.get("mapping")
    mapping: dict[str, Any] = given if isinstance(given, dict) else {}
    said = []
    for node in _current_branch(mapping, conversation.get("current_node")):
        message = node.get("message") if isinstance(node, dict) else None
        if not isinstance(message, dict):
            continue
        role = (message.get("author") or {}).get("role")
        hidden = (message.get("metadata") or {}).get("is_visually_hidden_from_conversation")
        if role not in ("user", "assistant") or hidden:
            continue
        content = message.get("content") or {}
        parts = content.get("parts") if content.get("content_type") in CHATGPT_TEXT else None
        text = "\n".join(part for part in parts or [] if isinstance(part, str))
        said.append(_Said(role, text, _unix(message.get("create_time")), _key(message.get("id"))))
    started = _unix(conversation.get("create_time"))
    if started and said and said[0].when is None:
        said[0].when = started
    return conversation.get("conversation_id") or conversation.get("id"), conversation.get("title"), said


def _current_branch(mapping: dict[str, Any], current: Any) -> list[Any]:
    """The messages from the root to the one the person last saw, in order;
    without a current node, every message by time."""
    if not isinstance(current, str) or current not in mapping:
        nodes = [node for node in mapping.values() if isinstance(node, dict)]
        return sorted(nodes, key=lambda node: (node.get("message") or {}).get("create_time") or 0)
    branch, seen = [], set()
    while isinstance(current, str) and current in mapping and current not in seen:
        seen.add(current)
        branch.append(mapping[current])
        current = mapping[current].get("parent") if isinstance(mapping[current], dict) else None
    return branch[::-1]


def _claude_ai(conversation: dict[str, Any]) -> tuple[Any, Any, list[_Said]]:
    said = []
    for message in conversation.get("chat_messages") or []:
        if not isinstance(message, dict):
            continue
        speaker = {"human": "user", "assistant": "assistant"}.get(str(message.get("sender")))
        if speaker is None:
            continue
        text = message.get("text")
        if not isinstance(text, str) or not text.strip():
            text = _text_blocks(message.get("content"))
        said.append(_Said(speaker, text, _moment(message.get("created_at")), _key(message.get("uuid"))))
    return conversation.get("uuid"), conversation.get("name") or None, said


def _transcript_turn(line: dict[str, Any]) -> _Said | None:
    if line.get("type") not in ("user", "assistant") or line.get("isSidechain") or line.get("isMeta"):
        return None
    message = line.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    text = content if isinstance(content, str) else _text_blocks(content)
    if not text.strip() or (line["type"] == "user" and text.lstrip().startswith(COMMAND_MARKUP)):
        return None
    return _Said(line["type"], text, _moment(line.get("timestamp")), _key(line.get("uuid")))


def _project(line: dict[str, Any]) -> str | None:
    cwd = line.get("cwd")
    return f"Claude Code in {cwd.rstrip('/').rsplit('/', 1)[-1]}" if isinstance(cwd, str) and cwd.strip("/") else None


def _text_blocks(content: Any) -> str:
    if not isinstance(content, list):
        return ""
    texts = [block.get("text") for block in content if isinstance(block, dict) and block.get("type") == "text"]
    return "\n\n".join(text for text in texts if isinstance(text, str))


def _unix(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _key(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class _History:
    """Records of one source, checked as an export's lines are."""

    def __init__(self, source: str) -> None:
        self.parsed = ParsedFile(source)
        self.problems: list[str] = []
        self.now = datetime.now(UTC)
        name, platform = AI[source]
        self._record(0, {"kind": "ai_instance", "id": 1, "name": name, "platform": platform, **self._seen()})
        self.sessions = 0
        self.turns = 0

    def _seen(self) -> dict[str, str]:
        return {"first_seen": self.now.isoformat(), "last_seen": self.now.isoformat()}

    def skip(self, why: str) -> None:
        self.parsed.skip(why)

    def add(self, number: int, conversation_id: Any, title: Any, said: list[_Said]) -> None:
        """One conversation (``number``: where it is in the file, for problems)."""
        turns = []
        for message in said:
            text = without_private(message.text).strip()
            if not text:
                self.skip(NO_TEXT)
                continue
            turns.extend(_pieces(message, text))
        if not turns:
            return
        times = [turn[2] for turn in turns if turn[2] is not None]
        started = min(times) if times else self.now
        self.sessions += 1
        session = {
            "kind": "session",
            "id": self.sessions,
            "conversation_id": conversation_id
            if isinstance(conversation_id, str)
            else f"{self.parsed.source}-{number}",
            "title": title[:500] if isinstance(title, str) and title.strip() else None,
            "ai_instance": 1,
            "started_at": started.isoformat(),
            "last_active": (max(times) if times else started).isoformat(),
        }
        if not self._record(number, session):
            return
        last = started
        for position, (speaker, text, when, key) in enumerate(turns):
            last = when or last
            self.turns += 1
            turn = {
                "kind": "turn",
                "id": self.turns,
                "session": self.sessions,
                "position": position,
                "speaker": speaker,
                "text": text,
                "occurred_at": last.isoformat(),
                "key": key,
            }
            self._record(number, turn)

    def _record(self, number: int, raw: dict[str, Any]) -> bool:
        try:
            kind, fields = records.checked_fields({name: value for name, value in raw.items() if value is not None})
        except InvalidInput as exc:
            self.problems.append(problem(number, exc).replace("line", "conversation", 1))
            return False
        self.parsed.add(Record(kind, number, fields))
        return True

    def finish(self) -> ParsedFile:
        if self.problems:
            raise FileRejected(self.problems)
        if not self.parsed.of("turn"):
            raise FileRejected(["no conversation in it has a message with text"])
        return self.parsed


def _pieces(message: _Said, text: str) -> list[tuple[str, str, datetime | None, str | None]]:
    """A message as turns: whole when it fits, else in pieces a turn holds,
    cut between words."""
    chunks = []
    while len(text) > MAX_TURN_CHARS:
        cut = max(text.rfind(" ", 0, MAX_TURN_CHARS), text.rfind("\n", 0, MAX_TURN_CHARS))
        cut = cut if cut > MAX_TURN_CHARS // 2 else MAX_TURN_CHARS  # between words where there are any
        chunks.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    chunks.append(text)
    keys = [message.key] + [f"{message.key}#{n}" if message.key else None for n in range(2, len(chunks) + 1)]
    return [(message.speaker, chunk, message.when, key) for chunk, key in zip(chunks, keys, strict=True)]


def json_lines(lines: Iterable[bytes | str], *, start: int = 1) -> Iterator[tuple[int, Any]]:
    """A transcript's lines decoded, leniently: the line a running session is
    still writing, or any other that is not JSON, is passed over."""
    for number, line in enumerate(lines, start=start):
        try:
            yield number, json.loads(line)
        except (ValueError, RecursionError):
            continue


def as_export_lines(parsed: ParsedFile) -> Iterable[str]:
    """The records as a MemoryGate export (what an import job keeps until it runs)."""
    yield json.dumps({"format": records.FORMAT, "version": records.VERSION}) + "\n"
    for kind in records.KINDS:
        for record in parsed.of(kind):
            yield json.dumps({"kind": kind, **record.fields}, default=_plain, ensure_ascii=False) + "\n"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")
