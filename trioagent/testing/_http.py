"""A small HTTP/1.1 server on trio streams and h11, the core of the fake upstreams.

It is a real server on ``127.0.0.1:0`` with keep-alive, built to be fast enough for
benchmarks: a response written without pauses leaves in one ``send_all``. While a
handler runs, the connection is watched, so a client that hangs up mid-response cancels
the handler at once and is counted in :attr:`HTTPServer.disconnects`.
"""

from __future__ import annotations

import json
import logging
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import attrs
import h11
import trio

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
    from typing import TypeAlias

    Handler: TypeAlias = Callable[["HTTPRequest", "HTTPResponder"], Awaitable[None]]

log = logging.getLogger(__name__)

MAX_REQUEST_BODY = 16 * 1024 * 1024
_READ_SIZE = 64 * 1024


@attrs.frozen
class HTTPRequest:
    """A request the server received, as handlers and ``fake.requests`` see it."""

    method: str
    path: str
    """The request target, query string included."""
    headers: dict[str, str]
    """Header names in lower case; repeated headers joined with ``, ``."""
    body: bytes = attrs.field(repr=False)
    json: Any = None
    """The body parsed as JSON; ``None`` when it is empty or not JSON."""


@attrs.define
class HTTPResponder:
    """Writes one response. Output is buffered until :meth:`flush` or :meth:`end`, so a
    response written without pauses costs one ``send_all``."""

    _conn: h11.Connection
    _stream: trio.abc.Stream
    _out: list[bytes] = attrs.Factory(list)
    started: bool = False
    """Whether the status line was written."""
    aborted: bool = False
    """Whether :meth:`abort` closed the connection."""

    def start(self, status: int, headers: Sequence[tuple[str, str]] = ()) -> None:
        """Write the status line and headers (to the buffer).

        Without a ``content-length`` header the body is sent chunked.
        """
        self.started = True
        self._out.append(self._conn.send(h11.Response(status_code=status, headers=list(headers))))

    def write(self, *chunks: bytes) -> None:
        """Add body bytes to the buffer (as one HTTP chunk when the body is chunked)."""
        data = b"".join(chunks)
        if data:
            self._out.append(self._conn.send(h11.Data(data=data)))

    async def flush(self) -> None:
        """Send what is buffered."""
        if self._out:
            data = b"".join(self._out)
            self._out.clear()
            await self._stream.send_all(data)

    async def end(self) -> None:
        """Finish the response and send everything still buffered."""
        self._out.append(self._conn.send(h11.EndOfMessage()))
        await self.flush()

    async def respond(
        self,
        status: int,
        body: bytes,
        headers: Sequence[tuple[str, str]] = (),
        content_type: str = "application/json",
    ) -> None:
        """Send a whole response with a ``content-length``."""
        self.start(
            status, [("content-type", content_type), ("content-length", str(len(body))), *headers]
        )
        self.write(body)
        await self.end()

    async def respond_json(
        self, status: int, document: Any, headers: Sequence[tuple[str, str]] = ()
    ) -> None:
        """Send ``document`` as a JSON response."""
        await self.respond(status, json.dumps(document).encode(), headers)

    async def abort(self) -> None:
        """Send what is buffered, then close the connection without ending the response."""
        self.aborted = True
        try:
            await self.flush()
        finally:
            await self._stream.aclose()


@attrs.define(eq=False)
class HTTPServer:
    """A running server (see :func:`open_http_server`)."""

    port: int
    disconnects: int = 0
    """Responses cut short because the client closed the connection."""
    connections: int = 0
    """Connections accepted so far."""
    _in_flight: int = 0
    _changed: trio.Event = attrs.Factory(trio.Event)

    @property
    def in_flight(self) -> int:
        """Requests whose handler is still running: answers not yet ended or cut short.

        Idle keep-alive connections do not count; a request the client gave up on
        stops counting once the server has seen the connection close.
        """
        return self._in_flight

    async def wait_disconnects(self, count: int = 1) -> None:
        """Wait until at least ``count`` responses were cut short by their client."""
        while self.disconnects < count:
            await self._changed.wait()

    def _disconnected(self) -> None:
        self.disconnects += 1
        self._changed.set()
        self._changed = trio.Event()


