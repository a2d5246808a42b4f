"""CPU per model call: httpx (as ``models/_transport.py`` called it) against the h11 client.

    python -m benchmarks.http11_client [--events 50] [--delay 0.001] [--requests 50]
                                       [--rounds 5]

An upstream in a child process (trio and h11: ``trioagent.testing``'s HTTP server)
streams SSE events, ``--delay`` seconds apart, so that each event is a network read of
its own, as a model writes them. This process makes the same sequential streamed POSTs
with each client and feeds every chunk to the SSE decoder, as ``stream_call`` does, and
reads its own CPU time (``time.process_time``): the upstream's CPU is not counted.

A third row, the floor, sends the same request bytes on one trio socket and decodes
the answer with no HTTP parsing: what a call costs with no client at all.

Each round runs every client on calls of 1 event and of ``--events`` events. The cost
per call is the 1-event cost; the cost per event is the slope between the two. The table
gives the median over the rounds, in microseconds of CPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from typing import TYPE_CHECKING, cast

import httpx
import trio

from trioagent.models._http11_pool import ConnectionPool
from trioagent.models._sse import SSEDecoder
from trioagent.testing._http import open_http_server

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from trioagent.testing._http import HTTPRequest, HTTPResponder

EVENT = b'data: {"choices":[{"index":0,"delta":{"content":"word "}}]}\n\n'
HEADERS = {"content-type": "application/json", "accept": "text/event-stream"}


# The upstream (the child process).


async def stream_events(request: HTTPRequest, responder: HTTPResponder) -> None:
    """Answer ``{"events": n, "delay": s}`` with n SSE events, s seconds apart."""
    events, delay = request.json["events"], request.json["delay"]
    responder.start(200, [("content-type", "text/event-stream")])
    for number in range(events):
        if number and delay:
            await trio.sleep(delay)
        responder.write(EVENT)
        await responder.flush()
    responder.write(b"data: [DONE]\n\n")
    await responder.end()


async def serve() -> None:
    async with open_http_server(stream_events) as server:
        print(server.port, flush=True)
        await trio.sleep_forever()


# The clients.

Call = Callable[[bytes], Awaitable[int]]
"""Makes one call with this JSON body; returns the events it decoded."""


def open_httpx() -> httpx.AsyncClient:
    """An httpx client made as ``HTTPShards`` (models/_transport.py) made them."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(connect=10.0, read=300.0, write=30.0, pool=30.0),
        limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
        follow_redirects=False,
        verify=httpx.create_ssl_context(),
    )


def httpx_call(http: httpx.AsyncClient, url: str) -> Call:
    """One call as ``stream_call`` made it on httpx: a built request, a streamed send."""

    async def call(body: bytes) -> int:
        events = 0
        decoder = SSEDecoder()
        request = http.build_request("POST", url, content=body, headers=HEADERS)
        response = await http.send(request, stream=True)
        try:
            chunks = cast("AsyncGenerator[bytes, None]", response.aiter_bytes())
            async with aclosing(chunks):
                async for chunk in chunks:
                    events += len(decoder.feed(chunk))
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                await response.aclose()
        return events

    return call


def h11_call(pool: ConnectionPool, url: str) -> Call:
    """The same call on the h11 client."""

    async def call(body: bytes) -> int:
        events = 0
        decoder = SSEDecoder()
        async with pool.stream("POST", url, headers=HEADERS, body=body) as response:
            async for chunk in response.iter_bytes():
                events += len(decoder.feed(chunk))
        return events

    return call


def socket_call(port: int) -> Call:
    """The floor: the same bytes on one trio socket, with no HTTP parsing at all."""
    stream: trio.SocketStream | None = None

    async def call(body: bytes) -> int:
        nonlocal stream
        if stream is None:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
        head = b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: %d\r\n"
        await stream.send_all(head % len(body) + b"\r\n" + body)
        events = 0
        decoder = SSEDecoder()
        while True:
            chunk = await stream.receive_some(65536)
            events += len(decoder.feed(chunk))  # the chunk sizes are lines it ignores
            if chunk.endswith(b"\r\n0\r\n\r\n"):
                return events

    return call


async def cpu_per_call(call: Call, events: int, delay: float, requests: int) -> float:
    """Microseconds of this process's CPU per call."""
    body = json.dumps({"events": events, "delay": delay}).encode()
    start = time.process_time()
    for _ in range(requests):
        received = await call(body)
        assert received == events + 1, received  # the events and [DONE]
    return (time.process_time() - start) / requests * 1e6


async def measure(port: int, args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    http = open_httpx()
    pool = ConnectionPool()
    clients = {
        "httpx": httpx_call(http, url),
        "h11 client": h11_call(pool, url),
        "trio socket (floor)": socket_call(port),
    }
    samples: dict[str, dict[str, list[float]]] = {
        name: {"call": [], "event": []} for name in clients
    }
    try:
        for call in clients.values():  # warm up: connections, imports, caches
            await cpu_per_call(call, 1, 0, 20)
        for _ in range(args.rounds):
            for name, call in clients.items():
                one = await cpu_per_call(call, 1, args.delay, args.requests)
                many = await cpu_per_call(call, args.events, args.delay, args.requests)
                samples[name]["call"].append(one)
                samples[name]["event"].append((many - one) / (args.events - 1))
    finally:
        await http.aclose()
        await pool.aclose()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50, help="events of a long call")
    parser.add_argument("--delay", type=float, default=0.001, help="seconds between events")
    parser.add_argument("--requests", type=int, default=50, help="calls per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="measurements per client")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        trio.run(serve)
        return
    upstream = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.http11_client", "--serve"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert upstream.stdout is not None
        port = int(upstream.stdout.readline())
        samples = trio.run(measure, port, args)
    finally:
        upstream.terminate()
        upstream.wait()
    print(
        f"{args.rounds} rounds of {args.requests} sequential calls, events "
        f"{args.delay * 1000:g} ms apart; median CPU of this process, httpx {httpx.__version__}"
    )
    print("| client | µs per call (1 event) | µs per extra event |")
    print("|---|---:|---:|")
    for name, by_kind in samples.items():
        call, event = statistics.median(by_kind["call"]), statistics.median(by_kind["event"])
        print(f"| {name} | {call:.0f} | {event:.1f} |")


if __name__ == "__main__":
    main()
