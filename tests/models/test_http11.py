"""The HTTP/1.1 client of the model calls (`trioagent.models._http11*`), on real sockets.

Upstreams are real servers on 127.0.0.1: the h11 server of `trioagent.testing` where a
whole response is enough, and small raw servers here where a test needs the bytes or the
socket itself (a partial head, a closed idle connection, TLS).
"""

from __future__ import annotations

import math
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import h11
import httpx
import pytest
import trio
import trio.testing
import trustme

from trioagent import __version__
from trioagent.models._http11 import (
    ConnectFailed,
    ConnectionDropped,
    InvalidRequest,
    PoolTimeout,
    ProtocolBroken,
    ReadTimeout,
    Timeouts,
    proxied,
)
from trioagent.models._http11_connection import Headers
from trioagent.models._http11_pool import ConnectionPool
from trioagent.testing._http import HTTPRequest, HTTPResponder, HTTPServer, open_http_server

Handler = Callable[[HTTPRequest, HTTPResponder], Awaitable[None]]


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[tuple[HTTPServer, str]]:
    async with open_http_server(handler) as server:
        yield server, f"http://127.0.0.1:{server.port}/v1/chat"


@asynccontextmanager
async def open_pool(**options: object) -> AsyncIterator[ConnectionPool]:
    pool = ConnectionPool(**options)  # type: ignore[arg-type]
    try:
        yield pool
    finally:
        await pool.aclose()


async def ok(request: HTTPRequest, responder: HTTPResponder) -> None:
    await responder.respond(200, request.body or b"ok", content_type="text/plain")


async def get(pool: ConnectionPool, url: str, body: bytes = b"{}") -> tuple[int, bytes]:
    async with pool.stream("POST", url, body=body) as response:
        return response.status, await response.read()


# Raw servers: one task per connection, speaking h11 (or not) as the test wants.


@asynccontextmanager
async def open_raw_server(
    handle: Callable[[trio.abc.Stream], Awaitable[None]],
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[int]:
    listeners: list[trio.abc.Listener[trio.abc.Stream]] = []
    sockets = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = sockets[0].socket.getsockname()[1]
    for listener in sockets:
        if ssl_context is None:
            listeners.append(listener)
        else:
            listeners.append(trio.SSLListener(listener, ssl_context, https_compatible=True))

    async def serve(stream: trio.abc.Stream) -> None:
        async with stream:
            try:
                await handle(stream)
            except trio.BrokenResourceError:
                pass

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, serve, listeners)
        yield port
        nursery.cancel_scope.cancel()


async def read_request(stream: trio.abc.Stream, conn: h11.Connection) -> h11.Request | None:
    """The next request's head (its body read and dropped), or None at EOF."""
    request = None
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(bytes(await stream.receive_some(65536)))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.EndOfMessage):
            return request
        elif not isinstance(event, h11.Data):
            return None


