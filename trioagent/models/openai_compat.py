"""A model client for the OpenAI Chat Completions API and the servers that copy it.

One client speaks to OpenAI, Ollama, vLLM, llama.cpp, LM Studio and any other
OpenAI-compatible server: it POSTs ``/chat/completions`` with ``stream: true`` and
``stream_options.include_usage`` and reads the SSE answer. The request is a
`trioagent.wire.ChatCompletionRequest`, written by the wire converter: the JSON shape the
server reads from its clients is the one this client sends upstream.
"""

from __future__ import annotations

import itertools
import json
from typing import TYPE_CHECKING, Any, Literal

import attrs

from trioagent import wire
from trioagent.chat import Sampling, Usage
from trioagent.errors import UpstreamHTTPError, UpstreamProtocolError

from . import _json
from ._channel import batch_stream
from ._transport import HTTPShards, stream_call
from ._upstream_errors import error_code_of
from .base import Finished, TextDelta, ToolCallDelta, UsageReport
from .retry import RetryPolicy, classify, retry_events

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Mapping, Sequence
    from contextlib import AbstractAsyncContextManager

    import httpx

    from trioagent.chat import FinishReason, Message, ToolSpec

    from ._sse import ServerSentEvent
    from .base import ModelEvent, ModelStream

_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "stop",
}


MaxTokensField = Literal["max_tokens", "max_completion_tokens"]
"""The request field that carries ``Sampling.max_tokens``."""


def message_to_openai(message: Message) -> wire.ChatMessage:
    """One chat message as a Chat Completions request message.

    Images go with user messages only (`Message.images` is documented as such).
    """
    if message.role == "tool":
        return wire.ToolMessage(content=message.content, tool_call_id=message.tool_call_id or "")
    if message.role == "assistant":
        if not message.tool_calls:
            return wire.AssistantMessage(content=message.content)
        return wire.AssistantMessage(
            content=message.content or None,
            tool_calls=tuple(
                wire.ResponseToolCall(
                    id=call.id, function=wire.FunctionCall(name=call.name, arguments=call.arguments)
                )
                for call in message.tool_calls
            ),
        )
    if message.role == "system":
        return wire.SystemMessage(content=message.content)
    if not message.images:
        return wire.UserMessage(content=message.content)
    parts: list[wire.ContentPart] = []
    if message.content:
        parts.append(wire.TextPart(text=message.content))
    parts.extend(wire.ImagePart(image_url=wire.ImageURL(url=url)) for url in message.images)
    return wire.UserMessage(content=tuple(parts))


def tool_to_openai(tool: ToolSpec) -> wire.ToolDef:
    """One tool as a Chat Completions ``tools`` entry."""
    return wire.ToolDef(
        function=wire.FunctionDef(
            name=tool.name,
            description=tool.description,
            parameters=tool.parameters,
        )
    )


def chat_request(
    model: str,
    messages: Sequence[Message],
    tools: Sequence[ToolSpec],
    sampling: Sampling,
    *,
    max_tokens_field: MaxTokensField = "max_tokens",
) -> wire.ChatCompletionRequest:
    """The streaming Chat Completions request for one model call.

    Args:
        model: the provider's model id.
        messages: the conversation so far.
        tools: the tools offered; ``parallel_tool_calls`` and ``tool_choice`` are sent
            only with tools.
        sampling: the call's sampling settings; unset ones are left out.
        max_tokens_field: ``max_tokens``, or ``max_completion_tokens`` for OpenAI's
            newer models, which refuse the old name.
    """
    tool_choice: wire.ToolChoice | None = None
    choice = sampling.tool_choice
    if tools and choice is not None:
        tool_choice = (
            wire.NamedToolChoice(function=wire.FunctionName(name=choice.name or ""))
            if choice.mode == "tool"
            else choice.mode
        )
    return wire.ChatCompletionRequest(
        model=model,
        messages=tuple(message_to_openai(message) for message in messages),
        stream=True,
        stream_options=wire.StreamOptions(include_usage=True),
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        max_tokens=sampling.max_tokens if max_tokens_field == "max_tokens" else None,
        max_completion_tokens=(
            sampling.max_tokens if max_tokens_field == "max_completion_tokens" else None
        ),
        stop=tuple(sampling.stop) or None,
        seed=sampling.seed,
        presence_penalty=sampling.presence_penalty,
        frequency_penalty=sampling.frequency_penalty,
        parallel_tool_calls=sampling.parallel_tool_calls if tools else None,
        response_format=sampling.response_format,
        tools=tuple(tool_to_openai(tool) for tool in tools) or None,
        tool_choice=tool_choice,
    )


