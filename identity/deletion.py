"""Leaving: deleting an account and everything in it.

The user row goes in one transaction, and with it (ON DELETE CASCADE) every
memory, vector, AI instance and conversation, API key, browser session and
OAuth grant with its codes and tokens; client registrations only this account
ever used go too. The audit trail keeps one record that the account was
deleted — its id, by whom ("self" or "operator") and how much it held — never
its e-mail or any content; the account's earlier events stay, without actor.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core import audit
from identity import oauth_records as records
from memory import spaces
from models import Concept, Document, Observation, Pattern, Space, Turn
from oauth_models import APIKey, OAuthGrant, User

COUNTED: dict[str, type[Observation | Pattern | Concept | Document | Turn]] = {
    "observations": Observation,
    "patterns": Pattern,
    "concepts": Concept,
    "documents": Document,
    "turns": Turn,
}


def delete_account(db: Session, user_id: uuid.UUID, *, by: str) -> dict[str, int]:
    """Delete the account (its spaces and their memories with it); returns what it held, by kind."""
    its_spaces = select(Space.id).where(Space.owner_user_id == user_id)
    held = {
        name: db.execute(select(func.count()).where(model.owner_id.in_(its_spaces))).scalar_one()
        for name, model in COUNTED.items()
    }
    held["spaces"] = db.execute(select(func.count()).select_from(its_spaces.subquery())).scalar_one()
    held["api_keys"] = db.execute(select(func.count()).where(APIKey.user_id == user_id)).scalar_one()
    held["oauth_grants"] = db.execute(select(func.count()).where(OAuthGrant.user_id == user_id)).scalar_one()
    held["client_registrations"] = records.forget_clients_of(db, user_id)
    # Its spaces go with it: their members are told. What it stored in others' spaces stays there.
    spaces.tell_members_it_is_gone(db, list(db.scalars(its_spaces)))
    db.execute(delete(User).where(User.id == user_id))
    audit.record(db, audit.ACCOUNT_DELETED, targets={"account": str(user_id), "by": by, **held})
    return held
