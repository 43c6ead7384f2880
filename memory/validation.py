"""Input checks and payload caps for memory operations.

Each check raises ``InvalidInput`` naming the argument, before anything is
written. The caps are documented in the README ("Limits").
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Any

from core.errors import InvalidInput

MAX_OBSERVATION_CHARS = 10_000
MAX_PATTERN_TEXT_CHARS = 10_000
MAX_DESCRIPTION_CHARS = 10_000
MAX_DOCUMENT_SUMMARY_CHARS = 50_000
MAX_QUERY_CHARS = 2_000
MAX_NAME_CHARS = 200
MAX_TITLE_CHARS = 500
MAX_URL_CHARS = 2_000
MAX_LIST_ITEMS = 100
MAX_JSON_BYTES = 16_384
MAX_LIMIT = 100
MAX_OFFSET = 1_000_000  # paging deeper than this is a search's job

SOURCE_TYPES = ("observation", "pattern", "concept", "document", "turn")
# Times PostgreSQL stores can run past what Python reads back (year 10000 in
# UTC); a day's margin inside Python's range keeps every zone readable.
EARLIEST_MOMENT = datetime(1, 1, 2, tzinfo=UTC)
LATEST_MOMENT = datetime(9999, 12, 30, tzinfo=UTC)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # JSON can spell them; UTF-8 and PostgreSQL cannot


def text(field: str, value: Any, *, max_chars: int, required: bool = True) -> str | None:
    if value is None:
        if required:
            raise InvalidInput(field, "is required")
        return None
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a string")
    stripped = value.strip()
    if not stripped:
        if required:
            raise InvalidInput(field, "must not be empty")
        return None
    if "\x00" in stripped:
        raise InvalidInput(field, "must not contain NUL characters")
    if not stripped.isascii() and _LONE_SURROGATE.search(stripped):
        raise InvalidInput(field, "must be valid Unicode text (it holds a lone surrogate)")
    if len(stripped) > max_chars:
        raise InvalidInput(field, f"is {len(stripped)} characters; the limit is {max_chars}")
    return stripped


def required_text(field: str, value: Any, *, max_chars: int) -> str:
    result = text(field, value, max_chars=max_chars, required=True)
    assert result is not None
    return result


def unit_interval(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(field, "must be a number between 0 and 1")
    if not 0.0 <= float(value) <= 1.0:
        raise InvalidInput(field, f"must be between 0 and 1 (got {value})")
    return float(value)


def limit(field: str, value: Any, *, maximum: int = MAX_LIMIT) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, f"must be an integer between 1 and {maximum}")
    if not 1 <= value <= maximum:
        raise InvalidInput(field, f"must be between 1 and {maximum} (got {value})")
    return value


def offset(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_OFFSET:
        raise InvalidInput(field, f"must be a whole number from 0 to {MAX_OFFSET}")
    return value


def string_list(field: str, value: Any, *, max_item_chars: int = MAX_NAME_CHARS) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(field, "must be a list of strings")
    if len(value) > MAX_LIST_ITEMS:
        raise InvalidInput(field, f"has {len(value)} items; the limit is {MAX_LIST_ITEMS}")
    return [required_text(f"{field}[{i}]", item, max_chars=max_item_chars) for i, item in enumerate(value)]


def int_list(field: str, value: Any) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list) or any(isinstance(v, bool) or not isinstance(v, int) for v in value):
        raise InvalidInput(field, "must be a list of integers")
    if len(value) > MAX_LIST_ITEMS:
        raise InvalidInput(field, f"has {len(value)} items; the limit is {MAX_LIST_ITEMS}")
    return list(dict.fromkeys(value))


def json_object(field: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(field, "must be an object")
    encoded = json.dumps(value)
    if "\\u0000" in encoded:
        raise InvalidInput(field, "must not contain NUL characters")
    if "\\ud" in encoded.lower() and _LONE_SURROGATE.search(json.dumps(value, ensure_ascii=False)):
        raise InvalidInput(field, "must be valid Unicode text (it holds a lone surrogate)")
    if len(encoded.encode()) > MAX_JSON_BYTES:
        raise InvalidInput(field, f"is larger than {MAX_JSON_BYTES} bytes as JSON")
    return value


def iso_date(field: str, value: Any) -> date | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(field, f"must be a date as YYYY-MM-DD (got {value!r})") from None


def moment(field: str, value: Any) -> datetime | None:
    """An ISO date (midnight UTC) or date-time (UTC when no zone is given)."""
    if value is None or value == "":
        return None
    problem = "must be a date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM[:SS][+HH:MM])"
    if not isinstance(value, str) or len(value) > 40:
        raise InvalidInput(field, problem)
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(field, f"{problem} (got {value!r})") from None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    try:
        readable = EARLIEST_MOMENT <= parsed.astimezone(UTC) <= LATEST_MOMENT
    except OverflowError:  # past either end of Python's range once in UTC
        readable = False
    if not readable:
        span = f"{EARLIEST_MOMENT.date().isoformat()} and {LATEST_MOMENT.date().isoformat()}"
        raise InvalidInput(field, f"must be between {span} (got {value!r})")
    return parsed


def source_types(field: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return SOURCE_TYPES
    if not isinstance(value, list) or not value:
        raise InvalidInput(field, f"must be a non-empty list drawn from {', '.join(SOURCE_TYPES)}")
    unknown = [v for v in value if v not in SOURCE_TYPES]
    if unknown:
        raise InvalidInput(field, f"unknown type {unknown[0]!r}; use {', '.join(SOURCE_TYPES)}")
    return tuple(dict.fromkeys(value))


def parse_ref(field: str, value: Any) -> tuple[str, int]:
    """'observation:42' -> ('observation', 42)."""
    if not isinstance(value, str) or ":" not in value:
        raise InvalidInput(field, "must look like 'observation:42' (type:id)")
    kind, _, raw_id = value.strip().partition(":")
    if kind not in SOURCE_TYPES:
        raise InvalidInput(field, f"unknown type {kind!r}; use {', '.join(SOURCE_TYPES)}")
    if not raw_id.isdigit() or len(raw_id) > 18:
        raise InvalidInput(field, f"id must be a positive integer (got {raw_id!r})")
    return kind, int(raw_id)