def request_body(
    model: str,
    messages: Sequence[Message],
    tools: Sequence[ToolSpec],
    sampling: Sampling,
    *,
    max_tokens_field: MaxTokensField = "max_tokens",
) -> dict[str, Any]:
    """`chat_request` as a JSON object, for callers that add their own keys (``local``)."""
    body: dict[str, Any] = wire.converter.unstructure(
        chat_request(
            model,
            messages,
            tools,
            sampling,
            max_tokens_field=max_tokens_field,
        )
    )
    return body


@attrs.define
class OpenAIStreamParser:
    """Chat Completions chunks -> model events.

    Text and each tool-call argument piece become events as they arrive; usage and the
    finish reason are held back and sent last, after ``data: [DONE]`` (or the end of a
    stream that had a finish reason). A server that says ``stop`` after calling tools (as
    some local servers do) finishes with ``tool_calls``.
    """

    done: bool = False
    _reason: FinishReason | None = None
    _usage: Usage | None = None
    _called_tools: bool = False

    def feed(self, event: ServerSentEvent) -> list[ModelEvent]:
        data = event.data
        if data == "[DONE]":
            self.done = True
            return []
        try:
            chunk = _json.loads(data)
        except ValueError:
            raise UpstreamProtocolError("the provider sent an event that is not JSON") from None
        if not isinstance(chunk, dict):
            raise UpstreamProtocolError("the provider sent an event that is not an object")
        return self.feed_chunk(chunk)

    def feed_chunk(self, chunk: dict[str, Any]) -> list[ModelEvent]:
        """Take one decoded chunk (an object); return the events it completes."""
        if chunk.get("error") is not None:
            raise _in_band_error(chunk)
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._usage = _usage_of(usage)
        events: list[ModelEvent] = []
        choices = chunk.get("choices")
        if choices is None:
            choices = []
        if not isinstance(choices, list):
            raise UpstreamProtocolError("the provider sent choices that are not a list")
        for choice in choices:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if not isinstance(delta, dict):
                raise UpstreamProtocolError("the provider sent a delta that is not an object")
            content = delta.get("content")
            if isinstance(content, str) and content:
                events.append(TextDelta(content))
            for call in delta.get("tool_calls") or ():
                piece = _tool_call_delta(call)
                if piece is not None:
                    self._called_tools = True
                    events.append(piece)
            reason = choice.get("finish_reason")
            if isinstance(reason, str):
                self._reason = _FINISH_REASONS.get(reason, "stop")
        return events

    def finish(self) -> list[ModelEvent]:
        if not self.done and self._reason is None:
            raise UpstreamProtocolError("the provider's stream ended before the answer did")
        reason = self._reason or ("tool_calls" if self._called_tools else "stop")
        if reason == "stop" and self._called_tools:
            reason = "tool_calls"
        events: list[ModelEvent] = []
        if self._usage is not None:
            events.append(UsageReport(self._usage))
        events.append(Finished(reason))
        return events


