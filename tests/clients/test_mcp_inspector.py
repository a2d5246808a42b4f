"""The MCP Inspector's command-line mode (``@modelcontextprotocol/inspector --cli``, pinned in
``js/package-lock.json``) on ``serve mcp``: over stdio it starts ``python -m trioagent serve
mcp`` itself; over HTTP it calls a running server, with and without its API key.

Like the other Node clients, it needs node and npm (test_js.py's ``node`` fixture runs
``npm ci``; without them the tests skip, unless ``TRIOAGENT_REQUIRE_NODE=1``).
"""

from __future__ import annotations

import json
import os
from functools import partial
from pathlib import Path
from typing import Any

import trio

from trioagent.config import AgentFile
from trioagent.server.options import ServeOptions
from trioagent.server.serve_mcp import serve_mcp
from trioagent.testing import FakeOpenAI, text, tool_calls, trioagent_command, write_test_agent

from .test_js import JS_DIR, node

__all__ = ["node"]  # test_js.py's fixture (node, with npm ci from the lock file), used here

INSPECTOR = JS_DIR / "node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js"


async def inspect(node: str, tmp_path: Path, *args: str) -> tuple[int, Any, str]:
    """Run ``inspector --cli ARGS``: its exit status, its stdout as JSON (or text), and
    its stderr (where a stdio server's own stderr goes too)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("NODE_")}
    env.update(MCP_CATALOG_PATH=str(tmp_path / "catalog.json"), NO_COLOR="1")
    with trio.fail_after(60):
        done = await trio.run_process(
            [node, str(INSPECTOR), "--cli", *args],
            cwd=tmp_path,
            env=env,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    out = done.stdout.decode(errors="replace")
    try:
        parsed: Any = json.loads(out)
    except json.JSONDecodeError:
        parsed = out
    return done.returncode, parsed, done.stderr.decode(errors="replace")


async def test_inspector_lists_and_calls_the_tools_over_stdio(
    node: str, fake: FakeOpenAI, tmp_path: Path
) -> None:
    agent = write_test_agent(tmp_path, fake.base_url)
    server = trioagent_command("serve", "mcp", str(agent))
    fake.enqueue(text("Hello from stdio"))
    status, listed, err = await inspect(node, tmp_path, *server, "--method", "tools/list")
    assert status == 0, err
    [tool] = listed["tools"]
    assert tool["name"] == "root"
    assert tool["inputSchema"]["required"] == ["message"]
    status, called, err = await inspect(
        node, tmp_path, *server, "--method", "tools/call", "--tool-name", "root",
        "--tool-arg", "message=hi",
    )  # fmt: skip
    assert status == 0, err
    assert called["isError"] is False
    assert called["content"][0]["text"] == "Hello from stdio"
    assert called["structuredContent"]["answer"] == "Hello from stdio"
    assert fake.requests[-1].json["messages"][-1] == {"role": "user", "content": "hi"}


async def test_inspector_calls_over_http_with_the_key_and_is_refused_without(
    node: str, fake: FakeOpenAI, agent_file: AgentFile, tmp_path: Path
) -> None:
    fake.enqueue(tool_calls([("c1", "think", '{"thought": "plan"}')]), text("Hello over HTTP"))
    options = ServeOptions(host="127.0.0.1", port=0, working_dir=tmp_path, api_keys=("k-1",))
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        url = await nursery.start(
            partial(serve_mcp, agent_file, options, http=True, env={}, shutdown_trigger=stop.wait)
        )
        target = (f"{url}/mcp", "--transport", "http")
        call = ("--method", "tools/call", "--tool-name", "root", "--tool-arg", "message=hi")
        key = ("--header", "Authorization: Bearer k-1")
        status, listed, err = await inspect(node, tmp_path, *target, *key, "--method", "tools/list")
        assert status == 0, err
        assert [tool["name"] for tool in listed["tools"]] == ["root", "helper"]
        status, called, err = await inspect(node, tmp_path, *target, *key, *call)
        assert status == 0, err
        status, refused, err = await inspect(node, tmp_path, *target, *call)
        stop.set()
    assert called["content"][0]["text"] == "Hello over HTTP"
    assert called["structuredContent"]["conversation_id"]
    assert status != 0  # the 401 (with WWW-Authenticate: Bearer) asks for credentials
    assert '"code":"auth_required"' in err, (refused, err)
