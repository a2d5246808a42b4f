"""What every HTTP model client promises, run on the OpenAI-compatible and the Anthropic one.

Each client talks to its fake upstream over real loopback sockets. Both turn their
provider's stream into the same events and their provider's failures into the same
exception classes, retry the same way, and give the connection back when the caller
stops. What only one wire does (request bodies, message shapes, stream parsers) is tested
in that client's own file.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

import attrs
import httpx
import pytest
import trio

from trioagent.chat import Sampling, ToolCall, Usage
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
    AnthropicClient,
    Finished,
    ModelClient,
    ModelEvent,
    OpenAICompatClient,
    TextDelta,
    ToolCallDelta,
    UsageReport,
)
from trioagent.testing import drop, error, hang, malformed, text, tool_calls

from .support import FAST, HELLO, WEATHER, collect

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from trioagent.testing import FakeAnthropic, FakeOpenAI


@attrs.frozen(kw_only=True)
class Provider:
    """One client kind, its fake upstream and what its wire says in errors."""

    name: str
    fake: FakeOpenAI | FakeAnthropic
    """Requires ``key``."""
    key: str
    model: str
    make: Callable[..., ModelClient]
    """The client class: ``make(model=, base_url=, api_key=, retry=, ...)``."""
    api_root: str
    """What follows the origin in a base URL: ``/v1`` for OpenAI, nothing for Anthropic."""
    codes: dict[int, str]
    """The error code (or type) the fake sends for a status, which our message names."""

    def client(self, **settings: Any) -> ModelClient:
        """A client of the fake, with the right key and fast retries unless ``settings``
        say otherwise."""
        settings = {
            "model": self.model,
            "base_url": self.fake.base_url,
            "api_key": self.key,
            "retry": FAST,
            **settings,
        }
        return self.make(**settings)


@pytest.fixture(params=["openai", "anthropic"])
def provider(
    request: pytest.FixtureRequest, fake: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> Provider:
    if request.param == "openai":
        fake.api_key = "sk-test"  # as the Anthropic fake, it checks the key
        return Provider(
            name="openai",
            fake=fake,
            key="sk-test",
            model="gpt-test",
            make=OpenAICompatClient,
            api_root="/v1",
            codes={429: "rate_limit_exceeded", 500: "server_error", 503: "server_error"},
        )
    return Provider(
        name="anthropic",
        fake=fake_anthropic,
        key="sk-ant-test",
        model="claude-test",
        make=AnthropicClient,
        api_root="",
        codes={429: "rate_limit_error", 500: "api_error", 503: "api_error"},
    )


@pytest.fixture
async def client(provider: Provider) -> AsyncIterator[ModelClient]:
    client = provider.client()
    yield client
    await client.aclose()


# The stream.


async def test_text_is_streamed_in_pieces_then_usage_and_finish(
    provider: Provider, client: ModelClient
) -> None:
    provider.fake.enqueue(text(chunks=["Hel", "lo", " there"], usage=(7, 3), chunk_delay=0.05))
    assert await collect(client) == [
        TextDelta("Hel"),
        TextDelta("lo"),
        TextDelta(" there"),
        UsageReport(Usage(7, 3)),
        Finished("stop"),
    ]


async def test_pieces_of_one_network_read_travel_as_one_event(
    provider: Provider, client: ModelClient
) -> None:
    provider.fake.enqueue(text(chunks=["Hel", "lo", " there"], usage=(7, 3)))  # one write
    assert await collect(client) == [
        TextDelta("Hello there"),
        UsageReport(Usage(7, 3)),
        Finished("stop"),
    ]


async def test_streamed_tool_call_arguments_are_reassembled(
    provider: Provider, client: ModelClient
) -> None:
    provider.fake.enqueue(
        tool_calls(
            [
                ("call_1", "get_weather", '{"city": "Paris"}'),
                ("call_2", "get_weather", '{"city": "Oslo"}'),
            ],
            arg_chunks=3,
            content="Let me check.",
        )
    )
    events = await collect(client, tools=[WEATHER])
    assert events[0] == TextDelta("Let me check.")  # arrived in one read: one piece
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    # The head and the argument pieces came in one read: they travel as one delta.
    assert deltas[0] == ToolCallDelta(
        0, id="call_1", name="get_weather", arguments='{"city": "Paris"}'
    )
    calls: dict[int, ToolCall] = {}
    for delta in deltas:
        call = calls.get(delta.index, ToolCall("", "", ""))
        calls[delta.index] = ToolCall(
            delta.id or call.id, delta.name or call.name, call.arguments + delta.arguments
        )
    assert list(calls.values()) == [
        ToolCall("call_1", "get_weather", '{"city": "Paris"}'),
        ToolCall("call_2", "get_weather", '{"city": "Oslo"}'),
    ]
    assert events[-1] == Finished("tool_calls")


@pytest.mark.parametrize(
    ("finish", "expected"),
    [("stop", "stop"), ("length", "length"), ("content_filter", "stop")],
    ids=["stop", "length", "content_filter"],
)
async def test_finish_reasons_are_mapped(
    provider: Provider, client: ModelClient, finish: str, expected: str
) -> None:
    provider.fake.enqueue(text("x", finish_reason=finish))  # type: ignore[arg-type]
    assert (await collect(client))[-1] == Finished(expected)  # type: ignore[arg-type]


# Retries.


@pytest.mark.parametrize(
    "status", [429, 500, 503, 529], ids=["rate-limited", "500", "503", "overloaded"]
)
@pytest.mark.parametrize("retry_after", [None, 0], ids=["no-retry-after", "retry-after-0"])
async def test_retryable_errors_then_success(
    provider: Provider, client: ModelClient, status: int, retry_after: float | None
) -> None:
    provider.fake.enqueue(error(status, retry_after=retry_after), text("ok"))
    assert TextDelta("ok") in await collect(client)
    assert len(provider.fake.requests) == 2


async def test_rate_limit_is_retried_after_the_retry_after_wait(
    provider: Provider, client: ModelClient
) -> None:
    provider.fake.enqueue(error(429, retry_after=0.1), text("ok"))
    start = trio.current_time()
    assert TextDelta("ok") in await collect(client)
    assert trio.current_time() - start >= 0.1
    assert len(provider.fake.requests) == 2


async def test_connection_dropped_before_any_event_is_retried(
    provider: Provider, client: ModelClient
) -> None:
    provider.fake.enqueue(drop(""), text("ok"))
    assert TextDelta("ok") in await collect(client)
    assert len(provider.fake.requests) == 2


# Failures, each the same exception class whatever the provider.


@pytest.mark.parametrize("status", [500, 503])
async def test_repeated_server_errors_raise_after_the_last_attempt(
    provider: Provider, client: ModelClient, status: int
) -> None:
    provider.fake.enqueue(*[error(status, "secret upstream detail")] * 3, text("never"))
    with pytest.raises(UpstreamHTTPError) as caught:
        await collect(client)
    assert caught.value.status == status
    assert provider.codes[status] in str(caught.value)
    assert "secret upstream detail" not in str(caught.value)
    assert len(provider.fake.requests) == 3


async def test_repeated_rate_limits_raise_rate_limited(
    provider: Provider, client: ModelClient
) -> None:
    provider.fake.enqueue(*[error(429)] * 3)
    with pytest.raises(UpstreamRateLimited) as caught:
        await collect(client)
    assert provider.codes[429] in str(caught.value)
    assert len(provider.fake.requests) == 3


async def test_wrong_key_is_an_auth_error_and_not_retried(provider: Provider) -> None:
    client = provider.client(api_key="sk-wrong-key")
    try:
        with pytest.raises(UpstreamAuthError) as caught:
            await collect(client)
    finally:
        await client.aclose()
    assert caught.value.status == 401
    assert "sk-wrong-key" not in str(caught.value)
    assert len(provider.fake.requests) == 1


async def test_unknown_model_is_model_not_found(provider: Provider, client: ModelClient) -> None:
    provider.fake.enqueue(error(404, "The model does not exist"))
    with pytest.raises(UpstreamModelNotFound, match=provider.model):
        await collect(client)


async def test_malformed_stream_is_a_protocol_error(
    provider: Provider, client: ModelClient
) -> None:
    provider.fake.enqueue(malformed())
    with pytest.raises(UpstreamProtocolError):
        await collect(client)
    assert len(provider.fake.requests) == 1


async def test_connection_refused_is_a_connect_error_without_hanging(
    provider: Provider,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = provider.client(base_url=f"http://127.0.0.1:{port}{provider.api_root}")
    try:
        with pytest.raises(
            UpstreamConnectError, match="could not connect to the model provider"
        ) as caught:
            await collect(client)
        # The address is for logs and the terminal; callers of a server never see it.
        assert caught.value.where == f"http://127.0.0.1:{port}"
        assert "127.0.0.1" not in str(caught.value)
    finally:
        await client.aclose()


async def test_connection_dropped_mid_answer_is_a_connect_error(
    provider: Provider, client: ModelClient
) -> None:
    provider.fake.enqueue(drop("partial answer"), text("not retried"))
    received: list[ModelEvent] = []

    async def consume() -> None:
        async with client.stream(HELLO, [], Sampling()) as events:
            async for event in events:
                received.append(event)

    with trio.fail_after(5), pytest.raises(UpstreamConnectError):
        await consume()
    assert received == [TextDelta("partial answer")]
    assert len(provider.fake.requests) == 1  # text already reached the caller: no retry


async def test_a_silent_upstream_times_out(provider: Provider) -> None:
    provider.fake.enqueue(hang())
    client = provider.client(timeout=httpx.Timeout(5, read=0.1))
    try:
        with pytest.raises(UpstreamTimeout):
            await collect(client)
    finally:
        await client.aclose()
    assert len(provider.fake.requests) == 1


# Cancellation and connections.


async def test_cancellation_mid_stream_closes_the_upstream_connection(
    provider: Provider, client: ModelClient
) -> None:
    provider.fake.enqueue(text(chunks=["a", "b", "c"], chunk_delay=30))
    with trio.fail_after(5):
        with trio.CancelScope() as scope:
            async with client.stream(HELLO, [], Sampling()) as events:
                async for event in events:
                    assert event == TextDelta("a")
                    scope.cancel()
        assert scope.cancelled_caught
        await provider.fake.wait_disconnects(1)


async def test_leaving_the_stream_early_closes_the_upstream_connection(
    provider: Provider, client: ModelClient
) -> None:
    provider.fake.enqueue(text(chunks=["a", "b"], chunk_delay=30))
    with trio.fail_after(5):
        async with client.stream(HELLO, [], Sampling()) as events:
            async for _ in events:
                break
        await provider.fake.wait_disconnects(1)


async def test_a_hanging_upstream_is_cancelled_by_the_callers_scope(
    provider: Provider, client: ModelClient
) -> None:
    provider.fake.enqueue(hang())
    with trio.fail_after(5):
        with trio.move_on_after(0.2) as scope:
            await collect(client)
        assert scope.cancelled_caught
        await provider.fake.wait_disconnects(1)


async def test_calls_reuse_one_connection(provider: Provider, client: ModelClient) -> None:
    for _ in range(5):
        await collect(client)
    assert provider.fake.connections == 1
    assert provider.fake.disconnects == 0


async def test_many_concurrent_calls_share_few_connections(provider: Provider) -> None:
    client = provider.client()
    provider.fake.default = text("ok", delay=0.05)
    try:
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                for _ in range(100):
                    nursery.start_soon(collect, client)
            first = provider.fake.connections
            async with trio.open_nursery() as nursery:
                for _ in range(100):
                    nursery.start_soon(collect, client)
    finally:
        await client.aclose()
    assert first <= 100
    assert provider.fake.connections == first  # the second wave reused every connection
