"""One HTTP/1.1 client connection and its response, on a trio stream and h11.

A connection sends one request at a time and reads its answer as it arrives; the pool
(:mod:`._http11_pool`) owns it, reuses it and closes it.
"""

from __future__ import annotations

import select
from typing import TYPE_CHECKING, cast

import attrs
import h11
import trio

from ._http11 import (
    ConnectFailed,
    ConnectionDropped,
    ConnectTimeout,
    ProtocolBroken,
    ReadTimeout,
    WriteTimeout,
    default_ssl_context,
)

if TYPE_CHECKING:
    import ssl
    from collections.abc import AsyncIterator

    from ._http11 import Origin, Timeouts

READ_SIZE = 64 * 1024
"""The most bytes one read takes from the socket."""


class Headers:
    """Response headers: names are case-insensitive, repeated ones joined with ``", "``."""

    __slots__ = ("_by_name", "raw")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.raw = raw
        """The (lower-case name, value) pairs as received."""
        self._by_name: dict[str, str] | None = None

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of header ``name``, or ``default`` when the response has none."""
        if self._by_name is None:
            by_name: dict[str, str] = {}
            for key, value in self.raw:
                known, text = key.decode("latin-1"), value.decode("latin-1")
                by_name[known] = f"{by_name[known]}, {text}" if known in by_name else text
            self._by_name = by_name
        return self._by_name.get(name.lower(), default)

    def __repr__(self) -> str:
        return f"Headers({[(k.decode('latin-1'), v.decode('latin-1')) for k, v in self.raw]!r})"


def _readable(fd: int) -> bool:
    if fd < 0:
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])  # pragma: no cover (Windows)


@attrs.define(eq=False)
class Connection:
    """One HTTP/1.1 connection: a request at a time, reusable while h11 says so.

    Create it with :meth:`open`. Its methods leave closing to the owner (the pool),
    which calls :meth:`close`: synchronous, so a cancelled caller closes the connection
    at once, without awaiting a TLS goodbye.
    """

    origin: Origin
    _stream: trio.abc.Stream
    _socket: trio.SocketStream
    _h11: h11.Connection = attrs.field(factory=lambda: h11.Connection(h11.CLIENT))
    cycles: int = 0
    """Responses read to the end on this connection: more than 0 means reused."""
    received: bool = False
    """Whether any byte of the current response arrived."""
    idle_since: float = 0.0
    """When the pool last put the connection aside (``trio.current_time()``)."""
    _eof: bool = False

    @classmethod
    async def open(
        cls, origin: Origin, ssl_context: ssl.SSLContext | None, timeouts: Timeouts
    ) -> Connection:
        """Connect to ``origin``, with TLS for https, within ``timeouts.connect``.

        Raises:
            ConnectFailed: no connection (resolution, refusal, TLS).
            ConnectTimeout: connecting took too long.
        """
        socket: trio.SocketStream | None = None
        connection: Connection | None = None
        try:
            with trio.move_on_after(timeouts.connect):
                socket = await trio.open_tcp_stream(origin.host, origin.port)
                if origin.scheme == "http":
                    connection = cls(origin, socket, socket)
                else:
                    stream = trio.SSLStream(
                        socket,
                        ssl_context or default_ssl_context(),
                        server_hostname=origin.host,
                        https_compatible=True,
                    )
                    await stream.do_handshake()
                    connection = cls(origin, stream, socket)
        except OSError as exc:
            raise ConnectFailed(f"could not connect to {origin}: {exc}") from exc
        except trio.BrokenResourceError as exc:  # trio's wrapper of an ssl error
            raise ConnectFailed(f"TLS with {origin} failed: {exc.__cause__ or exc}") from exc
        finally:
            if connection is None and socket is not None:
                socket.socket.close()
        if connection is None:
            raise ConnectTimeout(f"connecting to {origin} took more than {timeouts.connect} s")
        return connection

    async def send_request(self, request: h11.Request, body: bytes, timeouts: Timeouts) -> None:
        """Send ``request`` and ``body`` in one write.

        Raises:
            ConnectionDropped: the connection is closed or broken.
            WriteTimeout: sending took longer than ``timeouts.write``.
        """
        self.received = False
        parts = [self._h11.send(request) or b""]
        if body:
            parts += self._h11.send_with_data_passthrough(h11.Data(data=body)) or []
        parts.append(self._h11.send(h11.EndOfMessage()) or b"")
        with trio.move_on_after(timeouts.write):
            try:
                await self._stream.send_all(b"".join(parts))
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise ConnectionDropped(f"{self.origin} closed the connection: {exc}") from exc
            return
        raise WriteTimeout(
            f"sending the request to {self.origin} took more than {timeouts.write} s"
        )

    async def receive_head(self, timeouts: Timeouts) -> tuple[int, Headers]:
        """The status and headers of the response (1xx responses skipped).

        Raises:
            ConnectionDropped, ProtocolBroken, ReadTimeout.
        """
        while True:
            event = self._next_event()
            if event is h11.NEED_DATA:
                await self._receive(timeouts.read)
            elif type(event) is h11.Response:
                return event.status_code, Headers(list(event.headers))
            elif type(event) is not h11.InformationalResponse:
                raise ConnectionDropped(f"{self.origin} closed the connection before answering")

    async def receive_data(self, timeouts: Timeouts) -> bytes | None:
        """The body bytes one network read brought, or ``None`` at the end of the body.

        All the h11 ``Data`` events of a read come back together, so a caller gets one
        chunk per read (bytes already buffered come back without reading).

        Raises:
            ConnectionDropped, ProtocolBroken, ReadTimeout.
        """
        pieces: list[bytes | bytearray] = []
        while self._h11.their_state is h11.SEND_BODY:
            event = self._next_event()
            if type(event) is h11.Data:
                pieces.append(event.data)
            elif event is h11.NEED_DATA:
                if pieces:
                    break
                await self._receive(timeouts.read)
            elif type(event) is not h11.EndOfMessage:  # pragma: no cover (h11 says no)
                raise ProtocolBroken(f"{self.origin} sent {type(event).__name__} in a body")
        return b"".join(pieces) if pieces else None

    def buffered_end(self) -> bool:
        """Read what is already buffered, no I/O: whether the response ended in it."""
        try:
            while self._h11.their_state is h11.SEND_BODY:
                event = self._h11.next_event()
                if event is h11.NEED_DATA:
                    return False
        except h11.RemoteProtocolError:
            return False
        return True

    def next_cycle(self) -> bool:
        """After a whole exchange: make the connection ready for the next request.

        Returns:
            Whether it can be reused (both sides done, no ``Connection: close``).
        """
        if self._h11.our_state is not h11.DONE or self._h11.their_state is not h11.DONE:
            return False
        self._h11.start_next_cycle()
        self.cycles += 1
        return True

    def stale(self) -> bool:
        """Whether an idle connection was closed by the server (or got bytes unasked)."""
        return _readable(self._socket.socket.fileno())

    def close(self) -> None:
        """Close the socket now; the server sees the connection end at once."""
        self._socket.socket.close()

    def _next_event(self) -> h11.Event | type[h11.PAUSED] | type[h11.NEED_DATA]:
        try:
            return self._h11.next_event()
        except h11.RemoteProtocolError as exc:
            if self._eof:
                raise ConnectionDropped(
                    f"{self.origin} closed the connection before the response ended"
                ) from exc
            raise ProtocolBroken(f"{self.origin} sent an invalid response: {exc}") from exc

    async def _receive(self, seconds: float) -> None:
        data = None
        with trio.move_on_after(seconds):
            try:
                data = await self._stream.receive_some(READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise ConnectionDropped(f"the connection to {self.origin} broke: {exc}") from exc
        if data is None:
            raise ReadTimeout(f"{self.origin} sent nothing for {seconds} s")
        if data:
            self.received = True
        else:
            self._eof = True
        self._h11.receive_data(cast("bytes", data))  # a bytearray does as well


@attrs.define(eq=False)
class Response:
    """A response whose body is read as it arrives (see ``ConnectionPool.stream``)."""

    status: int
    headers: Headers
    _connection: Connection | None = attrs.field(repr=False)
    """``None`` once the exchange ended: the connection went back to the pool or closed."""
    _timeouts: Timeouts = attrs.field(repr=False)

    def iter_bytes(self) -> AsyncIterator[bytes]:
        """The body, one chunk per network read, as the bytes arrived (no re-chunking).

        Raises:
            ConnectionDropped, ProtocolBroken, ReadTimeout.
        """
        return _Body(self)

    async def read(self, limit: int | None = None) -> bytes:
        """The body, or its first ``limit`` bytes (enough of an error body for its code).

        Raises:
            ConnectionDropped, ProtocolBroken, ReadTimeout.
        """
        pieces: list[bytes] = []
        size = 0
        async for chunk in self.iter_bytes():
            pieces.append(chunk)
            size += len(chunk)
            if limit is not None and size >= limit:
                break
        return b"".join(pieces)[:limit]

    def detach(self) -> Connection | None:
        """End the exchange: hand the connection back (``None`` the second time). Reading
        the body after this raises, rather than read what the connection carries next."""
        connection, self._connection = self._connection, None
        return connection


@attrs.define(eq=False)
class _Body:
    _response: Response

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        response = self._response
        if response._connection is None:
            raise RuntimeError("the response was read after its `async with` block ended")
        chunk = await response._connection.receive_data(response._timeouts)
        if chunk is None:
            raise StopAsyncIteration
        return chunk
