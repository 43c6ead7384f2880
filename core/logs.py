"""Structured (JSON-lines) logs with the request id, and secret redaction.

Every record carries ``request_id`` when it was logged while serving a
request. ``RedactSecrets`` scrubs anything shaped like one of our keys or
tokens, a bearer credential, a session cookie or a ``client_secret`` before
a record is written — a second line of defence, since no code path logs them.

Usage: ``configure_logging("INFO")`` once; ``uvicorn_log_config("INFO")`` for
uvicorn.run(log_config=...).
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
from datetime import UTC, datetime
from typing import Any

from starlette.requests import ClientDisconnect

from core.request_context import current_request_id

CLIENT_GONE = "the client disconnected before its request was read"

SECRET_PATTERNS = [
    (re.compile(r"mg_[A-Za-z0-9_-]{8,}"), "mg_[redacted]"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1[redacted]"),
    (re.compile(r"(?i)(mg_session=)[^;\s]+"), r"\1[redacted]"),
    (re.compile(r"(?i)(client_secret[\"']?\s*[:=]\s*[\"']?)[^\"'&\s,}]+"), r"\1[redacted]"),
    (re.compile(r"(?i)([?&](?:code|state|refresh_token|access_token)=)[^&\s\"]+"), r"\1[redacted]"),
]


def redact(text: str) -> str:
    for pattern, replacement in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        return True


class ClientGone(logging.Filter):
    """A client that hangs up before its request is read is routine (a
    cancelled call, a closed laptop): the MCP SDK logs it at ERROR with a
    traceback; it is told here at INFO, in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], ClientDisconnect):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg, record.args, record.exc_info, record.exc_text = CLIENT_GONE, (), None, None
        return True


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get()
        return True


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def _config(level: str, stream: str = "stdout") -> dict[str, Any]:
    # Alembic narrates every migration step at INFO; that is routine.
    routine = level if level == "DEBUG" else "WARNING"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "client_gone": {"()": ClientGone},
            "request_id": {"()": RequestIdFilter},
            "redact": {"()": RedactSecrets},
        },
        "formatters": {"json": {"()": JSONFormatter}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["client_gone", "request_id", "redact"],
                "stream": f"ext://sys.{stream}",
            }
        },
        "root": {"level": level, "handlers": ["console"]},
        "loggers": {
            "uvicorn": {"level": level, "handlers": ["console"], "propagate": False},
            "uvicorn.error": {"level": level, "handlers": ["console"], "propagate": False},
            "uvicorn.access": {"level": level, "handlers": ["console"], "propagate": False},
            "alembic": {"level": routine},
        },
    }


def configure_logging(level: str, stream: str = "stdout") -> None:
    """JSON logs to ``stream`` ("stdout" or "stderr"); Python's warnings
    (libraries' deprecation notices among them) become log lines too,
    instead of plain text on stderr."""
    logging.config.dictConfig(_config(level, stream))
    logging.captureWarnings(True)


def uvicorn_log_config(level: str) -> dict[str, Any]:
    return _config(level)
