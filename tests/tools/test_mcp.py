"""``MCPToolset`` against a real MCP server (``mcp_server.py``) over stdio, streamable HTTP
and SSE: listing, calls, errors, environment, crashes, restarts, cancellation, shutdown."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from mcp.types import (
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
    TextResourceContents,
)

from trioagent.chat import ToolResult
from trioagent.config.schema import RemoteConfig, ToolsetConfig
from trioagent.errors import ConfigError
from trioagent.tools import FilteredToolset, ToolContext
from trioagent.tools.mcp import MCPToolset, _to_tool_result

SERVER = Path(__file__).with_name("mcp_server.py")
TOOLS = ["echo", "add", "pid", "crash", "fail", "slow", "env", "cwd"]
TOKEN = {"X-Test-Token": "secret"}

MakeToolset = Callable[..., MCPToolset]


def stdio_config(**fields: Any) -> ToolsetConfig:
    return ToolsetConfig(type="mcp", command=sys.executable, args=(str(SERVER), "stdio"), **fields)


def remote_config(
    url: str, transport: str = "http", headers: dict[str, str] | None = None
) -> ToolsetConfig:
    return ToolsetConfig(
        type="mcp",
        remote=RemoteConfig(url=url, headers=headers or {}, transport_type=transport),
    )


@pytest.fixture
def make(nursery: trio.Nursery, work_dir: Path) -> MakeToolset:
    """``make(cfg)``: an MCP toolset hosted by the test's nursery."""

    def make(cfg: ToolsetConfig | None = None) -> MCPToolset:
        return MCPToolset(cfg or stdio_config(), host=nursery, working_dir=work_dir)

    return make


async def call(toolset: Any, ctx: ToolContext, tool: str, /, **arguments: Any) -> ToolResult:
    return await toolset.call(tool, arguments, ctx)


async def server_pid(toolset: MCPToolset, ctx: ToolContext) -> int:
    result = await call(toolset, ctx, "pid")
    assert not result.is_error, result
    return int(result.content)


class EventOnLog(logging.Handler):
    """Sets ``event`` when the toolset logs a message containing ``text``."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.event = trio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()


@pytest.fixture
def on_log() -> Iterator[Callable[[str], trio.Event]]:
    """``on_log(text)``: an event set when the toolset logs ``text``."""
    logger = logging.getLogger("trioagent.tools.mcp")
    handlers: list[EventOnLog] = []

    def on_log(text: str) -> trio.Event:
        handlers.append(EventOnLog(text))
        logger.addHandler(handlers[-1])
        return handlers[-1].event

    yield on_log
    for handler in handlers:
        logger.removeHandler(handler)


def gone(pid: int) -> bool:
    """Whether process ``pid`` has exited and been reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


# -- stdio -------------------------------------------------------------------------------


async def test_lists_tools_across_pages_and_calls_them(make: MakeToolset, ctx: ToolContext) -> None:
    with trio.fail_after(15):
        async with make() as toolset:
            specs = {spec.name: spec for spec in toolset.tools()}
            assert list(specs) == TOOLS  # the server lists three tools a page
            assert specs["add"].description == "Add two integers."
            assert specs["add"].parameters["required"] == ["a", "b"]

            assert await call(toolset, ctx, "echo", text="héllo") == ToolResult("héllo")
            assert await call(toolset, ctx, "add", a=2, b=40) == ToolResult("42")
            failed = await call(toolset, ctx, "fail")
            assert failed.is_error
            assert "this tool always fails" in failed.content
            bad = await call(toolset, ctx, "add", a="two", b=1)
            assert bad.is_error
            unknown = await call(toolset, ctx, "nope")
            assert unknown == ToolResult.error(
                f"unknown tool 'nope'; this toolset offers: {', '.join(TOOLS)}"
            )


async def test_allow_list_offers_and_runs_only_listed_tools(
    make: MakeToolset, ctx: ToolContext
) -> None:
    with trio.fail_after(15):
        async with FilteredToolset(make(), ["echo"], label="mcp") as toolset:
            assert [spec.name for spec in toolset.tools()] == ["echo"]
            assert await call(toolset, ctx, "echo", text="hi") == ToolResult("hi")
            refused = await call(toolset, ctx, "pid")
            assert refused == ToolResult.error("tool 'pid' is not available to this agent")


