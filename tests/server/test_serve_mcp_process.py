"""`trioagent serve mcp` as a real process: over stdio with the official MCP client's stdio
transport (and with bare protocol lines, to see exactly what reaches stdout), and with
``--http`` as its startup line says; signals and the end of stdin stop it cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_checks import ERAS, INITIALIZE, answer_of, error_of, seen

from trioagent.testing import (
    FakeOpenAI,
    error,
    hang,
    open_server_process,
    text,
    tool_calls,
    trioagent_command,
)

AGENT = """\
agents:
  root:
    model: upstream
    description: Answers questions.
    instruction: You are a test agent.
    toolsets:
      - type: think
      - type: shell
models:
  upstream:
    provider: openai
    model: gpt-test
    base_url: {base_url}
"""


@pytest.fixture
def agent_path(fake: FakeOpenAI, tmp_path: Path) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(AGENT.format(base_url=fake.base_url))
    return path


@asynccontextmanager
async def stdio(agent_path: Path, mode: str, *flags: str) -> AsyncIterator[Client]:
    """The official client on ``python -m trioagent serve mcp AGENT`` over stdio."""
    command = trioagent_command("serve", "mcp", str(agent_path), *flags)
    params = StdioServerParameters(
        command=command[0], args=command[1:], env=dict(os.environ), cwd=agent_path.parent
    )
    async with Client(stdio_client(params), mode=mode) as client:
        yield client


@ERAS
async def test_stdio_lists_calls_continues_and_reports_failures(
    agent_path: Path, fake: FakeOpenAI, mode: str
) -> None:
    fake.enqueue(
        tool_calls([("c1", "think", '{"thought": "plan"}')]),
        text("Hello there"),
        error(400),
        text("Still here"),
    )
    notes: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        notes.append(message)

    with trio.fail_after(30):
        async with stdio(agent_path, mode) as client:
            tools = (await client.list_tools()).tools
            first = await client.call_tool("root", {"message": "hi"}, progress_callback=on_progress)
            said, conversation = answer_of(first)
            continued = {"conversation_id": conversation}
            failed = await client.call_tool("root", {"message": "fails", **continued})
            again = await client.call_tool("root", {"message": "still there?", **continued})
    assert [(tool.name, tool.description) for tool in tools] == [("root", "Answers questions.")]
    assert said == "Hello there"
    assert notes == ["root is running the tool think"]
    assert "model provider failed" in error_of(failed)
    assert answer_of(again) == ("Still here", conversation)
    history = seen(fake)
    assert history[0] == ("user", "hi")
    assert history[-2:] == [("assistant", "Hello there"), ("user", "still there?")]
    assert ("user", "fails") not in history


@ERAS
async def test_stdio_cancel_stops_the_turn_and_stores_nothing(
    agent_path: Path, fake: FakeOpenAI, mode: str
) -> None:
    fake.enqueue(text("started"), hang(), text("recovered"))
    with trio.fail_after(30):
        async with stdio(agent_path, mode) as client:
            _, conversation = answer_of(await client.call_tool("root", {"message": "start"}))
            arguments = {"message": "never answered", "conversation_id": conversation}
            async with trio.open_nursery() as nursery:
                nursery.start_soon(partial(client.call_tool, "root", arguments))
                await fake.wait_requests(2)  # the turn is at the model
                nursery.cancel_scope.cancel()
            await fake.wait_disconnects(1)  # the upstream call was cancelled
            arguments = {"message": "again", "conversation_id": conversation}
            assert answer_of(await client.call_tool("root", arguments))[0] == "recovered"
    assert seen(fake) == [("user", "start"), ("assistant", "started"), ("user", "again")]


def line(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode() + b"\n"


INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


class Lines:
    """The lines of a process's pipe, as they come."""

    def __init__(self, stream: trio.abc.ReceiveStream | None) -> None:
        assert stream is not None
        self.stream = stream
        self.pending = b""
        self.seen: list[bytes] = []

    async def next(self) -> bytes | None:
        while b"\n" not in self.pending:
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                return None
            self.pending += chunk
        found, self.pending = self.pending.split(b"\n", 1)
        self.seen.append(found)
        return found

    async def until(self, predicate: Any) -> bytes:
        while (found := await self.next()) is not None:
            if predicate(found):
                return found
        raise AssertionError(f"the stream ended first; it had {self.seen}")

    async def rest(self) -> list[bytes]:
        while await self.next() is not None:
            pass
        return self.seen


