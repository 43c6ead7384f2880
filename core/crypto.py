"""Digests and derived tokens: the one home of MemoryGate's secret arithmetic.

* ``sha256_hex``: every token, code, session and binding cookie is stored as
  its SHA-256 only (API keys, checked rarely, as bcrypt in identity.api_keys).
* ``form_token``: the one CSRF mechanism of every HTML form — an HMAC of the
  form's purpose keyed by a secret the browser holds in an HttpOnly cookie
  (its session, or the local sign-in's binding cookie). A page elsewhere can
  make the browser post, but cannot read the cookie to compute the token.
* ``derived_key``: a key for one purpose from such a secret (the sealed
  cookie that carries a new API key across a redirect).
"""

from __future__ import annotations

import hashlib
import hmac

FORM_TOKEN_CONTEXT = b"memorygate-form:"


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def form_token(secret: str, purpose: str) -> str:
    return hmac.new(secret.encode(), FORM_TOKEN_CONTEXT + purpose.encode(), hashlib.sha256).hexdigest()


def form_token_ok(secret: str, purpose: str, presented: object) -> bool:
    """Whether a posted form carries the token for ``purpose`` under ``secret`` (in constant time)."""
    return isinstance(presented, str) and hmac.compare_digest(form_token(secret, purpose).encode(), presented.encode())


def derived_key(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode(), b"memorygate-key:" + purpose.encode(), hashlib.sha256).digest()
