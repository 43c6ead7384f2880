"""Export and import from the command line: round trip, idempotence, bad files, the reference server's memory.jsonl."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from jsonschema import Draft202012Validator
from sqlalchemy import func, select

from models import AuditEvent, Concept, ConceptRelationship, Observation
from server import create_app
from tests.support import (
    ROOT,
    call,
    mcp_client,
    new_key,
    new_user,
    run_cli,
    serve,
    session_scope,
    subprocess_env,
    traces_of,
)


def _env() -> dict[str, str]:
    return subprocess_env(DATABASE_URL=os.environ["MEMORYGATE_TEST_DATABASE_URL"])


async def fill(server_url: str, key: str) -> None:
    """One of everything an export carries: versions, archive, time, aliases, relationships, evidence."""
    async with mcp_client(server_url, key) as client:
        await call(
            client,
            "memory_init_session",
            conversation_id="c1",
            title="Planning",
            ai_name="Claude",
            ai_platform="desktop",
        )
        lisbon = await call(client, "memory_store", observation="The user lives in Lisbon", conversation_id="c1")
        said = await call(
            client,
            "memory_append_turns",
            conversation_id="c1",
            turns=[
                {"speaker": "user", "text": "I live in Lisbon", "occurred_at": "2026-01-02T10:00:00Z", "id": "u1"},
                {"speaker": "assistant", "text": "Noted: Lisbon.", "occurred_at": "2026-01-02T10:00:05Z"},
                {"speaker": "user", "text": "Actually I moved to Porto", "id": "u2"},
            ],
        )
        await call(client, "memory_archive", refs=[said["appended"][1]])
        await call(
            client,
            "memory_store",
            observation="The user moved to Porto",
            supersedes=lisbon["ref"],
            occurred_at="2026-03-01",
        )
        dark = await call(client, "memory_store", observation="Prefers dark mode", confidence=0.6, evidence=["said so"])
        await call(client, "memory_store", observation="prefers dark mode", evidence=["again"])  # strengthens
        cold = await call(client, "memory_store", observation="Played chess in 2020", domain="hobbies")
        await call(client, "memory_archive", refs=[cold["ref"]])
        await call(client, "memory_search", query="chess", archived="include")  # access counts
        await call(client, "memory_store_concept", name="Garden", concept_type="project", metadata={"size": "small"})
        await call(client, "memory_store_concept", name="Shed", concept_type="thing", description="wooden")
        await call(client, "memory_add_concept_alias", concept_name="Garden", alias="Yard")
        await call(
            client,
            "memory_add_concept_relationship",
            from_concept="Shed",
            to_concept="Garden",
            rel_type="part_of",
            weight=0.9,
        )
        await call(
            client,
            "memory_update_pattern",
            category="habits",
            pattern_name="evening work",
            pattern_text="Works late",
            evidence_observation_ids=[int(dark["ref"].split(":")[1])],
        )
        await call(
            client,
            "memory_update_pattern",
            category="habits",
            pattern_name="evening work",
            pattern_text="Works at night",
        )
        await call(
            client,
            "memory_store_document",
            title="Paper",
            doc_type="article",
            content_summary="About gardens",
            key_concepts=["garden"],
            publication_date="2025-05-01",
            url="https://example.com/paper",
        )


def renumbered(lines: list[str]) -> list[dict]:
    """The records of an export with every id replaced by its position, so two
    accounts' files compare on content ("ids aside")."""
    records = [json.loads(line) for line in lines[1:]]
    positions: dict[tuple[str, int], int] = {}
    for record in records:
        if "id" in record:
            positions[(record["kind"], record["id"])] = len([k for k in positions if k[0] == record["kind"]])
    targets = {
        "ai_instance": "ai_instance",
        "session": "session",
        "from": "concept",
        "to": "concept",
    }
    for record in records:
        if "id" in record:
            record["id"] = positions[(record["kind"], record["id"])]
        for name, kind in {**targets, "supersedes": record["kind"]}.items():
            if name in record:
                record[name] = positions[(kind, record[name])]
        if "evidence_observations" in record:
            record["evidence_observations"] = [positions[("observation", i)] for i in record["evidence_observations"]]
    return records


