"""The openai SDK, unmodified, reads our SSE bytes and sends bodies we parse.

The SDK talks to an `httpx.MockTransport` here: these tests pin the wire format only. The
real server is tested end to end in ``tests/e2e``.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import openai
import pytest

from trioagent import wire
from trioagent.wire import ChatCompletionChunk, ChunkChoice, CompletionUsage, Delta

Handler = Callable[[httpx.Request], httpx.Response]


def sdk_client(handler: Handler) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="test",
        base_url="http://trioagent.test/v1",
        max_retries=0,
        # openai 3.x types this as an httpx2 client, and takes an httpx one as well.
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),  # type: ignore[arg-type]
    )


def sse_response(*events: bytes) -> httpx.Response:
    return httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=b"".join(events)
    )


def chunk(delta: Delta, finish: wire.FinishReason | None = None) -> ChatCompletionChunk:
    return ChatCompletionChunk(
        id="chatcmpl-1",
        created=1,
        model="root",
        usage=None,
        choices=(ChunkChoice(delta=delta, finish_reason=finish),),
    )


def test_sdk_reads_our_stream_with_usage_and_keep_alive() -> None:
    body = [
        wire.encode_event(chunk(Delta(role="assistant", content=""))),
        wire.KEEP_ALIVE,
        wire.encode_event(chunk(Delta(content="Hello"))),
        wire.encode_event(chunk(Delta(content=", world"))),
        wire.encode_event(chunk(Delta(), "stop")),
        wire.encode_event(
            ChatCompletionChunk(
                id="chatcmpl-1",
                created=1,
                model="root",
                choices=(),
                usage=CompletionUsage.of(3, 4),
            )
        ),
        wire.DONE,
    ]
    client = sdk_client(lambda request: sse_response(*body))
    stream = client.chat.completions.create(
        model="root",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello, world"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 7


def test_sdk_raises_our_in_band_error() -> None:
    error = wire.ErrorEnvelope(
        error=wire.ErrorBody(
            message="The model provider failed.", type="server_error", code="upstream_error"
        )
    )
    body = [
        wire.encode_event(chunk(Delta(role="assistant", content=""))),
        wire.encode_error(error),
        wire.DONE,
    ]
    client = sdk_client(lambda request: sse_response(*body))
    stream = client.chat.completions.create(
        model="root", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    with pytest.raises(openai.APIError, match="The model provider failed"):
        list(stream)


def test_sdk_request_body_parses() -> None:
    """Everything the SDK sends for a tool round trip with an image parses, field by field."""
    sent: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.content)
        return httpx.Response(400, json={"error": {"message": "stop", "type": "test"}})

    client = sdk_client(handler)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="root",
            messages=[
                {"role": "developer", "content": "Be brief."},
                {"role": "system", "content": [{"type": "text", "text": "Use metric units."}]},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this, and the weather there?"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"},
                        },
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"},
            ],
            tools=[
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "description": "Weather in a city.",
                        "parameters": {
                            "type": "object",
                            "properties": {"city": {"type": "string"}},
                            "required": ["city"],
                        },
                        "strict": True,
                    },
                }
            ],
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
            temperature=0.2,
            top_p=0.9,
            max_completion_tokens=256,
            stop=["END"],
            seed=7,
            presence_penalty=0.1,
            frequency_penalty=-0.1,
            parallel_tool_calls=False,
            n=1,
            response_format={"type": "json_object"},
            user="u-1",
            metadata={"k": "v"},
            store=False,
            service_tier="auto",
            reasoning_effort="low",
        )
    request = wire.parse_chat_request(sent[0])
    assert [type(m).__name__ for m in request.messages] == [
        "DeveloperMessage",
        "SystemMessage",
        "UserMessage",
        "AssistantMessage",
        "ToolMessage",
    ]
    image = request.messages[2].content[1]  # type: ignore[index]
    assert image == wire.ImagePart(
        image_url=wire.ImageURL(url="data:image/png;base64,AAAA", detail="low")
    )
    assert request.tools is not None
    assert request.tools[0].function.parameters == {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    }
    assert request.tool_choice == wire.NamedToolChoice(
        function=wire.FunctionName(name="get_weather")
    )
    assert (request.temperature, request.max_completion_tokens, request.stop) == (
        0.2,
        256,
        ("END",),
    )
    # Written back (as the upstream body), it is what the SDK sent.
    assert json.loads(wire.dumps(request)) == json.loads(sent[0])
