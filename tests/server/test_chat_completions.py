"""serve chat on the wire: the openai SDK (strict validation) and raw httpx."""

from __future__ import annotations

import json

import openai
import pytest
import trio

from trioagent.testing import FakeOpenAI, text, tool_calls

USER = [{"role": "user", "content": "hi"}]


def sse_events(body: str) -> list[str]:
    """The ``data:`` payloads of an SSE body, checking the framing as we go."""
    assert body.endswith("\n\n")
    events = []
    for block in body.split("\n\n")[:-1]:
        assert not block.startswith("event:"), block
        if block.startswith(":"):
            continue
        assert block.startswith("data: "), block
        events.append(block[len("data: ") :])
    return events


async def test_models_list_has_every_agent_in_file_order(server) -> None:
    with trio.fail_after(10):
        async with server.openai() as client:
            models = await client.models.list()
            one = await client.models.retrieve("helper")
    assert [m.id for m in models.data] == ["root", "helper"]
    assert all(m.owned_by == "trioagent" for m in models.data)
    assert one.id == "helper"


async def test_plain_completion(server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Hello there", usage=(7, 3)))
    with trio.fail_after(10):
        async with server.openai() as client:
            completion = await client.chat.completions.create(model="root", messages=USER)
    assert completion.object == "chat.completion"
    assert completion.model == "root"
    assert completion.choices[0].message.content == "Hello there"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (7, 3)
    assert completion.usage.total_tokens == 10


async def test_agent_instruction_comes_first_and_client_system_is_kept(
    server, fake: FakeOpenAI
) -> None:
    fake.enqueue(text("ok"))
    with trio.fail_after(10):
        async with server.openai() as client:
            await client.chat.completions.create(
                model="root",
                messages=[
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "hi"},
                ],
            )
    sent = fake.requests[-1].json["messages"]
    assert sent[0] == {"role": "system", "content": "You are a helpful test agent."}
    assert sent[1] == {"role": "system", "content": "Be brief."}
    assert sent[2] == {"role": "user", "content": "hi"}


