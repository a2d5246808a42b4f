"""`serve mcp --http` over a real socket, with the official MCP client in both protocol
eras (the 2025-11-25 handshake with sessions, and 2026-07-28's request envelopes): the
tools, a call, a conversation, failures, cancellation, progress, and the guards of /mcp."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
import trio
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_checks import ERAS, INITIALIZE, answer_of, error_of, seen

from trioagent.config import AgentFile
from trioagent.server.options import ServeOptions
from trioagent.server.ratelimit import Rate
from trioagent.server.serve_mcp import serve_mcp
from trioagent.testing import FakeOpenAI, error, hang, held, text, tool_calls

StartMcp = Callable[..., AbstractAsyncContextManager[str]]


@pytest.fixture
def start_mcp(agent_file: AgentFile, tmp_path: Path) -> StartMcp:
    """``async with start_mcp(**options) as url:`` serves MCP over HTTP on port 0."""

    @asynccontextmanager
    async def start(**options: Any) -> AsyncIterator[str]:
        options = {"host": "127.0.0.1", "port": 0, "working_dir": tmp_path, **options}
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            url = await nursery.start(
                partial(
                    serve_mcp,
                    agent_file,
                    ServeOptions(**options),
                    http=True,
                    env={},
                    shutdown_trigger=stop.wait,
                )
            )
            try:
                yield url
            finally:
                stop.set()

    return start


@asynccontextmanager
async def connect(url: str, mode: str, key: str | None = None) -> AsyncIterator[Client]:
    """The official client on ``url``'s /mcp, sending ``key`` as a bearer token."""
    headers = {"Authorization": f"Bearer {key}"} if key else None
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(10)) as http:
        transport = streamable_http_client(f"{url}/mcp", http_client=http)
        async with Client(transport, mode=mode) as client:
            yield client


@ERAS
async def test_each_agent_is_a_tool_named_and_described_after_it(
    start_mcp: StartMcp, mode: str
) -> None:
    with trio.fail_after(10):
        async with start_mcp() as url, connect(url, mode) as client:
            tools = (await client.list_tools()).tools
    assert [tool.name for tool in tools] == ["root", "helper"]
    assert tools[0].description == "The main agent"
    assert tools[1].description == "Ask the agent 'helper': send a message, get its answer."
    schema = tools[0].input_schema
    assert schema["required"] == ["message"]
    assert set(schema["properties"]) == {"message", "conversation_id"}
    assert schema["additionalProperties"] is False
    assert tools[0].output_schema is not None
    assert tools[0].output_schema["required"] == ["answer", "conversation_id"]


async def test_agent_flag_exposes_only_that_agent(start_mcp: StartMcp) -> None:
    with trio.fail_after(10):
        async with start_mcp(agent="helper") as url, connect(url, "auto") as client:
            tools = (await client.list_tools()).tools
    assert [tool.name for tool in tools] == ["helper"]


@ERAS
async def test_call_answers_and_conversation_id_continues_the_conversation(
    start_mcp: StartMcp, fake: FakeOpenAI, mode: str
) -> None:
    fake.enqueue(text("Hello there"), text("Still here"))
    with trio.fail_after(10):
        async with start_mcp() as url, connect(url, mode) as client:
            first = await client.call_tool("root", {"message": "hi"})
            said, conversation = answer_of(first)
            assert said == "Hello there"
            assert conversation in first.content[1].text  # type: ignore[union-attr]
            again = await client.call_tool(
                "root", {"message": "still there?", "conversation_id": conversation}
            )
    assert answer_of(again) == ("Still here", conversation)
    assert seen(fake) == [("user", "hi"), ("assistant", "Hello there"), ("user", "still there?")]


