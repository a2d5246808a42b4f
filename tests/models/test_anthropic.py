"""AnthropicClient's own wire: the Messages API request it sends, how it reshapes a
conversation and tools, and its stream parser.

What every HTTP model client does (streaming, tool calls, errors, retries, cancellation,
connections) is in test_provider_contract.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from trioagent.chat import Message, Sampling, ToolCall, ToolChoice, Usage
from trioagent.errors import RequestError, UpstreamHTTPError, UpstreamProtocolError
from trioagent.models import (
    AnthropicClient,
    Finished,
    ModelEvent,
    TextDelta,
    ToolCallDelta,
    UsageReport,
)
from trioagent.models._sse import ServerSentEvent
from trioagent.models.anthropic import AnthropicStreamParser, messages_to_anthropic
from trioagent.models.retry import Retryable
from trioagent.testing import FakeAnthropic, tool_calls

from .support import FAST, WEATHER, collect


@pytest.fixture
async def client(fake_anthropic: FakeAnthropic) -> AsyncIterator[AnthropicClient]:
    client = AnthropicClient(
        model="claude-test", base_url=fake_anthropic.base_url, api_key="sk-ant-test", retry=FAST
    )
    yield client
    await client.aclose()


async def test_a_call_posts_a_streamed_message_with_the_key_and_version_headers(
    fake_anthropic: FakeAnthropic, client: AnthropicClient
) -> None:
    await collect(client)
    [request] = fake_anthropic.requests
    assert (request.method, request.path) == ("POST", "/v1/messages")
    assert request.headers["x-api-key"] == "sk-ant-test"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    assert request.json == {
        "model": "claude-test",
        "max_tokens": 4096,
        "stream": True,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    }


async def test_a_base_url_ending_in_v1_is_accepted(fake_anthropic: FakeAnthropic) -> None:
    client = AnthropicClient(
        model="m", base_url=fake_anthropic.base_url + "/v1/", api_key="sk-ant-test"
    )
    try:
        await collect(client)
    finally:
        await client.aclose()
    assert fake_anthropic.requests[0].path == "/v1/messages"


async def test_tool_use_blocks_become_numbered_tool_call_deltas(
    fake_anthropic: FakeAnthropic, client: AnthropicClient
) -> None:
    fake_anthropic.enqueue(
        tool_calls(
            [("toolu_1", "get_weather", '{"city": "Paris"}'), ("toolu_2", "get_weather", "")],
            arg_chunks=3,
            content="Checking.",
        )
    )
    events = await collect(client, tools=[WEATHER])
    assert events == [
        TextDelta("Checking."),
        # Each call's head and pieces came in one read: they travel as one delta.
        ToolCallDelta(0, id="toolu_1", name="get_weather", arguments='{"city": "Paris"}'),
        ToolCallDelta(1, id="toolu_2", name="get_weather", arguments="{}"),  # no input: {}
        UsageReport(Usage(10, 1)),
        Finished("tool_calls"),
    ]
    assert fake_anthropic.requests[0].json["tools"] == [
        {
            "name": "get_weather",
            "description": "The weather in a city.",
            "input_schema": WEATHER.parameters,
        }
    ]


async def test_sampling_is_mapped_to_the_messages_api(fake_anthropic: FakeAnthropic) -> None:
    client = AnthropicClient(
        model="m",
        base_url=fake_anthropic.base_url,
        api_key="sk-ant-test",
        defaults=Sampling(temperature=0.3, max_tokens=100),
        retry=FAST,
    )
    try:
        await collect(
            client,
            tools=[WEATHER],
            sampling=Sampling(
                temperature=1.7,
                top_p=0.9,
                stop=("END",),
                seed=3,
                presence_penalty=0.5,
                parallel_tool_calls=False,
            ),
        )
    finally:
        await client.aclose()
    body = fake_anthropic.requests[0].json
    assert {key: body[key] for key in body if key not in ("messages", "tools")} == {
        "model": "m",
        "max_tokens": 100,
        "stream": True,
        "temperature": 1.0,
        "top_p": 0.9,
        "stop_sequences": ["END"],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
    }


async def test_response_format_is_refused_before_any_request(
    fake_anthropic: FakeAnthropic, client: AnthropicClient
) -> None:
    with pytest.raises(RequestError) as caught:
        await collect(client, sampling=Sampling(response_format={"type": "json_object"}))
    assert caught.value.param == "response_format"
    assert fake_anthropic.requests == []


def test_conversation_is_reshaped_for_anthropic() -> None:
    call = ToolCall("toolu_1", "get_weather", '{"city":"Paris"}')
    system, messages = messages_to_anthropic(
        [
            Message.system("Be brief."),
            Message.user("Weather?"),
            Message.user("In Paris."),
            Message.assistant("", (call,)),
            Message.tool("toolu_1", "sunny"),
            Message(
                "user",
                "And this?",
                images=("data:image/png;base64,AAAA", "https://example.com/a.png"),
            ),
            Message.system("Answer in French."),
            Message.assistant(""),
        ]
    )
    assert system == "Be brief.\n\nAnswer in French."
    assert messages == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather?"},
                {"type": "text", "text": "In Paris."},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                {"type": "text", "text": "And this?"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"},
                },
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
            ],
        },
    ]


async def test_system_prompt_is_sent_apart(
    fake_anthropic: FakeAnthropic, client: AnthropicClient
) -> None:
    await collect(client, [Message.system("Be brief."), Message.user("hi")])
    assert fake_anthropic.requests[0].json["system"] == "Be brief."


def feed(parser: AnthropicStreamParser, *events: tuple[str, str]) -> list[ModelEvent]:
    return [
        model_event
        for kind, data in events
        for model_event in parser.feed(ServerSentEvent(event=kind, data=data))
    ]


def test_stream_without_message_stop_is_a_protocol_error() -> None:
    parser = AnthropicStreamParser()
    feed(
        parser,
        (
            "message_start",
            '{"type":"message_start","message":{"usage":{"input_tokens":3,"output_tokens":1}}}',
        ),
    )
    with pytest.raises(UpstreamProtocolError):
        parser.finish()


def test_cache_tokens_count_as_prompt_tokens() -> None:
    parser = AnthropicStreamParser()
    feed(
        parser,
        (
            "message_start",
            '{"type":"message_start","message":{"usage":{"input_tokens":3,'
            '"cache_read_input_tokens":100,"cache_creation_input_tokens":20,'
            '"output_tokens":1}}}',
        ),
        (
            "message_delta",
            '{"type":"message_delta","delta":{"stop_reason":"max_tokens"},'
            '"usage":{"output_tokens":9}}',
        ),
        ("message_stop", '{"type":"message_stop"}'),
    )
    assert parser.finish() == [UsageReport(Usage(123, 9)), Finished("length")]


def test_an_overloaded_error_event_is_retryable() -> None:
    with pytest.raises(Retryable) as caught:
        feed(
            AnthropicStreamParser(model="m"),
            ("error", '{"type":"error","error":{"type":"overloaded_error","message":"x"}}'),
        )
    assert isinstance(caught.value.error, UpstreamHTTPError)
    assert caught.value.error.status == 529


def test_unknown_events_and_thinking_are_ignored() -> None:
    parser = AnthropicStreamParser()
    assert (
        feed(
            parser,
            ("future_event", '{"type":"future_event"}'),
            (
                "content_block_start",
                '{"type":"content_block_start","index":0,'
                '"content_block":{"type":"thinking","thinking":""}}',
            ),
            (
                "content_block_delta",
                '{"type":"content_block_delta","index":0,'
                '"delta":{"type":"thinking_delta","thinking":"hm"}}',
            ),
        )
        == []
    )


@pytest.mark.parametrize(
    ("choice", "parallel", "sent"),
    [
        (ToolChoice("required"), None, {"type": "any"}),
        (
            ToolChoice("tool", "get_weather"),
            False,
            {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        ),
        (ToolChoice("auto"), None, None),
    ],
)
async def test_tool_choice_is_mapped_to_the_messages_api(
    fake_anthropic: FakeAnthropic,
    client: AnthropicClient,
    choice: ToolChoice,
    parallel: bool | None,
    sent: object,
) -> None:
    await collect(
        client, tools=[WEATHER], sampling=Sampling(tool_choice=choice, parallel_tool_calls=parallel)
    )
    assert fake_anthropic.requests[0].json.get("tool_choice") == sent
