"""Digests of secrets: every token, code, session and binding cookie is
stored as its SHA-256 only (API keys, which are guessable by nobody but
checked rarely, as bcrypt in identity.api_keys)."""

from __future__ import annotations

import hashlib


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
