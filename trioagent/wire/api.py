"""The simple chat API's wire types: ``POST /api/chat``.

One message in, one reply out; the server keeps the conversation under ``session_id``.
The rules for reading and writing these live in `trioagent.wire.convert`, like all wire rules;
`trioagent.wire.checks.parse_api_chat_request` checks a request.
"""

from __future__ import annotations

from typing import Literal

import attrs

from .openai import CompletionUsage  # noqa: TC001 (cattrs reads annotations at runtime)


@attrs.frozen(kw_only=True)
class ChatRequest:
    """The body of ``POST /api/chat``."""

    message: str
    """The user's message; must not be empty."""
    session_id: str | None = None
    """Continue this conversation; must match `trioagent.wire.rules.SESSION_ID`. ``None``
    starts a new one."""
    stream: bool = False
    agent: str | None = None
    """The agent to talk to; ``None`` means the server's default agent."""


@attrs.frozen(kw_only=True)
class ChatReply:
    """The answer of ``POST /api/chat``."""

    message: str
    session_id: str | None
    """The conversation to continue with; written as ``null`` when the server keeps none."""
    usage: CompletionUsage


@attrs.frozen(kw_only=True)
class ApiError:
    """Every error answer of the simple API: ``{"error": "...", "code": 400}``."""

    error: str
    code: int
    """The HTTP status."""


@attrs.frozen(kw_only=True)
class HistoryToolCall:
    """A tool call the agent made, as stored."""

    id: str
    name: str
    arguments: str
    """The arguments as JSON text, as the model wrote them."""


@attrs.frozen(kw_only=True)
class HistoryMessage:
    """One stored message of a session."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str
    tool_calls: tuple[HistoryToolCall, ...] | None = None
    """On assistant messages that called tools; left out otherwise."""
    tool_call_id: str | None = None
    """On tool messages: the call this is the result of; left out otherwise."""


@attrs.frozen(kw_only=True)
class SessionHistory:
    """The answer of ``GET /api/sessions/{session_id}``: everything committed so far."""

    session_id: str
    messages: tuple[HistoryMessage, ...]
    usage: CompletionUsage
    """Summed over every turn of the session."""


@attrs.frozen(kw_only=True)
class StreamDelta:
    """A piece of the answer, on a ``"stream": true`` chat."""

    type: Literal["delta"] = "delta"
    delta: str


@attrs.frozen(kw_only=True)
class StreamDone:
    """The last event of a streamed chat: the whole answer, as ``ChatReply`` has it."""

    type: Literal["done"] = "done"
    message: str
    session_id: str
    usage: CompletionUsage


@attrs.frozen(kw_only=True)
class StreamError:
    """The last event of a streamed chat that failed after the stream began."""

    type: Literal["error"] = "error"
    error: str
    code: int
