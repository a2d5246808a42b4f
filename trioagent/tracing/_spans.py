"""The spans of `trioagent.tracing` while tracing is on: OpenTelemetry spans, named and
attributed by the GenAI (and HTTP) semantic conventions.

A failure leaving a span's block sets its status to error and ``error.type`` to the
exception's class name, or to ``timeout`` (a trio deadline cancelled it) or
``cancelled`` (anything else cancelled it, or its reader went away); the status
description says which. Tracebacks are not recorded: the server logs them.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Literal

import trio
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import AgentSpan, ChatSpan, ClientSpan, ServerSpan, Span, ToolSpan

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from types import TracebackType
    from typing import Self

    from opentelemetry.context import Context
    from opentelemetry.trace import TracerProvider

    from ..chat import Message, Sampling, ToolCall, ToolResult, Usage
    from ..config import ModelConfig

Outcome = Literal["ok", "error", "timeout", "cancelled"]

PROVIDER_NAMES = {"mistral": "mistral_ai", "xai": "x_ai"}
"""Our provider names whose ``gen_ai.provider.name`` the conventions spell otherwise;
any other is used as it is (``openai``, ``anthropic``, ``ollama``...)."""
_SAMPLING = ("temperature", "top_p", "max_tokens", "presence_penalty", "frequency_penalty")

_conversation: ContextVar[str | None] = ContextVar("trioagent_conversation", default=None)
"""The conversation of the turn being traced, for its model calls."""


def provider_name(provider: str) -> str:
    """The ``gen_ai.provider.name`` of one of our provider names."""
    return PROVIDER_NAMES.get(provider, provider)


class Tracing:
    """Makes the spans, with the tracer of one provider."""

    def __init__(self, provider: TracerProvider, *, capture_content: bool) -> None:
        self._tracer = provider.get_tracer("trioagent")
        self._capture = capture_content

    def server_span(self, scope: Mapping[str, Any], request_id: str) -> ServerSpan:
        headers = {
            bytes(key).decode("latin-1"): bytes(value).decode("latin-1")
            for key, value in scope.get("headers", ())
        }
        websocket = scope.get("type") == "websocket"
        method = "GET" if websocket else str(scope.get("method", "GET"))
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": str(scope.get("path", "")),
            "url.scheme": str(scope.get("scheme", "ws" if websocket else "http")),
            "network.protocol.version": str(scope.get("http_version", "1.1")),
            "trioagent.request.id": request_id,
        }
        client = scope.get("client")
        if client:
            attributes["client.address"] = str(client[0])
        if agent := headers.get("user-agent"):
            attributes["user_agent.original"] = agent
        span = self._tracer.start_span(
            method, context=propagate.extract(headers), kind=SpanKind.SERVER, attributes=attributes
        )
        return _Server(span, method)

    def agent_span(
        self, name: str, description: str, model: ModelConfig, conversation_id: str | None
    ) -> AgentSpan:
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": name,
            "gen_ai.provider.name": provider_name(model.provider),
            "gen_ai.request.model": model.model,
        }
        if description:
            attributes["gen_ai.agent.description"] = description
        if conversation_id:
            attributes["gen_ai.conversation.id"] = conversation_id
        span = self._tracer.start_span(f"invoke_agent {name}", attributes=attributes)
        return _Agent(span, conversation_id)

    def chat_span(
        self, model: ModelConfig, sampling: Sampling, messages: Sequence[Message]
    ) -> ChatSpan:
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider_name(model.provider),
            "gen_ai.request.model": model.model,
            "gen_ai.request.stream": True,
        }
        for key in _SAMPLING:
            value = getattr(sampling, key)
            value = getattr(model, key) if value is None else value
            if value is not None:
                attributes[f"gen_ai.request.{key}"] = value
        if sampling.seed is not None:
            attributes["gen_ai.request.seed"] = sampling.seed
        if sampling.stop:
            attributes["gen_ai.request.stop_sequences"] = list(sampling.stop)
        if conversation := _conversation.get():
            attributes["gen_ai.conversation.id"] = conversation
        if self._capture:
            attributes["gen_ai.input.messages"] = _json([_message(m) for m in messages])
        # The embedded model runs in this process: an internal call, not a client's.
        kind = SpanKind.INTERNAL if model.provider == "local" else SpanKind.CLIENT
        span = self._tracer.start_span(f"chat {model.model}", kind=kind, attributes=attributes)
        return _Chat(span, capture=self._capture)

    def tool_span(self, call: ToolCall) -> ToolSpan:
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": call.name,
            "gen_ai.tool.call.id": call.id,
        }
        if self._capture:
            attributes["gen_ai.tool.call.arguments"] = call.arguments
        span = self._tracer.start_span(f"execute_tool {call.name}", attributes=attributes)
        return _Tool(span, capture=self._capture)

    def client_span(self, method: str, url: str, resend_count: int) -> ClientSpan:
        parts = urllib.parse.urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]  # never credentials
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "server.address": parts.hostname or "",
            "server.port": parts.port or (443 if parts.scheme == "https" else 80),
            "url.full": f"{parts.scheme}://{netloc}{parts.path}",  # never the query
        }
        if resend_count:
            attributes["http.request.resend_count"] = resend_count
        span = self._tracer.start_span(method, kind=SpanKind.CLIENT, attributes=attributes)
        return _Client(span)

    def current_context(self) -> Context:
        return otel_context.get_current()

    @contextmanager
    def attached(self, context: object) -> Iterator[object]:
        token = otel_context.attach(context)  # type: ignore[arg-type]
        try:
            yield context
        finally:
            otel_context.detach(token)


class _Live(Span):
    """A recording span; made current in its block unless `_current` is false."""

    __slots__ = ("_failed", "_span", "_token")
    _current = True

    def __init__(self, span: trace.Span) -> None:
        self._span = span
        self._token: object | None = None
        self._failed = False

    def __enter__(self) -> Self:
        if self._current:
            self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if exc is not None and not self._failed:
                self._ended_by(exc)
        finally:
            if self._token is not None:
                otel_context.detach(self._token)  # type: ignore[arg-type]
            self._span.end()

    def _ended_by(self, exc: BaseException) -> Outcome:
        """Record the failure ``exc``; return what kind of failure it was."""
        leaf = _leaf(exc)
        if isinstance(leaf, trio.Cancelled | GeneratorExit):
            source = getattr(leaf, "source", None)
            if source == "deadline":
                outcome: Outcome = "timeout"
                text = "timed out: a deadline cancelled it"
            else:
                outcome = "cancelled"
                text = f"cancelled ({source or 'its reader went away'})"
            if reason := getattr(leaf, "reason", None):
                text += f": {reason}"
            self._fail(outcome, text)
            return outcome
        self._fail(type(leaf).__qualname__, str(leaf) or None)
        return "error"

    def _fail(self, error_type: str, description: str | None) -> None:
        self._failed = True
        self._span.set_attribute("error.type", error_type)
        self._span.set_status(Status(StatusCode.ERROR, description))


class _Server(_Live, ServerSpan):
    __slots__ = ("_method",)

    def __init__(self, span: trace.Span, method: str) -> None:
        super().__init__(span)
        self._method = method

    def routed(self, route: str) -> None:
        self._span.set_attribute("http.route", route)
        self._span.update_name(f"{self._method} {route}")

    def responded(self, status: int) -> None:
        self._span.set_attribute("http.response.status_code", status)
        if status >= 500:  # a 4xx is the client's failure, not the server's
            self._fail(str(status), None)


class _Agent(_Live, AgentSpan):
    __slots__ = ("_conversation", "_reset")

    def __init__(self, span: trace.Span, conversation_id: str | None) -> None:
        super().__init__(span)
        self._conversation = conversation_id
        self._reset: object | None = None

    def __enter__(self) -> Self:
        self._reset = _conversation.set(self._conversation)
        return super().__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._reset is not None:
            _conversation.reset(self._reset)  # type: ignore[arg-type]
        super().__exit__(exc_type, exc, traceback)

    def _ended_by(self, exc: BaseException) -> Outcome:
        outcome = super()._ended_by(exc)
        self._span.set_attribute("trioagent.turn.outcome", outcome)
        return outcome

    def finished(self, reason: str, usage: Usage) -> None:
        self._span.set_attributes(
            {"gen_ai.response.finish_reasons": [reason], "trioagent.turn.outcome": "ok"}
        )
        _set_usage(self._span, usage)


class _Chat(_Live, ChatSpan):
    __slots__ = ("_capture", "_first", "_started")

    def __init__(self, span: trace.Span, *, capture: bool) -> None:
        super().__init__(span)
        self._capture = capture
        self._started = time.monotonic()
        self._first = False

    def received(self) -> None:
        if not self._first:
            self._first = True
            self._span.set_attribute(
                "gen_ai.response.time_to_first_chunk", time.monotonic() - self._started
            )

    def finished(
        self, reason: str, usage: Usage, text: str, tool_calls: Sequence[ToolCall]
    ) -> None:
        self._span.set_attribute("gen_ai.response.finish_reasons", [reason])
        _set_usage(self._span, usage)
        if self._capture:
            parts = [{"type": "text", "content": text}] if text else []
            parts += [_call_part(call) for call in tool_calls]
            answer = {"role": "assistant", "parts": parts, "finish_reason": reason}
            self._span.set_attribute("gen_ai.output.messages", _json([answer]))


class _Tool(_Live, ToolSpan):
    __slots__ = ("_capture",)

    def __init__(self, span: trace.Span, *, capture: bool) -> None:
        super().__init__(span)
        self._capture = capture

    def finished(self, result: ToolResult) -> None:
        if self._capture:
            self._span.set_attribute("gen_ai.tool.call.result", result.content)
        if result.is_error:
            self._fail("tool_error", "the tool returned an error")


class _Client(_Live, ClientSpan):
    __slots__ = ()
    _current = False

    def headers(self) -> Mapping[str, str]:
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(self._span))
        return carrier

    def responded(self, status: int) -> None:
        self._span.set_attribute("http.response.status_code", status)
        if status >= 400:
            self._fail(str(status), None)


def _set_usage(span: trace.Span, usage: Usage) -> None:
    # A provider that reported nothing left zeros: they would read as a free call.
    if usage.prompt_tokens or usage.completion_tokens:
        span.set_attributes(
            {
                "gen_ai.usage.input_tokens": usage.prompt_tokens,
                "gen_ai.usage.output_tokens": usage.completion_tokens,
            }
        )


def _leaf(exc: BaseException) -> BaseException:
    """The exception that says what happened: inside a group, its first leaf that is not
    a cancellation, else its first leaf."""
    if not isinstance(exc, BaseExceptionGroup):
        return exc
    leaves = list(_leaves(exc))
    return next((e for e in leaves if not isinstance(e, trio.Cancelled)), leaves[0])


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc


def _message(message: Message) -> dict[str, Any]:
    """``message`` as the conventions' input message (``gen_ai.input.messages``)."""
    if message.role == "tool":
        parts: list[dict[str, Any]] = [
            {
                "type": "tool_call_response",
                "id": message.tool_call_id or "",
                "response": message.content,
            }
        ]
    else:
        parts = [{"type": "text", "content": message.content}] if message.content else []
        parts += [{"type": "uri", "modality": "image", "uri": url} for url in message.images]
        parts += [_call_part(call) for call in message.tool_calls]
    return {"role": message.role, "parts": parts}


def _call_part(call: ToolCall) -> dict[str, Any]:
    try:
        arguments: Any = json.loads(call.arguments)
    except ValueError:
        arguments = call.arguments
    return {"type": "tool_call", "id": call.id, "name": call.name, "arguments": arguments}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
