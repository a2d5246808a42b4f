"""A tool call's span is the parent of what the tool does: an MCP call, run by the
toolset's own task, carries the trace context of the call that asked for it."""

from __future__ import annotations

import sys
from pathlib import Path

import trio

from trioagent.chat import Message
from trioagent.config import parse_agent_file
from trioagent.runtime import Session, open_pool, open_team, run_turn
from trioagent.testing import FakeOpenAI, text, tool_calls

from .conftest import Traces

SERVER = Path(__file__).with_name("mcp_trace_server.py")
YAML = """\
agents:
  root:
    model: upstream
    instruction: Use the tool.
    toolsets:
      - type: mcp
        command: {python}
        args: ["{server}"]
models:
  upstream:
    provider: openai
    model: gpt-test
    base_url: {base_url}
"""


async def test_an_mcp_call_carries_the_context_of_its_tool_span(
    fake: FakeOpenAI, tmp_path: Path, traces: Traces
) -> None:
    fake.enqueue(tool_calls([("call_mcp", "traceparent", "{}")]), text("done"))
    file = parse_agent_file(
        YAML.format(python=sys.executable, server=SERVER, base_url=fake.base_url), env={}
    )
    session = Session.from_messages([Message.user("trace it")])
    send, receive = trio.open_memory_channel[object](100)
    with trio.fail_after(30):
        async with (
            open_team(file, working_dir=tmp_path, env={}) as team,
            open_pool(team, max_idle=1) as pool,
            pool.borrow("root") as runtime,
        ):
            await run_turn(runtime, session, send)  # type: ignore[arg-type]
        collector = await traces.flush()
    receive.close()
    tool = collector.one("execute_tool traceparent")
    assert tool.status == "UNSET"
    [result] = [m for m in session.messages if m.role == "tool"]
    assert result.content.split("-")[1:3] == [tool.trace_id, tool.span_id]
