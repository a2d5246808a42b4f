"""OpenAICompatClient's own wire: the Chat Completions request it sends, and its stream parser.

What every HTTP model client does (streaming, tool calls, errors, retries, cancellation,
connections) is in test_provider_contract.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import ExitStack

import pytest

from trioagent.chat import Message, Sampling, ToolCall, ToolChoice
from trioagent.errors import UpstreamHTTPError, UpstreamProtocolError
from trioagent.models import Finished, ModelEvent, OpenAICompatClient, TextDelta
from trioagent.models._sse import ServerSentEvent
from trioagent.models.openai_compat import OpenAIStreamParser
from trioagent.models.retry import Retryable
from trioagent.testing import FakeOpenAI

from .support import FAST, WEATHER, collect


@pytest.fixture
async def client(fake: FakeOpenAI) -> AsyncIterator[OpenAICompatClient]:
    client = OpenAICompatClient(
        model="gpt-test", base_url=fake.base_url, api_key="sk-test", retry=FAST
    )
    yield client
    await client.aclose()


async def test_a_call_posts_a_streamed_chat_completion_that_reports_usage(
    fake: FakeOpenAI, client: OpenAICompatClient
) -> None:
    await collect(client)
    [request] = fake.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.json == {
        "model": "gpt-test",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def test_tools_are_sent_as_functions(fake: FakeOpenAI, client: OpenAICompatClient) -> None:
    await collect(client, tools=[WEATHER])
    assert fake.requests[0].json["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather in a city.",
                "parameters": WEATHER.parameters,
            },
        }
    ]


async def test_sampling_overrides_the_client_defaults_in_the_request_body(
    fake: FakeOpenAI,
) -> None:
    client = OpenAICompatClient(
        model="m",
        base_url=fake.base_url,
        retry=FAST,
        defaults=Sampling(temperature=0.9, max_tokens=100, top_p=0.5, parallel_tool_calls=False),
    )
    try:
        await collect(
            client,
            tools=[WEATHER],
            sampling=Sampling(
                temperature=0.2,
                stop=("END",),
                seed=7,
                presence_penalty=0.1,
                frequency_penalty=-0.1,
                response_format={"type": "json_object"},
            ),
        )
        await collect(client, sampling=Sampling(max_tokens=5))
    finally:
        await client.aclose()
    first, second = (request.json for request in fake.requests)
    assert {key: first[key] for key in first if key not in ("messages", "tools")} == {
        "model": "m",
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.2,
        "top_p": 0.5,
        "max_tokens": 100,
        "stop": ["END"],
        "seed": 7,
        "presence_penalty": 0.1,
        "frequency_penalty": -0.1,
        "parallel_tool_calls": False,
        "response_format": {"type": "json_object"},
    }
    assert "authorization" not in fake.requests[0].headers
    # parallel_tool_calls only goes with tools
    assert "parallel_tool_calls" not in second
    assert second["max_tokens"] == 5


async def test_messages_are_converted_to_chat_completions_shape(
    fake: FakeOpenAI, client: OpenAICompatClient
) -> None:
    call = ToolCall("call_1", "get_weather", '{"city":"Paris"}')
    await collect(
        client,
        [
            Message.system("Be brief."),
            Message("user", "What is this?", images=("https://example.com/a.png",)),
            Message.assistant("", (call,)),
            Message.tool("call_1", "sunny"),
            Message.assistant("It is sunny."),
        ],
    )
    assert fake.requests[0].json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
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
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "assistant", "content": "It is sunny."},
    ]


def feed(parser: OpenAIStreamParser, *data: str) -> list[ModelEvent]:
    return [event for item in data for event in parser.feed(ServerSentEvent(data=item))]


def test_stream_without_done_or_finish_is_a_protocol_error() -> None:
    parser = OpenAIStreamParser()
    feed(parser, '{"choices":[{"index":0,"delta":{"content":"a"}}]}')
    with pytest.raises(UpstreamProtocolError):
        parser.finish()


def test_finish_reason_without_done_is_accepted() -> None:
    parser = OpenAIStreamParser()
    feed(parser, '{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}')
    assert parser.finish() == [Finished("stop")]


def test_tool_calls_with_a_stop_finish_finish_with_tool_calls() -> None:
    parser = OpenAIStreamParser()
    feed(
        parser,
        '{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":'
        '{"name":"f","arguments":{"a":1}}}]},"finish_reason":"stop"}]}',
        "[DONE]",
    )
    assert parser.finish() == [Finished("tool_calls")]


def test_an_error_inside_the_stream_is_an_http_error() -> None:
    with pytest.raises(Retryable) as caught:
        feed(OpenAIStreamParser(), '{"error":{"message":"boom","code":"overloaded"}}')
    assert isinstance(caught.value.error, UpstreamHTTPError)
    assert caught.value.error.status == 502
    assert "overloaded" in str(caught.value.error)
    assert "boom" not in str(caught.value.error)


def test_http_shards_fill_the_least_busy_client_then_open_another() -> None:
    from trioagent.models._transport import MAX_SHARDS, SHARD_CONNECTIONS, HTTPShards

    shards = HTTPShards(headers={})
    with ExitStack() as stack:
        clients = [stack.enter_context(shards.lease()) for _ in range(SHARD_CONNECTIONS)]
        assert len({id(c) for c in clients}) == 1  # one client until it is full
        more = stack.enter_context(shards.lease())
        assert more is not clients[0]
    with shards.lease() as again:
        assert again is clients[0]  # everything released: the first is least busy
    with ExitStack() as stack:
        leased = {
            id(stack.enter_context(shards.lease()))
            for _ in range(SHARD_CONNECTIONS * (MAX_SHARDS + 2))
        }
    assert len(leased) == MAX_SHARDS


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        (ToolChoice("auto"), "auto"),
        (ToolChoice("required"), "required"),
        (
            ToolChoice("tool", "get_weather"),
            {"type": "function", "function": {"name": "get_weather"}},
        ),
    ],
)
async def test_tool_choice_is_sent_with_tools(
    fake: FakeOpenAI, choice: ToolChoice, sent: object
) -> None:
    client = OpenAICompatClient(model="m", base_url=fake.base_url, retry=FAST)
    try:
        await collect(client, tools=[WEATHER], sampling=Sampling(tool_choice=choice))
        await collect(client, sampling=Sampling(tool_choice=choice))
    finally:
        await client.aclose()
    with_tools, without = (request.json for request in fake.requests)
    assert with_tools["tool_choice"] == sent
    assert "tool_choice" not in without


def test_a_chunk_orjson_refuses_is_read_as_the_json_module_reads_it() -> None:
    """Chunks are read with orjson, which refuses NaN and lone surrogate escapes that
    `json.loads` accepts: such a chunk still means what it meant before."""
    parser = OpenAIStreamParser()
    data = '{"choices":[{"index":0,"delta":{"content":"a\\ud800"}}],"score":NaN}'
    assert parser.feed(ServerSentEvent(data=data)) == [TextDelta("a\ud800")]


def test_a_chunk_that_is_not_json_is_a_protocol_error() -> None:
    with pytest.raises(UpstreamProtocolError, match="not JSON"):
        OpenAIStreamParser().feed(ServerSentEvent(data='{"choices": ['))
