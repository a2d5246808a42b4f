"""A small MCP server for the ``type: mcp`` toolset tests, built on the SDK's ``MCPServer``.

    python tests/tools/mcp_server.py stdio
    python tests/tools/mcp_server.py http --port N   # streamable HTTP at /mcp
    python tests/tools/mcp_server.py sse --port N    # the older SSE transport at /sse

``--port 0`` picks a free port; the server prints the port it listens on as its first
line of stdout. ``--legacy`` makes it speak only the 2025-era protocol (stateful HTTP
sessions).

Over HTTP every request must carry ``X-Test-Token: secret`` (else 401), so the tests can
check that the toolset sends its configured headers. ``tools/list`` answers three tools a
page, so the client has to follow ``nextCursor``.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import (
    DiscoverResult,
    ListToolsResult,
    PaginatedRequestParams,
    RequestParams,
    ServerCapabilities,
)
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

PAGE_SIZE = 3
TOKEN_HEADER = b"x-test-token"
TOKEN = b"secret"

mcp: MCPServer = MCPServer("trioagent-test", log_level="WARNING")


@mcp.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@mcp.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@mcp.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@mcp.tool()
def crash() -> str:
    """Exit the server process at once, as a crash would."""
    os._exit(1)


@mcp.tool()
def fail() -> str:
    """Always fail with an error result."""
    raise ToolError("this tool always fails")


@mcp.tool()
async def slow(seconds: float) -> str:
    """Sleep, then say so."""
    await anyio.sleep(seconds)
    return f"slept {seconds:g}"


@mcp.tool()
def env(name: str) -> str:
    """The value of an environment variable of the server, or <unset>."""
    return os.environ.get(name, "<unset>")


@mcp.tool()
def cwd() -> str:
    """The server's working directory."""
    return os.getcwd()


async def _paged_list_tools(ctx: Any, params: PaginatedRequestParams) -> ListToolsResult:
    tools = await mcp.list_tools()
    start = int(params.cursor or 0)
    end = start + PAGE_SIZE
    return ListToolsResult(
        tools=tools[start:end], next_cursor=str(end) if end < len(tools) else None
    )


async def _legacy_discover(ctx: Any, params: RequestParams) -> DiscoverResult:
    """Offer no 2026 protocol version, so clients fall back to the initialize handshake
    (and, over HTTP, to a stateful session: a restarted server answers 404 to its id)."""
    return DiscoverResult(
        supported_versions=list(HANDSHAKE_PROTOCOL_VERSIONS), capabilities=ServerCapabilities()
    )


# The hooks for paging and for --legacy are on the low-level server.
mcp._lowlevel_server.add_request_handler("tools/list", PaginatedRequestParams, _paged_list_tools)


class RequireToken:
    """ASGI middleware: 401 for HTTP requests without ``X-Test-Token: secret``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from starlette.responses import PlainTextResponse

        if scope["type"] == "http" and dict(scope["headers"]).get(TOKEN_HEADER) != TOKEN:
            await PlainTextResponse("missing or wrong X-Test-Token", status_code=401)(
                scope, receive, send
            )
            return
        await self.app(scope, receive, send)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("transport", choices=["stdio", "http", "sse"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--legacy", action="store_true", help="speak only 2025-era MCP")
    args = parser.parse_args()
    if args.legacy:
        mcp._lowlevel_server.add_request_handler("server/discover", RequestParams, _legacy_discover)
    if args.transport == "stdio":
        print("test MCP server starting on stdio", file=sys.stderr, flush=True)
        mcp.run("stdio")
        os._exit(0)  # skip the interpreter's teardown (0.3 s): the tests stop many servers
    import uvicorn  # only here: the stdio server starts faster without it

    # Listen before uvicorn starts, then say so: a client may connect as soon as it reads
    # the port (the backlog holds it), and the test needs no polling loop.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(64)
    print(sock.getsockname()[1], flush=True)
    app = mcp.streamable_http_app() if args.transport == "http" else mcp.sse_app()
    config = uvicorn.Config(RequireToken(app), log_level="warning", lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