@attrs.frozen
class Piped:
    """A server process with its three standard streams."""

    process: trio.Process
    stdin: trio.abc.SendStream
    stdout: Lines
    stderr: Lines


@asynccontextmanager
async def raw_process(agent_path: Path, *flags: str) -> AsyncIterator[Piped]:
    """``serve mcp`` with pipes for stdin, stdout and stderr; killed if still running."""
    process = await trio.lowlevel.open_process(
        trioagent_command("serve", "mcp", str(agent_path), *flags),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=agent_path.parent,
    )
    try:
        assert process.stdin is not None
        yield Piped(process, process.stdin, Lines(process.stdout), Lines(process.stderr))
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()


async def test_stdout_carries_only_the_protocol_and_stdin_eof_exits_0(
    agent_path: Path, fake: FakeOpenAI
) -> None:
    """With debug logs on, and a tool whose command prints: stdout is the protocol only,
    everything else is on stderr; closing stdin ends the server with status 0."""
    fake.enqueue(tool_calls([("c1", "shell", '{"cmd": "echo leaked; echo oops >&2"}')]))
    fake.enqueue(text("done"))
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "root", "arguments": {"message": "hi"}, "_meta": {"progressToken": 7}},
    }
    with trio.fail_after(30):
        async with raw_process(agent_path, "-v") as server:
            await server.stderr.until(lambda found: b"serving on stdio" in found)
            await server.stdin.send_all(line(INITIALIZE) + line(INITIALIZED) + line(call))
            await server.stdout.until(lambda found: json.loads(found).get("id") == 2)
            await server.stdin.aclose()
            assert await server.process.wait() == 0
            out, err = await server.stdout.rest(), b"\n".join(await server.stderr.rest())
    messages = [json.loads(found) for found in out]  # every line is JSON-RPC
    assert all(message["jsonrpc"] == "2.0" for message in messages)
    progress = [m["params"] for m in messages if m.get("method") == "notifications/progress"]
    assert progress == [
        {"progressToken": 7, "progress": 1.0, "message": "root is running the tool shell"}
    ]
    assert messages[-1]["result"]["structuredContent"]["answer"] == "done"
    tool_result = fake.requests[-1].json["messages"][-1]["content"]
    assert "leaked" in tool_result
    assert "oops" in tool_result
    assert b"DEBUG" in err  # the logs were on, on stderr
    assert b"Traceback" not in err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_a_signal_stops_it_while_stdin_stays_open(
    agent_path: Path, signum: signal.Signals
) -> None:
    with trio.fail_after(30):
        async with raw_process(agent_path) as server:
            await server.stdin.send_all(line(INITIALIZE))
            await server.stdout.until(lambda found: json.loads(found).get("id") == 1)
            server.process.send_signal(signum)
            assert await server.process.wait() == 0
            err = b"\n".join(await server.stderr.rest())
    assert b"serving on stdio" in err
    assert b"Traceback" not in err


async def test_network_flags_need_http(agent_path: Path) -> None:
    with trio.fail_after(30):
        done = await trio.run_process(
            trioagent_command("serve", "mcp", str(agent_path), "--api-key", "k"),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert done.returncode == 1
    assert b"--api-key applies to 'serve mcp --http' only" in done.stderr
    assert done.stdout == b""


async def test_http_serves_mcp_where_its_startup_line_says(
    agent_path: Path, fake: FakeOpenAI
) -> None:
    fake.enqueue(text("over HTTP"))
    with trio.fail_after(30):
        async with open_server_process("mcp", str(agent_path), "--http") as server:
            assert server.url.endswith("/mcp")
            assert "tools: root" in server.startup_line
            async with Client(server.url) as client:
                result = await client.call_tool("root", {"message": "hi"})
            server.process.send_signal(signal.SIGTERM)
            assert await server.process.wait() == 0
    assert answer_of(result)[0] == "over HTTP"
