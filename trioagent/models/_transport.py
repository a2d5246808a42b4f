"""What the HTTP model clients share: their connections and one streamed call.

A model call goes over trioagent's own HTTP/1.1 client on trio sockets (``_http11``: a
keep-alive pool per provider, the body read per network read), which costs about a
millisecond of CPU less per call than httpx. httpx carries the calls it cannot: to a
provider behind a proxy named in the environment (``HTTP_PROXY`` and friends, which
httpx honours), and through a custom httpx transport (tests). Failures of either become
:mod:`trioagent.errors` in ``_upstream_errors``.
"""

from __future__ import annotations

import json
import logging
from contextlib import aclosing, contextmanager
from typing import TYPE_CHECKING, Any, Protocol, cast

import attrs
import httpx
import trio

from trioagent import tracing
from trioagent.errors import (
    UpstreamProtocolError,
)

from ._http11 import (
    Timeouts,
    default_ssl_context,
    parse_url,
    proxied,
)
from ._http11_pool import ConnectionPool
from ._sse import SSEDecoder
from ._upstream_errors import error_code, error_for_status, map_transport_errors
from .base import coalesce
from .retry import classify, parse_retry_after

if TYPE_CHECKING:
    from collections.abc import (
        AsyncGenerator,
        AsyncIterator,
        Awaitable,
        Callable,
        Iterator,
        Mapping,
    )

    from ._sse import ServerSentEvent
    from .base import ModelEvent

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(**attrs.asdict(Timeouts()))
"""`Timeouts`' defaults for httpx: connect fast or fail; a model may think for minutes
between two pieces of text."""
SHARD_CONNECTIONS = 16
"""Connections of one httpx client of an `HTTPShards`."""
MAX_SHARDS = 64
"""httpx clients an `HTTPShards` opens at most (so at most 1024 upstream connections)."""
DEFAULT_LIMITS = httpx.Limits(
    max_connections=SHARD_CONNECTIONS, max_keepalive_connections=SHARD_CONNECTIONS
)
DRAIN_TIMEOUT = 1.0
"""How long we wait for the end of a body after the stream's last event, so the
connection can be reused; past it the connection is closed instead."""
MAX_ERROR_BODY = 64 * 1024


class StreamParser(Protocol):
    """Turns one provider's stream events into model events (no I/O)."""

    @property
    def done(self) -> bool:
        """Whether the provider said the stream is complete."""
        ...

    def feed(self, event: ServerSentEvent) -> list[ModelEvent]:
        """Take one stream event; raise a ``ModelError`` when it is wrong or an error."""
        ...

    def finish(self) -> list[ModelEvent]:
        """The stream ended: the closing events (usage, ``Finished``).

        Raises:
            UpstreamProtocolError: the stream ended before the provider said it was done.
        """
        ...