def _tool_call_delta(call: Any) -> ToolCallDelta | None:
    if not isinstance(call, dict):
        raise UpstreamProtocolError("the provider sent a tool call that is not an object")
    index = call.get("index", 0)
    function = call.get("function") or {}
    if not isinstance(index, int) or not isinstance(function, dict):
        raise UpstreamProtocolError("the provider sent a malformed tool call")
    call_id, name, arguments = call.get("id"), function.get("name"), function.get("arguments")
    if not (call_id is None or isinstance(call_id, str)) or not (
        name is None or isinstance(name, str)
    ):
        raise UpstreamProtocolError("the provider sent a malformed tool call")
    if arguments is not None and not isinstance(arguments, str):
        # Some servers send the arguments as an object instead of JSON text.
        arguments = json.dumps(arguments)
    if call_id is None and name is None and not arguments:
        return None
    return ToolCallDelta(index, id=call_id or None, name=name or None, arguments=arguments or "")


def _usage_of(usage: dict[str, Any]) -> Usage:
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return Usage(
        prompt if isinstance(prompt, int) else 0, completion if isinstance(completion, int) else 0
    )


def _in_band_error(chunk: dict[str, Any]) -> Exception:
    """An error a server sent inside the stream (OpenRouter, vLLM and others do)."""
    error = chunk["error"]
    status = None
    if isinstance(error, dict):
        status = error.get("status") or error.get("code")
    if not isinstance(status, int) or not 400 <= status <= 599:
        status = 502
    code = error_code_of(chunk)
    detail = f" ({code})" if code else ""
    return classify(UpstreamHTTPError(status, f"the provider failed mid-answer{detail}"))


@attrs.define(kw_only=True)
class OpenAICompatClient:
    """A :class:`~trioagent.models.base.ModelClient` for OpenAI-compatible servers.

    Args:
        model: the provider's model id.
        base_url: the API root, ending in ``/v1`` for most servers
            (``https://api.openai.com/v1``); ``/chat/completions`` is added to it.
        api_key: sent as ``Authorization: Bearer``; ``None`` for servers without keys.
        defaults: sampling settings from the model config; each call's ``Sampling``
            overrides them field by field.
        retry: when and how to retry a call that failed before its first event.
        timeout: the httpx timeouts (connect 10 s, read 300 s, write and pool 30 s).
        max_tokens_field: the request field for ``max_tokens``.
        headers: extra headers sent with every request.
        transport: an httpx transport, for tests that need one.
    """

    model: str
    base_url: str
    api_key: str | None = attrs.field(default=None, repr=False)
    defaults: Sampling = attrs.Factory(Sampling)
    retry: RetryPolicy = attrs.Factory(RetryPolicy)
    timeout: httpx.Timeout | None = None
    max_tokens_field: MaxTokensField = "max_tokens"
    headers: Mapping[str, str] = attrs.Factory(dict)
    transport: httpx.AsyncBaseTransport | None = None
    _http: HTTPShards = attrs.field(init=False, repr=False)
    _url: str = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        headers = dict(self.headers)
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        self._http = HTTPShards(headers=headers, timeout=self.timeout, transport=self.transport)
        self._url = self.base_url.rstrip("/") + "/chat/completions"

    def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], sampling: Sampling
    ) -> AbstractAsyncContextManager[ModelStream]:
        """Start one streamed call; see :meth:`ModelClient.stream`."""
        body = wire.dumps(
            chat_request(
                self.model,
                messages,
                tools,
                self.defaults.override(sampling),
                max_tokens_field=self.max_tokens_field,
            )
        )
        return self._events(body)

    @batch_stream
    async def _events(self, body: bytes) -> AsyncGenerator[list[ModelEvent], None]:
        sent = itertools.count()

        def attempt() -> AsyncGenerator[list[ModelEvent], None]:
            return stream_call(
                self._http,
                self._url,
                body,
                OpenAIStreamParser(),
                model=self.model,
                resend_count=next(sent),
            )

        async for batch in retry_events(self.retry, attempt):
            yield batch

    async def aclose(self) -> None:
        """Close the connections to the provider."""
        await self._http.aclose()
