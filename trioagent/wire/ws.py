"""WebSocket chat frames (``/v1/ws``): JSON text frames, a tagged union on ``"type"``.

Client to server: `HelloFrame`, `MessageFrame`, `CancelFrame`, `PingFrame`, `PongFrame`.
Server to client: `ReadyFrame`, `DeltaFrame`, `ToolStartedFrame`, `ToolFinishedFrame`,
`UsageFrame`, `DoneFrame`, `CancelledFrame`, `ErrorFrame`, `PingFrame`, `PongFrame`.
The rules for reading and writing them live in `trioagent.wire.convert`.
"""

from __future__ import annotations

from typing import Literal

import attrs

from .api import HistoryMessage  # noqa: TC001 (cattrs reads annotations at runtime)
from .openai import CompletionUsage  # noqa: TC001

# Both ways.


@attrs.frozen(kw_only=True)
class PingFrame:
    """Are you there? Answered with a `PongFrame`. The server pings a quiet client too."""

    type: Literal["ping"] = "ping"


@attrs.frozen(kw_only=True)
class PongFrame:
    """The answer to a `PingFrame`."""

    type: Literal["pong"] = "pong"


# Client to server.


@attrs.frozen(kw_only=True)
class HelloFrame:
    """The first frame of a connection (and later: switch agent or conversation).

    Answered with a `ReadyFrame`.
    """

    type: Literal["hello"] = "hello"
    agent: str | None = None
    """The agent to talk to; the server's default agent when None."""
    conversation_id: str | None = None
    """Resume this conversation (it may have started over HTTP); a new one when None."""
    api_key: str | None = None
    """The API key, for clients that cannot set an ``Authorization`` header (browsers)."""


@attrs.frozen(kw_only=True)
class MessageFrame:
    """A user message: runs one turn of the agent."""

    type: Literal["message"] = "message"
    text: str


@attrs.frozen(kw_only=True)
class CancelFrame:
    """Stop the running turn; the conversation stays as it was before it."""

    type: Literal["cancel"] = "cancel"


ClientFrame = HelloFrame | MessageFrame | CancelFrame | PingFrame | PongFrame


# Server to client.


@attrs.frozen(kw_only=True)
class ReadyFrame:
    """The answer to a hello: who is talking, and the conversation so far."""

    type: Literal["ready"] = "ready"
    agent: str
    agents: tuple[str, ...]
    """Every agent a hello may pick."""
    conversation_id: str
    welcome: str
    """The agent's ``welcome_message`` (may be empty)."""
    messages: tuple[HistoryMessage, ...]
    """The stored conversation, oldest first (empty for a new one)."""


@attrs.frozen(kw_only=True)
class DeltaFrame:
    """A piece of the answer."""

    type: Literal["delta"] = "delta"
    text: str


@attrs.frozen(kw_only=True)
class ToolStartedFrame:
    """The agent called one of its tools."""

    type: Literal["tool_started"] = "tool_started"
    id: str
    name: str
    arguments: str
    """The arguments as JSON text."""


@attrs.frozen(kw_only=True)
class ToolFinishedFrame:
    """A tool call ended."""

    type: Literal["tool_finished"] = "tool_finished"
    id: str
    name: str
    result: str
    """The start of the result (at most `RESULT_PREVIEW` characters)."""
    is_error: bool


@attrs.frozen(kw_only=True)
class UsageFrame:
    """The turn's token usage so far, after each model call."""

    type: Literal["usage"] = "usage"
    usage: CompletionUsage


@attrs.frozen(kw_only=True)
class DoneFrame:
    """The turn finished and is saved in the conversation."""

    type: Literal["done"] = "done"
    text: str
    """The whole answer: the deltas joined."""
    usage: CompletionUsage
    finish_reason: Literal["stop", "length", "tool_calls"]


@attrs.frozen(kw_only=True)
class CancelledFrame:
    """The turn was cancelled (a `CancelFrame`); nothing of it was saved."""

    type: Literal["cancelled"] = "cancelled"


@attrs.frozen(kw_only=True)
class ErrorFrame:
    """Something failed; ``code`` is the HTTP status the same failure has over HTTP."""

    type: Literal["error"] = "error"
    message: str
    code: int
    ends_turn: bool = False
    """True when this is the end of the turn a ``message`` asked for: it failed, or was
    refused before it began. False when the error is about another frame: a running turn
    goes on."""


RESULT_PREVIEW = 500
"""The most characters of a tool result a `ToolFinishedFrame` carries."""