@ERAS
async def test_progress_names_each_tool_the_agent_runs(
    start_mcp: StartMcp, fake: FakeOpenAI, mode: str
) -> None:
    fake.enqueue(
        tool_calls([("c1", "think", '{"thought": "plan"}')]),
        tool_calls([("c2", "list_directory", '{"path": "."}')]),
        text("done"),
    )
    notes: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        notes.append((progress, message))

    with trio.fail_after(10):
        async with start_mcp() as url, connect(url, mode) as client:
            result = await client.call_tool(
                "root", {"message": "go"}, progress_callback=on_progress
            )
    assert answer_of(result)[0] == "done"
    assert notes == [
        (1, "root is running the tool think"),
        (2, "root is running the tool list_directory"),
    ]


@ERAS
async def test_failing_upstream_is_an_error_result_and_stores_nothing(
    start_mcp: StartMcp, fake: FakeOpenAI, mode: str
) -> None:
    fake.enqueue(text("started"), error(400), text("recovered"))
    with trio.fail_after(10):
        async with start_mcp() as url, connect(url, mode) as client:
            _, conversation = answer_of(await client.call_tool("root", {"message": "start"}))
            failed = await client.call_tool(
                "root", {"message": "fails", "conversation_id": conversation}
            )
            assert "model provider failed" in error_of(failed)
            assert "answered 400" in error_of(failed)
            await client.call_tool("root", {"message": "again", "conversation_id": conversation})
    assert seen(fake) == [("user", "start"), ("assistant", "started"), ("user", "again")]


@ERAS
async def test_cancelled_call_stops_the_turn_and_stores_nothing(
    start_mcp: StartMcp, fake: FakeOpenAI, mode: str
) -> None:
    fake.enqueue(text("started"), hang(), text("recovered"))
    with trio.fail_after(10):
        async with start_mcp() as url, connect(url, mode) as client:
            _, conversation = answer_of(await client.call_tool("root", {"message": "start"}))
            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    partial(
                        client.call_tool,
                        "root",
                        {"message": "never answered", "conversation_id": conversation},
                    )
                )
                await fake.wait_requests(2)  # the turn is at the model
                nursery.cancel_scope.cancel()
            await fake.wait_disconnects(1)  # the upstream call was cancelled
            result = await client.call_tool(
                "root", {"message": "again", "conversation_id": conversation}
            )
    assert answer_of(result)[0] == "recovered"
    assert seen(fake) == [("user", "start"), ("assistant", "started"), ("user", "again")]


async def test_timeout_is_an_error_result(start_mcp: StartMcp, fake: FakeOpenAI) -> None:
    fake.enqueue(hang())
    with trio.fail_after(10):
        async with start_mcp(request_timeout=0.5) as url, connect(url, "auto") as client:
            result = await client.call_tool("root", {"message": "slow"})
            await fake.wait_disconnects(1)
    assert "request timeout (0.5 s)" in error_of(result)


async def test_busy_conversation_is_an_error_result_naming_it(
    start_mcp: StartMcp, fake: FakeOpenAI
) -> None:
    release = trio.Event()
    fake.enqueue(text("started"), held(text("slow answer"), release))
    with trio.fail_after(10):
        async with start_mcp() as url, connect(url, "legacy") as client:
            _, conversation = answer_of(await client.call_tool("root", {"message": "start"}))
            arguments = {"message": "slow", "conversation_id": conversation}
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.call_tool, "root", arguments)
                await fake.wait_requests(2)
                busy = await client.call_tool("root", {**arguments, "message": "meanwhile"})
                release.set()
    assert f"Conversation {conversation!r} is busy" in error_of(busy)


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        ({}, "'message' must be a non-empty string"),
        ({"message": ""}, "'message' must be a non-empty string"),
        ({"message": 3}, "'message' must be a non-empty string"),
        ({"message": "hi", "conversation_id": "no spaces"}, "'conversation_id' must be"),
        ({"message": "hi", "conversation_id": "f00d"}, "Unknown conversation_id 'f00d'"),
        ({"message": "hi", "model": "gpt"}, "Unknown argument 'model'"),
    ],
    ids=["missing", "empty", "number", "bad-id", "unknown-id", "unknown-argument"],
)
async def test_bad_arguments_are_error_results_and_reach_no_model(
    start_mcp: StartMcp, fake: FakeOpenAI, arguments: dict[str, Any], reason: str
) -> None:
    with trio.fail_after(10):
        async with start_mcp() as url, connect(url, "auto") as client:
            result = await client.call_tool("root", arguments)
    assert reason in error_of(result)
    assert fake.requests == []


