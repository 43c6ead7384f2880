"""What importing a history costs: a ChatGPT export of 10,000 turns, embedding included.

    python bench/history_import.py               # 10,000 turns
    python bench/history_import.py --turns 2000

Builds a ChatGPT ``conversations.json`` (the public format, in a .zip as
ChatGPT sends it) from LoCoMo's dialogue (../shared/data/locomo-dev.json):
its sessions as conversations, their turns repeated with fresh ids until
there are ``--turns``. Then imports it into a fresh account exactly as
``python server.py import`` does (read and checked, added in one
transaction, then every turn embedded with the bundled model before the job
says done) and prints each phase's time and turns per second; then imports
it again (adds nothing) and deletes the account. Kept in bench/.data.
"""

from __future__ import annotations

import argparse
import io
import json
import time
import uuid
import zipfile
from typing import Any

from common import DATABASE, database_url, machine
from recall_quality import DATA, sessions_of

from core import db
from identity import accounts, deletion
from memory.embeddings import LocalEmbeddings
from portability import importer, jobs

BASE_TIME = 1_700_000_000.0


def chatgpt_export(turns_wanted: int) -> bytes:
    """A ChatGPT export of about ``turns_wanted`` turns, zipped."""
    dialogue = [turn for c in json.loads(DATA.read_text()) for _, _, turns in sessions_of(c) for turn in turns]
    conversations, made, round_ = [], 0, 0
    while made < turns_wanted:
        round_ += 1
        for start in range(0, len(dialogue), 40):
            if made >= turns_wanted:
                break
            chunk = dialogue[start : start + 40][: turns_wanted - made]
            conversations.append(_conversation(f"{round_}-{start}", chunk, made))
            made += len(chunk)
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conversations.json", json.dumps(conversations))
    return packed.getvalue()


def _conversation(name: str, turns: list[dict], offset: int) -> dict:
    mapping: dict[str, dict[str, Any]] = {"root": {"id": "root", "message": None, "parent": None, "children": []}}
    parent = "root"
    for number, turn in enumerate(turns):
        node = f"{name}-{number}"
        role = "user" if number % 2 == 0 else "assistant"
        mapping[node] = {
            "id": node,
            "parent": parent,
            "children": [],
            "message": {
                "id": node,
                "author": {"role": role},
                "create_time": BASE_TIME + (offset + number) * 60,
                "content": {"content_type": "text", "parts": [turn["text"]]},
                "metadata": {},
            },
        }
        mapping[parent]["children"].append(node)
        parent = node
    return {
        "title": f"LoCoMo {name}",
        "create_time": BASE_TIME + offset * 60,
        "conversation_id": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
        "current_node": parent,
        "mapping": mapping,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=10_000)
    args = parser.parse_args()
    export = chatgpt_export(args.turns)
    url, embedded = database_url(None)
    embedder = LocalEmbeddings()
    try:
        DATABASE.connect(url)
        db.init_db(DATABASE.engine)
        with DATABASE.session_scope() as session:
            owner = accounts.user_for_email(session, f"bench-history-{uuid.uuid4().hex[:8]}@memorygate.internal").id
        try:
            started = time.perf_counter()
            parsed = importer.read_upload(io.BytesIO(export))
            read_seconds = time.perf_counter() - started
            records_in: list[float] = []  # when the records' progress last moved: they are in

            def records(done: int, total: int) -> None:
                records_in[:] = [time.perf_counter()]

            with DATABASE.session_scope() as session:
                job_id, attempt = jobs.begin(session, owner_id=owner, file_name="chatgpt.zip", parsed=parsed)
            started = time.perf_counter()
            outcome = jobs.execute(DATABASE, job_id, attempt, parsed=parsed, embedder=embedder, progress=records)
            import_seconds = time.perf_counter() - started
            insert_seconds = records_in[0] - started
            turns = outcome.added["turn"]
            again_started = time.perf_counter()
            with DATABASE.session_scope() as session:
                again = importer.plan(session, owner_id=owner, parsed=parsed)
            again_seconds = time.perf_counter() - again_started
        finally:
            with DATABASE.session_scope() as session:
                deletion.delete_account(session, owner, by="operator")
    finally:
        embedder.close()
        DATABASE.dispose()
        if embedded is not None:
            embedded.stop()
    print(f"\nmachine: {machine()}")
    print(f"ChatGPT export: {len(export) / 1e6:.1f} MB zipped, {importer.counted(outcome.added)}")
    print(f"  read and check:      {read_seconds:6.1f} s")
    print(f"  records added:       {insert_seconds:6.1f} s")
    print(f"  embedded:            {import_seconds - insert_seconds:6.1f} s")
    print(
        f"  import, all of it:   {import_seconds:6.1f} s  ({turns / import_seconds:,.0f} turns/s, embedding included)"
    )
    print(f"  again (preview):     {again_seconds:6.1f} s  (adds {importer.counted(again.added) or 'nothing'})")


if __name__ == "__main__":
    main()
