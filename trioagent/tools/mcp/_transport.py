"""Opening a connection to an MCP server: a stdio child process, streamable HTTP or SSE,
and the SDK's ``Client`` on top."""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any, Final

import attrs
import trio

from trioagent import __version__

from ._config import transport_of

if TYPE_CHECKING:
    from pathlib import Path

    import httpx2
    from anyio.streams.memory import MemoryObjectSendStream
    from mcp import Client
    from mcp.client._transport import TransportStreams
    from mcp.shared._stream_protocols import ReadStream

    from trioagent.config.schema import ToolsetConfig

    from ._session import Session

HTTP_TIMEOUT: Final = 30.0
"""Seconds to connect to, and send to, an HTTP server. Reads have no limit: a tool may
run long, and the turn's own timeout bounds every call."""


async def connect(
    cfg: ToolsetConfig,
    working_dir: Path,
    stack: contextlib.AsyncExitStack,
    side: trio.Nursery,
    session: Session,
) -> tuple[Client, trio.Event | None]:
    """Open the transport and the SDK's ``Client`` on ``stack``: the handshake is done.

    Args:
        cfg: the ``type: mcp`` entry.
        working_dir: the working directory of a stdio server.
        stack: where the transport and the client are entered (the session's).
        side: a nursery for the session's watchers (stderr, the relay).
        session: what the connection learns (stderr, HTTP statuses).

    Returns:
        The client, and for stdio and SSE an event set when the server closes its
        stream (it exited, or the connection dropped).
    """
    import anyio
    from mcp import Client
    from mcp.shared.message import SessionMessage
    from mcp.types import Implementation

    closed: trio.Event | None = None
    if cfg.command is not None:
        streams = await _open_stdio(cfg, working_dir, stack, side, session)
    else:
        streams = await _open_http(cfg, stack, session)
    if cfg.command is not None or transport_of(cfg) == "sse":
        # Relay what the server sends, to notice when it stops (the process exited, the
        # stream dropped): the next call then starts a new session instead of failing.
        read, write = streams
        relay, relayed = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        closed = trio.Event()
        side.start_soon(_relay, read, relay, closed)
        streams = (relayed, write)
    client = Client(
        _Opened(streams),
        cache=None,
        client_info=Implementation(name="trioagent", version=__version__),
    )
    await stack.enter_async_context(client)
    return client, closed


async def _open_stdio(
    cfg: ToolsetConfig,
    working_dir: Path,
    stack: contextlib.AsyncExitStack,
    side: trio.Nursery,
    session: Session,
) -> TransportStreams:
    from mcp.client.stdio import StdioServerParameters, stdio_client

    assert cfg.command is not None
    params = StdioServerParameters(
        command=cfg.command,
        args=list(cfg.args),
        env=dict(cfg.env),
        cwd=working_dir,
    )
    read_fd, write_fd = os.pipe()
    side.start_soon(session.drain_stderr, trio.lowlevel.FdStream(read_fd))
    with os.fdopen(write_fd, "w") as errlog:  # ours closes once the child has its own
        return await stack.enter_async_context(stdio_client(params, errlog=errlog))


async def _open_http(
    cfg: ToolsetConfig, stack: contextlib.AsyncExitStack, session: Session
) -> TransportStreams:
    import httpx2
    from mcp.client.sse import sse_client
    from mcp.client.streamable_http import streamable_http_client

    remote = cfg.remote
    assert remote is not None

    def http_client(
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(
            headers=headers,
            auth=auth,
            timeout=timeout or httpx2.Timeout(HTTP_TIMEOUT, read=None),
            event_hooks={"response": [session.on_response]},
        )

    if transport_of(cfg) == "sse":
        return await stack.enter_async_context(
            sse_client(
                remote.url,
                headers=remote.headers,
                timeout=HTTP_TIMEOUT,
                httpx_client_factory=http_client,
            )
        )
    client = await stack.enter_async_context(http_client(headers=remote.headers))
    return await stack.enter_async_context(streamable_http_client(remote.url, http_client=client))


@attrs.frozen
class _Opened:
    """A transport already entered (on the session's exit stack), as ``Client`` takes it."""

    streams: TransportStreams

    async def __aenter__(self) -> TransportStreams:
        return self.streams

    async def __aexit__(self, *exc_info: object) -> None:
        return None


async def _relay(
    source: ReadStream[Any],
    sink: MemoryObjectSendStream[Any],
    closed: trio.Event,
) -> None:
    """Forward the server's messages; set ``closed`` when it stops sending (EOF)."""
    import anyio

    with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
        async with sink:
            async for item in source:
                await sink.send(item)
            closed.set()
