"""The official openai SDK against a real server: every test runs with the sync
``openai.OpenAI`` (in a worker thread) and with ``openai.AsyncOpenAI`` (on trio), both
validating responses strictly."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
import trio
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from trioagent.testing import FakeOpenAI, drop, error, hang, text, tool_calls

from .conftest import USER, WEATHER_TOOL, Connect, run_tool_call


async def test_plain_completion(server, fake: FakeOpenAI, connect: Connect) -> None:
    fake.enqueue(text("Hello there", usage=(7, 3)))
    with trio.fail_after(10):
        async with connect(server) as sdk:
            completion = await sdk.call(
                lambda c: c.chat.completions.create(model="root", messages=USER)
            )
    assert isinstance(completion, ChatCompletion)
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "root"
    [choice] = completion.choices
    assert (choice.index, choice.finish_reason) == (0, "stop")
    assert (choice.message.role, choice.message.content) == ("assistant", "Hello there")
    assert choice.message.tool_calls is None
    assert completion.usage is not None
    assert completion.usage.model_dump(exclude_none=True) == {
        "prompt_tokens": 7,
        "completion_tokens": 3,
        "total_tokens": 10,
    }
    assert fake.requests[0].json["messages"][-1] == {"role": "user", "content": "hi"}


async def test_stream_with_usage(server, fake: FakeOpenAI, connect: Connect) -> None:
    fake.enqueue(text("Hello there", chunks=["Hel", "lo", " there"], usage=(7, 3)))
    with trio.fail_after(10):
        async with connect(server) as sdk:
            chunks = await sdk.stream(
                model="root", messages=USER, stream_options={"include_usage": True}
            )
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    assert len({(c.id, c.created, c.model) for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    choice_chunks = [c for c in chunks if c.choices]
    assert "".join(c.choices[0].delta.content or "" for c in choice_chunks) == "Hello there"
    assert [c.choices[0].finish_reason for c in choice_chunks] == [None] * (
        len(choice_chunks) - 1
    ) + ["stop"]
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.total_tokens) == (7, 10)


async def test_stream_without_usage_has_none(server, fake: FakeOpenAI, connect: Connect) -> None:
    fake.enqueue(text("a b"))
    with trio.fail_after(10):
        async with connect(server) as sdk:
            chunks = await sdk.stream(model="root", messages=USER)
    assert all(c.usage is None and c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_models_list_and_retrieve(server, connect: Connect) -> None:
    with trio.fail_after(10):
        async with connect(server) as sdk:
            page = await sdk.call(lambda c: c.models.list())
            helper = await sdk.call(lambda c: c.models.retrieve("helper"))
            with pytest.raises(openai.NotFoundError) as caught:
                await sdk.call(lambda c: c.models.retrieve("gpt-4o"))
    assert [m.id for m in page.data] == ["root", "helper"]
    assert {(m.object, m.owned_by) for m in page.data} == {("model", "trioagent")}
    assert (helper.id, helper.object) == ("helper", "model")
    assert caught.value.status_code == 404
    assert caught.value.code == "model_not_found"


async def test_with_raw_response_gives_headers_status_and_parse(
    server, fake: FakeOpenAI, connect: Connect
) -> None:
    fake.enqueue(text("raw"))
    with trio.fail_after(10):
        async with connect(server) as sdk:
            raw = await sdk.call(
                lambda c: c.chat.completions.with_raw_response.create(
                    model="root",
                    messages=USER,
                    extra_headers={"X-Request-Id": "req-client-1"},
                )
            )
            models_raw = await sdk.call(lambda c: c.models.with_raw_response.list())
    assert raw.status_code == 200
    assert raw.headers["content-type"].startswith("application/json")
    assert raw.headers["x-request-id"] == "req-client-1"
    completion = raw.parse()
    assert completion.choices[0].message.content == "raw"
    assert completion._request_id == "req-client-1"
    assert models_raw.status_code == 200
    assert len(models_raw.headers["x-request-id"]) >= 16  # made by the server
    assert [m.id for m in models_raw.parse().data] == ["root", "helper"]


async def test_with_streaming_response(server, fake: FakeOpenAI, connect: Connect) -> None:
    fake.enqueue(text("one two three"))
    params: dict[str, Any] = {"model": "root", "messages": USER, "stream": True}

    def read_sync(client: openai.OpenAI) -> tuple[int, dict[str, str], list[Any]]:
        with client.chat.completions.with_streaming_response.create(**params) as response:
            return response.status_code, dict(response.headers), list(response.parse())

    async def read_async(client: openai.AsyncOpenAI) -> tuple[int, dict[str, str], list[Any]]:
        async with client.chat.completions.with_streaming_response.create(**params) as response:
            stream = await response.parse()
            return response.status_code, dict(response.headers), [c async for c in stream]

    with trio.fail_after(10):
        async with connect(server) as sdk:
            if sdk.is_async:
                status, headers, chunks = await read_async(sdk.client)
            else:
                status, headers, chunks = await sdk.call(read_sync)
    assert status == 200
    assert headers["content-type"] == "text/event-stream"
    assert headers["x-request-id"]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "one two three"


# Errors: the SDK picks the exception class by status and reads code/type/param from the
# envelope.


async def test_unknown_model_is_not_found_error(server, fake: FakeOpenAI, connect: Connect) -> None:
    with trio.fail_after(10):
        async with connect(server) as sdk:
            for stream in (False, True):
                with pytest.raises(openai.NotFoundError) as caught:
                    await sdk.call(
                        lambda c, s=stream: c.chat.completions.create(
                            model="gpt-4o", messages=USER, stream=s
                        )
                    )
                error = caught.value
                assert (error.status_code, error.type, error.code, error.param) == (
                    404,
                    "invalid_request_error",
                    "model_not_found",
                    "model",
                )
                assert "gpt-4o" in error.message
    assert fake.requests == []


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"temperature": 3}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"n": 2}, "n"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
    ],
    ids=[
        "temperature",
        "top_p",
        "n",
        "stream_options-without-stream",
        "no-messages",
        "bad-role",
        "tool-without-call-id",
    ],
)
async def test_bad_input_is_bad_request_error(
    server, fake: FakeOpenAI, connect: Connect, params: dict[str, Any], param: str
) -> None:
    request = {"model": "root", "messages": USER, **params}
    with trio.fail_after(10):
        async with connect(server) as sdk:
            with pytest.raises(openai.BadRequestError) as caught:
                await sdk.call(lambda c: c.chat.completions.create(**request))
    error = caught.value
    assert (error.status_code, error.type, error.param) == (400, "invalid_request_error", param)
    assert error.code is not None
    assert "Traceback" not in error.message
    assert fake.requests == []


async def test_wrong_or_missing_key_is_authentication_error(
    start_server, fake: FakeOpenAI, connect: Connect
) -> None:
    fake.enqueue(text("let in"))
    with trio.fail_after(10):
        async with start_server(api_keys=("s3cret",)) as server:
            async with connect(server, api_key="wrong") as sdk:
                with pytest.raises(openai.AuthenticationError) as chat:
                    await sdk.call(lambda c: c.chat.completions.create(model="root", messages=USER))
                with pytest.raises(openai.AuthenticationError) as models:
                    await sdk.call(lambda c: c.models.list())
            async with connect(server, api_key="s3cret") as sdk:
                answer = await sdk.call(
                    lambda c: c.chat.completions.create(model="root", messages=USER)
                )
    for caught in (chat, models):
        error = caught.value
        assert (error.status_code, error.type, error.code) == (
            401,
            "authentication_error",
            "invalid_api_key",
        )
        assert error.response.headers["www-authenticate"] == "Bearer"
        assert "wrong" not in error.message
    assert answer.choices[0].message.content == "let in"
    assert len(fake.requests) == 1


async def test_upstream_failure_is_502_and_the_sdk_does_not_retry(
    server, fake: FakeOpenAI, connect: Connect
) -> None:
    fake.enqueue(error(400, "upstream says no"))
    with trio.fail_after(10):
        async with connect(server, max_retries=2) as sdk:  # the SDK's default
            with pytest.raises(openai.APIStatusError) as caught:
                await sdk.call(lambda c: c.chat.completions.create(model="root", messages=USER))
    error_ = caught.value
    assert isinstance(error_, openai.InternalServerError)
    assert (error_.status_code, error_.type, error_.code) == (502, "server_error", "upstream_error")
    assert error_.response.headers["x-should-retry"] == "false"
    assert "upstream says no" not in error_.message
    assert len(fake.requests) == 1


async def test_busy_conversation_is_conflict_error(
    start_server, fake: FakeOpenAI, connect: Connect
) -> None:
    fake.enqueue(hang())
    with trio.fail_after(10):
        async with (
            start_server(conversations_max=10) as server,
            server.http() as http,
            connect(server) as sdk,
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(
                lambda: http.post(
                    "/v1/chat/completions",
                    headers={"X-Conversation-Id": "busy"},
                    json={"model": "root", "messages": USER},
                )
            )
            await fake.wait_requests(1)
            with pytest.raises(openai.ConflictError) as caught:
                await sdk.call(
                    lambda c: c.chat.completions.create(
                        model="root",
                        messages=USER,
                        stream=True,
                        extra_headers={"X-Conversation-Id": "busy"},
                    )
                )
            nursery.cancel_scope.cancel()
    error_ = caught.value
    assert (error_.status_code, error_.type, error_.code, error_.param) == (
        409,
        "conflict_error",
        "conversation_busy",
        "X-Conversation-Id",
    )
    assert error_.response.headers["retry-after"] == "1"
    assert len(fake.requests) == 1


async def test_rate_limit_is_rate_limit_error(
    start_server, fake: FakeOpenAI, connect: Connect
) -> None:
    from trioagent.server.ratelimit import parse_rate

    with trio.fail_after(10):
        async with start_server(rate_limit=parse_rate("1/m")) as server, connect(server) as sdk:
            await sdk.call(lambda c: c.models.list())
            with pytest.raises(openai.RateLimitError) as caught:
                await sdk.call(
                    lambda c: c.chat.completions.create(model="root", messages=USER, stream=True)
                )
    error_ = caught.value
    assert (error_.status_code, error_.code) == (429, "rate_limit_exceeded")
    assert int(error_.response.headers["retry-after"]) >= 1
    assert fake.requests == []


async def test_server_timeout_is_504_plain_and_in_band_when_streaming(
    start_server, fake: FakeOpenAI, connect: Connect
) -> None:
    fake.enqueue(hang(), hang())
    with trio.fail_after(10):
        async with (
            start_server(request_timeout=0.3) as server,
            connect(server, max_retries=2) as sdk,
        ):
            with pytest.raises(openai.InternalServerError) as plain:
                await sdk.call(lambda c: c.chat.completions.create(model="root", messages=USER))
            with pytest.raises(openai.APIError) as streamed:
                await sdk.stream(model="root", messages=USER)
    assert (plain.value.status_code, plain.value.type, plain.value.code) == (
        504,
        "server_error",
        "timeout",
    )
    assert plain.value.response.headers["x-should-retry"] == "false"
    # After the first byte the error travels in the stream: the SDK raises APIError.
    assert not isinstance(streamed.value, openai.APIStatusError)
    assert (streamed.value.type, streamed.value.code) == ("server_error", "timeout")
    assert len(fake.requests) == 2  # neither was retried


async def test_client_timeout_is_api_timeout_error_and_frees_the_upstream(
    server, fake: FakeOpenAI, connect: Connect
) -> None:
    fake.enqueue(hang())
    with trio.fail_after(10):
        async with connect(server, timeout=0.3) as sdk:
            with pytest.raises(openai.APITimeoutError):
                await sdk.call(lambda c: c.chat.completions.create(model="root", messages=USER))
        await fake.wait_disconnects(1)  # the server cancelled its upstream call


async def test_error_mid_stream_raises_api_error(
    server, fake: FakeOpenAI, connect: Connect
) -> None:
    fake.enqueue(drop("partial answer"))
    with trio.fail_after(10):
        async with connect(server) as sdk:
            with pytest.raises(openai.APIError) as caught:
                await sdk.stream(model="root", messages=USER)
    assert caught.value.code == "upstream_error"
    assert "model provider" in caught.value.message


# Client-supplied tools: the client runs them and sends the results back.


async def test_client_tool_loop(server, fake: FakeOpenAI, connect: Connect) -> None:
    fake.enqueue(
        tool_calls([("call_w", "get_weather", '{"city": "Paris"}')], usage=(5, 2)),
        text("It is sunny in Paris."),
    )
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    finish_reasons = []
    with trio.fail_after(10):
        async with connect(server) as sdk:
            for _ in range(3):
                completion = await sdk.call(
                    lambda c: c.chat.completions.create(
                        model="root", messages=messages, tools=[WEATHER_TOOL]
                    )
                )
                choice = completion.choices[0]
                finish_reasons.append(choice.finish_reason)
                if choice.finish_reason != "tool_calls":
                    break
                # As the SDK's docs do: the message object itself goes back in the history.
                messages.append(choice.message)
                for call in choice.message.tool_calls:
                    messages.append(
                        {
                            "role": "tool",
                            "tool_call_id": call.id,
                            "content": run_tool_call(call.function.name, call.function.arguments),
                        }
                    )
    assert finish_reasons == ["tool_calls", "stop"]
    assert completion.choices[0].message.content == "It is sunny in Paris."
    offered = [t["function"]["name"] for t in fake.requests[0].json["tools"]]
    assert "get_weather" in offered
    assert "think" in offered  # the agent's own tools are offered beside the client's
    sent = fake.requests[1].json["messages"]
    assert sent[-2]["tool_calls"] == [
        {
            "id": "call_w",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        }
    ]
    assert sent[-1] == {"role": "tool", "tool_call_id": "call_w", "content": "sunny, 21 C"}


async def test_streamed_client_tool_call_deltas(server, fake: FakeOpenAI, connect: Connect) -> None:
    fake.enqueue(
        tool_calls(
            [
                ("call_p", "get_weather", '{"city": "Paris"}'),
                ("call_r", "get_weather", '{"city": "Rome"}'),
            ],
            content="Checking.",
        )
    )
    with trio.fail_after(10):
        async with connect(server) as sdk:
            chunks = await sdk.stream(
                model="root",
                messages=USER,
                tools=[WEATHER_TOOL],
                stream_options={"include_usage": True},
            )
    deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or ()]
    assert all(d.index in (0, 1) for d in deltas)
    for chunk in chunks:  # one entry per index per chunk, as OpenAI sends them
        entries = chunk.choices[0].delta.tool_calls or [] if chunk.choices else []
        assert len({d.index for d in entries}) == len(entries)
        # instructor's partial streaming reads tool_calls[0]: its arguments are there
        assert all(json.loads(d.function.arguments) for d in entries if d.id is not None)
    heads = [d for d in deltas if d.id is not None]
    assert [(d.index, d.id, d.type, d.function.name) for d in heads] == [
        (0, "call_p", "function", "get_weather"),
        (1, "call_r", "function", "get_weather"),
    ]
    # Accumulated by index, as every SDK helper does.
    arguments = {0: "", 1: ""}
    for d in deltas:
        arguments[d.index] += d.function.arguments or ""
    assert {i: json.loads(a) for i, a in arguments.items()} == {
        0: {"city": "Paris"},
        1: {"city": "Rome"},
    }
    choice_chunks = [c for c in chunks if c.choices]
    assert "".join(c.choices[0].delta.content or "" for c in choice_chunks) == "Checking."
    assert choice_chunks[-1].choices[0].finish_reason == "tool_calls"
    assert chunks[-1].usage is not None


async def test_stream_helper_accumulates_client_tool_calls_and_the_turn_continues(
    server, fake: FakeOpenAI, connect: Connect
) -> None:
    """``client.chat.completions.stream``: the SDK's own accumulator and events."""
    fake.enqueue(
        tool_calls(
            [
                ("call_p", "get_weather", '{"city": "Paris"}'),
                ("call_r", "get_weather", '{"city": "Rome"}'),
            ]
        ),
        text("Paris is sunny, Rome is cloudy."),
    )
    params: dict[str, Any] = {"model": "root", "tools": [WEATHER_TOOL]}

    def run_sync(client: openai.OpenAI, messages: list[Any]) -> tuple[list[Any], Any]:
        with client.chat.completions.stream(messages=messages, **params) as stream:
            events = list(stream)
            return events, stream.get_final_completion()

    async def run_async(client: openai.AsyncOpenAI, messages: list[Any]) -> tuple[list[Any], Any]:
        async with client.chat.completions.stream(messages=messages, **params) as stream:
            events = [event async for event in stream]
            return events, await stream.get_final_completion()

    messages: list[Any] = list(USER)
    with trio.fail_after(10):
        async with connect(server) as sdk:

            async def turn() -> tuple[list[Any], Any]:
                if sdk.is_async:
                    return await run_async(sdk.client, messages)
                return await trio.to_thread.run_sync(run_sync, sdk.client, messages)

            events, first = await turn()
            message = first.choices[0].message
            messages.append(message)
            for call in message.tool_calls:
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": call.id,
                        "content": run_tool_call(call.function.name, call.function.arguments),
                    }
                )
            final_events, final = await turn()
    done = [e for e in events if e.type == "tool_calls.function.arguments.done"]
    assert [(e.index, e.name, json.loads(e.arguments)) for e in done] == [
        (0, "get_weather", {"city": "Paris"}),
        (1, "get_weather", {"city": "Rome"}),
    ]
    assert first.choices[0].finish_reason == "tool_calls"
    assert [(c.id, c.type) for c in message.tool_calls] == [
        ("call_p", "function"),
        ("call_r", "function"),
    ]
    assert final.choices[0].finish_reason == "stop"
    assert final.choices[0].message.content == "Paris is sunny, Rome is cloudy."
    assert (
        next(e for e in final_events if e.type == "content.done").content
        == "Paris is sunny, Rome is cloudy."
    )
    sent = fake.requests[1].json["messages"]
    assert [m["role"] for m in sent[-3:]] == ["assistant", "tool", "tool"]
    assert [m["content"] for m in sent[-2:]] == ["sunny, 21 C", "cloudy, 18 C"]


