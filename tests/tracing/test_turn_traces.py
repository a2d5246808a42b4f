"""The span tree of a served turn, as a real OTLP/HTTP receiver gets it: the request, the
turn, its model calls and their HTTP attempts, its tool calls and a sub-agent's turn."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from trio_websocket import open_websocket_url

from trioagent import tracing
from trioagent.config import AgentFile, parse_agent_file
from trioagent.server.app import serve_agents
from trioagent.server.options import ServeOptions
from trioagent.testing import (
    FakeCollector,
    FakeOpenAI,
    ReceivedSpan,
    error,
    hang,
    text,
    tool_calls,
)

from .conftest import Traces, make_provider

TEAM_YAML = """\
agents:
  root:
    model: upstream
    description: The main agent
    instruction: You are a helpful test agent.
    sub_agents: [helper]
    toolsets:
      - type: think
  helper:
    model: upstream
    description: Finds things out.
    instruction: You help.
    toolsets:
      - type: think
models:
  upstream:
    provider: openai
    model: gpt-test
    base_url: {base_url}
    temperature: 0.3
{key}"""
QUESTION = "What is x?"
ANSWER = "The answer is 42."
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
CONTENT_KEYS = {
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
}


def node(name: str, *children: list[Any]) -> list[Any]:
    """A span tree as `Traces.tree` writes it."""
    return [name, sorted(children, key=repr)]


CHAT = node("chat gpt-test", node("POST"))


def team_file(fake: FakeOpenAI, *, token_key: str | None = None) -> AgentFile:
    key = f"    token_key: {token_key}\n" if token_key else ""
    return parse_agent_file(
        TEAM_YAML.format(base_url=fake.base_url, key=key), source="agent.yaml", env={}
    )


def script_team_turn(fake: FakeOpenAI) -> None:
    """Root calls think and hands a task to helper, which thinks and answers; then root
    answers. Four model calls, in this order."""
    fake.enqueue(
        tool_calls(
            [
                ("call_think", "think", '{"thought": "plan"}'),
                (
                    "call_transfer",
                    "transfer_task",
                    '{"agent": "helper", "task": "find x", "expected_output": "x"}',
                ),
            ],
            usage=(10, 2),
        ),
        tool_calls([("call_look", "think", '{"thought": "look"}')], usage=(5, 1)),
        text("x is 42", usage=(6, 2)),
        text(ANSWER, usage=(20, 3)),
    )


@asynccontextmanager
async def serving(
    file: AgentFile, tmp_path: Path, env: dict[str, str] | None = None, **options: Any
) -> AsyncIterator[str]:
    """Serve ``file`` on a free port with ``env`` (the start_server fixture's is empty)."""
    options.setdefault("sessions", ":memory:")
    serve_options = ServeOptions(host="127.0.0.1", port=0, working_dir=tmp_path, **options)
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        url = await nursery.start(
            partial(serve_agents, file, serve_options, "chat", env=env, shutdown_trigger=stop.wait)
        )
        try:
            yield url
        finally:
            stop.set()


async def ask(url: str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        return await http.post(
            "/v1/chat/completions",
            json={
                "model": "root",
                "messages": [{"role": "user", "content": QUESTION}],
                "temperature": 0.5,
            },
            headers=headers,
        )


def parent_of(traceparent: str) -> tuple[str, str]:
    """The (trace id, parent span id) of a W3C ``traceparent`` header."""
    version, trace_id, span_id, _flags = traceparent.split("-")
    assert version == "00"
    return trace_id, span_id


def by_start(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    return sorted(spans, key=lambda span: span.start_ns)


async def test_a_turn_with_tools_and_a_sub_agent_is_one_tree(
    fake: FakeOpenAI, tmp_path: Path, traces: Traces
) -> None:
    script_team_turn(fake)
    with trio.fail_after(20):
        async with serving(team_file(fake), tmp_path, conversations_max=10) as url:
            response = await ask(url, **{"X-Conversation-Id": "conv-1"})
        collector = await traces.flush()
    assert response.json()["choices"][0]["message"]["content"] == ANSWER

    request = collector.one("POST /v1/chat/completions")
    assert traces.tree(request) == node(
        "POST /v1/chat/completions",
        node(
            "invoke_agent root",
            CHAT,
            node("execute_tool think"),
            node(
                "execute_tool transfer_task",
                node("invoke_agent helper", CHAT, node("execute_tool think"), CHAT),
            ),
            CHAT,
        ),
    )
    assert {span.trace_id for span in collector.spans} == {request.trace_id}
    assert {span.service for span in collector.spans} == {"trioagent-test"}
    assert request.parent_span_id == ""
    assert request.kind == "SERVER"
    assert request.status == "UNSET"
    assert request.attributes["http.request.method"] == "POST"
    assert request.attributes["http.route"] == "/v1/chat/completions"
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["url.path"] == "/v1/chat/completions"
    assert response.headers["x-request-id"] == request.attributes["trioagent.request.id"]

    turn = collector.one("invoke_agent root")
    assert turn.kind == "INTERNAL"
    assert turn.status == "UNSET"
    assert turn.attributes == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "root",
        "gen_ai.agent.description": "The main agent",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-test",
        "gen_ai.conversation.id": "conv-1",
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": 41,
        "gen_ai.usage.output_tokens": 8,
        "trioagent.turn.outcome": "ok",
    }

    first, last = by_start([s for s in collector.children(turn) if s.name.startswith("chat")])
    tool_span_starts = [s.start_ns for s in collector.children(turn) if "execute_tool" in s.name]
    assert first.end_ns <= min(tool_span_starts)
    assert max(tool_span_starts) < last.start_ns
    assert first.kind == "CLIENT"
    assert first.attributes["gen_ai.operation.name"] == "chat"
    assert first.attributes["gen_ai.provider.name"] == "openai"
    assert first.attributes["gen_ai.request.model"] == "gpt-test"
    assert first.attributes["gen_ai.request.temperature"] == 0.5  # the request's
    assert first.attributes["gen_ai.conversation.id"] == "conv-1"
    assert first.attributes["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert first.attributes["gen_ai.usage.input_tokens"] == 10
    assert first.attributes["gen_ai.usage.output_tokens"] == 2
    assert 0 < first.attributes["gen_ai.response.time_to_first_chunk"] < 10
    assert last.attributes["gen_ai.response.finish_reasons"] == ["stop"]
    assert last.attributes["gen_ai.usage.input_tokens"] == 20

    transfer = collector.one("execute_tool transfer_task")
    assert transfer.attributes == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "transfer_task",
        "gen_ai.tool.call.id": "call_transfer",
    }
    sub_turn = collector.one("invoke_agent helper")
    assert sub_turn.attributes["gen_ai.agent.description"] == "Finds things out."
    assert "gen_ai.conversation.id" not in sub_turn.attributes  # a fresh session
    assert sub_turn.attributes["gen_ai.usage.input_tokens"] == 11
    for call in collector.children(sub_turn):
        if call.name.startswith("chat"):
            assert call.attributes["gen_ai.request.temperature"] == 0.3  # the model's
            assert "gen_ai.conversation.id" not in call.attributes

    attempts = collector.named("POST")
    assert len(attempts) == 4
    for attempt in attempts:
        assert attempt.kind == "CLIENT"
        assert attempt.attributes == {
            "http.request.method": "POST",
            "server.address": "127.0.0.1",
            "server.port": fake.port,
            "url.full": f"{fake.base_url}/chat/completions",
            "http.response.status_code": 200,
        }
    # Each upstream request carried its own attempt's context: a traced model server
    # would join this trace under it.
    assert sorted(parent_of(r.headers["traceparent"]) for r in fake.requests) == sorted(
        (a.trace_id, a.span_id) for a in attempts
    )


async def chat_front(server: Any, headers: dict[str, str]) -> None:
    async with server.openai(default_headers=headers) as client:
        reply = await client.chat.completions.create(
            model="root", messages=[{"role": "user", "content": QUESTION}]
        )
    assert reply.choices[0].message.content == "ok"


async def stream_front(server: Any, headers: dict[str, str]) -> None:
    async with server.openai(default_headers=headers) as client:
        stream = await client.chat.completions.create(
            model="root", messages=[{"role": "user", "content": QUESTION}], stream=True
        )
        pieces = [chunk.choices[0].delta.content async for chunk in stream if chunk.choices]
    assert "".join(p for p in pieces if p) == "ok"


async def responses_front(server: Any, headers: dict[str, str]) -> None:
    async with server.openai(default_headers=headers) as client:
        reply = await client.responses.create(model="root", input=QUESTION)
    assert reply.output_text == "ok"


async def api_front(server: Any, headers: dict[str, str]) -> None:
    async with server.http(headers=headers) as http:
        response = await http.post("/api/chat", json={"message": QUESTION})
    assert response.json()["message"] == "ok"


async def ws_front(server: Any, headers: dict[str, str]) -> None:
    url = server.url.replace("http://", "ws://") + "/v1/ws"
    async with open_websocket_url(url, extra_headers=list(headers.items())) as ws:
        await ws.send_message(json.dumps({"type": "hello"}))
        assert json.loads(await ws.get_message())["type"] == "ready"
        await ws.send_message(json.dumps({"type": "message", "text": QUESTION}))
        while (frame := json.loads(await ws.get_message()))["type"] != "done":
            assert frame["type"] != "error", frame


FRONTS = {
    "chat-completions": ("chat", chat_front, "POST /v1/chat/completions"),
    "chat-completions-stream": ("chat", stream_front, "POST /v1/chat/completions"),
    "responses": ("chat", responses_front, "POST /v1/responses"),
    "api-chat": ("api", api_front, "POST /api/chat"),
    "websocket": ("chat", ws_front, "GET /v1/ws"),
}


@pytest.mark.parametrize("front", FRONTS.values(), ids=FRONTS.keys())
async def test_every_front_continues_the_callers_trace_and_passes_it_upstream(
    start_server: Any, fake: FakeOpenAI, traces: Traces, front: tuple[str, Any, str]
) -> None:
    api, talk, name = front
    with trio.fail_after(20):
        async with start_server(api=api) as server:
            await talk(server, {"traceparent": TRACEPARENT})
        collector = await traces.flush()
    request = collector.one(name)
    assert request.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert request.parent_span_id == "b7ad6b7169203331"
    assert traces.tree(request) == node(name, node("invoke_agent root", CHAT))
    [attempt] = collector.named("POST")
    upstream = fake.requests[-1].headers["traceparent"]
    assert parent_of(upstream) == (request.trace_id, attempt.span_id)


async def test_retries_are_attempts_under_one_model_call(
    start_server: Any, fake: FakeOpenAI, traces: Traces
) -> None:
    fake.enqueue(error(503, retry_after=0), error(429, retry_after=0), text("ok"))
    with trio.fail_after(20):
        async with start_server() as server:
            response = await ask(server.url)
        collector = await traces.flush()
    assert response.status_code == 200
    call = collector.one("chat gpt-test")
    assert call.status == "UNSET"
    attempts = collector.children(call)
    assert [a.attributes["http.response.status_code"] for a in attempts] == [503, 429, 200]
    assert [a.attributes.get("http.request.resend_count") for a in attempts] == [None, 1, 2]
    assert [(a.status, a.attributes.get("error.type")) for a in attempts] == [
        ("ERROR", "503"),
        ("ERROR", "429"),
        ("UNSET", None),
    ]


async def test_a_failed_turn_has_error_status_and_the_reason(
    start_server: Any, fake: FakeOpenAI, traces: Traces
) -> None:
    fake.enqueue(error(401, "bad key"))
    with trio.fail_after(20):
        async with start_server() as server:
            response = await ask(server.url)
        collector = await traces.flush()
    assert response.status_code >= 400
    request = collector.one("POST /v1/chat/completions")
    assert request.attributes["http.response.status_code"] == response.status_code
    assert request.status == ("ERROR" if response.status_code >= 500 else "UNSET")
    turn = collector.one("invoke_agent root")
    assert turn.status == "ERROR"
    assert turn.attributes["error.type"] == "UpstreamAuthError"
    assert turn.attributes["trioagent.turn.outcome"] == "error"
    assert "refused the API key" in turn.status_message
    call = collector.one("chat gpt-test")
    assert (call.status, call.attributes["error.type"]) == ("ERROR", "UpstreamAuthError")
    attempt = collector.one("POST")
    assert (attempt.status, attempt.attributes["error.type"]) == ("ERROR", "401")


async def test_a_timed_out_turn_ends_every_span_as_timed_out(
    start_server: Any, fake: FakeOpenAI, traces: Traces
) -> None:
    fake.enqueue(hang())
    with trio.fail_after(20):
        async with start_server(request_timeout=0.3) as server:
            response = await ask(server.url)
        collector = await traces.flush()
    assert response.status_code == 504
    for name in ("invoke_agent root", "chat gpt-test", "POST"):
        span = collector.one(name)
        assert (span.status, span.attributes["error.type"]) == ("ERROR", "timeout"), name
        assert "deadline" in span.status_message
    assert collector.one("invoke_agent root").attributes["trioagent.turn.outcome"] == "timeout"
    assert collector.one("POST /v1/chat/completions").attributes["http.response.status_code"] == 504


async def test_a_client_that_goes_away_ends_the_turn_spans_as_cancelled(
    start_server: Any, fake: FakeOpenAI, traces: Traces
) -> None:
    fake.enqueue(hang())
    body = {"model": "root", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with trio.fail_after(20):
        async with start_server() as server, server.http() as http:
            async with http.stream("POST", "/v1/chat/completions", json=body) as response:
                assert response.status_code == 200
                await fake.wait_requests(1)
            await fake.wait_disconnects(1)  # the turn was cancelled: its model call too
            await trio.testing.wait_all_tasks_blocked()
            collector = await traces.flush()
    for name in ("invoke_agent root", "chat gpt-test", "POST"):
        span = collector.one(name)
        assert (span.status, span.attributes["error.type"]) == ("ERROR", "cancelled"), name
    assert collector.one("invoke_agent root").attributes["trioagent.turn.outcome"] == "cancelled"


@pytest.mark.parametrize("capture_content", [False, True], ids=["default", "opted-in"])
async def test_content_and_keys_stay_out_of_spans_unless_opted_in(
    fake: FakeOpenAI, tmp_path: Path, traces: Traces, capture_content: bool
) -> None:
    fake.api_key = "sk-upstream-secret"
    script_team_turn(fake)
    file = team_file(fake, token_key="UPSTREAM_KEY")
    env = {"UPSTREAM_KEY": "sk-upstream-secret"}
    with trio.fail_after(20):
        async with serving(file, tmp_path, env, api_keys=("sk-server-secret",)) as url:
            response = await ask(url, authorization="Bearer sk-server-secret")
        collector = await traces.flush()
    assert response.json()["choices"][0]["message"]["content"] == ANSWER
    everything = json.dumps([span.attributes for span in collector.spans])
    assert "secret" not in everything
    recorded = {key for span in collector.spans for key in span.attributes} & CONTENT_KEYS
    if not capture_content:
        assert not recorded
        for content in (QUESTION, ANSWER, "x is 42", "find x", "plan", "You help."):
            assert content not in everything
        return
    assert recorded == CONTENT_KEYS - {"gen_ai.system_instructions"}
    turn = collector.one("invoke_agent root")
    first, last = by_start([s for s in collector.children(turn) if s.name.startswith("chat")])
    assert json.loads(first.attributes["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "You are a helpful test agent."}]},
        {"role": "user", "parts": [{"type": "text", "content": QUESTION}]},
    ]
    [answer] = json.loads(first.attributes["gen_ai.output.messages"])
    assert answer["finish_reason"] == "tool_calls"
    assert answer["parts"][0] == {
        "type": "tool_call",
        "id": "call_think",
        "name": "think",
        "arguments": {"thought": "plan"},
    }
    assert json.loads(last.attributes["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": ANSWER}],
            "finish_reason": "stop",
        }
    ]
    history = json.loads(last.attributes["gen_ai.input.messages"])
    assert {"type": "tool_call_response", "id": "call_transfer", "response": "x is 42"} in (
        history[-1]["parts"] + history[-2]["parts"]
    )
    transfer = collector.one("execute_tool transfer_task")
    assert json.loads(transfer.attributes["gen_ai.tool.call.arguments"])["task"] == "find x"
    assert transfer.attributes["gen_ai.tool.call.result"] == "x is 42"


@pytest.mark.parametrize("stall", [False, True], ids=["dead", "stalled"])
async def test_a_collector_that_does_not_answer_changes_no_answer(
    fake: FakeOpenAI, tmp_path: Path, collector: FakeCollector, stall: bool
) -> None:
    if stall:  # it takes the spans and never answers (until the test ends)
        collector.hold = trio.Event()
        endpoint = collector.traces_url
    else:
        with trio.socket.socket() as sock:  # a port nothing listens on
            await sock.bind(("127.0.0.1", 0))
            endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}/v1/traces"
    # The exporter waits for the stalled collector far longer than the turns may take.
    provider = make_provider(endpoint, timeout=60 if stall else 1, delay=1)
    tracing.enable(provider)
    try:
        with trio.fail_after(15):
            for _ in range(2):
                script_team_turn(fake)
                async with serving(team_file(fake), tmp_path) as url:
                    response = await ask(url)
                assert response.json()["choices"][0]["message"]["content"] == ANSWER
            if stall:  # the turns went on while an export waited
                await collector.wait_for(lambda c: c.received > 0)
                assert collector.exports == 0
    finally:
        tracing.disable()
        if collector.hold is not None:
            collector.hold.set()
        await trio.to_thread.run_sync(provider.shutdown)
