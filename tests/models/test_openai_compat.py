"""OpenAICompatClient against the fake OpenAI upstream, over real loopback sockets."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import ExitStack

import httpx
import pytest
import trio

from trioagent.chat import Message, Sampling, ToolCall, ToolChoice, ToolSpec, Usage
from trioagent.errors import (
    UpstreamAuthError,
    UpstreamConnectError,
    UpstreamHTTPError,
    UpstreamModelNotFound,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from trioagent.models import (
    Finished,
    ModelEvent,
    OpenAICompatClient,
    RetryPolicy,
    TextDelta,
    ToolCallDelta,
    UsageReport,
)
from trioagent.models._sse import ServerSentEvent
from trioagent.models.openai_compat import OpenAIStreamParser
from trioagent.models.retry import Retryable
from trioagent.testing import (
    FakeOpenAI,
    drop,
    error,
    hang,
    malformed,
    open_fake_openai,
    text,
    tool_calls,
)

FAST = RetryPolicy(base_delay=0.001, max_delay=0.005, max_retry_after=1.0)
HELLO = [Message.user("hi")]
WEATHER = ToolSpec("get_weather", "The weather in a city.",
                   {"type": "object", "properties": {"city": {"type": "string"}}})


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with open_fake_openai() as fake:
        yield fake


@pytest.fixture
async def client(fake: FakeOpenAI) -> AsyncIterator[OpenAICompatClient]:
    client = OpenAICompatClient(model="gpt-test", base_url=fake.base_url, api_key="sk-test",
                                retry=FAST)
    yield client
    await client.aclose()


async def collect(
    client: OpenAICompatClient, messages: Sequence[Message] = HELLO,
    tools: Sequence[ToolSpec] = (), sampling: Sampling | None = None,
) -> list[ModelEvent]:
    with trio.fail_after(5):
        async with client.stream(messages, tools, sampling or Sampling()) as events:
            return [event async for event in events]


async def test_text_is_streamed_in_pieces_then_usage_and_finish(
    fake: FakeOpenAI, client: OpenAICompatClient
) -> None:
    fake.enqueue(text(chunks=["Hel", "lo", " there"], usage=(7, 3), chunk_delay=0.05))
    assert await collect(client) == [
        TextDelta("Hel"), TextDelta("lo"), TextDelta(" there"),
        UsageReport(Usage(7, 3)), Finished("stop"),
    ]
    [request] = fake.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.json == {
        "model": "gpt-test", "messages": [{"role": "user", "content": "hi"}],
        "stream": True, "stream_options": {"include_usage": True},
    }


async def test_streamed_tool_call_arguments_are_reassembled(
    fake: FakeOpenAI, client: OpenAICompatClient
) -> None:
    fake.enqueue(tool_calls(
        [("call_1", "get_weather", '{"city": "Paris"}'),
         ("call_2", "get_weather", '{"city": "Oslo"}')],
        arg_chunks=3, content="Let me check."))
    events = await collect(client, tools=[WEATHER])
    assert events[0] == TextDelta("Let me check.")  # arrived in one read: one piece
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    # The head and the argument pieces came in one read: they travel as one delta.
    assert deltas[0] == ToolCallDelta(0, id="call_1", name="get_weather",
                                      arguments='{"city": "Paris"}')
    calls: dict[int, ToolCall] = {}
    for delta in deltas:
        call = calls.get(delta.index, ToolCall("", "", ""))
        calls[delta.index] = ToolCall(delta.id or call.id, delta.name or call.name,
                                      call.arguments + delta.arguments)
    assert list(calls.values()) == [ToolCall("call_1", "get_weather", '{"city": "Paris"}'),
                                    ToolCall("call_2", "get_weather", '{"city": "Oslo"}')]
    assert events[-1] == Finished("tool_calls")
    assert fake.requests[0].json["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "The weather in a city.",
        "parameters": WEATHER.parameters}}]


async def test_sampling_overrides_the_client_defaults_in_the_request_body(
    fake: FakeOpenAI,
) -> None:
    client = OpenAICompatClient(
        model="m", base_url=fake.base_url, retry=FAST,
        defaults=Sampling(temperature=0.9, max_tokens=100, top_p=0.5, parallel_tool_calls=False),
    )
    try:
        await collect(client, tools=[WEATHER], sampling=Sampling(
            temperature=0.2, stop=("END",), seed=7, presence_penalty=0.1,
            frequency_penalty=-0.1, response_format={"type": "json_object"}))
        await collect(client, sampling=Sampling(max_tokens=5))
    finally:
        await client.aclose()
    first, second = (request.json for request in fake.requests)
    assert {key: first[key] for key in first if key not in ("messages", "tools")} == {
        "model": "m", "stream": True, "stream_options": {"include_usage": True},
        "temperature": 0.2, "top_p": 0.5, "max_tokens": 100, "stop": ["END"], "seed": 7,
        "presence_penalty": 0.1, "frequency_penalty": -0.1, "parallel_tool_calls": False,
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
    await collect(client, [
        Message.system("Be brief."),
        Message("user", "What is this?", images=("https://example.com/a.png",)),
        Message.assistant("", (call,)),
        Message.tool("call_1", "sunny"),
        Message.assistant("It is sunny."),
    ])
    assert fake.requests[0].json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "assistant", "content": "It is sunny."},
    ]


@pytest.mark.parametrize(
    ("finish", "expected"),
    [("stop", "stop"), ("length", "length"), ("content_filter", "stop")],
    ids=["stop", "length", "content_filter"],
)
async def test_finish_reasons_are_mapped(
    fake: FakeOpenAI, client: OpenAICompatClient, finish: str, expected: str
) -> None:
    fake.enqueue(text("x", finish_reason=finish))  # type: ignore[arg-type]
    assert (await collect(client))[-1] == Finished(expected)  # type: ignore[arg-type]


async def test_rate_limit_is_retried_after_the_retry_after_wait(
    fake: FakeOpenAI, client: OpenAICompatClient
) -> None:
    fake.enqueue(error(429, retry_after=0.1), text("ok"))
    start = trio.current_time()
    assert TextDelta("ok") in await collect(client)
    assert trio.current_time() - start >= 0.1
    assert len(fake.requests) == 2


async def test_server_error_then_success(fake: FakeOpenAI, client: OpenAICompatClient) -> None:
    fake.enqueue(error(500), text("ok"))
    assert TextDelta("ok") in await collect(client)
    assert len(fake.requests) == 2


async def test_repeated_server_errors_raise_after_the_last_attempt(
    fake: FakeOpenAI, client: OpenAICompatClient
) -> None:
    fake.enqueue(*[error(503, "secret upstream detail")] * 3, text("never"))
    with pytest.raises(UpstreamHTTPError) as caught:
        await collect(client)
    assert caught.value.status == 503
    assert "secret upstream detail" not in str(caught.value)
    assert len(fake.requests) == 3


async def test_repeated_rate_limits_raise_rate_limited(
    fake: FakeOpenAI, client: OpenAICompatClient
) -> None:
    fake.enqueue(*[error(429)] * 3)
    with pytest.raises(UpstreamRateLimited) as caught:
        await collect(client)
    assert "rate_limit_exceeded" in str(caught.value)
    assert len(fake.requests) == 3


async def test_wrong_key_is_an_auth_error_and_not_retried(fake: FakeOpenAI) -> None:
    fake.api_key = "sk-right"
    client = OpenAICompatClient(model="m", base_url=fake.base_url, api_key="sk-wrong-key",
                                retry=FAST)
    try:
        with pytest.raises(UpstreamAuthError) as caught:
            await collect(client)
    finally:
        await client.aclose()
    assert caught.value.status == 401
    assert "sk-wrong-key" not in str(caught.value)
    assert len(fake.requests) == 1


async def test_unknown_model_is_model_not_found(
    fake: FakeOpenAI, client: OpenAICompatClient
) -> None:
    fake.enqueue(error(404, "The model does not exist"))
    with pytest.raises(UpstreamModelNotFound, match="gpt-test"):
        await collect(client)


async def test_malformed_stream_is_a_protocol_error(
    fake: FakeOpenAI, client: OpenAICompatClient
) -> None:
    fake.enqueue(malformed())
    with pytest.raises(UpstreamProtocolError):
        await collect(client)
    assert len(fake.requests) == 1


async def test_connection_refused_is_a_connect_error_without_hanging() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = OpenAICompatClient(model="m", base_url=f"http://127.0.0.1:{port}/v1", retry=FAST)
    try:
        with pytest.raises(UpstreamConnectError, match="could not connect to the model "
                           "provider") as caught:
            await collect(client)
        # The address is for logs and the terminal; callers of a server never see it.
        assert caught.value.where == f"http://127.0.0.1:{port}"
        assert "127.0.0.1" not in str(caught.value)
    finally:
        await client.aclose()


async def test_connection_dropped_mid_answer_is_a_connect_error(
    fake: FakeOpenAI, client: OpenAICompatClient
) -> None:
    fake.enqueue(drop("partial answer"), text("not retried"))
    received: list[ModelEvent] = []

    async def consume() -> None:
        async with client.stream(HELLO, [], Sampling()) as events:
            async for event in events:
                received.append(event)

    with trio.fail_after(5), pytest.raises(UpstreamConnectError):
        await consume()
    assert received == [TextDelta("partial answer")]
    assert len(fake.requests) == 1  # text already reached the caller: no retry


async def test_pieces_of_one_network_read_travel_as_one_event(
    fake: FakeOpenAI, client: OpenAICompatClient
) -> None:
    fake.enqueue(text(chunks=["Hel", "lo", " there"], usage=(7, 3)))  # one write
    assert await collect(client) == [
        TextDelta("Hello there"), UsageReport(Usage(7, 3)), Finished("stop")]


async def test_connection_dropped_before_any_event_is_retried(
    fake: FakeOpenAI, client: OpenAICompatClient
) -> None:
    fake.enqueue(drop(""), text("ok"))
    assert TextDelta("ok") in await collect(client)
    assert len(fake.requests) == 2


async def test_cancellation_mid_stream_closes_the_upstream_connection(
    fake: FakeOpenAI, client: OpenAICompatClient
) -> None:
    fake.enqueue(text(chunks=["a", "b", "c"], chunk_delay=30))
    with trio.fail_after(5):
        with trio.CancelScope() as scope:
            async with client.stream(HELLO, [], Sampling()) as events:
                async for event in events:
                    assert event == TextDelta("a")
                    scope.cancel()
        assert scope.cancelled_caught
        await fake.wait_disconnects(1)


async def test_leaving_the_stream_early_closes_the_upstream_connection(
    fake: FakeOpenAI, client: OpenAICompatClient
) -> None:
    fake.enqueue(text(chunks=["a", "b"], chunk_delay=30))
    with trio.fail_after(5):
        async with client.stream(HELLO, [], Sampling()) as events:
            async for _ in events:
                break
        await fake.wait_disconnects(1)


async def test_a_hanging_upstream_is_cancelled_by_the_callers_scope(
    fake: FakeOpenAI, client: OpenAICompatClient
) -> None:
    fake.enqueue(hang())
    with trio.fail_after(5):
        with trio.move_on_after(0.2) as scope:
            await collect(client)
        assert scope.cancelled_caught
        await fake.wait_disconnects(1)


async def test_a_silent_upstream_times_out(fake: FakeOpenAI) -> None:
    fake.enqueue(hang())
    client = OpenAICompatClient(model="m", base_url=fake.base_url, retry=FAST,
                                timeout=httpx.Timeout(5, read=0.1))
    try:
        with pytest.raises(UpstreamTimeout):
            await collect(client)
    finally:
        await client.aclose()
    assert len(fake.requests) == 1


async def test_calls_reuse_one_connection(fake: FakeOpenAI, client: OpenAICompatClient) -> None:
    for _ in range(5):
        await collect(client)
    assert fake.connections == 1
    assert fake.disconnects == 0


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
    feed(parser,
         '{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":'
         '{"name":"f","arguments":{"a":1}}}]},"finish_reason":"stop"}]}', "[DONE]")
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
        leased = {id(stack.enter_context(shards.lease()))
                  for _ in range(SHARD_CONNECTIONS * (MAX_SHARDS + 2))}
    assert len(leased) == MAX_SHARDS


async def test_many_concurrent_calls_share_few_connections(fake: FakeOpenAI) -> None:
    client = OpenAICompatClient(model="m", base_url=fake.base_url, retry=FAST)
    fake.default = text("ok", delay=0.05)
    try:
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                for _ in range(100):
                    nursery.start_soon(collect, client)
            first = fake.connections
            async with trio.open_nursery() as nursery:
                for _ in range(100):
                    nursery.start_soon(collect, client)
    finally:
        await client.aclose()
    assert first <= 100
    assert fake.connections == first  # the second wave reused every connection


@pytest.mark.parametrize(
    ("choice", "sent"),
    [(ToolChoice("auto"), "auto"), (ToolChoice("required"), "required"),
     (ToolChoice("tool", "get_weather"),
      {"type": "function", "function": {"name": "get_weather"}})],
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