async def test_conversation_id_through_extra_headers(
    start_server, fake: FakeOpenAI, connect: Connect
) -> None:
    fake.enqueue(text("Nice to meet you, Ada."), text("You are Ada."))
    header = {"X-Conversation-Id": "sdk-conv-1"}
    with trio.fail_after(10):
        async with start_server(conversations_max=10) as server, connect(server) as sdk:
            first = await sdk.call(
                lambda c: c.chat.completions.with_raw_response.create(
                    model="root",
                    messages=[{"role": "user", "content": "I am Ada."}],
                    extra_headers=header,
                )
            )
            # Only the new message: the server has the rest.
            second = await sdk.stream(
                model="root",
                messages=[{"role": "user", "content": "Who am I?"}],
                extra_headers=header,
            )
    assert first.headers["x-conversation-id"] == "sdk-conv-1"
    assert "".join(c.choices[0].delta.content or "" for c in second) == "You are Ada."
    sent = [(m["role"], m["content"]) for m in fake.requests[1].json["messages"][1:]]
    assert sent == [
        ("user", "I am Ada."),
        ("assistant", "Nice to meet you, Ada."),
        ("user", "Who am I?"),
    ]


async def test_tool_choice_reaches_the_model(server, fake: FakeOpenAI, connect: Connect) -> None:
    """LangChain's ``with_structured_output(method="function_calling")`` and agents that
    force a tool rely on it: without it a real model may answer in text instead."""
    named = {"type": "function", "function": {"name": "get_weather"}}
    fake.enqueue(
        tool_calls([("c1", "get_weather", '{"city": "Paris"}')]),
        tool_calls([("c2", "get_weather", '{"city": "Rome"}')]),
    )
    with trio.fail_after(10):
        async with connect(server) as sdk:
            for choice in (named, "required"):
                await sdk.call(
                    lambda c, choice=choice: c.chat.completions.create(
                        model="root", messages=USER, tools=[WEATHER_TOOL], tool_choice=choice
                    )
                )
    assert [r.json.get("tool_choice") for r in fake.requests] == [named, "required"]
