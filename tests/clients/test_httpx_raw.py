"""Raw httpx (async, on trio) against a real server: the exact bytes, bodies and headers a
hand-written client or a browser relies on (see /shared/openai-wire.md). tests/server covers
the request validation matrix; this file covers what comes back, end to end."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import trio

from trioagent.testing import FakeOpenAI, drop, error, hang, text, tool_calls

from .conftest import USER, WEATHER_TOOL, sse_events

CHAT = "/v1/chat/completions"
ORIGIN = "https://chat.example.com"
ENVELOPE_KEYS = {"message", "type", "param", "code"}


def chat(**extra: Any) -> dict[str, Any]:
    return {"model": "root", "messages": USER, **extra}


def chunks_of(response: httpx.Response) -> list[dict[str, Any]]:
    """The JSON chunks of a finished SSE response, checking it ends with ``[DONE]``."""
    events = sse_events(response.text)
    assert events[-1] == "[DONE]"
    assert "[DONE]" not in events[:-1]
    return [json.loads(event) for event in events[:-1]]


def assert_envelope(response: httpx.Response, status: int, type_: str, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == ENVELOPE_KEYS
    assert (body["error"]["type"], body["error"]["code"]) == (type_, code)
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    return dict(body["error"])


async def test_plain_answer_is_exactly_a_chat_completion(server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Héllo, 世界 👋", usage=(7, 3)))
    with trio.fail_after(10):
        async with server.http() as http:
            response = await http.post(CHAT, json=chat())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"]
    assert "x-conversation-id" not in response.headers  # the cache is off
    body = json.loads(response.content.decode("utf-8"))
    assert set(body) == {"id", "object", "created", "model", "choices", "usage"}
    assert body["id"].startswith("chatcmpl-")
    assert (body["object"], body["model"]) == ("chat.completion", "root")
    assert isinstance(body["created"], int)
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Héllo, 世界 👋"},
            "finish_reason": "stop",
        }
    ]
    assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


async def test_stream_events_with_usage(server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Hello there", chunks=["Hel", "lo", " there"], usage=(7, 3)))
    with trio.fail_after(10):
        async with server.http() as http:
            response = await http.post(
                CHAT, json=chat(stream=True, stream_options={"include_usage": True})
            )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert "content-encoding" not in response.headers
    assert "content-length" not in response.headers
    chunks = chunks_of(response)
    for chunk in chunks:
        assert set(chunk) == {"id", "object", "created", "model", "choices", "usage"}
        assert chunk["object"] == "chat.completion.chunk"
    assert len({(c["id"], c["created"], c["model"]) for c in chunks}) == 1
    *with_choices, last = chunks
    assert all(c["usage"] is None for c in with_choices)
    assert last == {
        **last,
        "choices": [],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
    }
    assert with_choices[0]["choices"] == [
        {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
    ]
    contents = [c["choices"] for c in with_choices[1:-1]]
    assert contents == [
        [{"index": 0, "delta": {"content": c[0]["delta"]["content"]}, "finish_reason": None}]
        for c in contents
    ]
    assert "".join(c[0]["delta"]["content"] for c in contents) == "Hello there"
    assert with_choices[-1]["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop"}]


async def test_first_event_arrives_before_the_model_answers(server, fake: FakeOpenAI) -> None:
    """Nothing buffers the stream: the role chunk is readable while the upstream is silent,
    and hanging up cancels the upstream call."""
    fake.enqueue(hang())
    with trio.fail_after(10):
        async with (
            server.http() as http,
            http.stream("POST", CHAT, json=chat(stream=True)) as response,
        ):
            assert response.status_code == 200
            lines = response.aiter_lines()
            first = await lines.__anext__()
            await fake.wait_requests(1)
        await fake.wait_disconnects(1)
    assert first.startswith("data: ")
    assert json.loads(first[len("data: ") :])["choices"][0]["delta"] == {
        "role": "assistant",
        "content": "",
    }


async def test_client_tool_calls_plain_and_streamed(server, fake: FakeOpenAI) -> None:
    calls = [
        ("call_p", "get_weather", '{"city": "Paris"}'),
        ("call_r", "get_weather", '{"city": "Rome"}'),
    ]
    fake.enqueue(tool_calls(calls), tool_calls(calls))
    with trio.fail_after(10):
        async with server.http() as http:
            plain = await http.post(CHAT, json=chat(tools=[WEATHER_TOOL]))
            streamed = await http.post(CHAT, json=chat(tools=[WEATHER_TOOL], stream=True))
    assert plain.json()["choices"] == [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": arguments},
                    }
                    for call_id, name, arguments in calls
                ],
            },
        }
    ]
    chunks = chunks_of(streamed)
    deltas = [d for c in chunks for d in c["choices"][0]["delta"].get("tool_calls", ())]
    assert all("index" in d for d in deltas)
    heads = [d for d in deltas if "id" in d]
    assert heads == [  # as OpenAI sends them: the head holds the start of the arguments
        {
            "index": 0,
            "id": "call_p",
            "type": "function",
            "function": {"name": "get_weather", "arguments": calls[0][2]},
        },
        {
            "index": 1,
            "id": "call_r",
            "type": "function",
            "function": {"name": "get_weather", "arguments": calls[1][2]},
        },
    ]
    for chunk in chunks:  # one entry per index per chunk
        entries = chunk["choices"][0]["delta"].get("tool_calls", [])
        assert len({d["index"] for d in entries}) == len(entries)
    for delta in deltas:
        if "id" not in delta:
            assert set(delta) == {"index", "function"}
            assert set(delta["function"]) == {"arguments"}
    for index, (_, _, arguments) in enumerate(calls):
        assert (
            "".join(d["function"]["arguments"] for d in deltas if d["index"] == index) == arguments
        )
    assert chunks[-1]["choices"] == [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]
    reasons = [c["choices"][0]["finish_reason"] for c in chunks]
    assert reasons[:-1] == [None] * (len(chunks) - 1)


async def test_error_after_the_first_byte_is_in_band_then_done(server, fake: FakeOpenAI) -> None:
    fake.enqueue(drop("partial answer"))
    with trio.fail_after(10):
        async with server.http() as http:
            response = await http.post(CHAT, json=chat(stream=True))
    assert response.status_code == 200
    events = sse_events(response.text)
    assert events[-1] == "[DONE]"
    failure = json.loads(events[-2])
    assert set(failure) == {"error"}
    assert set(failure["error"]) == ENVELOPE_KEYS
    assert (failure["error"]["type"], failure["error"]["code"]) == (
        "server_error",
        "upstream_error",
    )
    # No chunk ends the choice: there is no finish_reason "error".
    assert all(json.loads(e)["choices"][0]["finish_reason"] is None for e in events[:-2])


async def test_errors_before_the_first_byte_are_http_statuses_even_when_streaming(
    start_server, fake: FakeOpenAI
) -> None:
    fake.enqueue(error(400, "upstream says no"), hang())
    with trio.fail_after(10):
        async with (
            start_server(api_keys=("k",), request_timeout=2, conversations_max=10) as server,
            server.http(headers={"authorization": "Bearer k"}) as http,
        ):
            unauthorized = await http.post(
                CHAT, json=chat(stream=True), headers={"authorization": "Bearer nope"}
            )
            unknown = await http.post(CHAT, json={**chat(stream=True), "model": "gpt-4o"})
            upstream = await http.post(CHAT, json=chat())
            timeout = await http.post(CHAT, json=chat())
            async with trio.open_nursery() as nursery:
                fake.enqueue(hang())
                nursery.start_soon(
                    lambda: http.post(CHAT, json=chat(), headers={"x-conversation-id": "c1"})
                )
                await fake.wait_requests(3)
                busy = await http.post(
                    CHAT, json=chat(stream=True), headers={"x-conversation-id": "c1"}
                )
                nursery.cancel_scope.cancel()
    assert_envelope(unauthorized, 401, "authentication_error", "invalid_api_key")
    assert unauthorized.headers["www-authenticate"] == "Bearer"
    assert (
        assert_envelope(unknown, 404, "invalid_request_error", "model_not_found")["param"]
        == "model"
    )
    assert_envelope(upstream, 502, "server_error", "upstream_error")
    assert "upstream says no" not in upstream.text
    assert_envelope(timeout, 504, "server_error", "timeout")
    for response in (upstream, timeout):
        assert response.headers["x-should-retry"] == "false"
    assert (
        assert_envelope(busy, 409, "conflict_error", "conversation_busy")["param"]
        == "X-Conversation-Id"
    )
    assert busy.headers["retry-after"] == "1"


async def test_browser_preflight_allows_what_the_openai_sdk_sends(
    start_server, fake: FakeOpenAI
) -> None:
    """A page using the openai SDK (``dangerouslyAllowBrowser``) sends its ``x-stainless-*``
    headers: the preflight must allow each one, or the browser never sends the request."""
    # The header names the SDK really sends, as the upstream fake records them.
    fake.enqueue(text("ok"))
    async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="k", max_retries=0) as sdk:
        await sdk.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
    sent = {
        name
        for name in fake.requests[0].headers
        if name
        not in (
            # Set by the browser itself, never asked for in a preflight:
            "host",
            "connection",
            "content-length",
            "accept",
            "accept-encoding",
            "user-agent",
        )
    }
    assert "x-stainless-retry-count" in sent
    fake.enqueue(text("from a browser"))
    with trio.fail_after(10):
        async with start_server(cors_origins=(ORIGIN,)) as server, server.http() as http:
            preflight = await http.options(
                CHAT,
                headers={
                    "origin": ORIGIN,
                    "access-control-request-method": "POST",
                    "access-control-request-headers": ",".join(
                        sorted(sent | {"x-conversation-id"})
                    ),
                },
            )
            answer = await http.post(
                CHAT,
                json=chat(stream=True),
                headers={"origin": ORIGIN, "x-conversation-id": "tab-1"},
            )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    allowed = {
        h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")
    }
    assert sent | {"x-conversation-id"} <= allowed
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert len(fake.requests) == 2  # the preflight ran nothing
    # The streamed answer itself is readable by the page, headers included.
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    exposed = answer.headers["access-control-expose-headers"].lower()
    assert "x-request-id" in exposed
    assert "x-conversation-id" in exposed
    assert "origin" in answer.headers["vary"].lower()
    assert chunks_of(answer)[-1]["choices"][0]["finish_reason"] == "stop"


async def test_idle_keep_alive_connection_does_not_hold_shutdown(start_server) -> None:
    """Pooled clients (the SDKs, LangChain's shared httpx client) keep a connection open
    between requests; on shutdown the server closes it at once, it does not wait
    ``shutdown_grace`` for it."""
    with trio.fail_after(10):
        async with start_server(shutdown_grace=60) as server:
            port = int(server.url.rsplit(":", 1)[1])
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with stream:
                await stream.send_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
                received = b""
                while not received.endswith(b'{"status":"ok"}'):
                    received += await stream.receive_some()
                assert received.startswith(b"HTTP/1.1 200")
                assert b"connection: close" not in received.lower()  # kept alive
                server.stopping.set()
                assert await stream.receive_some() == b""  # the server closed it
