"""The MCP and A2A fronts run the same turn, so their requests have the same tree under
them, in the caller's trace."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import httpx
import httpx2
import trio
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from trioagent.config import AgentFile
from trioagent.server.options import ServeOptions
from trioagent.server.serve_mcp import serve_mcp
from trioagent.testing import FakeOpenAI

from .conftest import Traces
from .test_turn_traces import CHAT, TRACEPARENT, node

TRACE_ID = TRACEPARENT.split("-")[1]


async def test_an_mcp_tool_call_over_http_is_one_tree_in_the_callers_trace(
    agent_file: AgentFile, tmp_path: Path, traces: Traces
) -> None:
    options = ServeOptions(host="127.0.0.1", port=0, working_dir=tmp_path)
    stop = trio.Event()
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            url = await nursery.start(
                partial(
                    serve_mcp, agent_file, options, http=True, env={}, shutdown_trigger=stop.wait
                )
            )
            headers = {"traceparent": TRACEPARENT}
            async with httpx2.AsyncClient(timeout=httpx2.Timeout(10), headers=headers) as http:
                transport = streamable_http_client(f"{url}/mcp", http_client=http)
                async with Client(transport) as client:  # type: ignore[arg-type]
                    result = await client.call_tool("root", {"message": "hi"})
            stop.set()
        collector = await traces.flush()
    assert not result.is_error
    [turn] = collector.named("invoke_agent root")
    [request] = [
        span for span in collector.named("POST /mcp") if span.span_id == turn.parent_span_id
    ]
    assert (request.trace_id, request.parent_span_id) == (TRACE_ID, TRACEPARENT.split("-")[2])
    assert traces.tree(request) == node("POST /mcp", node("invoke_agent root", CHAT))
    assert turn.attributes["gen_ai.conversation.id"]  # the MCP front keeps a conversation


async def test_an_a2a_message_is_one_tree_in_the_callers_trace(
    start_server: Any, fake: FakeOpenAI, traces: Traces
) -> None:
    message = {"messageId": "m-1", "role": "ROLE_USER", "parts": [{"text": "hi"}]}
    body = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": message}}
    with trio.fail_after(20):
        async with start_server(api="a2a") as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
                response = await http.post("/a2a", json=body, headers={"traceparent": TRACEPARENT})
        collector = await traces.flush()
    assert response.json()["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    request = collector.one("POST /a2a")
    assert request.trace_id == TRACE_ID
    assert traces.tree(request) == node("POST /a2a", node("invoke_agent root", CHAT))
