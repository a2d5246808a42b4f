"""`MCPToolset`: the host task that owns the connection, and the calls it carries."""

from __future__ import annotations

import contextlib
import logging
import math
from typing import TYPE_CHECKING, Any, Final

import attrs
import trio

from trioagent import tracing
from trioagent.chat import ToolResult, ToolSpec
from trioagent.errors import ConfigError

from ._config import label_of
from ._content import to_tool_result
from ._session import Session, SessionBroken, describe_error, fail_when_set, list_tools
from ._transport import connect

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from mcp import Client

    from trioagent.config.schema import ToolsetConfig

    from ..base import ToolContext

logger = logging.getLogger(__package__)  # "trioagent.tools.mcp", as users filter it

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
_STDERR_GRACE: Final = 0.5
"""Seconds to wait for a stopped server's last stderr lines (a child may keep the pipe)."""


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
    trace: object | None = attrs.Factory(tracing.current_context)
    """The caller's trace context: the call is traced (and its ``traceparent`` sent) as
    the caller's, though the host task runs it."""

    def resolve(self, result: ToolResult) -> None:
        """Set the result, unless the call has one already."""
        if not self.done.is_set():
            self.result = result
            self.done.set()


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
        self.label = label_of(self.cfg)

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
                        message = (
                            f"MCP server {self.label} failed: {session.reason}; "
                            "it is restarted on the next call"
                        )
                    else:
                        message = (
                            f"MCP server {self.label} could not be restarted: "
                            f"{session.reason}; it is tried again on the next call"
                        )
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
    ) -> Session | None:
        """Run one connection until it breaks or the toolset closes.

        The calls already in ``in_flight`` (the one that asked for a restart) run first.

        Returns:
            The session, with the reason it broke; None if the toolset closed.
        """
        session = Session(self.label, stdio=self.cfg.command is not None)
        failed = False
        try:
            await self._connect_and_serve(session, receive, in_flight, on_ready)
        except* Exception as group:  # a cancellation in the group still propagates
            session.reason = session.describe(group)
            failed = True
        return session if failed else None

    async def _connect_and_serve(
        self,
        session: Session,
        receive: trio.MemoryReceiveChannel[_Call],
        in_flight: set[_Call],
        on_ready: Callable[[list[ToolSpec]], None],
    ) -> None:
        """Connect, list the tools, serve calls; return when the call channel closes.

        Raises:
            SessionBroken: or whatever the SDK raised, when the session cannot go on.
        """
        async with trio.open_nursery() as side:  # stderr and stdout watchers
            try:
                deadline = trio.current_time() + self.startup_timeout
                with trio.CancelScope(deadline=deadline) as startup:
                    async with contextlib.AsyncExitStack() as stack:
                        client, closed = await connect(
                            self.cfg, self.working_dir, stack, side, session
                        )
                        specs = await list_tools(client)
                        startup.deadline = math.inf
                        session.up = True
                        on_ready(specs)
                        await self._serve_calls(client, closed, receive, in_flight, session)
                        # The toolset closed: the stack closes the session cleanly.
                if startup.cancelled_caught:
                    raise SessionBroken(f"no answer within {self.startup_timeout:g} s")
            finally:
                if session.stderr_closed is not None:
                    with trio.CancelScope(shield=True), trio.move_on_after(_STDERR_GRACE):
                        await session.stderr_closed.wait()
                    session.stderr_scope.cancel()
                side.cancel_scope.cancel()

    async def _serve_calls(
        self,
        client: Client,
        closed: trio.Event | None,
        receive: trio.MemoryReceiveChannel[_Call],
        in_flight: set[_Call],
        session: Session,
    ) -> None:
        """Run every call that arrives, each in its own task, until the session breaks
        (raises) or the call channel closes (returns)."""
        async with trio.open_nursery() as calls:
            if closed is not None:
                calls.start_soon(fail_when_set, closed)
            for call in list(in_flight):
                calls.start_soon(self._run_call, client, call, in_flight, session)
            async for call in receive:
                in_flight.add(call)
                calls.start_soon(self._run_call, client, call, in_flight, session)
            calls.cancel_scope.cancel()  # closing: a call still running fails as stopped

    async def _run_call(
        self, client: Client, call: _Call, in_flight: set[_Call], session: Session
    ) -> None:
        """Run one call and resolve it; raise `SessionBroken` if the connection is lost
        (the call stays in flight, and fails with the session's reason)."""
        from mcp import MCPError
        from mcp.types import CONNECTION_CLOSED

        with call.scope, tracing.attached(call.trace):
            try:
                result = await client.call_tool(call.name, call.arguments)
            except MCPError as exc:
                if exc.code == CONNECTION_CLOSED or session.expired:
                    raise SessionBroken(f"{exc.message} during {call.name}") from exc
                call.resolve(
                    ToolResult.error(
                        f"{call.name}: the MCP server answered with an error: {exc.message}"
                    )
                )
            except Exception as exc:  # an answer the SDK refused, for one
                logger.warning("MCP tool %s of %s failed", call.name, self.label, exc_info=True)
                call.resolve(ToolResult.error(f"{call.name} failed: {describe_error(exc)}"))
            else:
                call.resolve(to_tool_result(result, self.max_output))
        in_flight.discard(call)