def _export(email: str, path: Path) -> list[str]:
    done = run_cli("export", "--email", email, "--output", str(path), env=_env())
    assert done.returncode == 0, done.stderr
    assert "Exporting: 100%" in done.stderr
    return path.read_text().splitlines()


def _rows(owner) -> int:
    return sum(traces_of(owner).get(table, 0) for table in ("observations", "concepts", "patterns", "documents"))


async def test_export_then_import_into_a_fresh_account_gives_the_same_export(server, tmp_path):
    source, source_email = new_user("source")
    await fill(server.url, new_key(source))
    exported = _export(source_email, tmp_path / "memory.jsonl")
    # Every line keeps to the schema published in the docs (read as a reader of the format would).
    published = Draft202012Validator(json.loads((ROOT / "docs" / "export-schema.json").read_text()))
    for line in exported:
        published.validate(json.loads(line))
    header = json.loads(exported[0])
    assert header["format"] == "memorygate" and header["version"] == 1
    assert header["counts"] == {
        "ai_instance": 1,
        "session": 1,
        "concept": 2,
        "relationship": 1,
        "observation": 4,
        "pattern": 2,
        "document": 1,
        "turn": 3,
    }

    target, target_email = new_user("target")
    imported = run_cli("import", str(tmp_path / "memory.jsonl"), "--email", target_email, env=_env())
    assert imported.returncode == 0, imported.stderr
    assert "Importing: 100%" in imported.stderr
    assert (
        "This file added 1 AI instance, 1 conversation, 2 concepts, 1 alias, 1 relationship, 4 observations, "
        "2 patterns, 1 document, 3 conversation turns." in imported.stderr
    )

    again = _export(target_email, tmp_path / "again.jsonl")
    assert renumbered(again) == renumbered(exported)

    twice = run_cli("import", str(tmp_path / "memory.jsonl"), "--email", target_email, env=_env())
    assert twice.returncode == 0 and "This file adds nothing new." in twice.stderr
    assert renumbered(_export(target_email, tmp_path / "third.jsonl")) == renumbered(exported)
    with session_scope() as db:
        events = db.scalars(select(AuditEvent.event).where(AuditEvent.actor_user_id == target)).all()
        versions = db.execute(
            select(Observation.observation, Observation.superseded_by_id.is_not(None)).where(
                Observation.owner_id == target
            )
        ).all()
    assert events.count("memory_imported") == 1 and "memory_exported" in events
    assert ("The user lives in Lisbon", True) in versions and ("The user moved to Porto", False) in versions


