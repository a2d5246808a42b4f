"""``type: mcp`` toolsets: the tools of an MCP server, through the official ``mcp`` SDK.

A stdio server (``command`` + ``args``) runs as our child process; a remote one
(``remote.url``) is reached over streamable HTTP, or the older SSE transport.

Why a host task. A runtime, and so its toolsets, is opened in one request's task, lent to
later requests in other tasks and closed in yet another (the pool's). The SDK's context
managers enter anyio task groups and cancel scopes, which only the task that entered them
may exit. So ``__aenter__`` enters nothing of the SDK: it starts one task in ``host``, a
nursery that lives as long as the server, and that task owns the connection::

    host task ── session 1: transport + Client, tools listed ── calls ── breaks
             └── session 2, started by the next call ── calls ── ...
    call() ──> memory channel ──> a task of the current session ──> the call's event

* ``__aenter__`` starts the host task and returns once the tools are listed; a server
  that cannot start, answer or list its tools raises ``ConfigError`` there.
* ``call`` hands the call to the host task and waits for its result. Calls run
  concurrently (the SDK matches answers to requests); a caller that is cancelled cancels
  only its own call, and the SDK tells the server.
* A server that exits or stops answering fails the calls in flight with an error result;
  the next call starts a new session (a new process). The tool list stays the first one.
* ``__aexit__`` closes the call channel: the session ends cleanly (the SDK closes a stdio
  server's stdin, then terminates and kills its process group if it lingers; it ends an
  HTTP session with a DELETE), or is cancelled after ``GRACEFUL_CLOSE`` seconds. The
  cancellation of ``host`` (the server stopping) ends it too; the process still goes.

A stdio server gets a safe environment (PATH, HOME, USER, ...: the SDK's
``get_default_environment``) plus the toolset's ``env``, never ours, which holds API keys.
Its stderr goes to this module's logger at DEBUG, and its last lines into error messages.

The SDK is imported on first open, in a thread: it takes about a second.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shlex
from collections import deque
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit, urlunsplit

import attrs
import trio

from trioagent import __version__
from trioagent.chat import ToolResult, ToolSpec
from trioagent.errors import ConfigError

from ._common import clip

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    import httpx2
    from anyio.streams.memory import MemoryObjectSendStream
    from mcp import Client
    from mcp.client._transport import TransportStreams
    from mcp.shared._stream_protocols import ReadStream
    from mcp.types import CallToolResult, ContentBlock

    from trioagent.config.schema import ToolsetConfig

    from .base import ToolContext

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT: Final = 30.0
"""Seconds a server has, by default, to start, answer the handshake and list its tools."""
GRACEFUL_CLOSE: Final = 5.0
"""Seconds a closing session has to end cleanly before it is cancelled."""
CLOSE_TIMEOUT: Final = 10.0
"""Seconds ``__aexit__`` waits for the host task in all. The SDK bounds its own stdio
shutdown: 2 s for the server to leave once its stdin closes, 2 s after SIGTERM, then
SIGKILL to its process group."""
MAX_OUTPUT_CHARS: Final = 30_000
"""Characters of a tool result shown to the model."""
HTTP_TIMEOUT: Final = 30.0
"""Seconds to connect to, and send to, an HTTP server. Reads have no limit: a tool may
run long, and the turn's own timeout bounds every call."""
STDERR_TAIL_LINES: Final = 5
"""Lines of a stdio server's stderr quoted in error messages."""
MAX_PAGES: Final = 100
"""Pages of ``tools/list`` followed before the listing counts as broken."""
_STDERR_LINE_CHARS: Final = 1000
_STDERR_GRACE: Final = 0.5
"""Seconds to wait for a stopped server's last stderr lines (a child may keep the pipe)."""
_TRANSPORTS: Final = {
    "streamable": "http", "streamable-http": "http", "streamable_http": "http", "http": "http",
    "sse": "sse",
}


def _import_sdk() -> None:
    import mcp.client.sse
    import mcp.client.stdio
    import mcp.client.streamable_http  # noqa: F401


