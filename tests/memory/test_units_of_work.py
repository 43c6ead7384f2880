"""One owner for each transaction: services write into the caller's unit of
work and never commit; what must happen after the commit (embedding, cache
eviction) is an explicit second step that a rollback cancels."""

from __future__ import annotations

from sqlalchemy import func, select

from identity import api_keys
from identity.api_keys import VerifiedKey, VerifiedKeyCache
from memory import item_types, knowledge, observations
from models import Embedding
from oauth_models import APIKey
from tests.support import TEST_DATABASE, new_key, new_user, session_scope, user_with_key


def test_services_leave_the_transaction_to_their_caller():
    owner, _ = new_user("uow")
    with TEST_DATABASE.sessions() as session:
        observations.store_observation(session, owner_id=owner, observation="Rolled back with its caller")
        knowledge.store_concept(session, owner_id=owner, name="Ephemeral", concept_type="idea")
        knowledge.store_document(session, owner_id=owner, title="Draft", doc_type="note", content_summary="gone")
        knowledge.update_pattern(session, owner_id=owner, category="c", pattern_name="p", pattern_text="t")
        session.rollback()
    with session_scope() as session:
        for model in (*item_types.ITEM_MODELS.values(), Embedding):
            assert session.execute(select(func.count()).where(model.owner_id == owner)).scalar_one() == 0


def test_a_revoked_key_leaves_the_cache_only_when_the_revocation_commits():
    owner, raw = user_with_key("evict")
    with session_scope() as session:
        key = session.scalars(select(APIKey).where(APIKey.user_id == owner)).one()
        cached = VerifiedKey(key_id=key.id, user_id=owner, email="e", scopes=frozenset(), expires_at=None)
    cache = VerifiedKeyCache()
    cache.put(api_keys.fingerprint(raw), cached)
    with TEST_DATABASE.sessions() as session:
        assert api_keys.revoke_key(session, user_id=owner, key_id=key.id, cache=cache)
        assert cache.get(api_keys.fingerprint(raw)) is not None  # not yet committed
        session.rollback()
    assert cache.get(api_keys.fingerprint(raw)) is not None
    with session_scope() as session:
        api_keys.revoke_key(session, user_id=owner, key_id=key.id, cache=cache)
    assert cache.get(api_keys.fingerprint(raw)) is None
    assert new_key(owner)  # the account itself is untouched