async def test_a_file_with_mistakes_names_each_line_and_field_and_adds_nothing(tmp_path):
    owner, email = new_user()
    lines = [
        {"format": "memorygate", "version": 1},
        {
            "kind": "observation",
            "id": 1,
            "observation": "Fine",
            "confidence": 0.5,
            "created_at": "2026-01-01T00:00:00Z",
        },
        {"kind": "observation", "id": 2, "observation": "Too sure", "confidence": 1.5},
        {"kind": "observation", "id": 3, "observation": "Odd", "confidence": 0.5, "colour": "red"},
        {"kind": "observation", "id": 4, "observation": "Orphan", "confidence": 0.5, "supersedes": 99},
        {"kind": "memo", "text": "?"},
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n{not json\n")
    refused = run_cli("import", str(path), "--email", email, env=_env())
    assert refused.returncode == 1
    assert "line 7: not JSON" in refused.stderr  # decoding stops at the first line that is not JSON
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    refused = run_cli("import", str(path), "--email", email, env=_env())
    assert refused.returncode == 1 and "nothing was added" in refused.stderr
    assert "line 3: observation.confidence must be between 0 and 1 (got 1.5)" in refused.stderr
    assert "line 4: observation.colour is not a field of this kind" in refused.stderr
    assert "line 5: observation.supersedes names observation 99, not in the file" in refused.stderr
    assert "line 6: kind must be one of ai_instance, session, concept" in refused.stderr
    assert _rows(owner) == 0

    path.write_text(json.dumps({"format": "memorygate", "version": 2}) + "\n")
    newer = run_cli("import", str(path), "--email", email, env=_env())
    assert "line 1: version must be a version this server reads (1 to 1; got 2)" in newer.stderr
    unknown = run_cli("import", str(path), "--email", "nobody@example.com", env=_env())
    assert unknown.returncode == 1


async def test_the_reference_memory_servers_file_moves_in_with_one_command(server, tmp_path):
    owner, email = new_user()
    graph = [
        {
            "type": "entity",
            "name": "John_Smith",
            "entityType": "person",
            "observations": ["Speaks fluent Spanish", "Graduated in 2019"],
        },
        {"type": "entity", "name": "Anthropic", "entityType": "organization", "observations": []},
        {"type": "relation", "from": "John_Smith", "to": "Anthropic", "relationType": "works_at"},
        {"type": "relation", "from": "John_Smith", "to": "Nobody", "relationType": "knows"},
    ]
    path = tmp_path / "memory.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in graph) + "\n")
    preview = run_cli("import", str(path), "--email", email, "--dry-run", env=_env())
    assert preview.returncode == 0
    assert "This file would add 2 concepts, 1 relationship, 2 observations." in preview.stderr
    assert "Left out: 1 relations to an entity not in the file." in preview.stderr
    assert _rows(owner) == 0

    first = run_cli("import", str(path), "--email", email, env=_env())
    assert first.returncode == 0
    assert "This file added 2 concepts, 1 relationship, 2 observations. Left out: 1 relations" in first.stderr
    assert "adds nothing new" in run_cli("import", str(path), "--email", email, env=_env()).stderr
    with session_scope() as db:
        concepts = dict(db.execute(select(Concept.name, Concept.type).where(Concept.owner_id == owner)).all())
        edge = db.execute(
            select(ConceptRelationship.rel_type, ConceptRelationship.description).where(
                ConceptRelationship.owner_id == owner
            )
        ).one()
        count = db.execute(select(func.count()).where(Observation.owner_id == owner)).scalar_one()
    assert concepts == {"John_Smith": "person", "Anthropic": "organization"}
    assert tuple(edge) == ("related_to", "works_at") and count == 2
    async with mcp_client(server.url, new_key(owner)) as client:
        found = await call(client, "memory_search", query="fluent Spanish")
        assert found["results"][0]["text"] == "John_Smith: Speaks fluent Spanish"
        # A relation is a statement search finds, not only an edge the concept tools walk.
        employer = await call(client, "memory_search", query="which company employs John Smith?")
        top = employer["results"][0]
        assert top["ref"].startswith("concept:") and top["statements"] == ["John_Smith works at Anthropic"]


async def test_a_running_server_embeds_what_the_command_line_imported(tmp_path):
    """The import leaves vectors to the background pass, which a finished
    import (from any process) starts at once rather than at its next full pass."""
    with serve(create_app, embedding_backfill_interval_seconds=0.1) as served:
        for _ in range(200):  # a bounded wait for the pass every start makes
            if served.app.state.backfill.passes:
                break
            await asyncio.sleep(0.05)
        owner, email = new_user()
        path = tmp_path / "memory.jsonl"
        lines = [
            {"format": "memorygate", "version": 1},
            {"kind": "observation", "id": 1, "observation": "Rows a racing shell at dawn", "confidence": 0.8},
        ]
        path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
        assert run_cli("import", str(path), "--email", email, env=_env()).returncode == 0
        async with mcp_client(served.url, new_key(owner)) as client:
            for _ in range(200):
                if (await call(client, "memory_stats"))["embedding"]["pending"] == 0:
                    break
                await asyncio.sleep(0.05)
            found = await call(client, "memory_search", query="morning boat sport")  # no shared word
            assert found["results"][0]["text"] == "Rows a racing shell at dawn"
