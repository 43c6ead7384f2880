"""The history people already have, imported: ChatGPT's and Claude.ai's data
exports and Claude Code's transcript folders, each written here in its
public format; every conversation kept as turns with its real times,
searchable by meaning once the import says it is done, and a second import
adding nothing."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from memory import indexing
from models import ConversationSession, Turn
from portability import history, importer
from portability.jsonl_schema import FileRejected
from tests.support import new_key, new_user, run_cli, session_scope, subprocess_env


def _env() -> dict[str, str]:
    return subprocess_env(DATABASE_URL=os.environ["MEMORYGATE_TEST_DATABASE_URL"], EMBEDDING_PROVIDER="local")


def _node(node_id: str, parent: str | None, children: list[str], message: dict | None) -> dict:
    return {"id": node_id, "message": message, "parent": parent, "children": children}


def _message(message_id: str, role: str, text: str, when: float | None, **extra) -> dict:
    content_type = extra.pop("content_type", "text")
    return {
        "id": message_id,
        "author": {"role": role, "name": None, "metadata": {}},
        "create_time": when,
        "update_time": None,
        "content": {"content_type": content_type, "parts": [text]},
        "status": "finished_successfully",
        "end_turn": True,
        "weight": 1.0,
        "metadata": extra.pop("metadata", {}),
        "recipient": "all",
    }


def chatgpt_export() -> list[dict]:
    """Two conversations as ChatGPT's conversations.json has them: a tree of
    messages, one edited prompt making a second branch (the last seen wins)."""
    trip = {
        "title": "Lisbon trip",
        "create_time": 1714557600.0,  # 2024-05-01T10:00:00Z
        "update_time": 1714558200.0,
        "conversation_id": "6632a1f0-aaaa-4b00-9000-000000000001",
        "current_node": "m4",
        "mapping": {
            "root": _node("root", None, ["sys"], None),
            "sys": _node(
                "sys",
                "root",
                ["m1", "m1b"],
                _message("sys", "system", "", None, metadata={"is_visually_hidden_from_conversation": True}),
            ),
            "m1b": _node("m1b", "sys", [], _message("m1b", "user", "Plan a trip to Paris", 1714557650.0)),
            "m1": _node(
                "m1", "sys", ["m2"], _message("m1", "user", "Plan a tram ride around Alfama in Lisbon", 1714557660.0)
            ),
            "m2": _node(
                "m2", "m1", ["m3"], _message("m2", "assistant", "Take tram 28 from Martim Moniz.", 1714557670.0)
            ),
            "m3": _node(
                "m3",
                "m2",
                ["m4"],
                _message("m3", "tool", "search results", 1714557680.0, content_type="tether_browsing_display"),
            ),
            "m4": _node(
                "m4",
                "m3",
                [],
                _message("m4", "user", "My card PIN is <private>4321</private>, remind me to bring it", 1714557690.0),
            ),
        },
    }
    garden = {
        "title": "Tomatoes",
        "create_time": 1717236000.0,  # 2024-06-01T10:00:00Z
        "conversation_id": "6632a1f0-aaaa-4b00-9000-000000000002",
        "current_node": "g2",
        "mapping": {
            "g0": _node("g0", None, ["g1"], None),
            "g1": _node("g1", "g0", ["g2"], _message("g1", "user", "Why do my tomato leaves curl?", 1717236010.0)),
            "g2": _node("g2", "g1", [], _message("g2", "assistant", "Usually heat stress or overwatering.", None)),
        },
    }
    return [trip, garden]


def claude_ai_export() -> list[dict]:
    return [
        {
            "uuid": "4f2c1d9e-0000-4000-8000-00000000c1a0",
            "name": "Sourdough starter",
            "created_at": "2024-03-02T08:00:00.000000Z",
            "updated_at": "2024-03-02T08:05:00.000000Z",
            "account": {"uuid": "acc-1"},
            "chat_messages": [
                {
                    "uuid": "msg-1",
                    "text": "My sourdough starter smells like nail polish remover",
                    "content": [{"type": "text", "text": "My sourdough starter smells like nail polish remover"}],
                    "sender": "human",
                    "created_at": "2024-03-02T08:00:10.000000Z",
                    "updated_at": "2024-03-02T08:00:10.000000Z",
                    "attachments": [],
                    "files": [],
                },
                {
                    "uuid": "msg-2",
                    "text": "",
                    "content": [{"type": "text", "text": "It is hungry: feed it twice a day for a few days."}],
                    "sender": "assistant",
                    "created_at": "2024-03-02T08:00:20.000000Z",
                    "updated_at": "2024-03-02T08:00:20.000000Z",
                    "attachments": [],
                    "files": [],
                },
            ],
        }
    ]


def transcript_line(session: str, kind: str, uuid: str, content, when: str, **extra) -> str:
    message: dict = {"role": kind, "content": content}
    line = {
        "parentUuid": None,
        "isSidechain": False,
        "userType": "external",
        "cwd": "/home/dev/billing",
        "sessionId": session,
        "version": "2.0.14",
        "gitBranch": "main",
        "type": kind,
        "message": message,
        "uuid": uuid,
        "timestamp": when,
        **extra,
    }
    return json.dumps(line) + "\n"


def claude_code_folder(root: Path) -> Path:
    """~/.claude/projects/<project>/<session>.jsonl, two projects."""
    billing = root / "-home-dev-billing"
    billing.mkdir(parents=True)
    (billing / "s-1.jsonl").write_text(
        transcript_line("s-1", "user", "u1", "Invoices must be numbered without gaps (legal)", "2025-02-03T09:00:00Z")
        + transcript_line(
            "s-1",
            "assistant",
            "a1",
            [{"type": "text", "text": "I'll use a sequence per year."}],
            "2025-02-03T09:00:05Z",
        )
        + transcript_line(
            "s-1",
            "assistant",
            "a2",
            [{"type": "tool_use", "id": "t1", "name": "Edit", "input": {}}],
            "2025-02-03T09:00:06Z",
        )
        + '{"type": "user", "sessionId": "s-1", "uuid": "u9", "message": {"role": "us'  # still being written
    )
    notes = root / "-home-dev-notes"
    notes.mkdir()
    (notes / "s-2.jsonl").write_text(
        json.dumps({"type": "summary", "summary": "Markdown notes app", "leafUuid": "u2"})
        + "\n"
        + transcript_line("s-2", "user", "u2", "Notes are stored as plain markdown files", "2025-03-01T12:00:00Z")
    )
    return root


def _import(path: Path, email: str, *extra: str):
    done = run_cli("import", str(path), "--email", email, *extra, env=_env())
    assert done.returncode == 0, done.stderr
    return done.stderr


def _kept(owner) -> list[tuple[str, str, str, str | None]]:
    with session_scope() as db:
        rows = db.execute(
            select(Turn.speaker, Turn.text, Turn.occurred_at, Turn.source_key)
            .where(Turn.owner_id == owner)
            .order_by(Turn.session_id, Turn.position)
        ).all()
    return [(speaker, text, when.isoformat(), key) for speaker, text, when, key in rows]


def _search(server, key: str, query: str) -> list[dict]:
    answer = httpx.get(
        server.url + "/api/v1/search", params={"query": query}, headers={"Authorization": f"Bearer {key}"}
    ).json()
    assert answer["mode"] == "hybrid"
    return answer["results"]


def test_a_chatgpt_export_zip_becomes_searchable_turns_with_their_real_times_once(server, tmp_path):
    owner, email = new_user("chatgpt")
    archive = tmp_path / "chatgpt-export.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("conversations.json", json.dumps(chatgpt_export()))
        zipped.writestr("chat.html", "<html></html>")
        zipped.writestr("user.json", "{}")
    preview = _import(archive, email, "--dry-run")
    assert "This file would add 1 AI instance, 2 conversations, 5 conversation turns." in preview
    assert _kept(owner) == []

    said = _import(archive, email)
    assert "Importing: 100%" in said and "Making it searchable by meaning: 100%" in said
    assert "Everything imported is searchable by meaning and by words now." in said
    assert _kept(owner) == [
        ("user", "Plan a tram ride around Alfama in Lisbon", "2024-05-01T10:01:00+00:00", "m1"),
        ("assistant", "Take tram 28 from Martim Moniz.", "2024-05-01T10:01:10+00:00", "m2"),
        ("user", "My card PIN is , remind me to bring it", "2024-05-01T10:01:30+00:00", "m4"),
        ("user", "Why do my tomato leaves curl?", "2024-06-01T10:00:10+00:00", "g1"),
        ("assistant", "Usually heat stress or overwatering.", "2024-06-01T10:00:10+00:00", "g2"),
    ]
    with session_scope() as db:
        assert indexing.pending_count(db, model="bge-small-en-v1.5", owner_id=owner) == 0
    # Found by meaning (no word in common) as soon as the import said it was done.
    best = _search(server, new_key(owner), "what makes foliage roll up on vegetable plants")[0]
    assert best["text"] == "Why do my tomato leaves curl?" and best["matched"] == "meaning"

    assert "This file adds nothing new." in _import(archive, email)
    assert len(_kept(owner)) == 5


def test_a_claude_ai_export_is_imported_from_its_conversations_json(tmp_path):
    owner, email = new_user("claude-ai")
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(claude_ai_export(), indent=2))
    assert "1 conversation, 2 conversation turns." in _import(path, email)
    assert _kept(owner) == [
        ("user", "My sourdough starter smells like nail polish remover", "2024-03-02T08:00:10+00:00", "msg-1"),
        ("assistant", "It is hungry: feed it twice a day for a few days.", "2024-03-02T08:00:20+00:00", "msg-2"),
    ]


def test_a_claude_code_folder_adds_only_what_the_hooks_did_not_keep(server, tmp_path):
    owner, email = new_user("claude-code-folder")
    key = new_key(owner)
    # The hooks already kept the first turn of session s-1 (same conversation id, same uuid).
    kept = httpx.post(
        server.url + "/api/v1/conversations/s-1/turns",
        json={"turns": [{"speaker": "user", "text": "Invoices must be numbered without gaps (legal)", "id": "u1"}]},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert kept.status_code == 200
    folder = claude_code_folder(tmp_path / "projects")
    said = _import(folder, email)
    assert "2 conversation turns." in said and "Already there: 1 conversation, 1 conversation turn." in said
    assert [(speaker, text) for speaker, text, _, _ in _kept(owner)] == [
        ("user", "Invoices must be numbered without gaps (legal)"),
        ("assistant", "I'll use a sequence per year."),
        ("user", "Notes are stored as plain markdown files"),
    ]
    with session_scope() as db:
        titles = dict(
            db.execute(
                select(ConversationSession.conversation_id, ConversationSession.title).where(
                    ConversationSession.owner_id == owner
                )
            ).all()
        )
    # A transcript's summary line names a new conversation; one already kept is left as it was.
    assert titles == {"s-1": None, "s-2": "Markdown notes app"}
    found = _search(server, key, "how should invoice numbers work")
    assert found[0]["text"] == "Invoices must be numbered without gaps (legal)"


def test_histories_that_are_not_what_they_claim_are_refused_with_the_reason(tmp_path):
    empty_zip = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty_zip, "w") as zipped:
        zipped.writestr("readme.txt", "hello")
    cases = {
        empty_zip: "no conversations.json and no Claude Code transcripts",
        tmp_path / "broken.json": "not JSON",
        tmp_path / "other.json": "not a ChatGPT or Claude.ai export",
    }
    (tmp_path / "broken.json").write_text("[{")
    (tmp_path / "other.json").write_text(json.dumps([{"name": "x"}]))
    for path, reason in cases.items():
        with path.open("rb") as file, pytest.raises(FileRejected) as refused:
            importer.read_upload(file)
        assert reason in str(refused.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileRejected, match=r"no Claude Code transcripts \(\*\.jsonl\)"):
        importer.read_folder(empty)


def test_a_message_longer_than_a_turn_becomes_several_and_nothing_is_lost():
    long_text = "word " * 9_000  # 45,000 characters
    export = chatgpt_export()[1]
    export["mapping"]["g2"]["message"]["content"]["parts"] = [long_text]
    parsed = history.from_export([export])
    pieces = [record.fields for record in parsed.of("turn") if record.fields.get("key", "").startswith("g2")]
    assert [piece["key"] for piece in pieces] == ["g2", "g2#2", "g2#3"]
    assert " ".join(piece["text"] for piece in pieces) == long_text.strip()  # cut between words


def test_a_transcript_without_a_summary_is_named_for_its_project(tmp_path):
    transcript = claude_code_folder(tmp_path) / "-home-dev-billing" / "s-1.jsonl"
    with transcript.open("rb") as lines:
        parsed = history.from_transcripts([history.json_lines(lines)])
    assert [record.fields["title"] for record in parsed.of("session")] == ["Claude Code in billing"]