async def test_unknown_tool_is_a_protocol_error(start_mcp: StartMcp) -> None:
    with trio.fail_after(10):
        async with start_mcp() as url, connect(url, "auto") as client:
            with pytest.raises(MCPError, match="Unknown tool 'nobody'"):
                await client.call_tool("nobody", {"message": "hi"})


async def test_without_kept_conversations_there_is_no_conversation_id(
    start_mcp: StartMcp, fake: FakeOpenAI
) -> None:
    with trio.fail_after(10):
        async with start_mcp(conversations_max=0) as url, connect(url, "auto") as client:
            tool = (await client.list_tools()).tools[0]
            result = await client.call_tool("root", {"message": "hi"})
    assert set(tool.input_schema["properties"]) == {"message"}
    assert result.structured_content == {"answer": "ok"}
    assert len(result.content) == 1


# The guards of /mcp: the same as every other front's, answered as JSON-RPC errors.


def assert_refused(response: httpx.Response, status: int, code: str) -> str:
    """A refusal before the protocol: a JSON-RPC error without id, with our error's code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert "x-request-id" in response.headers
    body = response.json()
    assert body["jsonrpc"] == "2.0"
    assert body["id"] is None
    assert body["error"]["code"] == -32600
    assert body["error"]["data"]["code"] == code
    return str(body["error"]["message"])


ACCEPT = {"Accept": "application/json, text/event-stream"}


@ERAS
async def test_api_key_is_required_and_scopes_conversations(
    start_mcp: StartMcp, fake: FakeOpenAI, mode: str
) -> None:
    with trio.fail_after(10):
        async with start_mcp(api_keys=("key-a", "key-b")) as url:
            async with httpx.AsyncClient(base_url=url) as http:
                response = await http.post("/mcp", json=INITIALIZE, headers=ACCEPT)
                assert "Missing API key" in assert_refused(response, 401, "invalid_api_key")
                assert response.headers["www-authenticate"] == "Bearer"
                assert (await http.get("/healthz")).status_code == 200
            refused = pytest.RaisesExc(MCPError, match="Incorrect API key")
            with pytest.RaisesGroup(refused, flatten_subgroups=True):
                async with connect(url, mode, key="wrong"):
                    pass
            async with connect(url, mode, key="key-a") as client:
                _, conversation = answer_of(await client.call_tool("root", {"message": "hi"}))
            async with connect(url, mode, key="key-b") as client:
                other = await client.call_tool(
                    "root", {"message": "hi", "conversation_id": conversation}
                )
    assert "Unknown conversation_id" in error_of(other)


async def test_a_session_serves_only_the_key_that_opened_it(start_mcp: StartMcp) -> None:
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    with trio.fail_after(10):
        async with (
            start_mcp(api_keys=("key-a", "key-b")) as url,
            httpx.AsyncClient(base_url=url) as http,
        ):
            opened = await http.post(
                "/mcp", json=INITIALIZE, headers={**ACCEPT, "Authorization": "Bearer key-a"}
            )
            session = {
                **ACCEPT,
                "Mcp-Session-Id": opened.headers["mcp-session-id"],
                "Mcp-Protocol-Version": "2025-11-25",
            }
            initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            owner = {**session, "Authorization": "Bearer key-a"}
            assert (await http.post("/mcp", json=initialized, headers=owner)).status_code == 202
            other = {**session, "Authorization": "Bearer key-b"}
            stolen = await http.post("/mcp", json=listing, headers=other)
            own = await http.post("/mcp", json=listing, headers=owner)
    assert stolen.status_code == 404
    assert own.status_code == 200


async def test_body_limit_rate_limit_and_foreign_origin_are_refused(
    start_mcp: StartMcp,
) -> None:
    big = {**INITIALIZE, "params": {**INITIALIZE["params"], "padding": "x" * 2048}}
    with trio.fail_after(10):
        async with (
            start_mcp(max_request_size=1024, rate_limit=Rate(2, 60)) as url,
            httpx.AsyncClient(base_url=url) as http,
        ):
            response = await http.post("/mcp", json=big, headers=ACCEPT)
            assert_refused(response, 413, "request_too_large")
            evil = {**ACCEPT, "Origin": "http://evil.example"}
            response = await http.post("/mcp", json=INITIALIZE, headers=evil)
            assert response.status_code == 403
            assert "--cors-origin" in response.json()["error"]["message"]
            loopback = {**ACCEPT, "Origin": "http://localhost:6274"}
            assert (await http.post("/mcp", json=INITIALIZE, headers=loopback)).status_code == 200
            response = await http.post("/mcp", json=INITIALIZE, headers=ACCEPT)
            assert_refused(response, 429, "rate_limit_exceeded")
            assert "retry-after" in response.headers


async def test_cors_lets_an_allowed_page_read_the_session_id(start_mcp: StartMcp) -> None:
    page = "https://app.example.com"
    with trio.fail_after(10):
        async with (
            start_mcp(cors_origins=(page,)) as url,
            httpx.AsyncClient(base_url=url) as http,
        ):
            preflight = await http.options(
                "/mcp",
                headers={
                    "Origin": page,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "content-type, mcp-protocol-version",
                },
            )
            response = await http.post("/mcp", json=INITIALIZE, headers={**ACCEPT, "Origin": page})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == page
    assert "mcp-protocol-version" in preflight.headers["access-control-allow-headers"]
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == page
    assert "Mcp-Session-Id" in response.headers["access-control-expose-headers"]
    assert response.headers["mcp-session-id"]


async def test_health_readiness_and_metrics_count_mcp(
    start_mcp: StartMcp, fake: FakeOpenAI
) -> None:
    with trio.fail_after(10):
        async with start_mcp() as url:
            async with connect(url, "auto") as client:
                await client.call_tool("root", {"message": "hi"})
            async with httpx.AsyncClient(base_url=url) as http:
                assert (await http.get("/healthz")).json() == {"status": "ok"}
                assert (await http.get("/readyz")).json() == {"status": "ready"}
                metrics = (await http.get("/metrics")).text
                missing = await http.get("/v1/models")
    assert 'trioagent_requests_total{method="POST",route="/mcp",status="200"}' in metrics
    assert 'trioagent_turn_duration_seconds_count{agent="root",outcome="ok"} 1.0' in metrics
    assert missing.status_code == 404
    assert json.loads(missing.text)["error"]["data"]["status"] == 404


async def test_shutdown_ends_an_idle_session_stream_at_once(
    agent_file: AgentFile, tmp_path: Path
) -> None:
    """A 2025-era client holds its session's GET stream open; stopping ends it rather than
    wait for --shutdown-grace."""
    stop, served = trio.Event(), trio.Event()
    options = ServeOptions(host="127.0.0.1", port=0, working_dir=tmp_path, shutdown_grace=30)

    async def serve(task_status: trio.TaskStatus[str]) -> None:
        await serve_mcp(
            agent_file,
            options,
            http=True,
            env={},
            shutdown_trigger=stop.wait,
            task_status=task_status,
        )
        served.set()

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            url = await nursery.start(serve)
            async with httpx.AsyncClient(base_url=url) as http:
                opened = await http.post("/mcp", json=INITIALIZE, headers=ACCEPT)
                session = {
                    "Mcp-Session-Id": opened.headers["mcp-session-id"],
                    "Mcp-Protocol-Version": "2025-11-25",
                }
                initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
                await http.post("/mcp", json=initialized, headers={**ACCEPT, **session})
                stream = {**session, "Accept": "text/event-stream"}
                async with http.stream("GET", "/mcp", headers=stream) as response:
                    assert response.status_code == 200
                    stop.set()
                    await served.wait()
