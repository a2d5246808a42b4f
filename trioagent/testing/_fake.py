"""What both fake upstreams share: the reply queue, the request log, playback."""

from __future__ import annotations

import collections
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import attrs
import trio

from ._http import open_http_server
from .replies import ErrorReply, HeldReply, Reply, text

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from ._http import HTTPRequest, HTTPResponder, HTTPServer

SSE_HEADERS = (
    ("content-type", "text/event-stream"),
    ("cache-control", "no-cache"),
)


@attrs.define(eq=False, kw_only=True)
class FakeUpstream:
    """A scripted upstream: answers each model call with the next queued reply.

    Set the public attributes directly: ``fake.default = text("hi")``,
    ``fake.api_key = "sk-test"``, ``fake.record = False`` (benchmarks).
    """

    default: Reply = attrs.Factory(lambda: text("ok"))
    """The reply when the queue is empty."""
    api_key: str | None = None
    """When set, requests must carry this key (else 401)."""
    models: list[str] = attrs.Factory(lambda: ["fake-model"])
    """The ids ``GET /v1/models`` lists."""
    record: bool = True
    """Whether requests are kept in :attr:`requests`."""
    requests: list[HTTPRequest] = attrs.Factory(list)
    """Every request received, in order (while :attr:`record` is true)."""
    _queue: collections.deque[Reply] = attrs.Factory(collections.deque)
    _server: HTTPServer | None = None
    _received: int = 0
    _changed: trio.Event = attrs.Factory(trio.Event)

    @property
    def port(self) -> int:
        assert self._server is not None, "the fake is not running"
        return self._server.port

    @property
    def disconnects(self) -> int:
        """Responses cut short because the client closed the connection."""
        return self._server.disconnects if self._server is not None else 0

    @property
    def connections(self) -> int:
        """Connections accepted so far (keep-alive reuses them)."""
        return self._server.connections if self._server is not None else 0

    @property
    def in_flight(self) -> int:
        """Requests being answered right now (see :attr:`HTTPServer.in_flight`)."""
        return self._server.in_flight if self._server is not None else 0

    @property
    def pending(self) -> int:
        """Replies still queued."""
        return len(self._queue)

    def enqueue(self, *replies: Reply) -> None:
        """Queue replies for the next model calls, in order."""
        self._queue.extend(replies)

    def next_reply(self) -> Reply:
        return self._queue.popleft() if self._queue else self.default

    async def take_reply(self) -> Reply:
        """The next reply to play, once a `held` one is released."""
        reply = self.next_reply()
        while isinstance(reply, HeldReply):
            await reply.release.wait()
            reply = reply.reply
        return reply

    async def wait_disconnects(self, count: int = 1) -> None:
        """Wait until ``count`` responses in all were cut short by their client."""
        assert self._server is not None, "the fake is not running"
        await self._server.wait_disconnects(count)

    async def wait_disconnect(self) -> None:
        """Wait until some client has hung up mid-response (at least one so far)."""
        await self.wait_disconnects(1)

    async def wait_requests(self, count: int = 1) -> None:
        """Wait until ``count`` requests in all were received."""
        while self._received < count:
            await self._changed.wait()

    async def handle(self, request: HTTPRequest, responder: HTTPResponder) -> None:
        """Answer one HTTP request (each fake implements its protocol here)."""
        raise NotImplementedError

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Serve this fake on ``127.0.0.1`` at a free port for the block."""
        async with open_http_server(self.handle) as server:
            self._server = server
            yield

    def _received_request(self, request: HTTPRequest) -> None:
        if self.record:
            self.requests.append(request)
        self._received += 1
        self._changed.set()
        self._changed = trio.Event()


def group(head: bytes, pieces: Sequence[bytes], tail: bytes = b"") -> list[bytes]:
    """Glue the events before the first piece and after the last one to it, so that the
    pauses of :func:`play_stream` fall only between two pieces of the answer."""
    if not pieces:
        return [head + tail]
    grouped = list(pieces)
    grouped[0] = head + grouped[0]
    grouped[-1] += tail
    return grouped


async def play_stream(
    responder: HTTPResponder,
    events: Sequence[bytes],
    *,
    delay: float = 0.0,
    chunk_delay: float = 0.0,
    drop: bool = False,
) -> None:
    """Send ``events`` (see :func:`group`) as a 200 event stream, pausing ``chunk_delay``
    between two of them.

    Without pauses the whole response leaves in one write. With ``drop``, the
    connection is closed after the events instead of ending the response.
    """
    if delay:
        await trio.sleep(delay)
    responder.start(200, SSE_HEADERS)
    if chunk_delay:
        for number, event in enumerate(events):
            if number:
                await trio.sleep(chunk_delay)
            responder.write(event)
            if number < len(events) - 1 or drop:
                await responder.flush()
    else:
        responder.write(*events)
    if drop:
        await responder.abort()
    else:
        await responder.end()


async def play_json(
    responder: HTTPResponder, document: dict[str, Any], *, delay: float = 0.0
) -> None:
    """Send one JSON answer after ``delay`` seconds."""
    if delay:
        await trio.sleep(delay)
    await responder.respond_json(200, document)


async def play_error(responder: HTTPResponder, reply: ErrorReply, document: dict[str, Any]) -> None:
    """Send an error reply: its status, ``Retry-After`` if set, the JSON ``document``."""
    if reply.delay:
        await trio.sleep(reply.delay)
    headers = [] if reply.retry_after is None else [("retry-after", _seconds(reply.retry_after))]
    await responder.respond_json(reply.status, document, headers)


def _seconds(value: float | str) -> str:
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else str(value)


async def hang_up(responder: HTTPResponder) -> None:
    """Never answer: wait until the client or the fake closes the connection."""
    del responder
    await trio.sleep_forever()