async def test_server_runs_in_the_working_dir_with_the_toolset_env_but_not_our_secrets(
    make: MakeToolset, ctx: ToolContext, work_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-our-secret")
    with trio.fail_after(15):
        async with make(stdio_config(env={"API_TOKEN": "for-the-server"})) as toolset:
            assert await call(toolset, ctx, "cwd") == ToolResult(str(work_dir))
            assert await call(toolset, ctx, "env", name="API_TOKEN") == ToolResult("for-the-server")
            assert await call(toolset, ctx, "env", name="OPENAI_API_KEY") == ToolResult("<unset>")
            path = await call(toolset, ctx, "env", name="PATH")  # the SDK's safe defaults
            assert path == ToolResult(os.environ["PATH"])


async def test_dead_server_fails_its_calls_and_restarts_on_the_next_call(
    make: MakeToolset, ctx: ToolContext, on_log: Callable[[str], trio.Event]
) -> None:
    with trio.fail_after(20):
        async with make() as toolset:
            first = await server_pid(toolset, ctx)

            crashed = await call(toolset, ctx, "crash")
            assert crashed.is_error
            assert crashed.content.startswith(f"MCP server {toolset.label} failed: ")
            assert crashed.content.endswith("; it is restarted on the next call")
            second = await server_pid(toolset, ctx)
            assert second != first
            assert gone(first)
            assert [spec.name for spec in toolset.tools()] == TOOLS

            # A server that dies between calls is noticed (its stdout closes), so the
            # next call goes to a new one instead of failing.
            noticed = on_log("failed: the server closed the connection")
            os.kill(second, signal.SIGKILL)
            await noticed.wait()
            third = await server_pid(toolset, ctx)
            assert third not in (first, second)


async def test_closing_the_toolset_or_cancelling_its_host_stops_the_server(
    work_dir: Path, ctx: ToolContext
) -> None:
    results: list[ToolResult] = []

    async def slow_call(toolset: MCPToolset) -> None:
        results.append(await call(toolset, ctx, "slow", seconds=60))

    with trio.fail_after(15):
        async with trio.open_nursery() as callers, trio.open_nursery() as host:
            closed = MCPToolset(stdio_config(), host=host, working_dir=work_dir)
            cancelled = MCPToolset(stdio_config(), host=host, working_dir=work_dir)
            # Opened in other tasks than the one that uses and closes them, as a runtime
            # pool does; side by side, so the two servers start at once.
            async with trio.open_nursery() as opening:
                opening.start_soon(closed.__aenter__)
                opening.start_soon(cancelled.__aenter__)
            pids = [await server_pid(closed, ctx), await server_pid(cancelled, ctx)]

            await closed.__aexit__(None, None, None)
            assert gone(pids[0])
            late = await call(closed, ctx, "echo", text="late")
            assert late == ToolResult.error(
                f"MCP server {closed.label} is not running (toolset closed)"
            )

            callers.start_soon(slow_call, cancelled)
            await trio.testing.wait_all_tasks_blocked()
            host.cancel_scope.cancel()  # the server we run in is shutting down
        assert gone(pids[1])
        assert results == [ToolResult.error(f"MCP server {cancelled.label} was stopped")]
        await cancelled.__aexit__(None, None, None)  # a no-op now


async def test_calls_run_concurrently_and_a_cancelled_one_leaves_the_session_usable(
    make: MakeToolset, ctx: ToolContext
) -> None:
    with trio.fail_after(15):
        async with make() as toolset:
            pid = await server_pid(toolset, ctx)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(partial(call, toolset, ctx, "slow", seconds=60))
                await trio.testing.wait_all_tasks_blocked()
                answers = [""] * 5

                async def echo(i: int) -> None:
                    answers[i] = (await call(toolset, ctx, "echo", text=str(i))).content

                async with trio.open_nursery() as echoes:
                    for i in range(5):
                        echoes.start_soon(echo, i)
                assert answers == ["0", "1", "2", "3", "4"]  # while slow still runs
                nursery.cancel_scope.cancel()
            assert await call(toolset, ctx, "add", a=1, b=1) == ToolResult("2")
            assert await server_pid(toolset, ctx) == pid  # the same session


async def test_missing_command_is_a_config_error(make: MakeToolset) -> None:
    with trio.fail_after(10), pytest.raises(ConfigError) as error:
        async with make(ToolsetConfig(type="mcp", command="no-such-mcp-server", args=("x",))):
            pass
    assert str(error.value) == (
        "MCP server no-such-mcp-server x could not start: "
        "[Errno 2] No such file or directory: 'no-such-mcp-server'"
    )


async def test_server_exiting_at_once_is_a_config_error_quoting_its_stderr(
    make: MakeToolset, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    script = "import sys; print('bad setting FOO', file=sys.stderr); sys.exit(3)"
    cfg = ToolsetConfig(type="mcp", command=sys.executable, args=("-c", script))
    caplog.set_level(logging.DEBUG, logger="trioagent.tools.mcp")
    with trio.fail_after(10), pytest.raises(ConfigError) as error:
        async with make(cfg):
            pass
    assert str(error.value).startswith(f"MCP server {sys.executable} -c ")
    assert "could not start: " in str(error.value)
    assert str(error.value).endswith("; its stderr ends with: bad setting FOO")
    assert "bad setting FOO" in caplog.text  # the server's stderr goes to our log ...
    assert "bad setting FOO" not in capfd.readouterr().err  # ... not to the terminal


async def test_server_not_answering_in_time_is_a_config_error(
    nursery: trio.Nursery, work_dir: Path
) -> None:
    script = "import os, sys; print(os.getpid(), file=sys.stderr, flush=True); sys.stdin.read()"
    cfg = ToolsetConfig(type="mcp", command=sys.executable, args=("-c", script))
    toolset = MCPToolset(cfg, host=nursery, working_dir=work_dir, startup_timeout=0.5)
    with trio.fail_after(10), pytest.raises(ConfigError) as error:
        async with toolset:
            pass
    message = str(error.value)
    assert "could not start: no answer within 0.5 s; its stderr ends with: " in message
    assert gone(int(message.rsplit(" ", 1)[1]))


# -- HTTP --------------------------------------------------------------------------------


def start_server(transport: str, *options: str) -> subprocess.Popen[str]:
    """Start ``mcp_server.py``; it prints its port once it listens."""
    return subprocess.Popen(
        [sys.executable, str(SERVER), transport, *options], stdout=subprocess.PIPE, text=True
    )


def port_of(process: subprocess.Popen[str]) -> int:
    assert process.stdout is not None
    return int(process.stdout.readline())


def stop_server(process: subprocess.Popen[str]) -> None:
    process.kill()
    process.wait()
    if process.stdout is not None:
        process.stdout.close()


@pytest.fixture(scope="module", autouse=True)
def remote_servers() -> Iterator[dict[str, subprocess.Popen[str]]]:
    """HTTP and SSE servers, started side by side as the module begins (each takes a
    second to import the SDK). ``legacy`` is for the restart test, which kills it."""
    servers = {
        "http": start_server("http"),
        "sse": start_server("sse"),
        "legacy": start_server("http", "--legacy"),
    }
    yield servers
    for process in servers.values():
        stop_server(process)


@pytest.fixture(scope="module")
def remote_urls(remote_servers: dict[str, subprocess.Popen[str]]) -> dict[str, str]:
    """The servers' URLs, once they listen."""
    paths = {"http": "/mcp", "sse": "/sse", "legacy": "/mcp"}
    return {
        name: f"http://127.0.0.1:{port_of(process)}{paths[name]}"
        for name, process in remote_servers.items()
    }


@pytest.mark.parametrize("transport", ["http", "sse"])
async def test_remote_server_lists_and_calls_with_the_configured_headers(
    make: MakeToolset, ctx: ToolContext, remote_urls: dict[str, str], transport: str
) -> None:
    with trio.fail_after(10):
        async with make(remote_config(remote_urls[transport], transport, TOKEN)) as toolset:
            assert [spec.name for spec in toolset.tools()] == TOOLS
            assert await call(toolset, ctx, "add", a=2, b=3) == ToolResult("5")
            async with trio.open_nursery() as nursery:  # a call cancelled midway ...
                nursery.start_soon(partial(call, toolset, ctx, "slow", seconds=60))
                await trio.testing.wait_all_tasks_blocked()
                nursery.cancel_scope.cancel()
            assert await call(toolset, ctx, "echo", text="still here") == ToolResult(
                "still here"  # ... leaves the session usable
            )


@pytest.mark.parametrize(
    ("transport", "headers"),
    [("http", {}), ("http", {"X-Test-Token": "wrong"}), ("sse", {})],
    ids=["http-missing", "http-wrong", "sse-missing"],
)
async def test_remote_server_refusing_our_headers_is_a_config_error(
    make: MakeToolset, remote_urls: dict[str, str], transport: str, headers: dict[str, str]
) -> None:
    url = remote_urls[transport]
    with trio.fail_after(10), pytest.raises(ConfigError) as error:
        async with make(remote_config(url, transport, headers)):
            pass
    assert str(error.value).startswith(f"MCP server {url} could not start: ")
    assert "HTTP 401 Unauthorized" in str(error.value)


async def test_unreachable_remote_server_is_a_config_error(make: MakeToolset) -> None:
    with trio.socket.socket() as sock:  # a port nobody listens on
        await sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    with trio.fail_after(10), pytest.raises(ConfigError) as error:
        async with make(remote_config(url, headers=TOKEN)):
            pass
    assert str(error.value).startswith(f"MCP server {url} could not start: ConnectError: ")


async def test_http_server_killed_fails_a_call_and_a_restarted_one_gets_a_new_session(
    make: MakeToolset,
    ctx: ToolContext,
    remote_urls: dict[str, str],
    remote_servers: dict[str, subprocess.Popen[str]],
) -> None:
    # A --legacy server: a stateful 2025-era session, which a restarted server forgets.
    url = remote_urls["legacy"]
    port = url.split(":")[2].split("/")[0]
    process = remote_servers["legacy"]
    try:
        with trio.fail_after(20):
            async with make(remote_config(url, headers=TOKEN)) as toolset:
                first = await server_pid(toolset, ctx)

                stop_server(process)  # down: the call fails
                down = await call(toolset, ctx, "pid")
                assert down.is_error
                assert "ConnectError" in down.content
                assert down.content.endswith("; it is restarted on the next call")
                process = start_server("http", "--port", port, "--legacy")
                port_of(process)
                second = await server_pid(toolset, ctx)  # back: a new session
                assert second != first

                stop_server(process)  # restarted between calls: our session id is unknown
                process = start_server("http", "--port", port, "--legacy")
                port_of(process)
                expired = await call(toolset, ctx, "pid")
                assert expired.is_error
                assert "HTTP 404" in expired.content
                assert await server_pid(toolset, ctx) not in (first, second)
    finally:
        stop_server(process)


# -- results and config ------------------------------------------------------------------


def test_result_parts_become_text_with_placeholders_for_binary_data() -> None:
    result = CallToolResult(
        content=[
            TextContent(text="first"),
            ImageContent(data="aGVsbG8=", mime_type="image/png"),
            EmbeddedResource(resource=TextResourceContents(uri="file:///a.txt", text="inside")),
            ResourceLink(name="b", uri="file:///b.bin"),
            TextContent(text="last"),
        ]
    )
    assert _to_tool_result(result, 1000) == ToolResult(
        "first\n[image: image/png, 5 bytes]\n[resource: file:///a.txt]\ninside\n"
        "[resource link: file:///b.bin]\nlast"
    )


def test_structured_content_is_shown_when_there_is_no_text() -> None:
    result = CallToolResult(content=[], structured_content={"sum": 3, "név": "ü"})
    assert _to_tool_result(result, 1000) == ToolResult('{"sum":3,"név":"ü"}')
    assert _to_tool_result(CallToolResult(content=[]), 1000) == ToolResult("<no output>")


def test_error_results_stay_errors_and_long_output_is_clipped() -> None:
    result = CallToolResult(content=[TextContent(text="x" * 50)], is_error=True)
    assert _to_tool_result(result, 10) == ToolResult.error(
        "xxxxxxxxxx\n[output truncated: 40 more characters not shown]"
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "an mcp toolset needs `command` (a stdio server) or `remote.url` (an HTTP server)"),
        (
            {"command": "x", "remote": RemoteConfig(url="http://h/mcp")},
            "an mcp toolset takes `command` or `remote`, not both",
        ),
        (
            {"remote": RemoteConfig(url="ftp://h/mcp")},
            "mcp toolset remote.url 'ftp://h/mcp' is not an http(s) URL",
        ),
        (
            {"remote": RemoteConfig(url="http://h/mcp", transport_type="websocket")},
            "mcp toolset remote.transport_type 'websocket' is not supported; "
            "use streamable (HTTP, the default) or sse",
        ),
    ],
    ids=["no-server", "two-servers", "bad-url", "bad-transport"],
)
def test_config_must_name_one_supported_server(
    fields: dict[str, Any], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as error:
        MCPToolset(ToolsetConfig(type="mcp", **fields), host=None, working_dir=tmp_path)
    assert str(error.value) == message


def test_label_leaves_out_url_credentials_and_query(tmp_path: Path) -> None:
    cfg = remote_config("https://user:pw@example.com:8443/mcp?token=abc")
    toolset = MCPToolset(cfg, host=None, working_dir=tmp_path)
    assert toolset.label == "https://example.com:8443/mcp"
