"""The memory API over plain HTTP (/api/v1): the same credentials, scopes,
isolation and answers as the MCP tools, for apps and hooks without MCP."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from core.principal import READ_SCOPE
from tests.support import new_key, user_with_key


def _client(server, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=server.url + "/api/v1", headers=headers, timeout=30)


def test_store_search_read_brief_and_forget(server):
    _, key = user_with_key("api")
    with _client(server, key) as api:
        stored = api.post("/memories", json={"observation": "Grows tomatoes on the balcony", "domain": "home"})
        assert stored.status_code == 200, stored.text
        ref = stored.json()["ref"]
        assert stored.json() == {"stored": True, "id": int(ref.split(":")[1]), "ref": ref, "embedding": "indexed"}
        again = api.post("/memories", json={"observation": "grows tomatoes on the balcony"}).json()
        assert (again["stored"], again["duplicate_of"], again["seen_count"]) == (False, ref, 2)

        found = api.get("/search", params={"query": "what grows on the balcony"}).json()
        assert [hit["ref"] for hit in found["results"]] == [ref]
        assert found["results"][0]["text"] == "Grows tomatoes on the balcony"

        whole = api.get(f"/memories/{ref}").json()
        assert (whole["text"], whole["domain"], whole["seen_count"]) == ("Grows tomatoes on the balcony", "home", 2)

        brief = api.get("/brief", params={"topic": "balcony garden", "max_tokens": 200}).json()
        assert f"[{ref} ·" in brief["text"] and brief["tokens"] <= 200

        assert api.delete(f"/memories/{ref}").json() == {"deleted": True, "ref": ref}
        assert api.get(f"/memories/{ref}").status_code == 404


def test_another_account_sees_and_forgets_nothing_of_mine(server):
    _, mine = user_with_key("api-owner")
    _, theirs = user_with_key("api-other")
    with _client(server, mine) as api:
        ref = api.post("/memories", json={"observation": "The safe's code is in the blue notebook"}).json()["ref"]
        said = {"turns": [{"speaker": "me", "text": "The safe's code is 8812"}]}
        turn = api.post("/conversations/private-chat/turns", json=said).json()["appended"][0]
    with _client(server, theirs) as other:
        assert other.get("/conversations/private-chat/turns").status_code == 404
        assert other.delete("/conversations/private-chat").status_code == 404
        assert other.get(f"/memories/{turn}").status_code == 404
        assert other.get(f"/memories/{ref}").status_code == 404
        assert other.delete(f"/memories/{ref}").status_code == 404
        assert other.get("/search", params={"query": "safe code blue notebook"}).json()["results"] == []
        assert ref not in other.get("/brief", params={"topic": "safe code"}).json()["text"]
    with _client(server, mine) as api:
        assert api.get(f"/memories/{ref}").status_code == 200
        assert api.get("/conversations/private-chat/turns").json()["turns"][0]["ref"] == turn


def test_a_read_only_key_is_refused_a_write_with_the_scope_it_lacks(server):
    owner, _ = user_with_key("api-reader")
    with _client(server, new_key(owner, scopes=(READ_SCOPE,))) as api:
        refused = api.post("/memories", json={"observation": "Should not be kept"})
        assert refused.status_code == 403
        # What to ask the person for: what the key holds and what it lacks.
        challenge = 'Bearer error="insufficient_scope", scope="memory:read memory:write"'
        assert refused.headers["www-authenticate"] == challenge
        assert "lacks memory:write" in refused.json()["detail"]
        assert api.get("/search", params={"query": "should not be kept"}).json()["results"] == []


def test_no_credential_no_memory_and_bad_input_names_its_field(server):
    with _client(server, None) as anonymous:
        refused = anonymous.get("/search", params={"query": "anything"})
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    _, key = user_with_key("api-bad")
    with _client(server, key) as api:
        too_sure = api.post("/memories", json={"observation": "Too sure", "confidence": 1.5})
        assert too_sure.status_code == 422
        assert too_sure.json()["detail"][0]["loc"] == ["body", "confidence"]
        bad_time = api.post("/memories", json={"observation": "When?", "occurred_at": "last tuesday"})
        assert bad_time.status_code == 400 and bad_time.json()["detail"].startswith("Invalid occurred_at")
        someday = api.get("/brief", params={"since": "someday"})
        assert someday.status_code == 422 and someday.json()["detail"][0]["loc"][:2] == ["query", "since"]
        assert api.get("/search", params={"query": "too sure when"}).json()["results"] == []  # nothing was kept


def test_turns_appended_over_http_are_found_read_in_order_and_forgotten(server):
    owner, key = user_with_key("api-turns")
    turns = [
        {"speaker": "user", "text": "We are planning a trip to Kyoto in April", "id": "t1"},
        {"speaker": "assistant", "text": "Cherry blossom season, book early.", "id": "t2"},
        {"speaker": "user", "text": "My passport number is <private>X1234567</private> by the way", "id": "t3"},
    ]
    with _client(server, key) as api:
        appended = api.post("/conversations/session-9/turns", json={"turns": turns, "title": "Trip"})
        assert appended.status_code == 200, appended.text
        refs = appended.json()["appended"]
        assert len(refs) == 3 and appended.json()["embedding"] == "indexed"
        again = api.post("/conversations/session-9/turns", json={"turns": turns}).json()
        assert again["appended"] == [] and again["already_stored"] == 3

        found = api.get("/search", params={"query": "which city is the trip to"}).json()
        assert found["results"][0]["ref"] == refs[0] and found["results"][0]["conversation_id"] == "session-9"
        read = api.get("/conversations/session-9/turns", params={"limit": 10}).json()
        assert [t["text"] for t in read["turns"]][2] == "My passport number is  by the way"
        assert read["title"] == "Trip" and read["count"] == 3
        assert api.get(f"/memories/{refs[1]}").json()["neighbours"][0]["ref"] == refs[0]

        assert api.delete("/conversations/session-9").json() == {
            "forgotten": True,
            "conversation_id": "session-9",
            "turns": 3,
        }
        missing = api.get("/conversations/session-9/turns")
        assert missing.status_code == 404 and "session-9" in missing.json()["detail"]
        assert api.get(f"/memories/{refs[0]}").status_code == 404


def test_bad_turns_over_http_name_the_field_and_keep_nothing(server):
    owner, key = user_with_key("api-bad-turns")
    with _client(server, key) as api:
        bad_time = api.post(
            "/conversations/c/turns",
            json={"turns": [{"speaker": "u", "text": "ok"}, {"speaker": "u", "text": "x", "occurred_at": "soon"}]},
        )
        assert bad_time.status_code == 400 and bad_time.json()["detail"].startswith("Invalid turns[1].occurred_at")
        too_long = api.post("/conversations/c/turns", json={"turns": [{"speaker": "u", "text": "x" * 20_001}]})
        assert too_long.status_code == 422 and too_long.json()["detail"][0]["loc"] == ["body", "turns", 0, "text"]
        assert api.get("/conversations/c/turns").status_code == 404  # nothing was kept, not even the conversation
    with _client(server, new_key(owner, scopes=(READ_SCOPE,))) as reader:
        refused = reader.post("/conversations/c/turns", json={"turns": [{"speaker": "u", "text": "hi"}]})
        assert refused.status_code == 403 and 'scope="memory:read memory:write"' in refused.headers["www-authenticate"]


def test_appends_to_one_conversation_at_once_take_turns_and_lose_nothing(server):
    _, key = user_with_key("api-concurrent")

    def append(writer: int) -> list[int]:
        statuses = []
        with _client(server, key) as api:
            for call_number in range(5):
                said = [
                    {"speaker": f"w{writer}", "text": f"writer {writer} call {call_number} part {p}"} for p in range(3)
                ]
                statuses.append(api.post("/conversations/busy/turns", json={"turns": said}).status_code)
        return statuses

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = [status for result in pool.map(append, range(4)) for status in result]
    assert statuses == [200] * 20
    with _client(server, key) as api:
        kept = api.get("/conversations/busy/turns", params={"limit": 100}).json()["turns"]
    assert [turn["position"] for turn in kept] == list(range(60))
    # Each call's turns stay together and in order.
    for start in range(0, 60, 3):
        texts = [turn["text"] for turn in kept[start : start + 3]]
        assert [text.rsplit(" ", 1)[1] for text in texts] == ["0", "1", "2"]
        assert len({text.rsplit(" part", 1)[0] for text in texts}) == 1
