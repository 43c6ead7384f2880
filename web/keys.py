"""API keys over HTTP (create, list, revoke) and the desktop client's
exchange of its static credentials for a key."""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from core import audit
from core.principal import MEMORY_SCOPES
from identity import accounts, api_keys
from web.dependencies import (
    DB,
    AccountManager,
    auth_state_of,
    client_ip,
    id_or_404,
    key_creation_refusal,
    settings_of,
)
from web.pages import NO_STORE

router = APIRouter()

CLIENT_KEY_LIFETIME = timedelta(days=90)
CLIENT_NOT_CONFIGURED = "Client-credential exchange is not configured on this server."
BAD_CLIENT_CREDENTIALS = "Invalid client credentials."
TOO_MANY_ATTEMPTS = "Too many failed attempts. Try again later."


class ClientCredentials(BaseModel):
    client_id: Annotated[str, Field(min_length=1, max_length=200)]
    client_secret: Annotated[str, Field(min_length=1, max_length=500)]


@router.post("/client")
def exchange_client_credentials(request: Request, body: ClientCredentials, db: DB) -> JSONResponse:
    settings = settings_of(request)
    if not settings.desktop_client_id or not settings.desktop_client_secret:
        raise HTTPException(status_code=404, detail=CLIENT_NOT_CONFIGURED)
    state = auth_state_of(request)
    # Requests and failures count per address only: a count per client id,
    # which anyone can send, would let strangers lock the real client out.
    throttle_key = f"client:{client_ip(request)}"
    wait = state.client_credentials_rate.hit(f"addr:{client_ip(request)}")
    wait = wait or state.throttle.retry_after(throttle_key)
    if wait is not None:
        raise HTTPException(status_code=429, detail=TOO_MANY_ATTEMPTS, headers={"Retry-After": str(math.ceil(wait))})
    id_ok = secrets.compare_digest(body.client_id.encode(), settings.desktop_client_id.encode())
    secret_ok = secrets.compare_digest(body.client_secret.encode(), settings.desktop_client_secret.encode())
    if not (id_ok and secret_ok):
        state.throttle.record_failure(throttle_key)
        raise HTTPException(status_code=401, detail=BAD_CLIENT_CREDENTIALS)
    user = accounts.upsert_user(
        db,
        provider=accounts.CLIENT_CREDENTIALS_PROVIDER,
        subject=body.client_id,
        email=f"{body.client_id}@client.memorygate.internal",
        name=body.client_id,
    )
    expires_at = datetime.now(UTC) + CLIENT_KEY_LIFETIME
    audit.record(db, audit.CLIENT_CREDENTIALS_USED, actor=user.id, targets={"client_id": body.client_id})
    key, raw = api_keys.create_key(
        db,
        user_id=user.id,
        name=f"client:{body.client_id}",
        expires_at=expires_at,
        bcrypt_rounds=settings.bcrypt_rounds,
    )
    return JSONResponse(
        {"api_key": raw, "key_prefix": key.key_prefix, "user_id": str(user.id), "expires_at": expires_at.isoformat()},
        headers=NO_STORE,
    )


class NewAPIKey(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    expires_in_days: Annotated[int | None, Field(ge=1, le=3650)] = None
    scopes: list[Literal["memory:read", "memory:write", "memory:forget", "account:manage"]] | None = Field(
        None, description="Default: the memory rights (read, write, forget) its creator holds."
    )


@router.post("/api-keys", status_code=201)
def create_api_key(
    request: Request,
    body: NewAPIKey,
    user: AccountManager,
    db: DB,
) -> JSONResponse:
    held = request.state.caller.scopes
    asked = [str(scope) for scope in body.scopes] if body.scopes else [s for s in MEMORY_SCOPES if s in held]
    scopes = tuple(dict.fromkeys(asked))
    # A key may only mint keys with scopes it holds itself (no escalation).
    if not scopes or not set(scopes) <= held:
        raise HTTPException(status_code=403, detail="scopes: a key cannot grant scopes its creator lacks")
    refusal = key_creation_refusal(request, db, user.id)
    if refusal is not None:
        status, reason, wait = refusal
        headers = {"Retry-After": str(math.ceil(wait))} if wait else None
        raise HTTPException(status_code=status, detail=reason, headers=headers)
    expires_at = datetime.now(UTC) + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    # Nor reach spaces it does not: a key minted by a key limited to some spaces is limited to them.
    reached = request.state.caller.space_ids
    key, raw = api_keys.create_key(
        db,
        user_id=user.id,
        name=body.name.strip() or "key",
        expires_at=expires_at,
        scopes=scopes,
        space_ids=None if reached is None else sorted(reached),
        space_scopes=_held_per_space(request.state.caller.space_scopes),
        bcrypt_rounds=settings_of(request).bcrypt_rounds,
    )
    return JSONResponse({"api_key": raw, **api_keys.key_view(key)}, status_code=201, headers=NO_STORE)


def _held_per_space(held: Mapping[str, frozenset[str]] | None) -> dict[str, list[str]] | None:
    """A minting key's rights per space, handed on as they are (never more)."""
    return None if held is None else {space: sorted(scopes) for space, scopes in held.items()}


@router.get("/api-keys")
def list_api_keys(user: AccountManager, db: DB) -> dict[str, Any]:
    return {"api_keys": [api_keys.key_view(key) for key in api_keys.list_keys(db, user_id=user.id)]}


@router.delete("/api-keys/{key_id}")
def revoke_api_key(
    request: Request,
    key_id: str,
    user: AccountManager,
    db: DB,
) -> dict[str, Any]:
    parsed = id_or_404(key_id, "API key not found")
    if not api_keys.revoke_key(db, user_id=user.id, key_id=parsed, cache=auth_state_of(request).cache):
        raise HTTPException(status_code=404, detail="API key not found")
    return {"revoked": True, "id": key_id}
