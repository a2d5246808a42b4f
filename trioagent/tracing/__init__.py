"""OpenTelemetry traces of every turn, named and attributed by the GenAI semantic conventions.

One request is one tree of spans::

    POST /v1/chat/completions         SERVER    server/access.py; continues a W3C traceparent
    └─ invoke_agent root              INTERNAL  runtime/loop.py: one turn of one agent
       ├─ chat gpt-4o                 CLIENT    runtime/loop.py: one model call, retries included
       │  └─ POST                     CLIENT    models/_transport.py: one HTTP attempt, which
       │                                        sends traceparent upstream
       ├─ execute_tool transfer_task  INTERNAL  runtime/loop.py: one tool call
       │  └─ invoke_agent helper      INTERNAL  the sub-agent's turn, under the call that asked
       └─ chat gpt-4o ...

The layers call the hooks below. Until `enable` is given a tracer provider, every hook
returns a shared object whose methods do nothing: tracing off costs a function call and
makes no span. Only `enable` imports OpenTelemetry (the ``otel`` extra); the CLI calls it,
as it configures logging, and tests call it with a provider of their own.

Spans are made current with OpenTelemetry's context, a contextvar: trio copies it into the
tasks a task starts, so a span is the parent of the spans of the tasks started under it.
Work that a long-lived task does on a turn's behalf (an MCP call, run by its toolset's
connection task) takes the turn's context along: `current_context`, then `attached`.
Prompts, answers, tool arguments and results are recorded only with ``capture_content``
(`content_capture_requested`). Of trioagent, it knows only the values it describes (chat
messages, sampling, model configs), and only as types.
"""

from __future__ import annotations

from contextlib import nullcontext
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from contextlib import AbstractContextManager
    from types import TracebackType
    from typing import Self

    from opentelemetry.trace import TracerProvider

    from ..chat import Message, Sampling, ToolCall, ToolResult, Usage
    from ..config import ModelConfig
    from ._spans import Tracing

CAPTURE_CONTENT_VARIABLE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""The GenAI instrumentations' switch for recording message content on spans."""
_CAPTURE_VALUES = frozenset({"true", "span_only", "span_and_event"})

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class Span:
    """A span being recorded, ended when the ``with`` block exits; an exception or a
    cancellation leaving the block is recorded on it. This base does nothing: it is what
    the hooks return while tracing is off."""

    __slots__ = ()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None


class ServerSpan(Span):
    """The span of one HTTP request or WebSocket connection."""

    __slots__ = ()

    def routed(self, route: str) -> None:
        """The request matched URL rule ``route`` (``/v1/chat/completions``)."""

    def responded(self, status: int) -> None:
        """The answer started with HTTP status ``status`` (101 for a WebSocket)."""


class AgentSpan(Span):
    """The span of one turn of an agent (``invoke_agent``)."""

    __slots__ = ()

    def finished(self, reason: str, usage: Usage) -> None:
        """The turn ended with finish reason ``reason``, having used ``usage`` in all."""


class ChatSpan(Span):
    """The span of one model call (``chat``), its retries included."""

    __slots__ = ()

    def received(self) -> None:
        """Events of the call arrived (the first time marks the time to first chunk)."""

    def finished(
        self, reason: str, usage: Usage, text: str, tool_calls: Sequence[ToolCall]
    ) -> None:
        """The model answered ``text`` and ``tool_calls``, stopped for ``reason`` and
        reported ``usage`` (zeros when it reported none)."""


class ToolSpan(Span):
    """The span of one tool call (``execute_tool``)."""

    __slots__ = ()

    def finished(self, result: ToolResult) -> None:
        """The tool returned ``result`` (an error result marks the span failed)."""


class ClientSpan(Span):
    """The span of one outgoing HTTP request; it is not made current (nothing runs under
    it but the request itself)."""

    __slots__ = ()

    def headers(self) -> Mapping[str, str]:
        """The headers that carry this span's context upstream (``traceparent``)."""
        return _NO_HEADERS

    def responded(self, status: int) -> None:
        """The response came with HTTP status ``status``."""


