"""A pool of HTTP/1.1 connections per origin, and streamed requests over it::

    pool = ConnectionPool(headers={"authorization": "Bearer ..."})
    async with pool.stream("POST", url, headers=headers, body=data) as response:
        if response.status >= 400:
            error = await response.read(64 * 1024)
        async for chunk in response.iter_bytes():  # one chunk per network read
            ...
    await pool.aclose()

Idle connections are reused last in, first out (the warmest first); an origin keeps at
most ``max_idle`` of them, each for ``keepalive_expiry`` seconds, and has at most
``max_connections`` open. Callers past that bound wait in arrival order. Each acquire and
release is O(1), whatever the number of connections.

An idle connection the server closed in the meantime is noticed before use (its socket
is readable), or, when the request fails before any byte of the answer came back on it,
the request is sent once more on a new connection. A new connection is never retried.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from typing import TYPE_CHECKING

import attrs
import h11
import trio

from ._http11 import USER_AGENT, ConnectionDropped, InvalidRequest, PoolTimeout, Timeouts, parse_url
from ._http11_connection import Connection, Response

if TYPE_CHECKING:
    import ssl
    from collections.abc import Mapping
    from types import TracebackType

    from ._http11 import Origin

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 1024
"""Open connections per origin: as many as ``HTTPShards`` allowed (64 clients of 16)."""
MAX_IDLE = MAX_CONNECTIONS
"""Idle connections kept per origin: every one, as ``HTTPShards`` did."""
KEEPALIVE_EXPIRY = 5.0
"""Seconds an idle connection is kept: httpx's default, shorter than servers' own."""

_OWN_HEADERS = frozenset({"host", "content-length", "transfer-encoding"})
"""Headers the pool writes itself; a caller's are ignored."""


@attrs.define(eq=False)
class _Waiter:
    """A caller waiting for a connection; it is woken with a connection or a free slot."""

    event: trio.Event = attrs.Factory(trio.Event)
    granted: bool = False
    connection: Connection | None = None
    """An idle connection handed over, or ``None``: open a new one in the freed slot."""


@attrs.define(eq=False)
class _Slots:
    """The connections of one origin.

    While callers wait, no connection is idle and ``opened`` is at the bound: whatever
    is released goes to the first waiter.
    """

    idle: deque[Connection] = attrs.Factory(deque)
    """Oldest idle on the left, so expiry pops the left and reuse the right."""
    opened: int = 0
    """Connections counted against the bound: idle, in use or being opened."""
    waiters: OrderedDict[_Waiter, None] = attrs.Factory(OrderedDict)