class HTTPShards:
    """The connections a model client keeps for its whole life: the h11 pool, and the
    httpx clients for the calls that need httpx (`pool_for` decides).

    httpcore's pool scans all its connections for each request it adds or removes, and
    for each idle connection it counts them all again: quadratic in its connections. One
    client of 100 connections spent most of a busy server's time there. Clients of
    `SHARD_CONNECTIONS` connections each, opened as the load grows, keep that scan short.
    """

    def __init__(
        self,
        *,
        headers: Mapping[str, str],
        timeout: httpx.Timeout | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._headers = dict(headers)
        self._timeout = timeout or DEFAULT_TIMEOUT
        self._transport = transport
        self._clients: list[httpx.AsyncClient] = []
        self._busy: list[int] = []
        # The h11 client carries every call httpx need not: a custom transport (tests)
        # or a proxy in the environment (which the h11 client does not speak) need httpx.
        self._pool = (
            None
            if transport
            else ConnectionPool(
                headers=headers,
                timeouts=Timeouts.from_httpx(self._timeout),
                max_connections=SHARD_CONNECTIONS * MAX_SHARDS,
            )
        )
        self._direct: dict[str, bool] = {}

    def pool_for(self, url: str) -> ConnectionPool | None:
        """The h11 pool for calls to ``url``, or ``None`` when httpx must carry them."""
        if self._pool is None:
            return None
        direct = self._direct.get(url)
        if direct is None:  # the environment is read once per URL
            direct = self._direct[url] = not proxied(url)
        return self._pool if direct else None

    @contextmanager
    def lease(self) -> Iterator[httpx.AsyncClient]:
        """A client for one call: the first one with a free connection (so calls pack onto
        the clients that have connections open), else a new one, else the least busy."""
        index = next((i for i, busy in enumerate(self._busy) if busy < SHARD_CONNECTIONS), -1)
        # A custom transport (tests) is one pool already: never shard it.
        if (
            index < 0
            and len(self._clients) < MAX_SHARDS
            and not (self._transport and self._clients)
        ):
            self._clients.append(
                httpx.AsyncClient(
                    headers=self._headers,
                    timeout=self._timeout,
                    limits=DEFAULT_LIMITS,
                    transport=self._transport,
                    follow_redirects=False,
                    verify=default_ssl_context(),  # made once (cached)
                )
            )
            self._busy.append(0)
            index = len(self._clients) - 1
        elif index < 0:
            index = min(range(len(self._busy)), key=self._busy.__getitem__)
        self._busy[index] += 1
        try:
            yield self._clients[index]
        finally:
            self._busy[index] -= 1

    async def aclose(self) -> None:
        """Close every connection."""
        if self._pool is not None:
            await self._pool.aclose()
        for client in self._clients:
            await client.aclose()


async def stream_call(
    shards: HTTPShards,
    url: str,
    body: bytes | dict[str, Any],
    parser: StreamParser,
    *,
    model: str,
    headers: Mapping[str, str] | None = None,
    resend_count: int = 0,
) -> AsyncGenerator[list[ModelEvent], None]:
    """One attempt: POST ``body`` (JSON text, or an object to write as JSON), read the SSE
    answer, yield its model events in batches (what one network read brought).

    The response is closed when the generator is closed, so cancelling the caller closes
    the connection to the provider at once. The attempt is traced as a client span (the
    ``resend_count``-th retry of its call) whose ``traceparent`` goes upstream with it.

    Raises:
        Retryable: a failure worth another attempt (429, 5xx, connection failures).
        ModelError: any other failure.
    """
    if not isinstance(body, bytes):
        body = json.dumps(body, separators=(",", ":")).encode()
    span = tracing.client_span("POST", url, resend_count=resend_count)
    request_headers = {
        "content-type": "application/json",
        "accept": "text/event-stream",
        **(headers or {}),
        **span.headers(),
    }
    pool = shards.pool_for(url)
    # The URL was checked when the client was made (providers.open_model_client).
    where = parse_url(url).address
    # The span sees the client's own errors: the kind of failure, before it is mapped.
    with map_transport_errors(where), span:
        if pool is not None:
            async with pool.stream("POST", url, headers=request_headers, body=body) as answer:
                span.responded(answer.status)
                logger.debug("model call: POST %s: %d", where, answer.status)
                events = _events(
                    answer.status,
                    answer.headers.get,
                    answer.read,
                    answer.iter_bytes(),
                    parser,
                    model=model,
                    where=where,
                )
                async with aclosing(events):
                    async for batch in events:
                        yield batch
            return
        with shards.lease() as http:
            request = http.build_request("POST", url, content=body, headers=request_headers)
            response = await http.send(request, stream=True)
            span.responded(response.status_code)
            try:
                async with aclosing(_body(response)) as chunks:
                    events = _events(
                        response.status_code,
                        response.headers.get,
                        lambda _: _head(response),
                        chunks,
                        parser,
                        model=model,
                        where=where,
                    )
                    async with aclosing(events):
                        async for batch in events:
                            yield batch
            finally:
                # Closing an unfinished response closes its connection: the provider stops.
                with trio.CancelScope(shield=True), trio.move_on_after(2):
                    await response.aclose()


async def _events(
    status: int,
    header: Callable[[str], str | None],
    read: Callable[[int], Awaitable[bytes]],
    chunks: AsyncIterator[bytes],
    parser: StreamParser,
    *,
    model: str,
    where: str,
) -> AsyncGenerator[list[ModelEvent], None]:
    """The model events of one answer, whichever client read it: a batch per network read
    that brought any (the last one with the closing events)."""
    if status >= 400:
        error = error_for_status(status, model=model, code=error_code(await read(MAX_ERROR_BODY)))
        raise classify(error, parse_retry_after(header))
    if status != 200:
        raise UpstreamProtocolError(
            f"the model provider answered {status} to a model call", where=where
        )
    decoder = SSEDecoder()
    events: list[ModelEvent] = []
    async for chunk in chunks:
        for sse in decoder.feed(chunk):
            events += parser.feed(sse)
            if parser.done:
                break
        if parser.done:
            yield coalesce(events) + parser.finish()
            # Read the end of the body so the connection can be reused.
            with trio.move_on_after(DRAIN_TIMEOUT):
                async for _ in chunks:
                    pass
            return
        if events:
            yield coalesce(events)
            events = []
    last = decoder.close()
    if last is not None:
        events += parser.feed(last)
    yield coalesce(events) + parser.finish()


def _body(response: httpx.Response) -> AsyncGenerator[bytes, None]:
    # aiter_bytes is an async generator, typed as an iterator: close it explicitly.
    return cast("AsyncGenerator[bytes, None]", response.aiter_bytes())


async def _head(response: httpx.Response) -> bytes:
    """Up to ``MAX_ERROR_BODY`` bytes of an error body: enough for its code."""
    data = b""
    async with aclosing(_body(response)) as chunks:
        async for chunk in chunks:
            data += chunk
            if len(data) >= MAX_ERROR_BODY:
                break
    return data