_NO_CONTEXT = nullcontext()
_SERVER_OFF = ServerSpan()
_AGENT_OFF = AgentSpan()
_CHAT_OFF = ChatSpan()
_TOOL_OFF = ToolSpan()
_CLIENT_OFF = ClientSpan()

_tracing: Tracing | None = None


def content_capture_requested(env: Mapping[str, str]) -> bool:
    """Whether ``env`` opts in to recording message content: `CAPTURE_CONTENT_VARIABLE`
    set to ``true``, ``SPAN_ONLY`` or ``SPAN_AND_EVENT`` (any case)."""
    return env.get(CAPTURE_CONTENT_VARIABLE, "").strip().lower() in _CAPTURE_VALUES


def enable(provider: TracerProvider, *, capture_content: bool = False) -> None:
    """Record the spans of this process with ``provider``'s tracer, from now on.

    Args:
        provider: an OpenTelemetry tracer provider (the SDK's, with its exporter).
        capture_content: also record prompts, answers, tool arguments and results.
    """
    global _tracing
    from ._spans import Tracing

    _tracing = Tracing(provider, capture_content=capture_content)


def disable() -> None:
    """Stop recording spans (those already started still end)."""
    global _tracing
    _tracing = None


def enabled() -> bool:
    """Whether spans are being recorded."""
    return _tracing is not None


def server_span(scope: Mapping[str, Any], *, request_id: str) -> ServerSpan:
    """The span of the HTTP request or WebSocket connection of ASGI ``scope``, a child of
    the caller's span when the request carries a ``traceparent``; made current in the
    ``with`` block.

    Args:
        scope: the ASGI scope.
        request_id: the request's ``X-Request-Id``, to find its log lines.
    """
    if _tracing is None:
        return _SERVER_OFF
    return _tracing.server_span(scope, request_id)


def agent_span(
    name: str,
    *,
    description: str,
    model: ModelConfig,
    conversation_id: str | None = None,
) -> AgentSpan:
    """The span of one turn of agent ``name``, made current in the ``with`` block.

    Args:
        description: the agent's description (may be empty).
        model: the agent's model config.
        conversation_id: the id of the conversation the turn continues, as its client
            knows it; its model calls carry it too.
    """
    if _tracing is None:
        return _AGENT_OFF
    return _tracing.agent_span(name, description, model, conversation_id)


def chat_span(model: ModelConfig, sampling: Sampling, messages: Sequence[Message]) -> ChatSpan:
    """The span of one call of ``model`` with ``messages``, made current in the ``with``
    block. ``sampling`` (what the call sets, else the model config's) is recorded."""
    if _tracing is None:
        return _CHAT_OFF
    return _tracing.chat_span(model, sampling, messages)


def tool_span(call: ToolCall) -> ToolSpan:
    """The span of tool call ``call``, made current in the ``with`` block."""
    if _tracing is None:
        return _TOOL_OFF
    return _tracing.tool_span(call)


def client_span(method: str, url: str, *, resend_count: int = 0) -> ClientSpan:
    """The span of one HTTP request to ``url``, a child of the current span.

    Args:
        resend_count: how many times this request was sent before (its retries).
    """
    if _tracing is None:
        return _CLIENT_OFF
    return _tracing.client_span(method, url, resend_count)


def current_context() -> object | None:
    """The trace context of this task, for work another task does on its behalf (see
    `attached`); None while tracing is off."""
    if _tracing is None:
        return None
    return _tracing.current_context()


def attached(context: object | None) -> AbstractContextManager[object]:
    """Make ``context`` (from `current_context`) current in the ``with`` block: the spans
    started there, and the ``traceparent`` sent from there, belong where it was taken."""
    if context is None or _tracing is None:
        return _NO_CONTEXT
    return _tracing.attached(context)
