"""A model client for the Anthropic Messages API.

The conversation is reshaped as the API wants it: system messages go to the top-level
``system`` field, tool calls become ``tool_use`` blocks and tool results ``tool_result``
blocks in a user message, and consecutive messages of one role are merged.
"""

from __future__ import annotations

import itertools
import json
from typing import TYPE_CHECKING, Any

import attrs

from trioagent.chat import Sampling, Usage
from trioagent.errors import RequestError, UpstreamProtocolError

from . import _json
from ._channel import batch_stream
from ._transport import HTTPShards, stream_call
from ._upstream_errors import error_code_of, error_for_status
from .base import Finished, TextDelta, ToolCallDelta, UsageReport
from .retry import RetryPolicy, classify, retry_events

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Mapping, Sequence
    from contextlib import AbstractAsyncContextManager

    import httpx

    from trioagent.chat import FinishReason, Message, ToolSpec

    from ._sse import ServerSentEvent
    from .base import ModelEvent, ModelStream

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
"""The Messages API requires ``max_tokens``; this is sent when nothing sets it."""

_STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
}

_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


def _image_block(url: str) -> dict[str, Any]:
    if url.startswith("data:"):
        header, _, data = url[5:].partition(",")
        media_type = header.split(";", 1)[0] or "image/png"
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    return {"type": "image", "source": {"type": "url", "url": url}}


