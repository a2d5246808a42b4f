"""Scripted replies for the fake upstreams, built by small helpers.

    fake.enqueue(text("Hello there", chunks=["Hel", "lo there"]))
    fake.enqueue(tool_calls([("call_1", "get_weather", '{"city": "Paris"}')]))
    fake.enqueue(error(429, retry_after=1))

A reply says what the model answers, not how: each fake renders it in its provider's
protocol (Chat Completions chunks, Anthropic stream events).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

import attrs

if TYPE_CHECKING:
    from collections.abc import Sequence

    import trio

Finish = Literal["stop", "length", "tool_calls", "content_filter"]
"""A finish reason in OpenAI's words; the Anthropic fake translates it."""

_WORDS = re.compile(r"\s*\S+\s*|\s+")


def split_words(content: str) -> tuple[str, ...]:
    """Cut text into word-sized pieces that join back to it exactly."""
    return tuple(_WORDS.findall(content))


def split_even(content: str, pieces: int) -> tuple[str, ...]:
    """Cut text into ``pieces`` parts of nearly equal length (fewer if it is short)."""
    if not content:
        return ()
    pieces = max(1, min(pieces, len(content)))
    size, extra = divmod(len(content), pieces)
    parts, start = [], 0
    for number in range(pieces):
        end = start + size + (1 if number < extra else 0)
        parts.append(content[start:end])
        start = end
    return tuple(parts)


@attrs.frozen(kw_only=True)
class TextReply:
    """The model answers with text."""

    chunks: tuple[str, ...]
    """The text as it is streamed, one piece per event."""
    usage: tuple[int, int] | None = None
    """(prompt, completion) tokens; a made-up count when ``None``."""
    finish_reason: Finish = "stop"
    delay: float = 0.0
    """Seconds before the response starts."""
    chunk_delay: float = 0.0
    """Seconds between two streamed events."""

    @property
    def text(self) -> str:
        return "".join(self.chunks)


@attrs.frozen(kw_only=True)
class ScriptedCall:
    """One scripted tool call."""

    id: str
    name: str
    arguments: str
    pieces: tuple[str, ...]
    """The arguments as they are streamed."""


@attrs.frozen(kw_only=True)
class ToolCallsReply:
    """The model calls tools (after some text, if ``chunks`` is not empty)."""

    calls: tuple[ScriptedCall, ...]
    chunks: tuple[str, ...] = ()
    usage: tuple[int, int] | None = None
    finish_reason: Finish = "tool_calls"
    delay: float = 0.0
    chunk_delay: float = 0.0

    @property
    def text(self) -> str:
        return "".join(self.chunks)


@attrs.frozen(kw_only=True)
class ErrorReply:
    """The upstream answers with an error status, in its protocol's error shape."""

    status: int
    message: str
    retry_after: float | str | None = None
    """Sent as ``Retry-After`` when set (a number of seconds or an HTTP date)."""
    delay: float = 0.0


@attrs.frozen(kw_only=True)
class MalformedReply:
    """The upstream starts a 200 stream and sends an event whose data is not JSON."""

    delay: float = 0.0


@attrs.frozen(kw_only=True)
class HangReply:
    """The upstream never answers; the connection stays open until the client closes it."""


@attrs.frozen(kw_only=True)
class DropReply:
    """The upstream starts streaming, then closes the connection mid-response."""

    chunks: tuple[str, ...] = ("partial",)
    """Text streamed before the drop; empty to drop before any event."""
    delay: float = 0.0


@attrs.frozen(kw_only=True)
class HeldReply:
    """``reply``, once ``release`` is set: the test decides when the upstream answers."""

    reply: Reply
    release: trio.Event


Reply = TextReply | ToolCallsReply | ErrorReply | MalformedReply | HangReply | DropReply | HeldReply


def _usage(usage: Sequence[int] | None) -> tuple[int, int] | None:
    if usage is None:
        return None
    prompt, completion = usage
    return (int(prompt), int(completion))


def text(
    content: str = "ok",
    *,
    chunks: Sequence[str] | None = None,
    usage: tuple[int, int] | None = None,
    finish_reason: Finish = "stop",
    delay: float = 0.0,
    chunk_delay: float = 0.0,
) -> TextReply:
    """A text answer.

    Args:
        content: the whole answer; ignored when ``chunks`` is given.
        chunks: how the answer is streamed; by default, word by word.
        usage: (prompt, completion) tokens; by default 10 and the number of chunks.
        finish_reason: ``stop``, or ``length`` / ``content_filter`` to test those.
        delay: seconds before the response starts.
        chunk_delay: seconds between streamed events.
    """
    pieces = tuple(chunks) if chunks is not None else split_words(content)
    return TextReply(
        chunks=pieces,
        usage=_usage(usage),
        finish_reason=finish_reason,
        delay=delay,
        chunk_delay=chunk_delay,
    )


def tool_calls(
    calls: Sequence[tuple[str, str, str]],
    *,
    arg_chunks: int = 3,
    content: str = "",
    usage: tuple[int, int] | None = None,
    delay: float = 0.0,
    chunk_delay: float = 0.0,
) -> ToolCallsReply:
    """An answer that calls tools.

    Args:
        calls: ``(id, name, arguments JSON)`` per call, in order.
        arg_chunks: how many pieces each call's arguments are streamed in.
        content: text the model writes before calling the tools.
        usage: (prompt, completion) tokens.
        delay: seconds before the response starts.
        chunk_delay: seconds between streamed events.
    """
    return ToolCallsReply(
        calls=tuple(
            ScriptedCall(
                id=call_id, name=name, arguments=arguments, pieces=split_even(arguments, arg_chunks)
            )
            for call_id, name, arguments in calls
        ),
        chunks=split_words(content),
        usage=_usage(usage),
        delay=delay,
        chunk_delay=chunk_delay,
    )


def error(
    status: int,
    message: str = "scripted error",
    *,
    retry_after: float | str | None = None,
    delay: float = 0.0,
) -> ErrorReply:
    """An error status with the provider's JSON error body (and ``Retry-After``)."""
    return ErrorReply(status=status, message=message, retry_after=retry_after, delay=delay)


def malformed(*, delay: float = 0.0) -> MalformedReply:
    """A 200 event stream that sends a ``data:`` line that is not JSON."""
    return MalformedReply(delay=delay)


def hang() -> HangReply:
    """No answer at all, until the client or the fake closes the connection."""
    return HangReply()


def drop(content: str = "partial", *, delay: float = 0.0) -> DropReply:
    """Stream ``content`` (nothing if empty), then close the connection mid-response."""
    return DropReply(chunks=split_words(content), delay=delay)


def held(reply: Reply, release: trio.Event) -> HeldReply:
    """``reply``, sent only once ``release`` is set (the request is received at once)."""
    return HeldReply(reply=reply, release=release)
