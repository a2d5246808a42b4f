"""Server-sent events, encoded: each event is one ``data:`` line of compact JSON.

A pure encoder (no I/O). JSON from `dumps` never holds a raw newline, so every event is
exactly one line plus the blank line that ends it. Chat Completions streams never have
``event:`` lines (the OpenAI SDK fails on an event without JSON data); the Responses API
names each event, with JSON data always.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .convert import dumps

if TYPE_CHECKING:
    from .openai import ErrorEnvelope

DONE: Final = b"data: [DONE]\n\n"
"""The last event of every stream, after the final chunk or an in-band error."""

KEEP_ALIVE: Final = b": keep-alive\n\n"
"""A comment line that keeps idle proxies from closing a quiet stream; clients skip it."""


def encode_event(obj: object) -> bytes:
    """Encode one wire value (usually a `ChatCompletionChunk`) as an SSE event."""
    return b"data: " + dumps(obj) + b"\n\n"


def encode_named_event(name: str, obj: object) -> bytes:
    """Encode one event with an ``event:`` line, as the Responses API streams them."""
    return b"event: " + name.encode() + b"\ndata: " + dumps(obj) + b"\n\n"


def encode_error(envelope: ErrorEnvelope) -> bytes:
    """Encode an error that happens after the stream has started; send `DONE` after it."""
    return encode_event(envelope)