def _tool_input(arguments: str) -> dict[str, Any]:
    """A tool call's arguments as the object ``tool_use.input`` must be."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _blocks(message: Message) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [
            {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id or "",
                "content": message.content,
            }
        ]
    blocks: list[dict[str, Any]] = []
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    blocks.extend(_image_block(url) for url in message.images)
    blocks.extend(
        {"type": "tool_use", "id": call.id, "name": call.name, "input": _tool_input(call.arguments)}
        for call in message.tool_calls
    )
    return blocks


def messages_to_anthropic(messages: Sequence[Message]) -> tuple[str, list[dict[str, Any]]]:
    """Split a conversation into the ``system`` text and the ``messages`` list.

    System messages are joined with blank lines, wherever they stand. Tool results
    become user messages; messages of one role in a row are merged into one, and
    messages left without content are dropped (the API refuses empty text blocks).
    """
    system: list[str] = []
    merged: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            if message.content:
                system.append(message.content)
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if not blocks:
            continue
        if merged and merged[-1]["role"] == role:
            merged[-1]["content"].extend(blocks)
        else:
            merged.append({"role": role, "content": blocks})
    return "\n\n".join(system), merged


def tool_to_anthropic(tool: ToolSpec) -> dict[str, Any]:
    """One tool in the Messages API ``tools`` shape."""
    return {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}


def request_body(
    model: str,
    messages: Sequence[Message],
    tools: Sequence[ToolSpec],
    sampling: Sampling,
) -> dict[str, Any]:
    """The streaming Messages API request for one model call.

    ``temperature`` is clamped to Anthropic's [0, 1]; ``seed`` and the penalties have no
    Anthropic equivalent and are not sent.

    Raises:
        RequestError: ``response_format`` is set; the Messages API has none.
    """
    if sampling.response_format is not None:
        raise RequestError(
            "response_format is not supported by Anthropic models", param="response_format"
        )
    system, converted = messages_to_anthropic(messages)
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": sampling.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": converted,
        "stream": True,
    }
    if system:
        body["system"] = system
    if tools:
        body["tools"] = [tool_to_anthropic(tool) for tool in tools]
        choice = sampling.tool_choice
        tool_choice: dict[str, Any] = {"type": "auto"}
        if choice is not None and choice.mode == "required":
            tool_choice = {"type": "any"}
        elif choice is not None and choice.mode == "tool":
            tool_choice = {"type": "tool", "name": choice.name}
        if sampling.parallel_tool_calls is False:
            tool_choice["disable_parallel_tool_use"] = True
        if tool_choice != {"type": "auto"}:
            body["tool_choice"] = tool_choice
    if sampling.temperature is not None:
        body["temperature"] = min(max(sampling.temperature, 0.0), 1.0)
    if sampling.top_p is not None:
        body["top_p"] = sampling.top_p
    if sampling.stop:
        body["stop_sequences"] = list(sampling.stop)
    return body


@attrs.define
class AnthropicStreamParser:
    """Messages API stream events -> model events.

    Tool-use blocks are numbered in order of appearance, so ``ToolCallDelta.index``
    counts tool calls, not content blocks. A tool call whose input never streamed gets
    ``{}``, so its arguments are always a JSON object.
    """

    model: str = ""
    done: bool = False
    _input_tokens: int = 0
    _output_tokens: int = 0
    _reason: FinishReason | None = None
    _tools: dict[int, int] = attrs.Factory(dict)
    """Content block index -> tool call number."""
    _has_input: set[int] = attrs.Factory(set)

    def feed(self, event: ServerSentEvent) -> list[ModelEvent]:
        if event.event == "ping":
            return []
        try:
            data = _json.loads(event.data)
        except ValueError:
            raise UpstreamProtocolError("the provider sent an event that is not JSON") from None
        if not isinstance(data, dict):
            raise UpstreamProtocolError("the provider sent an event that is not an object")
        try:
            return self._handle(data.get("type") or event.event, data)
        except (KeyError, TypeError, AttributeError):
            raise UpstreamProtocolError("the provider sent a malformed event") from None

    def _handle(self, kind: str, data: dict[str, Any]) -> list[ModelEvent]:
        if kind == "content_block_delta":
            delta = data["delta"]
            if delta["type"] == "text_delta":
                return [TextDelta(delta["text"])] if delta["text"] else []
            if delta["type"] == "input_json_delta" and delta["partial_json"]:
                index = data["index"]
                self._has_input.add(index)
                return [ToolCallDelta(self._tools[index], arguments=delta["partial_json"])]
            return []  # thinking, signatures, citations: not part of the answer
        if kind == "content_block_start":
            block, index = data["content_block"], data["index"]
            if block["type"] == "tool_use":
                number = self._tools[index] = len(self._tools)
                events: list[ModelEvent] = [
                    ToolCallDelta(number, id=block["id"], name=block["name"])
                ]
                if block.get("input"):
                    self._has_input.add(index)
                    events.append(ToolCallDelta(number, arguments=json.dumps(block["input"])))
                return events
            if block["type"] == "text" and block.get("text"):
                return [TextDelta(block["text"])]
            return []
        if kind == "content_block_stop":
            index = data["index"]
            if index in self._tools and index not in self._has_input:
                return [ToolCallDelta(self._tools[index], arguments="{}")]
            return []
        if kind == "message_start":
            self._count(data["message"].get("usage") or {})
        elif kind == "message_delta":
            reason = data["delta"].get("stop_reason")
            if isinstance(reason, str):
                self._reason = _STOP_REASONS.get(reason, "stop")
            self._count(data.get("usage") or {})
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            error_type = error_code_of(data)
            status = _ERROR_STATUS.get(error_type or "", 500)
            raise classify(error_for_status(status, model=self.model, code=error_type))
        # Other events (and new ones Anthropic adds) are ignored, as its docs ask.
        return []

    def _count(self, usage: dict[str, Any]) -> None:
        prompt = sum(
            usage[key]
            for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
            if isinstance(usage.get(key), int)
        )
        if prompt:
            self._input_tokens = prompt
        if isinstance(usage.get("output_tokens"), int):
            self._output_tokens = usage["output_tokens"]

    def finish(self) -> list[ModelEvent]:
        if not self.done:
            raise UpstreamProtocolError("the provider's stream ended before the answer did")
        return [
            UsageReport(Usage(self._input_tokens, self._output_tokens)),
            Finished(self._reason or "stop"),
        ]


@attrs.define(kw_only=True)
class AnthropicClient:
    """A :class:`~trioagent.models.base.ModelClient` for the Anthropic Messages API.

    Args:
        model: the model id (``claude-sonnet-4-5``).
        base_url: the API root, ``https://api.anthropic.com`` (a trailing ``/v1`` is
            fine); ``/v1/messages`` is added to it.
        api_key: sent as ``x-api-key``.
        defaults: sampling settings from the model config; each call's ``Sampling``
            overrides them field by field.
        retry: when and how to retry a call that failed before its first event.
        timeout: the httpx timeouts (connect 10 s, read 300 s, write and pool 30 s).
        headers: extra headers sent with every request (``anthropic-beta``...).
        transport: an httpx transport, for tests that need one.
    """

    model: str
    base_url: str = "https://api.anthropic.com"
    api_key: str | None = attrs.field(default=None, repr=False)
    defaults: Sampling = attrs.Factory(Sampling)
    retry: RetryPolicy = attrs.Factory(RetryPolicy)
    timeout: httpx.Timeout | None = None
    headers: Mapping[str, str] = attrs.Factory(dict)
    transport: httpx.AsyncBaseTransport | None = None
    _http: HTTPShards = attrs.field(init=False, repr=False)
    _url: str = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        headers = {"anthropic-version": API_VERSION, **self.headers}
        if self.api_key:
            headers["x-api-key"] = self.api_key
        self._http = HTTPShards(headers=headers, timeout=self.timeout, transport=self.transport)
        root = self.base_url.rstrip("/")
        self._url = root + ("/messages" if root.endswith("/v1") else "/v1/messages")

    def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], sampling: Sampling
    ) -> AbstractAsyncContextManager[ModelStream]:
        """Start one streamed call; see :meth:`ModelClient.stream`.

        Raises:
            RequestError: the sampling settings ask for something Anthropic cannot do.
        """
        body = request_body(self.model, messages, tools, self.defaults.override(sampling))
        return self._events(body)

    @batch_stream
    async def _events(self, body: dict[str, Any]) -> AsyncGenerator[list[ModelEvent], None]:
        sent = itertools.count()

        def attempt() -> AsyncGenerator[list[ModelEvent], None]:
            return stream_call(
                self._http,
                self._url,
                body,
                AnthropicStreamParser(model=self.model),
                model=self.model,
                resend_count=next(sent),
            )

        async for batch in retry_events(self.retry, attempt):
            yield batch

    async def aclose(self) -> None:
        """Close the connections to the provider."""
        await self._http.aclose()