async def answer(stream: trio.abc.Stream, conn: h11.Connection, body: bytes = b"ok") -> None:
    headers = [("content-length", str(len(body)))]
    data = conn.send(h11.Response(status_code=200, headers=headers))
    await stream.send_all(data + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
    conn.start_next_cycle()


# Streaming and keep-alive.


@pytest.mark.parametrize("framing", ["chunked", "content-length"])
async def test_a_body_arrives_one_chunk_per_network_read(framing: str) -> None:
    pieces = [b"data: a\n\n", b"data: bb\n\n", b"data: ccc\n\n"]
    sent = [trio.Event() for _ in pieces]

    async def handler(request: HTTPRequest, responder: HTTPResponder) -> None:
        length = [("content-length", str(sum(map(len, pieces))))]
        responder.start(
            200, [("content-type", "text/event-stream")] + length * (framing != "chunked")
        )
        for piece, seen in zip(pieces, sent, strict=True):
            responder.write(piece)
            await responder.flush()
            await seen.wait()  # the client read this piece before the next one leaves
        await responder.end()

    chunks: list[bytes] = []
    with trio.fail_after(5):
        async with serving(handler) as (_, url), open_pool() as pool:
            async with pool.stream("POST", url, body=b"{}") as response:
                assert response.status == 200
                assert response.headers.get("Content-Type") == "text/event-stream"
                async for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    sent[len(chunks) - 1].set()
    assert chunks == pieces


async def test_sequential_requests_reuse_one_connection() -> None:
    with trio.fail_after(5):
        async with serving(ok) as (server, url), open_pool() as pool:
            assert await get(pool, url, b"one") == (200, b"one")
            assert await get(pool, url, b"two") == (200, b"two")
    assert server.connections == 1


async def test_a_request_carries_host_length_user_agent_and_merged_headers() -> None:
    seen: list[HTTPRequest] = []

    async def handler(request: HTTPRequest, responder: HTTPResponder) -> None:
        seen.append(request)
        await ok(request, responder)

    with trio.fail_after(5):
        async with (
            serving(handler) as (server, url),
            open_pool(headers={"Authorization": "Bearer k", "X-Kind": "pool"}) as pool,
        ):
            async with pool.stream(
                "POST", url + "?q=1", headers={"x-kind": "call", "Host": "evil"}, body=b"{}"
            ) as response:
                await response.read()
    [request] = seen
    assert request.path == "/v1/chat?q=1"
    assert request.headers == {
        "host": f"127.0.0.1:{server.port}",
        "authorization": "Bearer k",
        "x-kind": "call",
        "user-agent": f"trioagent/{__version__}",
        "content-length": "2",
    }


async def test_a_chunked_body_is_read_whole() -> None:
    async def handler(request: HTTPRequest, responder: HTTPResponder) -> None:
        responder.start(200)
        responder.write(b"hello ")
        responder.write(b"world")
        await responder.end()

    with trio.fail_after(5):
        async with serving(handler) as (server, url), open_pool() as pool:
            assert await get(pool, url) == (200, b"hello world")
            assert await get(pool, url) == (200, b"hello world")
    assert server.connections == 1


async def test_read_stops_at_its_limit() -> None:
    async def handler(request: HTTPRequest, responder: HTTPResponder) -> None:
        await responder.respond(500, b"x" * 1000)

    with trio.fail_after(5):
        async with serving(handler) as (_, url), open_pool() as pool:
            async with pool.stream("POST", url, body=b"{}") as response:
                assert (response.status, await response.read(10)) == (500, b"x" * 10)


async def test_connection_close_is_honoured() -> None:
    async def handler(request: HTTPRequest, responder: HTTPResponder) -> None:
        await responder.respond(200, b"bye", [("connection", "close")])

    with trio.fail_after(5):
        async with serving(handler) as (server, url), open_pool() as pool:
            assert await get(pool, url) == (200, b"bye")
            assert await get(pool, url) == (200, b"bye")
    assert server.connections == 2


def numbering(
    eofs: list[int], eof: trio.Event | None = None
) -> Callable[[trio.abc.Stream], Awaitable[None]]:
    """A raw server whose connections answer their number (1, 2...) and record their EOF."""
    count = 0

    async def handle(stream: trio.abc.Stream) -> None:
        nonlocal count
        count += 1
        number, conn = count, h11.Connection(h11.SERVER)
        while await read_request(stream, conn) is not None:
            await answer(stream, conn, b"%d" % number)
        eofs.append(number)
        if eof is not None:
            eof.set()

    return handle


async def test_the_connection_released_last_is_reused_first() -> None:
    with trio.fail_after(5):
        async with open_raw_server(numbering([])) as port, open_pool() as pool:
            url = f"http://127.0.0.1:{port}/"
            async with pool.stream("GET", url) as first, pool.stream("GET", url) as second:
                assert (await first.read(), await second.read()) == (b"1", b"2")
            # second was released first, then first: first is on top.
            assert await get(pool, url) == (200, b"1")
            assert await get(pool, url) == (200, b"1")


async def test_idle_connections_past_the_bound_are_closed() -> None:
    eofs: list[int] = []
    eof = trio.Event()
    with trio.fail_after(5):
        async with open_raw_server(numbering(eofs, eof)) as port, open_pool(max_idle=1) as pool:
            url = f"http://127.0.0.1:{port}/"
            async with pool.stream("GET", url) as first, pool.stream("GET", url) as second:
                await first.read()
                await second.read()
            await eof.wait()
            assert eofs == [1]  # released when one was idle already
            assert await get(pool, url) == (200, b"2")


async def test_a_connection_idle_past_the_keepalive_expiry_is_replaced(
    autojump_clock: trio.testing.MockClock,
) -> None:
    eofs: list[int] = []
    eof = trio.Event()
    async with open_raw_server(numbering(eofs, eof)) as port, open_pool(keepalive_expiry=5) as pool:
        url = f"http://127.0.0.1:{port}/"
        with trio.fail_after(100):
            assert await get(pool, url) == (200, b"1")
            await trio.sleep(4)
            assert await get(pool, url) == (200, b"1")
            await trio.sleep(6)
            assert await get(pool, url) == (200, b"2")
            await eof.wait()
            assert eofs == [1]


# Leaving early closes the connection, so the provider stops generating.


def stalling(first: bytes = b"data: a\n\n") -> Handler:
    async def handler(request: HTTPRequest, responder: HTTPResponder) -> None:
        responder.start(200, [("content-type", "text/event-stream")])
        responder.write(first)
        await responder.flush()
        await trio.sleep_forever()

    return handler


async def test_leaving_the_block_early_closes_the_connection() -> None:
    with trio.fail_after(5):
        async with serving(stalling()) as (server, url), open_pool() as pool:
            async with pool.stream("POST", url, body=b"{}") as response:
                async for chunk in response.iter_bytes():
                    assert chunk == b"data: a\n\n"
                    break
            await server.wait_disconnects(1)


async def test_cancelling_the_caller_mid_body_closes_the_connection() -> None:
    with trio.fail_after(5):
        async with serving(stalling()) as (server, url), open_pool() as pool:
            with trio.CancelScope() as scope:
                async with pool.stream("POST", url, body=b"{}") as response:
                    async for _ in response.iter_bytes():
                        scope.cancel()
            assert scope.cancelled_caught
            await server.wait_disconnects(1)


async def test_cancelling_the_caller_before_the_answer_closes_the_connection() -> None:
    async def silent(request: HTTPRequest, responder: HTTPResponder) -> None:
        await trio.sleep_forever()

    with trio.fail_after(5):
        async with serving(silent) as (server, url), open_pool() as pool:
            async with trio.open_nursery() as nursery:

                async def call() -> None:
                    await get(pool, url)

                nursery.start_soon(call)
                while server.in_flight == 0:
                    await trio.testing.wait_all_tasks_blocked()
                nursery.cancel_scope.cancel()
            await server.wait_disconnects(1)


# Stale idle connections.


async def test_an_idle_connection_the_server_closed_is_replaced() -> None:
    closed = trio.Event()
    connections = 0

    async def handle(stream: trio.abc.Stream) -> None:
        nonlocal connections
        connections += 1
        conn = h11.Connection(h11.SERVER)
        await read_request(stream, conn)
        await answer(stream, conn)
        await stream.aclose()
        closed.set()

    with trio.fail_after(5):
        async with open_raw_server(handle) as port, open_pool() as pool:
            url = f"http://127.0.0.1:{port}/"
            assert await get(pool, url) == (200, b"ok")
            await closed.wait()
            assert await get(pool, url) == (200, b"ok")
    assert connections == 2


async def test_a_request_dropped_on_a_reused_connection_is_sent_once_more() -> None:
    requests = 0
    connections = 0

    async def handle(stream: trio.abc.Stream) -> None:
        nonlocal requests, connections
        connections += 1
        conn = h11.Connection(h11.SERVER)
        while await read_request(stream, conn) is not None:
            requests += 1
            if requests == 2:
                return  # read it, then hang up without a word: as a server timing out idle
            await answer(stream, conn)

    with trio.fail_after(5):
        async with open_raw_server(handle) as port, open_pool() as pool:
            url = f"http://127.0.0.1:{port}/"
            assert await get(pool, url) == (200, b"ok")
            assert await get(pool, url) == (200, b"ok")
    assert (requests, connections) == (3, 2)


async def test_a_new_connection_dropped_before_the_answer_is_not_retried() -> None:
    requests = 0

    async def handle(stream: trio.abc.Stream) -> None:
        nonlocal requests
        await read_request(stream, h11.Connection(h11.SERVER))
        requests += 1

    with trio.fail_after(5):
        async with open_raw_server(handle) as port, open_pool() as pool:
            with pytest.raises(ConnectionDropped):
                await get(pool, f"http://127.0.0.1:{port}/")
    assert requests == 1


async def test_a_reused_connection_is_not_retried_once_the_answer_began() -> None:
    requests = 0

    async def handle(stream: trio.abc.Stream) -> None:
        nonlocal requests
        conn = h11.Connection(h11.SERVER)
        while await read_request(stream, conn) is not None:
            requests += 1
            if requests == 2:
                await stream.send_all(b"HTTP/1.1 200 OK\r\ncontent-")
                return
            await answer(stream, conn)

    with trio.fail_after(5):
        async with open_raw_server(handle) as port, open_pool() as pool:
            url = f"http://127.0.0.1:{port}/"
            await get(pool, url)
            with pytest.raises(ConnectionDropped):
                await get(pool, url)
    assert requests == 2


async def test_a_connection_dropped_mid_body_is_an_error() -> None:
    async def handler(request: HTTPRequest, responder: HTTPResponder) -> None:
        responder.start(200, [("content-length", "100")])
        responder.write(b"partial")
        await responder.abort()

    with trio.fail_after(5):
        async with serving(handler) as (_, url), open_pool() as pool:
            with pytest.raises(ConnectionDropped):
                await get(pool, url)


async def test_bytes_that_are_not_http_are_a_protocol_error() -> None:
    async def handle(stream: trio.abc.Stream) -> None:
        await read_request(stream, h11.Connection(h11.SERVER))
        await stream.send_all(b"SSH-2.0-OpenSSH\r\n\r\n")
        await trio.sleep_forever()

    with trio.fail_after(5):
        async with open_raw_server(handle) as port, open_pool() as pool:
            with pytest.raises(ProtocolBroken):
                await get(pool, f"http://127.0.0.1:{port}/")


# Connecting, timeouts, closing.


async def test_a_refused_connection_is_connect_failed() -> None:
    with trio.socket.socket() as sock:  # bound but not listening: connections are refused
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with trio.fail_after(5), pytest.raises(ConnectFailed, match="could not connect"):
            async with open_pool() as pool:
                await get(pool, f"http://127.0.0.1:{port}/")


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "http:///nohost", "http://h:99999/"])
async def test_a_url_we_cannot_send_to_is_an_invalid_request(url: str) -> None:
    with trio.fail_after(5):
        async with open_pool() as pool:
            with pytest.raises(InvalidRequest):
                await get(pool, url)


