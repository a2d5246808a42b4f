"""Server-sent events, encoded: each event is one ``data:`` line of compact JSON.

A pure encoder (no I/O). JSON from `dumps` never holds a raw newline, so every event is
exactly one line plus the blank line that ends it. Chat Completions streams never have
``event:`` lines (the OpenAI SDK fails on an event without JSON data); the Responses API
names each event, with JSON data always.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .convert import dumps, dumps_text

if TYPE_CHECKING:
    from collections.abc import Callable

    from .openai import ErrorEnvelope

DONE: Final = b"data: [DONE]\n\n"
"""The last event of every stream, after the final chunk or an in-band error."""

KEEP_ALIVE: Final = b": keep-alive\n\n"
"""A comment line that keeps idle proxies from closing a quiet stream; clients skip it."""


def encode_event(obj: object) -> bytes:
    """Encode one wire value (usually a `ChatCompletionChunk`) as an SSE event."""
    return b"data: " + dumps(obj) + b"\n\n"


_TEXT_MARK: Final = "\x00text\x00"
"""Stands for the text in a `text_events` template (no model writes NUL bytes)."""


def text_events(make: Callable[[str], object]) -> Callable[[str], bytes]:
    """An encoder of `encode_event(make(text))` for any ``text``, at a fraction of its cost.

    ``make``'s value (a chunk whose content is ``text``, say) is encoded once, around a
    mark; each event is then that encoding with ``text``'s JSON string in the mark's place.
    That is the same JSON, byte for byte, as `dumps` writes each string alike wherever it
    stands (but for a text with a lone surrogate, escaped alone instead of with the rest).

    Raises:
        ValueError: ``make`` does not put the text in exactly one place.
    """
    mark = dumps_text(_TEXT_MARK)
    prefix, found, suffix = encode_event(make(_TEXT_MARK)).partition(mark)
    if not found or mark in suffix:
        raise ValueError("text_events needs the text in exactly one place")

    def encode(text: str) -> bytes:
        return prefix + dumps_text(text) + suffix

    return encode


def encode_named_event(name: str, obj: object) -> bytes:
    """Encode one event with an ``event:`` line, as the Responses API streams them."""
    return b"event: " + name.encode() + b"\ndata: " + dumps(obj) + b"\n\n"


def encode_error(envelope: ErrorEnvelope) -> bytes:
    """Encode an error that happens after the stream has started; send `DONE` after it."""
    return encode_event(envelope)
