"""possible_conflicts on store: the current observation a new one may replace,
listed so the agent can supersede it in one more call; nothing retired on its own."""

from __future__ import annotations

from memory import conflicts
from tests.support import call, call_error, new_user, tool_client


async def test_an_update_lists_the_fact_it_may_replace_and_one_more_call_supersedes_it(local_embedder):
    owner, _ = new_user()
    async with tool_client(owner, embedder=local_embedder) as client:
        porto = await call(client, "memory_store", observation="Ann lives in Porto.")
        coffee = await call(client, "memory_store", observation="Ann drinks coffee every morning.")
        berlin = await call(client, "memory_store", observation="Ben lives in Berlin.")

        moved = await call(client, "memory_store", observation="Ann moved to Lisbon in March.")
        assert moved["stored"] and moved["embedding"] == "indexed"
        assert moved["possible_conflicts"] == [{"ref": porto["ref"], "text": "Ann lives in Porto."}]
        current = {row["ref"] for row in (await call(client, "memory_recall"))["observations"]}
        assert {porto["ref"], coffee["ref"], berlin["ref"], moved["ref"]} == current  # nothing retired on its own

        confirmed = await call(
            client, "memory_store", observation="Ann moved to Lisbon in March.", supersedes=porto["ref"]
        )
        assert confirmed == {
            "stored": False,
            "duplicate_of": moved["ref"],
            "seen_count": 1,
            "supersedes": porto["ref"],
        }
        current = {row["ref"] for row in (await call(client, "memory_recall"))["observations"]}
        assert current == {coffee["ref"], berlin["ref"], moved["ref"]}  # no second copy
        old = await call(client, "memory_get", ref=porto["ref"])
        assert old["superseded_by"] == moved["ref"] and "valid_until" in old
        assert (await call(client, "memory_get", ref=moved["ref"]))["supersedes"] == porto["ref"]
        found = await call(client, "memory_search", query="where does Ann live?")
        assert found["results"][0]["ref"] == moved["ref"]
        assert porto["ref"] not in {hit["ref"] for hit in found["results"]}


async def test_an_addition_or_another_subjects_change_lists_nothing_of_theirs(local_embedder):
    owner, _ = new_user()
    async with tool_client(owner, embedder=local_embedder) as client:
        porto = await call(client, "memory_store", observation="Ann lives in Porto.")
        await call(client, "memory_store", observation="Ann drinks coffee every morning.")
        berlin = await call(client, "memory_store", observation="Ben lives in Berlin.")

        added = await call(client, "memory_store", observation="Ann started running 5 km on Sundays.")
        assert added["stored"] and "possible_conflicts" not in added
        bens = await call(client, "memory_store", observation="Ben moved to Munich.")
        assert bens["possible_conflicts"] == [{"ref": berlin["ref"], "text": "Ben lives in Berlin."}]
        pauls = await call(client, "memory_store", observation="Paul relocated to Lisbon for work.")
        assert "possible_conflicts" not in pauls  # no one else's home is Paul's
        assert porto["ref"] not in str(pauls)


async def test_a_concepts_alias_is_the_same_subject(local_embedder):
    with_alias, _ = new_user()
    async with tool_client(with_alias, embedder=local_embedder) as client:
        await call(client, "memory_store_concept", name="Robert", concept_type="person")
        await call(client, "memory_add_concept_alias", concept_name="Robert", alias="Bob")
        leeds = await call(client, "memory_store", observation="Robert lives in Leeds.")
        moved = await call(client, "memory_store", observation="Bob moved to York last year.")
        assert moved["possible_conflicts"] == [{"ref": leeds["ref"], "text": "Robert lives in Leeds."}]
    without, _ = new_user()
    async with tool_client(without, embedder=local_embedder) as client:
        await call(client, "memory_store", observation="Robert lives in Leeds.")
        moved = await call(client, "memory_store", observation="Bob moved to York last year.")
        assert "possible_conflicts" not in moved  # two names, nothing says they are one person


async def test_only_the_callers_own_memories_are_candidates(local_embedder):
    someone, _ = new_user()
    async with tool_client(someone, embedder=local_embedder) as client:
        await call(client, "memory_store", observation="The user lives in Porto.")
    caller, _ = new_user()
    async with tool_client(caller, embedder=local_embedder) as client:
        moved = await call(client, "memory_store", observation="The user moved to Lisbon.")
        assert moved["stored"] and "possible_conflicts" not in moved


async def test_superseded_or_archived_memories_are_not_candidates(local_embedder):
    owner, _ = new_user()
    async with tool_client(owner, embedder=local_embedder) as client:
        first = await call(client, "memory_store", observation="The user writes Python with VS Code.")
        second = await call(
            client, "memory_store", observation="The user writes Python with PyCharm.", supersedes=first["ref"]
        )
        assert "possible_conflicts" not in second  # the one it replaces is not listed
        await call(client, "memory_archive", refs=[second["ref"]])
        third = await call(client, "memory_store", observation="The user switched to Neovim for Python.")
        assert third["stored"] and "possible_conflicts" not in third


async def test_supersedes_naming_an_observation_that_already_replaces_another_is_refused(local_embedder):
    owner, _ = new_user()
    async with tool_client(owner, embedder=local_embedder) as client:
        one = await call(client, "memory_store", observation="Tea at breakfast.")
        two = await call(client, "memory_store", observation="Coffee at breakfast.", supersedes=one["ref"])
        other = await call(client, "memory_store", observation="Juice at lunch.")
        error = await call_error(client, "memory_store", observation="Coffee at breakfast.", supersedes=other["ref"])
        assert error.startswith("Invalid supersedes:") and two["ref"] in error
        assert (await call(client, "memory_get", ref=other["ref"])).get("superseded_by") is None


def test_a_subject_is_the_name_a_text_opens_with_among_its_names():
    Subject = conflicts.Subject
    assert Subject.of("Ann's sister Rita is visiting.", {}) == Subject("ann", frozenset({"ann", "rita"}))
    assert Subject.of("The user moved to New York.", {}) == Subject("@user", frozenset({"@user", "new", "york"}))
    assert Subject.of("Bob moved.", {"bob": 7}) == Subject("concept:7", frozenset({"concept:7"}))
    assert Subject.of("The wedding moved to Porto.", {}).lead is None
    ann, paul = Subject.of("Ann lives in Porto.", {}), Subject.of("Paul moved to Porto.", {})
    assert not paul.same_as(ann)  # a place in common is not a subject in common
    contact = Subject.of("Acme's main contact is Paula Reyes.", {})
    assert Subject.of("Paula Reyes left Acme.", {}).same_as(contact)  # each names the other's subject
    assert Subject.of("Stand-up moved to 10:00.", {}).same_as(Subject.of("The team holds stand-up at 9:30.", {}))
