"""serve_mcp: a file's agents as MCP tools, over stdio or Streamable HTTP.

Both transports run the same server (`trioagent.server.mcp_front`) over the same state as
the other fronts (`trioagent.server.app.open_state`): the turn runner, the store, the tool
policy. Over HTTP, ``/mcp`` is one more path of the usual Quart app
(`trioagent.server.mcp_http`); over stdio the process speaks only the protocol on stdout.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, Final

import anyio
import anyio.to_thread
import trio
from mcp.server.stdio import stdio_server

from .app import create_app, draining, open_state
from .mcp_front import McpFront, mcp_server
from .mcp_http import mount_mcp, open_mcp_endpoint
from .serve import serve_app

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from mcp.server.lowlevel import Server

    from ..config import AgentFile
    from .options import ServeOptions

STDIO: Final = "stdio"
"""What ``task_status.started`` receives when serving over stdio."""
STDIN_FD: Final = 0
READ_SIZE: Final = 65536


async def serve_mcp(
    file: AgentFile,
    options: ServeOptions,
    *,
    http: bool = False,
    env: Mapping[str, str] | None = None,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``file``'s agents as MCP tools until ``shutdown_trigger`` returns.

    Over stdio (the default), standard input and output carry the protocol (and nothing
    else: while serving, whatever else writes to stdout goes to stderr), and the end of
    standard input ends the server too. With ``http``, Streamable HTTP is served at
    ``/mcp`` of ``options``' address, next to ``/healthz``, ``/readyz`` and ``/metrics``.

    ``task_status.started`` receives the base URL, e.g. ``http://127.0.0.1:8083``, or
    ``"stdio"``.

    Raises:
        ConfigError: an agent cannot be opened (its model or toolsets).
        StoreUnavailable: the conversation store cannot be opened or reached.
    """
    async with open_state(file, options, "mcp", env=env) as state:
        server = mcp_server(McpFront(state, http=http))
        if not http:
            await _serve_stdio(server, shutdown_trigger, task_status)
            return
        async with open_mcp_endpoint(state, server) as endpoint:
            app = create_app(state, "mcp")
            mount_mcp(app, endpoint, state)
            await serve_app(
                app,
                options,
                shutdown_trigger=draining(state, shutdown_trigger),
                task_status=task_status,
            )


async def _serve_stdio(
    server: Server[Any],
    shutdown_trigger: Callable[[], Awaitable[None]] | None,
    task_status: trio.TaskStatus[str],
) -> None:
    """Serve ``server`` on stdin and stdout until stdin ends or ``shutdown_trigger``
    returns; then running calls are cancelled (their turns commit nothing)."""
    async with trio.open_nursery() as nursery:
        if shutdown_trigger is not None:
            nursery.start_soon(_cancel_after, shutdown_trigger, nursery.cancel_scope)
        async with stdio_server(stdin=_StdinLines()) as (read, write):
            task_status.started(STDIO)
            await server.run(read, write, server.create_initialization_options())
        nursery.cancel_scope.cancel()


async def _cancel_after(trigger: Callable[[], Awaitable[None]], scope: trio.CancelScope) -> None:
    await trigger()
    scope.cancel()


class _StdinLines(anyio.AsyncFile[str]):
    """Standard input's lines, read with ``os.read`` in a thread that a cancellation
    abandons.

    The SDK's own reader waits for its thread, which waits for a line: a signal would not
    stop the server while the client keeps stdin open. ``sys.stdin`` is left alone: a
    thread abandoned in its ``readline`` would hold its lock, and Python aborts when it
    cannot take that lock at exit.
    """

    def __init__(self) -> None:
        super().__init__(sys.stdin)
        self._pending = b""
        self._ended = False

    async def readline(self) -> str:
        while b"\n" not in self._pending and not self._ended:
            chunk: bytes = await anyio.to_thread.run_sync(
                os.read, STDIN_FD, READ_SIZE, abandon_on_cancel=True
            )
            self._ended = not chunk
            self._pending += chunk
        line, newline, self._pending = self._pending.partition(b"\n")
        return (line + newline).decode("utf-8", errors="replace")
