"""MCP toolsets in a running server: a model's call reaches the MCP server, and the
server's process ends with the runtime that owns it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import trio

from trioagent.config import parse_agent_file
from trioagent.testing import FakeOpenAI, text, tool_calls
from trioagent.testing.process import pid_alive as alive
from trioagent.testing.process import wait_dead

MCP_SERVER = Path(__file__).resolve().parent.parent / "tools" / "mcp_server.py"
USER = [{"role": "user", "content": "go"}]


def mcp_agent(fake: FakeOpenAI) -> Any:
    yaml = f"""\
agents:
  root:
    model: upstream
    toolsets:
      - type: mcp
        command: {json.dumps(sys.executable)}
        args: [{json.dumps(str(MCP_SERVER))}, stdio]
        env: {{GREETING: hello}}
        tools: [echo, pid, env]
models:
  upstream: {{provider: openai, model: gpt-test, base_url: "{fake.base_url}"}}
"""
    return parse_agent_file(yaml, source="mcp.yaml", env={})


async def test_model_calls_reach_the_mcp_server(start_server: Any, fake: FakeOpenAI) -> None:
    fake.enqueue(
        tool_calls(
            [
                ("c1", "echo", '{"text": "ahoy"}'),
                ("c2", "env", '{"name": "GREETING"}'),
                ("c3", "pid", "{}"),
            ]
        ),
        text("done"),
    )
    with trio.fail_after(30):
        async with start_server(mcp_agent(fake)) as server, server.openai() as client:
            reply = await client.chat.completions.create(model="root", messages=USER)
            assert reply.choices[0].message.content == "done"
            offered = sorted(t["function"]["name"] for t in fake.requests[0].json["tools"])
            assert offered == ["echo", "env", "pid"]  # the allow list applies
            results = [m["content"] for m in fake.requests[1].json["messages"][-3:]]
            assert results[:2] == ["ahoy", "hello"]
            pid = int(results[2])
            assert pid != os.getpid()
            assert alive(pid)
        # The server stopped: its runtimes closed and the MCP process is gone.
        assert await wait_dead(pid, within=5)