async def test_stream_with_usage(server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Hello there", chunks=["Hel", "lo", " there"], usage=(7, 3)))
    with trio.fail_after(10):
        async with server.openai() as client:
            stream = await client.chat.completions.create(
                model="root",
                messages=USER,
                stream=True,
                stream_options={"include_usage": True},
            )
            chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello there"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 10
    assert len({c.id for c in chunks}) == 1


async def test_raw_sse_framing_and_headers(server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("a b c"))
    with trio.fail_after(10):
        async with server.http() as http:
            response = await http.post(
                "/v1/chat/completions",
                json={
                    "model": "root",
                    "messages": USER,
                    "stream": True,
                },
            )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert "content-encoding" not in response.headers
    events = sse_events(response.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"] == [
        {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
    ]
    assert all("usage" not in c for c in chunks)
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({(c["id"], c["created"], c["model"]) for c in chunks}) == 1
    reasons = [c["choices"][0]["finish_reason"] for c in chunks]
    assert reasons[:-1] == [None] * (len(chunks) - 1)
    assert reasons[-1] == "stop"
    assert chunks[-1]["choices"][0]["delta"] == {}
    assert all("role" not in c["choices"][0]["delta"] for c in chunks[1:])
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "a b c"


async def test_stream_and_plain_give_same_text_over_tool_steps(server, fake: FakeOpenAI) -> None:
    def script() -> None:
        fake.enqueue(
            tool_calls(
                [("c1", "think", '{"thought": "plan"}')], content="Let me think.", usage=(10, 5)
            ),
            text("Done thinking.", usage=(20, 4)),
        )

    script()
    with trio.fail_after(10):
        async with server.openai() as client:
            plain = await client.chat.completions.create(model="root", messages=USER)
            script()
            stream = await client.chat.completions.create(
                model="root",
                messages=USER,
                stream=True,
                stream_options={"include_usage": True},
            )
            chunks = [chunk async for chunk in stream]
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert plain.choices[0].message.content == "Let me think.\n\nDone thinking."
    assert streamed == plain.choices[0].message.content
    # Server-side tool calls are not client tool calls.
    assert plain.choices[0].message.tool_calls is None
    assert plain.choices[0].finish_reason == "stop"
    # Usage is summed over both model calls.
    assert plain.usage is not None
    assert (plain.usage.prompt_tokens, plain.usage.completion_tokens) == (30, 9)
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 39
    # The second model call saw the tool result.
    second = fake.requests[1].json["messages"]
    assert second[-2]["tool_calls"][0]["function"]["name"] == "think"
    assert second[-1]["role"] == "tool"
    assert second[-1]["tool_call_id"] == "c1"


async def test_sampling_parameters_reach_the_upstream(server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("ok"))
    with trio.fail_after(10):
        async with server.openai() as client:
            await client.chat.completions.create(
                model="root",
                messages=USER,
                temperature=0.25,
                top_p=0.5,
                max_tokens=77,
                stop=["END"],
                seed=42,
                presence_penalty=0.5,
                frequency_penalty=-0.5,
            )
    body = fake.requests[-1].json
    assert body["temperature"] == 0.25
    assert body["top_p"] == 0.5
    assert body["max_tokens"] == 77
    assert body["stop"] == ["END"]
    assert body["seed"] == 42
    assert body["presence_penalty"] == 0.5
    assert body["frequency_penalty"] == -0.5


async def test_max_iterations_stops_with_length(start_server, fake: FakeOpenAI, agent_file) -> None:
    import attrs

    root = attrs.evolve(agent_file.agents["root"], max_iterations=2)
    file = attrs.evolve(agent_file, agents={**agent_file.agents, "root": root})
    for i in range(2):
        fake.enqueue(tool_calls([(f"c{i}", "think", '{"thought": "again"}')]))
    with trio.fail_after(10):
        async with start_server(file) as server, server.openai() as client:
            completion = await client.chat.completions.create(model="root", messages=USER)
    assert completion.choices[0].finish_reason == "length"
    assert len(fake.requests) == 2


async def test_client_tools_end_the_turn_with_tool_calls(server, fake: FakeOpenAI) -> None:
    weather = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    fake.enqueue(tool_calls([("call_w", "get_weather", '{"city": "Paris"}')]))
    with trio.fail_after(10):
        async with server.openai() as client:
            first = await client.chat.completions.create(
                model="root", messages=USER, tools=[weather]
            )
            call = first.choices[0].message.tool_calls[0]
            fake.enqueue(text("It is sunny in Paris."))
            second = await client.chat.completions.create(
                model="root",
                tools=[weather],
                messages=[
                    *USER,
                    first.choices[0].message.model_dump(exclude_none=True),
                    {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
                ],
            )
            fake.enqueue(tool_calls([("call_x", "get_weather", '{"city": "Rome"}')]))
            stream = await client.chat.completions.create(
                model="root", messages=USER, tools=[weather], stream=True
            )
            chunks = [c async for c in stream]
    assert first.choices[0].finish_reason == "tool_calls"
    assert first.choices[0].message.content is None
    assert (call.id, call.type, call.function.name) == ("call_w", "function", "get_weather")
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    offered = [t["function"]["name"] for t in fake.requests[0].json["tools"]]
    assert "get_weather" in offered
    assert "think" in offered
    assert second.choices[0].message.content == "It is sunny in Paris."
    assert fake.requests[1].json["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_w",
        "content": "sunny",
    }
    deltas = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].index == 0
    assert deltas[0].id == "call_x"
    assert deltas[0].type == "function"
    assert deltas[0].function.name == "get_weather"
    assert all(d.index == 0 for d in deltas)
    assert "".join(d.function.arguments or "" for d in deltas) == '{"city": "Rome"}'
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_a_tool_nobody_offered_is_never_handed_to_the_client(
    server,
    fake: FakeOpenAI,
) -> None:
    fake.enqueue(tool_calls([("call_h", "hallucinated", "{}")]), text("I have no such tool."))
    with trio.fail_after(10):
        async with server.openai() as client:
            answer = await client.chat.completions.create(model="root", messages=USER)
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.tool_calls is None
    assert answer.choices[0].message.content == "I have no such tool."
    result = fake.requests[1].json["messages"][-1]
    assert result["role"] == "tool"
    assert result["tool_call_id"] == "call_h"
    assert result["content"].startswith("unknown tool 'hallucinated'")


async def test_agent_tool_shadows_client_tool_of_the_same_name(server, fake: FakeOpenAI) -> None:
    # Open WebUI offers built-in tools whose names agent toolsets have too (add_memory);
    # see test_openwebui_requests.py. The agent's tool is offered, the client's is not.
    shell = {
        "type": "function",
        "function": {"name": "shell", "description": "client shell", "parameters": {}},
    }
    fake.enqueue(text("ok"))
    with trio.fail_after(10):
        async with server.openai() as client:
            answer = await client.chat.completions.create(
                model="root", messages=USER, tools=[shell, WEATHER_TOOL]
            )
    assert answer.choices[0].message.content == "ok"
    offered = [t["function"] for t in fake.requests[0].json["tools"]]
    shells = [f for f in offered if f["name"] == "shell"]
    assert len(shells) == 1
    assert shells[0]["description"] != "client shell"
    assert "get_weather" in {f["name"] for f in offered}


WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
}


async def test_tool_choice_reaches_the_first_model_call_only(server, fake: FakeOpenAI) -> None:
    forced = {"type": "function", "function": {"name": "think"}}
    fake.enqueue(tool_calls([("c1", "think", '{"thought": "x"}')]), text("done"), text("fine"))
    with trio.fail_after(10):
        async with server.openai() as client:
            await client.chat.completions.create(
                model="root", messages=USER, tools=[WEATHER_TOOL], tool_choice=forced
            )
            await client.chat.completions.create(
                model="root", messages=USER, tools=[WEATHER_TOOL], tool_choice="none"
            )
    first, second, third = (r.json for r in fake.requests)
    assert first["tool_choice"] == forced
    assert "tool_choice" not in second  # after the agent's tool ran: the model's choice
    assert "tool_choice" not in third
    assert "get_weather" not in {t["function"]["name"] for t in third["tools"]}


async def test_tool_choice_naming_no_offered_tool_is_refused(server, fake: FakeOpenAI) -> None:
    with trio.fail_after(10):
        async with server.openai() as client:
            with pytest.raises(openai.BadRequestError) as caught:
                await client.chat.completions.create(
                    model="root",
                    messages=USER,
                    tools=[WEATHER_TOOL],
                    tool_choice={"type": "function", "function": {"name": "get_time"}},
                )
    assert caught.value.body["param"] == "tool_choice"
    assert "get_time" in caught.value.body["message"]
    assert fake.requests == []


async def test_keep_alive_comments_while_a_tool_runs(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(tool_calls([("c1", "shell", '{"cmd": "sleep 0.6"}')]), text("slept"))
    with trio.fail_after(20):
        async with start_server(keep_alive_interval=0.1) as server, server.http() as http:
            response = await http.post(
                "/v1/chat/completions",
                json={
                    "model": "root",
                    "messages": USER,
                    "stream": True,
                },
            )
    assert ": keep-alive\n\n" in response.text
    events = sse_events(response.text)
    assert events[-1] == "[DONE]"
    assert "slept" in "".join(
        json.loads(e)["choices"][0]["delta"].get("content", "") for e in events[:-1]
    )


async def test_healthz_and_unknown_paths(server) -> None:
    with trio.fail_after(10):
        async with server.http() as http:
            health = await http.get("/healthz")
            missing = await http.get("/v1/nothing")
            wrong_method = await http.delete("/v1/chat/completions")
    assert health.json() == {"status": "ok"}
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert wrong_method.status_code == 405
    assert "POST" in wrong_method.headers["allow"]
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code", "param"),
    [
        (b"{not json", "application/json", 400, "invalid_json", None),
        (b"", "application/json", 400, "invalid_json", None),
        (b"[]", "application/json", 400, "invalid_json", None),
        (b'{"model": "root", "messages": []}', "application/json", 400, None, "messages"),
        (
            b'{"model": "root", "messages": [{"role": "robot", "content": "x"}]}',
            "application/json",
            400,
            None,
            "messages[0].role",
        ),
        (
            b'{"model": "root", "messages": [{"role": "user", "content": "x"}], "temperature": 3}',
            "application/json",
            400,
            None,
            "temperature",
        ),
        (
            b'{"model": "root", "messages": [{"role": "user", "content": "x"}], "n": 2}',
            "application/json",
            400,
            None,
            "n",
        ),
        (
            b'{"model": "nope", "messages": [{"role": "user", "content": "x"}]}',
            "application/json",
            404,
            "model_not_found",
            "model",
        ),
        (
            b'{"model": "root", "messages": [{"role": "user", "content": "x"}]}',
            "text/plain",
            415,
            "unsupported_media_type",
            None,
        ),
    ],
    ids=[
        "malformed",
        "empty",
        "array",
        "no-messages",
        "bad-role",
        "temperature",
        "n",
        "unknown-model",
        "content-type",
    ],
)
async def test_bad_requests_get_the_error_envelope(
    server,
    fake: FakeOpenAI,
    body: bytes,
    content_type: str,
    status: int,
    code: str | None,
    param: str | None,
) -> None:
    with trio.fail_after(10):
        async with server.http() as http:
            for stream in (False, True):
                data = body
                if stream and body.startswith(b'{"model"'):
                    data = body[:-1] + b', "stream": true}'
                response = await http.post(
                    "/v1/chat/completions", content=data, headers={"content-type": content_type}
                )
                assert response.status_code == status, response.text
                assert response.headers["content-type"].startswith("application/json")
                error = response.json()["error"]
                assert set(error) == {"message", "type", "param", "code"}
                assert error["type"] == "invalid_request_error"
                assert error["param"] == param
                if code is not None:
                    assert error["code"] == code
                assert "Traceback" not in error["message"]
    assert fake.requests == []


async def test_sdk_error_classes(server, fake: FakeOpenAI) -> None:
    with trio.fail_after(10):
        async with server.openai() as client:
            with pytest.raises(openai.NotFoundError) as not_found:
                await client.chat.completions.create(model="gpt-4o", messages=USER)
            with pytest.raises(openai.BadRequestError) as bad:
                await client.chat.completions.create(model="root", messages=USER, top_p=0)
    assert not_found.value.code == "model_not_found"
    assert bad.value.body["param"] == "top_p"


async def test_oversized_body_is_413_with_and_without_content_length(start_server) -> None:
    big = json.dumps({"model": "root", "messages": [{"role": "user", "content": "x" * 4000}]})

    async def chunked():
        for i in range(0, len(big), 500):
            yield big[i : i + 500].encode()

    with trio.fail_after(10):
        async with start_server(max_request_size=1024) as server, server.http() as http:
            sized = await http.post(
                "/v1/chat/completions", content=big, headers={"content-type": "application/json"}
            )
            streamed = await http.post(
                "/v1/chat/completions",
                content=chunked(),
                headers={"content-type": "application/json"},
            )
    for response in (sized, streamed):
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "request_too_large"


async def test_upstream_failure_is_502_without_retry(server, fake: FakeOpenAI) -> None:
    from trioagent.testing import error

    fake.enqueue(error(400, "bad things"))
    with trio.fail_after(10):
        async with server.http() as http:
            response = await http.post(
                "/v1/chat/completions", json={"model": "root", "messages": USER}
            )
    assert response.status_code == 502
    assert response.headers["x-should-retry"] == "false"
    assert response.json()["error"]["code"] == "upstream_error"
    assert "bad things" not in response.text  # never the raw upstream body


async def test_error_mid_stream_is_in_band_and_sdk_raises(server, fake: FakeOpenAI) -> None:
    from trioagent.testing import drop

    fake.enqueue(drop("partial answer"))
    with trio.fail_after(10):
        async with server.openai() as client:
            stream = await client.chat.completions.create(model="root", messages=USER, stream=True)
            with pytest.raises(openai.APIError) as caught:
                async for _ in stream:
                    pass
    assert "the connection to the model provider dropped" in caught.value.message
    assert "127.0.0.1" not in caught.value.message  # where the provider is stays private


async def test_request_id_header(server) -> None:
    async with server.http() as http:
        response = await http.get("/v1/models")
        echoed = await http.get("/v1/models", headers={"x-request-id": "abc"})
    assert len(response.headers["x-request-id"]) >= 16
    assert echoed.headers["x-request-id"] == "abc"


async def test_body_that_does_not_arrive_in_time_is_408(start_server) -> None:
    async def slow_body():
        yield b'{"model": "root", '
        await trio.sleep(1)
        yield b'"messages": []}'

    with trio.fail_after(10):
        async with start_server(body_timeout=0.3) as server, server.http() as http:
            response = await http.post(
                "/v1/chat/completions",
                content=slow_body(),
                headers={"content-type": "application/json"},
            )
    assert response.status_code == 408
    assert response.json()["error"]["code"] == "request_timeout"


async def test_agent_flag_exposes_only_that_agent(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("from helper"))
    with trio.fail_after(10):
        async with start_server(agent="helper") as server, server.openai() as client:
            models = await client.models.list()
            with pytest.raises(openai.NotFoundError):
                await client.chat.completions.create(model="root", messages=USER)
            answer = await client.chat.completions.create(model="helper", messages=USER)
    assert [m.id for m in models.data] == ["helper"]
    assert answer.choices[0].message.content == "from helper"
    assert fake.requests[0].json["messages"][0]["content"] == "You help."