async def test_a_silent_server_times_out_per_read(autojump_clock: trio.testing.MockClock) -> None:
    async with serving(stalling()) as (server, url), open_pool() as pool:
        with trio.fail_after(100):  # virtual seconds
            async with pool.stream("POST", url, body=b"{}", timeouts=Timeouts(read=30)) as response:
                chunks = response.iter_bytes()
                assert await chunks.__anext__() == b"data: a\n\n"
                start = trio.current_time()
                with pytest.raises(ReadTimeout):
                    await chunks.__anext__()
                assert trio.current_time() - start == pytest.approx(30)
            await server.wait_disconnects(1)


async def test_a_server_that_never_answers_times_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def silent(request: HTTPRequest, responder: HTTPResponder) -> None:
        await trio.sleep_forever()

    async with serving(silent) as (_, url), open_pool(timeouts=Timeouts(read=30)) as pool:
        with trio.fail_after(100), pytest.raises(ReadTimeout):
            await get(pool, url)


async def test_closing_the_pool_closes_its_idle_connections() -> None:
    eof = trio.Event()

    async def handle(stream: trio.abc.Stream) -> None:
        conn = h11.Connection(h11.SERVER)
        await read_request(stream, conn)
        await answer(stream, conn)
        assert await stream.receive_some() == b""
        eof.set()

    with trio.fail_after(5):
        async with open_raw_server(handle) as port:
            pool = ConnectionPool()
            await get(pool, f"http://127.0.0.1:{port}/")
            await pool.aclose()
            await eof.wait()
            with pytest.raises(RuntimeError, match="closed"):
                await get(pool, f"http://127.0.0.1:{port}/")


