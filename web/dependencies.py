"""What every route shares, written once: the request's database session
(its unit of work) and the headers of answers that must not be stored."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session


def get_db(request: Request) -> Iterator[Session]:
    """One session per request, from the app's own database."""
    with request.app.state.database.session_scope() as session:
        yield session


# One database session per request, committed before the response is sent:
# FastAPI's default ("request" scope) would commit after sending, so a client
# could act on an answer whose write is not yet durable.
DB = Annotated[Session, Depends(get_db, scope="function")]

# Answers that carry a secret (a key, a token, a session) or a person's data.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
