"""What the HTTP model clients share: the httpx client, error mapping, one streamed call.

Foreign errors are translated here, at the edge (httpcore's ``map_exceptions`` habit): the
rest of trioagent sees only :mod:`trioagent.errors`. Messages name the provider's host
and status, never its raw body or our key.
"""

from __future__ import annotations

import json
import re
from contextlib import aclosing, contextmanager
from typing import TYPE_CHECKING, Any, Protocol, cast

import httpx
import trio

from trioagent.errors import (
    UpstreamAuthError,
    UpstreamConnectError,
    UpstreamHTTPError,
    UpstreamModelNotFound,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamTimeout,
)

from ._sse import SSEDecodeError, SSEDecoder
from .base import coalesce
from .retry import classify, parse_retry_after

if TYPE_CHECKING:
    import ssl
    from collections.abc import AsyncGenerator, Iterator, Mapping

    from ._sse import ServerSentEvent
    from .base import ModelEvent

DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=300.0, write=30.0, pool=30.0)
"""Connect fast or fail; a model may think for minutes between two pieces of text."""
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

_CODE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


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
    """The httpx clients a model client keeps for its whole life.

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
        # Loading the CA bundle takes milliseconds: once, not per client opened under load.
        self._verify: ssl.SSLContext | None = None

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
            if self._verify is None:
                self._verify = httpx.create_ssl_context()
            self._clients.append(
                httpx.AsyncClient(
                    headers=self._headers,
                    timeout=self._timeout,
                    limits=DEFAULT_LIMITS,
                    transport=self._transport,
                    follow_redirects=False,
                    verify=self._verify,
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
        for client in self._clients:
            await client.aclose()


def error_for_status(status: int, *, model: str, code: str | None = None) -> UpstreamHTTPError:
    """The typed error for an HTTP error status.

    Args:
        status: the provider's status.
        model: the model we asked for, named in a 404.
        code: the provider's short error code or type, if it sent a readable one.
    """
    detail = f" ({code})" if code else ""
    if status in (401, 403):
        return UpstreamAuthError(status, f"the provider refused the API key{detail}")
    if status == 404:
        return UpstreamModelNotFound(status, f"the provider has no model {model!r}{detail}")
    if status == 429:
        return UpstreamRateLimited(status, f"rate limited by the provider{detail}")
    if status >= 500:
        return UpstreamHTTPError(status, f"the provider failed{detail}")
    return UpstreamHTTPError(status, f"the provider refused the request{detail}")


def error_code(body: bytes) -> str | None:
    """The short error code of a provider's JSON error body, if it has a sane one.

    Both OpenAI (``{"error": {"code", "type"}}``) and Anthropic
    (``{"type": "error", "error": {"type"}}``) shapes are read. Only an identifier-like
    string is kept, so nothing the provider wrote in prose reaches our messages.
    """
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return error_code_of(document)


def error_code_of(document: Any) -> str | None:
    """:func:`error_code` for an already parsed document."""
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return None
    for key in ("code", "type"):
        value = error.get(key)
        if isinstance(value, str) and _CODE.fullmatch(value):
            return value
    return None


@contextmanager
def map_transport_errors(url: httpx.URL) -> Iterator[None]:
    """Translate httpx and decoding errors into ``ModelError``\\ s, retryable ones wrapped
    in :class:`~trioagent.models.retry.Retryable`."""
    where = f"{url.scheme}://{url.netloc.decode()}"
    try:
        yield
    except httpx.ConnectTimeout as exc:
        raise classify(
            UpstreamConnectError("timed out connecting to the model provider", where=where)
        ) from exc
    except httpx.ConnectError as exc:
        raise classify(
            UpstreamConnectError("could not connect to the model provider", where=where)
        ) from exc
    except httpx.ReadTimeout as exc:
        raise UpstreamTimeout("the model provider stopped sending the answer", where=where) from exc
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout("timed out talking to the model provider", where=where) from exc
    except httpx.UnsupportedProtocol as exc:
        raise UpstreamConnectError(f"cannot speak to {url.scheme!r} URLs", where=where) from exc
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        raise classify(
            UpstreamConnectError("the connection to the model provider dropped", where=where)
        ) from exc
    except httpx.DecodingError as exc:
        raise UpstreamProtocolError(
            "the model provider sent a body we cannot decode", where=where
        ) from exc
    except httpx.TransportError as exc:
        raise classify(
            UpstreamConnectError("could not talk to the model provider", where=where)
        ) from exc
    except SSEDecodeError as exc:
        raise UpstreamProtocolError(
            f"the model provider sent a broken event stream: {exc}", where=where
        ) from exc


async def stream_call(
    shards: HTTPShards,
    url: str,
    body: bytes | dict[str, Any],
    parser: StreamParser,
    *,
    model: str,
    headers: Mapping[str, str] | None = None,
) -> AsyncGenerator[ModelEvent, None]:
    """One attempt: POST ``body`` (JSON text, or an object to write as JSON), read the SSE
    answer, yield its model events.

    The response is closed when the generator is closed, so cancelling the caller closes
    the connection to the provider at once.

    Raises:
        Retryable: a failure worth another attempt (429, 5xx, connection failures).
        ModelError: any other failure.
    """
    if not isinstance(body, bytes):
        body = json.dumps(body, separators=(",", ":")).encode()
    with shards.lease() as http:
        request = http.build_request(
            "POST",
            url,
            content=body,
            headers={
                "content-type": "application/json",
                "accept": "text/event-stream",
                **(headers or {}),
            },
        )  # the URL was checked when the client was made (providers.open_model_client)
        with map_transport_errors(request.url):
            response = await http.send(request, stream=True)
            try:
                if response.status_code >= 400:
                    error = error_for_status(
                        response.status_code, model=model, code=error_code(await _head(response))
                    )
                    raise classify(error, parse_retry_after(response.headers.get))
                if response.status_code != 200:
                    raise UpstreamProtocolError(
                        f"the model provider answered {response.status_code} to a model call",
                        where=str(request.url.copy_with(query=None)),
                    )
                decoder = SSEDecoder()
                async with aclosing(_body(response)) as chunks:
                    async for chunk in chunks:
                        events: list[ModelEvent] = []
                        for sse in decoder.feed(chunk):
                            events += parser.feed(sse)
                            if parser.done:
                                break
                        for event in coalesce(events):
                            yield event
                        if parser.done:
                            # Read the end of the body so the connection can be reused.
                            with trio.move_on_after(DRAIN_TIMEOUT):
                                async for _ in chunks:
                                    pass
                            break
                    else:
                        last = decoder.close()
                        if last is not None:
                            for event in parser.feed(last):
                                yield event
                for event in parser.finish():
                    yield event
            finally:
                # Closing an unfinished response closes its connection: the provider stops.
                with trio.CancelScope(shield=True), trio.move_on_after(2):
                    await response.aclose()


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