@asynccontextmanager
async def open_http_server(
    handler: Handler,
) -> AsyncIterator[HTTPServer]:
    """Serve ``handler`` on ``127.0.0.1`` at a free port until the block exits.

    Every connection runs in a nursery this function owns; leaving the block cancels
    them and closes their sockets.
    """
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    server = HTTPServer(port)

    async def serve_connection(stream: trio.SocketStream) -> None:
        server.connections += 1
        async with stream:
            await _serve_connection(stream, handler, server)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, serve_connection, listeners)
        try:
            yield server
        finally:
            nursery.cancel_scope.cancel()


async def _serve_connection(
    stream: trio.SocketStream,
    handler: Handler,
    server: HTTPServer,
) -> None:
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
    while True:
        try:
            request = await _read_request(conn, stream)
        except h11.RemoteProtocolError as exc:
            await _refuse(conn, stream, exc.error_status_hint)
            return
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return
        if request is None:
            return
        responder = HTTPResponder(conn, stream)
        server._in_flight += 1
        try:
            go_on = await _run_handler(handler, request, responder, conn, stream, server)
        finally:
            server._in_flight -= 1
        if not go_on:
            return
        if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
            return
        conn.start_next_cycle()


async def _read_request(conn: h11.Connection, stream: trio.SocketStream) -> HTTPRequest | None:
    """The next whole request, or ``None`` when the client closed the connection."""
    head: h11.Request | None = None
    body: list[bytes] = []
    size = 0
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(_READ_SIZE))
        elif isinstance(event, h11.Request):
            head = event
        elif isinstance(event, h11.Data):
            size += len(event.data)
            if size > MAX_REQUEST_BODY:
                raise h11.RemoteProtocolError("request body too large", error_status_hint=413)
            body.append(event.data)
        elif isinstance(event, h11.EndOfMessage):
            assert head is not None
            return _request(head, b"".join(body))
        else:  # ConnectionClosed, or PAUSED after a client that closed its side
            return None


def _request(head: h11.Request, body: bytes) -> HTTPRequest:
    headers: dict[str, str] = {}
    for name, value in head.headers:
        key, text = name.decode("latin-1"), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    document: Any = None
    if body:
        try:
            document = json.loads(body)
        except ValueError:
            document = None
    return HTTPRequest(
        head.method.decode("ascii"), head.target.decode("latin-1"), headers, body, document
    )


async def _run_handler(
    handler: Handler,
    request: HTTPRequest,
    responder: HTTPResponder,
    conn: h11.Connection,
    stream: trio.SocketStream,
    server: HTTPServer,
) -> bool:
    """Run the handler while watching for the client hanging up; whether to go on."""
    gone = False

    async def watch(cancel_scope: trio.CancelScope) -> None:
        nonlocal gone
        try:
            while True:
                data = await stream.receive_some(_READ_SIZE)
                if not data:
                    break
                conn.receive_data(data)  # a pipelined request: h11 keeps it for later
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        gone = True
        cancel_scope.cancel()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch, nursery.cancel_scope)
        try:
            await handler(request, responder)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            gone = not responder.aborted
        nursery.cancel_scope.cancel()
    if gone:
        server._disconnected()
        log.debug("client closed the connection during %s %s", request.method, request.path)
        return False
    return not responder.aborted


async def _refuse(conn: h11.Connection, stream: trio.SocketStream, status: int) -> None:
    """Answer a request we cannot parse, then give up on the connection."""
    if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    body = b'{"error": "bad request"}'
    try:
        data = conn.send(
            h11.Response(
                status_code=status,
                headers=[
                    ("content-type", "application/json"),
                    ("content-length", str(len(body))),
                    ("connection", "close"),
                ],
            )
        )
        await stream.send_all(data + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
    except (h11.LocalProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
        pass