async def test_closing_the_pool_cuts_the_calls_in_progress() -> None:
    with trio.fail_after(5):
        async with serving(stalling()) as (server, url):
            pool = ConnectionPool()
            async with pool.stream("POST", url, body=b"{}") as response:
                chunks = response.iter_bytes()
                await chunks.__anext__()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(pool.aclose)
                    with pytest.raises(ConnectionDropped):
                        await chunks.__anext__()
            await server.wait_disconnects(1)


async def test_a_body_cannot_be_read_after_its_block() -> None:
    with trio.fail_after(5):
        async with serving(ok) as (_, url), open_pool() as pool:
            async with pool.stream("POST", url, body=b"{}") as response:
                assert await response.read() == b"{}"
            with pytest.raises(RuntimeError, match="after its `async with` block"):
                await response.read()


def test_response_headers_ignore_case_and_join_repeats() -> None:
    headers = Headers([(b"retry-after", b"3"), (b"vary", b"a"), (b"vary", b"b")])
    assert headers.get("Retry-After") == "3"
    assert headers.get("VARY") == "a, b"
    assert headers.get("missing") is None
    assert headers.get("missing", "x") == "x"


def test_timeouts_follow_an_httpx_timeout() -> None:
    assert Timeouts.from_httpx(httpx.Timeout(5, read=None)) == Timeouts(5, math.inf, 5, 5)
    assert Timeouts() == Timeouts.from_httpx(
        httpx.Timeout(connect=10.0, read=300.0, write=30.0, pool=30.0)
    )