@attrs.define(eq=False)
class _Call:
    """One tool call on its way to the host task, and its result on the way back."""

    name: str
    arguments: dict[str, Any]
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    """Entered by the task that runs the call; the caller cancels it when it stops waiting."""
    done: trio.Event = attrs.Factory(trio.Event)
    result: ToolResult | None = None

    def resolve(self, result: ToolResult) -> None:
        """Set the result, unless the call has one already."""
        if not self.done.is_set():
            self.result = result
            self.done.set()


class _SessionBroken(Exception):
    """A session can carry no more calls; the message says why."""


@attrs.define
class MCPToolset:
    """The tools of one MCP server, stdio or HTTP, as a ``Toolset``.

    Args:
        cfg: the ``type: mcp`` entry: ``command``, ``args`` and ``env``, or ``remote``.
        host: a nursery that outlives every runtime (the server's): the connection runs
            there, so the toolset may be opened, used and closed in different tasks.
        working_dir: the working directory of a stdio server.
        max_output: characters of a result shown to the model.
        startup_timeout: seconds a session has to start, shake hands and list the tools.

    Raises:
        ConfigError: the entry names neither a command nor a URL, or both, or a transport
            other than streamable HTTP and SSE.
    """

    cfg: ToolsetConfig
    host: trio.Nursery = attrs.field(kw_only=True)
    working_dir: Path = attrs.field(kw_only=True)
    max_output: int = attrs.field(default=MAX_OUTPUT_CHARS, kw_only=True)
    startup_timeout: float = attrs.field(default=STARTUP_TIMEOUT, kw_only=True)
    label: str = attrs.field(init=False)
    """How logs and errors name the server: its command line, or its URL without
    credentials or query."""
    _specs: list[ToolSpec] = attrs.field(init=False, factory=list)
    _calls: trio.MemorySendChannel[_Call] | None = attrs.field(init=False, default=None)
    _stop: trio.CancelScope | None = attrs.field(init=False, default=None)
    _stopped: trio.Event | None = attrs.field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        self.label = _label_of(self.cfg)

    async def __aenter__(self) -> MCPToolset:
        """Start the host task; return once the server is up and its tools are listed.

        Raises:
            ConfigError: the server could not be started, reached or listed; the message
                names it and says why.
        """
        if self._calls is not None:
            raise RuntimeError(f"the MCP toolset of {self.label} is already open")
        try:
            await trio.to_thread.run_sync(_import_sdk)
        except ImportError as exc:
            raise ConfigError(
                f"MCP toolsets need the `mcp` package ({exc}); install mcp>=2.3,<3"
            ) from exc
        send, receive = trio.open_memory_channel[_Call](0)
        stop, stopped = trio.CancelScope(), trio.Event()
        await self.host.start(self._serve, receive, stop, stopped)
        self._calls, self._stop, self._stopped = send, stop, stopped
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop the server and wait for it, shielded and bounded.

        Closing the call channel lets the session end cleanly (the SDK closes a stdio
        server's stdin, deletes an HTTP session); one that takes too long is cancelled
        (the SDK still terminates and kills a stdio server's process group).
        """
        calls, stop, stopped = self._calls, self._stop, self._stopped
        self._calls = self._stop = self._stopped = None
        if calls is None or stop is None or stopped is None:
            return
        calls.close()
        with trio.CancelScope(shield=True):
            with trio.move_on_after(GRACEFUL_CLOSE):
                await stopped.wait()
            stop.cancel()
            with trio.move_on_after(CLOSE_TIMEOUT - GRACEFUL_CLOSE):
                await stopped.wait()
        if not stopped.is_set():
            logger.warning("MCP server %s is still stopping after %g s", self.label, CLOSE_TIMEOUT)

    @property
    def _transport(self) -> str:
        """stdio, http (streamable HTTP) or sse."""
        if self.cfg.remote is None:
            return "stdio"
        return _TRANSPORTS[(self.cfg.remote.transport_type or "streamable").lower()]

    def tools(self) -> list[ToolSpec]:
        return list(self._specs)

    async def call(self, name: str, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Run tool ``name`` on the server. Every failure, a lost server included, is an
        error result; only cancellation propagates (and cancels the call on the server)."""
        calls = self._calls
        if calls is None:
            return ToolResult.error(f"MCP server {self.label} is not running (toolset closed)")
        if not any(spec.name == name for spec in self._specs):
            offered = ", ".join(spec.name for spec in self._specs)
            return ToolResult.error(f"unknown tool {name!r}; this toolset offers: {offered}")
        request = _Call(name, arguments)
        try:
            await calls.send(request)
            await request.done.wait()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return ToolResult.error(f"MCP server {self.label} was stopped")
        finally:
            request.scope.cancel()  # done, or the caller is gone: nothing more runs for it
        assert request.result is not None
        return request.result

    async def _serve(
        self,
        receive: trio.MemoryReceiveChannel[_Call],
        stop: trio.CancelScope,
        stopped: trio.Event,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """The host task: one session at a time, until the call channel closes, ``stop``
        is cancelled or the host is.

        Raises:
            ConfigError: the first session failed (raised from ``host.start``); later
                failures become error results of the calls they hit.
        """
        in_flight: set[_Call] = set()
        started = False

        def on_ready(specs: list[ToolSpec]) -> None:
            nonlocal started
            if not started:
                self._specs = specs
                started = True
                task_status.started()

        try:
            with receive, stop:
                while True:
                    session = await self._run_session(receive, in_flight, on_ready)
                    if session is None:
                        return  # the toolset closed
                    if not started:
                        raise ConfigError(
                            f"MCP server {self.label} could not start: {session.reason}"
                        )
                    if session.up:
                        message = (f"MCP server {self.label} failed: {session.reason}; "
                                   "it is restarted on the next call")
                    else:
                        message = (f"MCP server {self.label} could not be restarted: "
                                   f"{session.reason}; it is tried again on the next call")
                    logger.warning("%s", message)
                    for call in in_flight:
                        call.resolve(ToolResult.error(message))
                    in_flight.clear()
                    # Restart on demand: a server nobody calls stays down.
                    try:
                        in_flight.add(await receive.receive())
                    except trio.EndOfChannel:
                        return
        finally:
            for call in in_flight:
                call.resolve(ToolResult.error(f"MCP server {self.label} was stopped"))
            stopped.set()

    async def _run_session(
        self,
        receive: trio.MemoryReceiveChannel[_Call],
        in_flight: set[_Call],
        on_ready: Callable[[list[ToolSpec]], None],
    ) -> _Session | None:
        """Run one connection until it breaks or the toolset closes.

        The calls already in ``in_flight`` (the one that asked for a restart) run first.

        Returns:
            The session, with the reason it broke; None if the toolset closed.
        """
        session = _Session(self.label, stdio=self.cfg.command is not None)
        failed = False
        try:
            await self._connect_and_serve(session, receive, in_flight, on_ready)
        except* Exception as group:  # a cancellation in the group still propagates
            session.reason = session.describe(group)
            failed = True
        return session if failed else None

    async def _connect_and_serve(
        self,
        session: _Session,
        receive: trio.MemoryReceiveChannel[_Call],
        in_flight: set[_Call],
        on_ready: Callable[[list[ToolSpec]], None],
    ) -> None:
        """Connect, list the tools, serve calls; return when the call channel closes.

        Raises:
            _SessionBroken: or whatever the SDK raised, when the session cannot go on.
        """
        async with trio.open_nursery() as side:  # stderr and stdout watchers
            try:
                deadline = trio.current_time() + self.startup_timeout
                with trio.CancelScope(deadline=deadline) as startup:
                    async with contextlib.AsyncExitStack() as stack:
                        client, closed = await self._connect(stack, side, session)
                        specs = await _list_tools(client)
                        startup.deadline = math.inf
                        session.up = True
                        on_ready(specs)
                        await self._serve_calls(client, closed, receive, in_flight, session)
                        return  # the toolset closed: the stack closes the session cleanly
                raise _SessionBroken(f"no answer within {self.startup_timeout:g} s")
            finally:
                if session.stderr_closed is not None:
                    with trio.CancelScope(shield=True), trio.move_on_after(_STDERR_GRACE):
                        await session.stderr_closed.wait()
                    session.stderr_scope.cancel()
                side.cancel_scope.cancel()

    async def _connect(
        self, stack: contextlib.AsyncExitStack, side: trio.Nursery, session: _Session
    ) -> tuple[Client, trio.Event | None]:
        """Open the transport and the SDK's ``Client`` on ``stack``: the handshake is done.

        Returns:
            The client, and for stdio and SSE an event set when the server closes its
            stream (it exited, or the connection dropped).
        """
        import anyio
        from mcp import Client
        from mcp.shared.message import SessionMessage
        from mcp.types import Implementation

        closed: trio.Event | None = None
        if self.cfg.command is not None:
            streams = await self._open_stdio(stack, side, session)
        else:
            streams = await self._open_http(stack, session)
        if self.cfg.command is not None or self._transport == "sse":
            # Relay what the server sends, to notice when it stops (the process exited, the
            # stream dropped): the next call then starts a new session instead of failing.
            read, write = streams
            relay, relayed = anyio.create_memory_object_stream[SessionMessage | Exception](0)
            closed = trio.Event()
            side.start_soon(_relay, read, relay, closed)
            streams = (relayed, write)
        client = Client(
            _Opened(streams), cache=None,
            client_info=Implementation(name="trioagent", version=__version__),
        )
        await stack.enter_async_context(client)
        return client, closed

    async def _open_stdio(
        self, stack: contextlib.AsyncExitStack, side: trio.Nursery, session: _Session
    ) -> TransportStreams:
        from mcp.client.stdio import StdioServerParameters, stdio_client

        assert self.cfg.command is not None
        params = StdioServerParameters(
            command=self.cfg.command, args=list(self.cfg.args), env=dict(self.cfg.env),
            cwd=self.working_dir,
        )
        read_fd, write_fd = os.pipe()
        side.start_soon(session.drain_stderr, trio.lowlevel.FdStream(read_fd))
        with os.fdopen(write_fd, "w") as errlog:  # ours closes once the child has its own
            return await stack.enter_async_context(stdio_client(params, errlog=errlog))

    async def _open_http(
        self, stack: contextlib.AsyncExitStack, session: _Session
    ) -> TransportStreams:
        import httpx2
        from mcp.client.sse import sse_client
        from mcp.client.streamable_http import streamable_http_client

        remote = self.cfg.remote
        assert remote is not None

        def http_client(
            headers: dict[str, str] | None = None,
            timeout: httpx2.Timeout | None = None,
            auth: httpx2.Auth | None = None,
        ) -> httpx2.AsyncClient:
            return httpx2.AsyncClient(
                headers=headers, auth=auth,
                timeout=timeout or httpx2.Timeout(HTTP_TIMEOUT, read=None),
                event_hooks={"response": [session.on_response]},
            )

        if self._transport == "sse":
            return await stack.enter_async_context(sse_client(
                remote.url, headers=remote.headers, timeout=HTTP_TIMEOUT,
                httpx_client_factory=http_client,
            ))
        client = await stack.enter_async_context(http_client(headers=remote.headers))
        return await stack.enter_async_context(
            streamable_http_client(remote.url, http_client=client)
        )

    async def _serve_calls(
        self,
        client: Client,
        closed: trio.Event | None,
        receive: trio.MemoryReceiveChannel[_Call],
        in_flight: set[_Call],
        session: _Session,
    ) -> None:
        """Run every call that arrives, each in its own task, until the session breaks
        (raises) or the call channel closes (returns)."""
        async with trio.open_nursery() as calls:
            if closed is not None:
                calls.start_soon(_fail_when_set, closed)
            for call in list(in_flight):
                calls.start_soon(self._run_call, client, call, in_flight, session)
            async for call in receive:
                in_flight.add(call)
                calls.start_soon(self._run_call, client, call, in_flight, session)
            calls.cancel_scope.cancel()  # closing: a call still running fails as stopped

    async def _run_call(
        self, client: Client, call: _Call, in_flight: set[_Call], session: _Session
    ) -> None:
        """Run one call and resolve it; raise ``_SessionBroken`` if the connection is lost
        (the call stays in flight, and fails with the session's reason)."""
        from mcp import MCPError
        from mcp.types import CONNECTION_CLOSED

        with call.scope:
            try:
                result = await client.call_tool(call.name, call.arguments)
            except MCPError as exc:
                if exc.code == CONNECTION_CLOSED or session.expired:
                    raise _SessionBroken(f"{exc.message} during {call.name}") from exc
                call.resolve(ToolResult.error(
                    f"{call.name}: the MCP server answered with an error: {exc.message}"
                ))
            except Exception as exc:  # an answer the SDK refused, for one
                logger.warning("MCP tool %s of %s failed", call.name, self.label, exc_info=True)
                call.resolve(ToolResult.error(f"{call.name} failed: {_describe(exc)}"))
            else:
                call.resolve(_to_tool_result(result, self.max_output))
        in_flight.discard(call)


@attrs.define
class _Session:
    """What one connection learned about its server, for logs and error messages."""

    label: str
    stdio: bool = False
    up: bool = False
    """The handshake and the listing succeeded."""
    reason: str = "the session ended"
    stderr: deque[str] = attrs.Factory(lambda: deque(maxlen=STDERR_TAIL_LINES))
    stderr_closed: trio.Event | None = None
    stderr_scope: trio.CancelScope = attrs.Factory(lambda: trio.CancelScope(shield=True))
    http_error: str | None = None
    """The status of the last HTTP answer, if it was an error."""
    expired: bool = False
    """The server answered 404 to our session id: it forgot the session (restarted)."""

    def __attrs_post_init__(self) -> None:
        if self.stdio:
            self.stderr_closed = trio.Event()

    async def drain_stderr(self, stream: trio.lowlevel.FdStream) -> None:
        """Log the server's stderr line by line (DEBUG), keeping the last lines.

        Shielded, so a stopping session still reads the server's last words; the session
        cancels ``stderr_scope`` once it has waited for them.
        """
        assert self.stderr_closed is not None
        pending = b""
        with self.stderr_scope:
            async with stream:
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    while chunk := await stream.receive_some(65536):
                        *lines, pending = (pending + chunk).split(b"\n")
                        if len(pending) > _STDERR_LINE_CHARS:
                            lines.append(pending)
                            pending = b""
                        for line in lines:
                            self._stderr_line(line)
            self._stderr_line(pending)
            self.stderr_closed.set()

    def _stderr_line(self, raw: bytes) -> None:
        line = raw.decode(errors="replace").rstrip()[:_STDERR_LINE_CHARS]
        if line:
            logger.debug("%s: %s", self.label, line)
            self.stderr.append(line)

    async def on_response(self, response: httpx2.Response) -> None:
        """httpx event hook: note error statuses, which the SDK does not report."""
        if response.status_code < 400:
            self.http_error = None
            return
        self.http_error = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
        if response.status_code == 404 and "mcp-session-id" in response.request.headers:
            self.expired = True

    def describe(self, exc: BaseException) -> str:
        """Why the session failed: the main error, the HTTP status, the stderr tail."""
        text = _describe(exc)
        if self.http_error and self.http_error not in text:
            text = f"{text} ({self.http_error})"
        if self.stderr:
            text = f"{text}; its stderr ends with: {' | '.join(self.stderr)}"
        return text


def _describe(exc: BaseException) -> str:
    """One line for an error: ours first, then the SDK's message, else type and text."""
    from mcp import MCPError

    leaves = list(_leaves(exc))
    leaf = next((e for e in leaves if isinstance(e, _SessionBroken)), leaves[0])
    if isinstance(leaf, MCPError):
        text = leaf.message
    elif isinstance(leaf, _SessionBroken | OSError):
        text = str(leaf)
    else:
        text = f"{type(leaf).__name__}: {leaf}" if str(leaf) else type(leaf).__name__
    return text.splitlines()[0] if text else "unknown error"


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


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


async def _fail_when_set(closed: trio.Event) -> None:
    await closed.wait()
    raise _SessionBroken("the server closed the connection")


async def _list_tools(client: Client) -> list[ToolSpec]:
    """Every tool the server offers, following ``nextCursor``."""
    specs: list[ToolSpec] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await client.list_tools(cursor=cursor)
        specs.extend(
            ToolSpec(
                name=tool.name, description=tool.description or tool.title or "",
                parameters=tool.input_schema,
            )
            for tool in page.tools
        )
        cursor = page.next_cursor
        if cursor is None:
            return specs
    raise _SessionBroken(f"tools/list went on for more than {MAX_PAGES} pages")


def _to_tool_result(result: CallToolResult, limit: int) -> ToolResult:
    """An MCP tool result as the model sees it: the text of its parts, bounded.

    Images, audio and binary resources become a short placeholder; ``structuredContent``
    is shown as compact JSON when there is no text.
    """
    text = "\n".join(filter(None, map(_block_text, result.content)))
    if not text and result.structured_content is not None:
        text = json.dumps(result.structured_content, ensure_ascii=False, separators=(",", ":"))
    text = clip(text or "<no output>", limit)
    return ToolResult.error(text) if result.is_error else ToolResult(text)


def _block_text(block: ContentBlock) -> str:
    from mcp.types import (
        AudioContent,
        EmbeddedResource,
        ImageContent,
        ResourceLink,
        TextContent,
        TextResourceContents,
    )

    if isinstance(block, TextContent):
        return block.text
    if isinstance(block, ImageContent | AudioContent):
        return f"[{block.type}: {block.mime_type}, {_decoded_size(block.data)} bytes]"
    if isinstance(block, EmbeddedResource):
        resource = block.resource
        if isinstance(resource, TextResourceContents):
            return f"[resource: {resource.uri}]\n{resource.text}"
        mime = resource.mime_type or "binary"
        return f"[resource: {resource.uri}, {mime}, {_decoded_size(resource.blob)} bytes]"
    if isinstance(block, ResourceLink):
        return f"[resource link: {block.uri}]"
    return f"[{getattr(block, 'type', 'unknown')} content]"


def _decoded_size(data: str) -> int:
    """Bytes of base64 ``data`` once decoded."""
    return len(data) * 3 // 4 - (len(data) - len(data.rstrip("=")))


def _label_of(cfg: ToolsetConfig) -> str:
    """The server's name in logs and errors; checks that the entry names exactly one server.

    Raises:
        ConfigError: no server, two, an empty command, a bad URL or transport.
    """
    remote = cfg.remote
    if cfg.command is None and remote is None:
        if cfg.ref:
            raise ConfigError(
                f"mcp toolset ref {cfg.ref!r}: catalog references are not supported; "
                "give `command` (a stdio server) or `remote.url` (an HTTP server)"
            )
        raise ConfigError(
            "an mcp toolset needs `command` (a stdio server) or `remote.url` (an HTTP server)"
        )
    if cfg.command is not None and remote is not None:
        raise ConfigError("an mcp toolset takes `command` or `remote`, not both")
    if cfg.command is not None:
        if not cfg.command.strip():
            raise ConfigError("mcp toolset `command` is empty")
        return shlex.join([cfg.command, *cfg.args])
    assert remote is not None
    transport = remote.transport_type or "streamable"
    if transport.lower() not in _TRANSPORTS:
        raise ConfigError(
            f"mcp toolset remote.transport_type {transport!r} is not supported; "
            "use streamable (HTTP, the default) or sse"
        )
    parts = urlsplit(remote.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"mcp toolset remote.url {remote.url!r} is not an http(s) URL")
    # Credentials may hide in userinfo or the query: neither goes into logs.
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
