"""Log records as text or JSON lines, each tagged with the request it was logged for.

A server sets `request_id` for the whole of one HTTP request or WebSocket connection;
trio tasks copy the context they were started in, so the turn's tasks see it too.
`RequestIdFilter` copies it onto every record, and both formatters show it:

    2026-01-01 12:00:00,000 INFO trioagent.server.access: [req=4f1c...] GET /healthz 200 0.4ms
    {"time": "2026-01-01T12:00:00.000Z", "level": "INFO", "logger": "trioagent.server.access",
     "message": "GET /healthz 200 0.4ms", "request_id": "4f1c...", "status": 200, ...}

Only ``cli`` installs a handler (`stderr_handler`). This module imports nothing of ours.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")

request_id: ContextVar[str | None] = ContextVar("trioagent_request_id", default=None)
"""The id of the request being served in this context, or None outside requests."""

_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")
"""An acceptable ``X-Request-Id``: 1 to 128 visible ASCII characters (no space, no control)."""

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Attributes every LogRecord has; the others came from ``extra=`` and go into JSON lines.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "taskName",
}


def valid_request_id(value: str | None) -> str | None:
    """``value`` when it may serve as a request id (and reach the logs), else None."""
    if value is not None and _REQUEST_ID.fullmatch(value):
        return value
    return None


def new_request_id(given: str | None = None) -> str:
    """The client's id ``given`` when it is acceptable, else a new random one."""
    return valid_request_id(given) or uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (the `request_id` of the logging context, or None) to records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get()
        return True


class TextFormatter(logging.Formatter):
    """``TEXT_FORMAT``, with ``[req=ID] `` before the message while serving a request."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        rid = getattr(record, "request_id", None)
        if not rid:
            return text
        head = len(text) - len(record.message)
        return f"{text[:head]}[req={rid}] {text[head:]}"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line.

    Keys: ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, then ``request_id``
    and ``exception`` (the formatted traceback) when there is one, then the record's
    ``extra=`` fields. Non-ASCII and control characters are escaped, so a line never breaks.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            entry["request_id"] = rid
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value if isinstance(value, str | int | float | bool) else str(value)
        return json.dumps(entry)


def stderr_handler(log_format: LogFormat) -> logging.Handler:
    """A handler writing ``log_format`` records to stderr, with request ids."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    return handler


def logs_json() -> bool:
    """Whether the root logger writes JSON lines (``--log-format json``)."""
    return any(
        isinstance(handler.formatter, JsonFormatter) for handler in logging.getLogger().handlers
    )


def announce(line: str, *, level: int = logging.INFO) -> None:
    """Tell the operator ``line`` on stderr: as it is, or as a JSON log record (of logger
    ``trioagent``) when the logs are JSON, so that every line there stays parseable."""
    if logs_json():
        logging.getLogger("trioagent").log(level, "%s", line)
    else:
        print(line, file=sys.stderr, flush=True)