@attrs.define(eq=False, kw_only=True)
class ConnectionPool:
    """HTTP/1.1 connections kept per origin for one model client.

    Args:
        headers: sent with every request; a request's own headers win.
        timeouts: the default timeouts of a request.
        ssl_context: the TLS trust for https; the process's default when ``None``.
        max_connections: connections open at once per origin.
        max_idle: idle connections kept per origin.
        keepalive_expiry: seconds an idle connection is kept.
    """

    headers: Mapping[str, str] = attrs.Factory(dict)
    timeouts: Timeouts = attrs.Factory(Timeouts)
    ssl_context: ssl.SSLContext | None = None
    max_connections: int = attrs.field(default=MAX_CONNECTIONS, validator=attrs.validators.ge(1))
    max_idle: int = attrs.field(default=MAX_IDLE, validator=attrs.validators.ge(0))
    keepalive_expiry: float = KEEPALIVE_EXPIRY
    _origins: dict[Origin, _Slots] = attrs.field(init=False, factory=dict)
    _open: set[Connection] = attrs.field(init=False, factory=set)
    _closed: bool = attrs.field(init=False, default=False)
    _defaults: dict[str, str] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._defaults = {name.lower(): value for name, value in self.headers.items()}

    def stream(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeouts: Timeouts | None = None,
    ) -> Exchange:
        """One request; ``async with`` it to send it and get the :class:`Response`.

        Leaving the block after the body's end returns the connection to the pool; leaving
        it earlier (break, exception, cancellation) closes the connection, so the server
        sees it end at once.

        Args:
            method: ``POST``, ``GET``...
            url: an http or https URL.
            headers: this request's headers, over the pool's. ``Host`` and
                ``Content-Length`` are the pool's to write; ``User-Agent`` is
                ``trioagent/<version>`` unless given.
            body: the request body, sent with a ``Content-Length``.
            timeouts: this request's timeouts instead of the pool's.

        Raises:
            HTTPClientError: a subclass saying what failed, from ``async with`` or from
                reading the body.
        """
        return Exchange(self, method, url, headers, body, timeouts or self.timeouts)

    async def aclose(self) -> None:
        """Close every connection, in use or idle; requests after this are refused."""
        self._closed = True
        for connection in self._open:
            connection.close()
        self._open.clear()
        for slots in self._origins.values():
            slots.idle.clear()
            for waiter in slots.waiters:
                waiter.event.set()  # not granted: it raises
            slots.waiters.clear()
        await trio.lowlevel.checkpoint()

    def _request(
        self,
        method: str,
        target: bytes,
        authority: bytes,
        headers: Mapping[str, str] | None,
        body: bytes | None,
    ) -> h11.Request:
        merged = self._defaults
        if headers:
            merged = {**merged, **{name.lower(): value for name, value in headers.items()}}
        fields = [(b"host", authority)]
        try:
            fields += [
                (name.encode("ascii"), value.encode("ascii"))
                for name, value in merged.items()
                if name not in _OWN_HEADERS
            ]
            if "user-agent" not in merged:
                fields.append((b"user-agent", USER_AGENT))
            if body is not None:
                fields.append((b"content-length", b"%d" % len(body)))
            return h11.Request(method=method, target=target, headers=fields)
        except (h11.LocalProtocolError, UnicodeError) as exc:
            raise InvalidRequest(f"cannot send this request: {exc}") from None

    async def _acquire(
        self, origin: Origin, slots: _Slots, timeouts: Timeouts
    ) -> Connection | None:
        """An idle connection, or ``None`` with a slot taken for a new one.

        Raises:
            PoolTimeout: no connection or slot came free within ``timeouts.pool``.
        """
        if self._closed:
            raise RuntimeError("the connection pool is closed")
        idle = slots.idle
        if idle:
            now = trio.current_time()
            while idle and now - idle[0].idle_since > self.keepalive_expiry:
                self._discard(idle.popleft())
                slots.opened -= 1
            while idle:
                connection = idle.pop()
                if not connection.stale():
                    return connection
                self._discard(connection)
                slots.opened -= 1
        if slots.opened < self.max_connections and not slots.waiters:
            slots.opened += 1
            return None
        waiter = _Waiter()
        slots.waiters[waiter] = None
        with trio.move_on_after(timeouts.pool):
            try:
                await waiter.event.wait()
            finally:
                if not waiter.event.is_set():
                    del slots.waiters[waiter]
        if waiter.granted:
            return waiter.connection
        if self._closed:
            raise RuntimeError("the connection pool is closed")
        raise PoolTimeout(f"no connection to {origin} came free in {timeouts.pool} s")

    def _release(self, slots: _Slots, connection: Connection) -> None:
        """Take a connection back after an exchange: reuse it when its response ended."""
        if not self._closed and connection.buffered_end() and connection.next_cycle():
            if slots.waiters:
                waiter, _ = slots.waiters.popitem(last=False)
                waiter.granted, waiter.connection = True, connection
                waiter.event.set()
                return
            if len(slots.idle) < self.max_idle:
                connection.idle_since = trio.current_time()
                slots.idle.append(connection)
                return
        self._discard(connection)
        self._free_slot(slots)

    def _free_slot(self, slots: _Slots) -> None:
        """A connection of ``slots`` is gone: its slot goes to the first waiter."""
        if slots.waiters:
            waiter, _ = slots.waiters.popitem(last=False)
            waiter.granted = True
            waiter.event.set()
        else:
            slots.opened -= 1

    def _discard(self, connection: Connection) -> None:
        connection.close()
        self._open.discard(connection)


@attrs.define(eq=False)
class Exchange:
    """One request and its response, as :meth:`ConnectionPool.stream` returns it."""

    _pool: ConnectionPool
    _method: str
    _url: str
    _headers: Mapping[str, str] | None
    _body: bytes | None
    _timeouts: Timeouts
    _slots: _Slots | None = None
    _response: Response | None = None

    async def __aenter__(self) -> Response:
        pool, timeouts = self._pool, self._timeouts
        target = parse_url(self._url)
        request = pool._request(
            self._method, target.path, target.authority, self._headers, self._body
        )
        origin = target.origin
        slots = pool._origins.get(origin)
        if slots is None:
            slots = pool._origins[origin] = _Slots()
        connection = await pool._acquire(origin, slots, timeouts)
        try:
            while True:
                if connection is None:
                    connection = await Connection.open(origin, pool.ssl_context, timeouts)
                    pool._open.add(connection)
                try:
                    await connection.send_request(request, self._body or b"", timeouts)
                    status, headers = await connection.receive_head(timeouts)
                    break
                except ConnectionDropped:
                    if not connection.cycles or connection.received:
                        raise
                    # The server closed this idle connection as we took it: once more,
                    # on a new one (the slot stays ours).
                    log.debug("%s closed an idle connection; sending again", origin)
                    pool._discard(connection)
                    connection = None
        except BaseException:
            if connection is not None:
                pool._discard(connection)
            pool._free_slot(slots)
            raise
        self._slots = slots
        self._response = Response(status, headers, connection, timeouts)
        return self._response

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        connection = self._response.detach() if self._response is not None else None
        if connection is not None and self._slots is not None:
            self._pool._release(self._slots, connection)