# The pool's bound.


async def test_callers_past_the_bound_wait_their_turn_in_order() -> None:
    gate = trio.Event()

    async def handler(request: HTTPRequest, responder: HTTPResponder) -> None:
        await gate.wait()
        await ok(request, responder)

    done: list[bytes] = []
    gives_up = trio.CancelScope()
    with trio.fail_after(5):
        async with serving(handler) as (server, url), open_pool(max_connections=1) as pool:

            async def call(name: bytes) -> None:
                await get(pool, url, name)
                done.append(name)

            async def give_up() -> None:
                with gives_up:
                    await call(b"gave up")

            async with trio.open_nursery() as nursery:
                for name in (b"a", b"b", None, b"c", b"d"):
                    if name is None:
                        nursery.start_soon(give_up)
                    else:
                        nursery.start_soon(call, name)
                    await trio.testing.wait_all_tasks_blocked()  # queued in this order
                assert server.in_flight == 1  # the others wait in the pool
                gives_up.cancel()  # it leaves the queue
                await trio.testing.wait_all_tasks_blocked()
                gate.set()
    assert done == [b"a", b"b", b"c", b"d"]
    assert server.connections == 1


async def test_a_caller_that_waits_past_the_pool_timeout_fails(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        serving(stalling()) as (_, url),
        open_pool(max_connections=1, timeouts=Timeouts(pool=5)) as pool,
    ):
        with trio.fail_after(100):
            async with pool.stream("POST", url, body=b"{}"):
                start = trio.current_time()
                with pytest.raises(PoolTimeout):
                    await get(pool, url)
                assert trio.current_time() - start == pytest.approx(5)


# TLS.


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def tls_server_handle(stream: trio.abc.Stream) -> None:
    conn = h11.Connection(h11.SERVER)
    while await read_request(stream, conn) is not None:
        await answer(stream, conn, b"secret")


async def test_https_goes_over_tls_with_the_trust_given(ca: trustme.CA) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    with trio.fail_after(5):
        async with (
            open_raw_server(tls_server_handle, server_context) as port,
            open_pool(ssl_context=client_context) as pool,
        ):
            url = f"https://127.0.0.1:{port}/v1"
            assert await get(pool, url) == (200, b"secret")
            assert await get(pool, url) == (200, b"secret")


async def test_a_certificate_nobody_trusts_fails_to_connect(ca: trustme.CA) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    with trio.fail_after(5):
        async with open_raw_server(tls_server_handle, server_context) as port, open_pool() as pool:
            with pytest.raises(ConnectFailed, match="TLS"):
                await get(pool, f"https://127.0.0.1:{port}/v1")


# Proxies.

PROXY_VARIABLES = ["http_proxy", "https_proxy", "all_proxy", "no_proxy"]


@pytest.mark.parametrize(
    ("env", "url", "expected"),
    [
        ({}, "https://api.openai.com/v1", False),
        ({"HTTPS_PROXY": "http://proxy:3128"}, "https://api.openai.com/v1", True),
        ({"HTTPS_PROXY": "http://proxy:3128"}, "http://localhost:11434/v1", False),
        ({"http_proxy": "http://proxy:3128"}, "http://localhost:11434/v1", True),
        ({"ALL_PROXY": "socks5://proxy:1080"}, "https://api.anthropic.com", True),
        (
            {"https_proxy": "http://proxy:3128", "NO_PROXY": "localhost,openai.com"},
            "https://api.openai.com/v1",
            False,
        ),
        (
            {"https_proxy": "http://proxy:3128", "no_proxy": "openai.com"},
            "https://api.anthropic.com",
            True,
        ),
        ({"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "*"}, "https://x.example/v1", False),
    ],
    ids=[
        "none",
        "https",
        "https-proxy-not-for-http",
        "lowercase-http",
        "all",
        "no-proxy-suffix",
        "no-proxy-other-host",
        "no-proxy-star",
    ],
)
def test_proxied_reads_the_proxy_environment(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], url: str, expected: bool
) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert proxied(url) is expected
