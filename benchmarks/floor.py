"""The stack floor: the least an OpenAI-compatible server on trioagent's stack can do.

    python -m benchmarks.floor --upstream http://127.0.0.1:PORT/v1 [--listen 127.0.0.1:0]
                               [--workers 1] [--client httpx|h11]

A QuartTrio app served by hypercorn's trio worker, with long-lived httpx clients to the
upstream, and nothing else: no agents, no configuration, no auth, no validation beyond
parsing the JSON. ``POST /v1/chat/completions`` sends the request on with
``"model": "m"`` and ``"stream": true`` (trioagent always streams from its upstream),
then relays the SSE bytes unchanged, or for a JSON request collects the text and answers
one ``chat.completion``. ``GET /v1/models`` lists one model, ``root``.

It exists so that ``python -m benchmarks.run`` can separate what trioagent adds from what
the stack costs: the same upstream called through this server is the latency of
Quart-trio, hypercorn and httpx with no agent work, measured in the same run. A served
row minus the floor row is trioagent's own share.

``--client h11`` calls the upstream with trioagent's own HTTP/1.1 client
(``trioagent.models._http11_pool``, what trioagent's model calls use) instead of httpx:
the floor of the stack as trioagent runs it now.

Once listening, it tunes the garbage collector as ``trioagent serve`` does
(`trioagent.server.serve.settle_heap`), so that the difference stays trioagent's own
work and not a runtime setting one of them lacks.

It prints ``floor: listening on http://HOST:PORT/v1`` on stderr and serves until killed.
With ``--workers N``, N processes share one listening socket, as ``trioagent serve
--workers N`` does.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

import attrs
import httpx
import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart import request
from quart_trio import QuartTrio

from trioagent.models._http11_pool import ConnectionPool
from trioagent.server.serve import settle_heap

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

MODELS = {
    "object": "list",
    "data": [{"id": "root", "object": "model", "created": 0, "owned_by": "floor"}],
}
POOL = 16
"""Connections per httpx client (trioagent's ``SHARD_CONNECTIONS``)."""
TIMEOUT = httpx.Timeout(connect=10.0, read=300.0, write=30.0, pool=30.0)
"""trioagent's own upstream timeouts (``trioagent.models._transport``)."""


@attrs.define
class Upstream:
    """Keep-alive httpx clients of `POOL` connections each, opened as the load grows.

    Not one client of 100 connections: httpcore's pool scans all its connections for each
    request it adds or removes, so its cost grows with the square of the connections open.
    trioagent shards its own pools for that reason (``HTTPShards``), and a floor with one
    big pool would charge the stack for a cost that trioagent does not pay.
    """

    url: str
    """``.../chat/completions`` of the upstream."""
    client: str = "httpx"
    """``httpx``, or ``h11``: trioagent's own client."""
    clients: list[httpx.AsyncClient] = attrs.Factory(list)
    busy: list[int] = attrs.Factory(list)
    pool: ConnectionPool = attrs.Factory(lambda: ConnectionPool(headers={}))

    @asynccontextmanager
    async def stream(self, body: dict[str, Any]) -> AsyncIterator[AsyncIterator[bytes]]:
        """POST ``body``; the answer's bytes, per network read."""
        if self.client == "h11":
            data = json.dumps(body).encode()
            headers = {"content-type": "application/json"}
            async with self.pool.stream("POST", self.url, headers=headers, body=data) as answer:
                if answer.status >= 400:  # a failed upstream must not pass for an answer
                    raise RuntimeError(f"the upstream answered {answer.status}")
                yield answer.iter_bytes()
            return
        index = next((i for i, busy in enumerate(self.busy) if busy < POOL), None)
        if index is None:
            limits = httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL)
            self.clients.append(httpx.AsyncClient(limits=limits, timeout=TIMEOUT))
            self.busy.append(0)
            index = len(self.clients) - 1
        self.busy[index] += 1
        try:
            async with self.clients[index].stream("POST", self.url, json=body) as response:
                response.raise_for_status()  # a failed upstream must not pass for an answer
                yield response.aiter_bytes()
        finally:
            self.busy[index] -= 1

    async def aclose(self) -> None:
        await self.pool.aclose()
        for client in self.clients:
            await client.aclose()


def upstream_body(document: dict[str, Any]) -> dict[str, Any]:
    """The request as trioagent sends it on: streamed, with usage, to model ``m``."""
    return {**document, "model": "m", "stream": True, "stream_options": {"include_usage": True}}


def create_app(upstream: Upstream) -> QuartTrio:
    """The floor's two routes."""
    app = QuartTrio(__name__)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return MODELS

    @app.post("/v1/chat/completions")
    async def chat_completions() -> Any:
        document = json.loads(await request.get_data())
        body = upstream_body(document)
        if document.get("stream"):
            return app.response_class(relay(body), content_type="text/event-stream")
        content, usage = await collect(body)
        answer: dict[str, Any] = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "root",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": content},
                }
            ],
        }
        if usage is not None:
            answer["usage"] = usage
        return answer

    async def relay(body: dict[str, Any]) -> AsyncIterator[bytes]:
        # Quart closes this generator (aclose) when the response ends or is cancelled.
        async with upstream.stream(body) as chunks:
            async for data in chunks:
                yield data

    async def collect(body: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        pieces: list[str] = []
        usage = None
        buffer = b""
        async with upstream.stream(body) as chunks:
            async for data in chunks:
                *events, buffer = (buffer + data).split(b"\n\n")
                for line in (line for event in events for line in event.splitlines()):
                    if not line.startswith(b"data: ") or line == b"data: [DONE]":
                        continue
                    chunk = json.loads(line[6:])
                    usage = chunk.get("usage") or usage
                    if chunk.get("choices"):
                        pieces.append(chunk["choices"][0]["delta"].get("content") or "")
        return "".join(pieces), usage

    return app


async def serve_floor(
    upstream: str,
    bind: str,
    *,
    client: str = "httpx",
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the floor on ``bind`` (``HOST:PORT`` or ``fd://N``); ``started`` gets its base
    URL (``http://HOST:PORT/v1``)."""
    config = Config()
    config.bind = [bind]
    config.accesslog = None
    config.loglevel = "WARNING"  # errors only: our own line says where we listen
    clients = Upstream(f"{upstream.rstrip('/')}/chat/completions", client)
    try:
        async with trio.open_nursery() as nursery:
            binds: list[str] = await nursery.start(
                partial(serve, create_app(clients), config, mode="asgi")
            )
            task_status.started(f"{binds[0]}/v1")
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(2):
            await clients.aclose()


async def _serve_worker(upstream: str, fd: int, client: str) -> None:
    """One of ``--workers``: say ``ready`` on stdout, stop when the parent goes (our
    stdin closes), so that no worker outlives a killed parent."""
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(serve_floor, upstream, f"fd://{fd}", client=client))
        settle_heap()
        print("ready", flush=True)
        stdin = trio.lowlevel.FdStream(os.dup(0))
        while await stdin.receive_some():
            pass
        nursery.cancel_scope.cancel()


async def _serve_one(upstream: str, bind: str, client: str) -> None:
    async with trio.open_nursery() as nursery:
        url = await nursery.start(partial(serve_floor, upstream, bind, client=client))
        settle_heap()
        print(f"floor: listening on {url}", file=sys.stderr, flush=True)


def run_workers(upstream: str, host: str, port: int, count: int, client: str) -> int:
    """Bind one socket, run ``count`` workers on it until they exit or we are killed."""
    with socket.create_server((host, port), backlog=1024) as sock:
        fd = sock.fileno()
        command = [
            sys.executable,
            "-m",
            "benchmarks.floor",
            "--upstream",
            upstream,
            "--worker-fd",
            str(fd),
            "--client",
            client,
        ]
        workers = [
            subprocess.Popen(command, pass_fds=[fd], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            for _ in range(count)
        ]
        try:
            if not all(worker.stdout and worker.stdout.readline() for worker in workers):
                print("floor: a worker did not start", file=sys.stderr)
                return 1
            port = sock.getsockname()[1]
            print(
                f"floor: listening on http://{host}:{port}/v1 ({count} workers)",
                file=sys.stderr,
                flush=True,
            )
            return max(worker.wait() for worker in workers)
        finally:
            for worker in workers:
                worker.kill()
                worker.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.floor", description=__doc__.split("\n")[0] if __doc__ else None
    )
    parser.add_argument(
        "--upstream", required=True, help="the upstream's base URL, http://HOST:PORT/v1"
    )
    parser.add_argument(
        "--listen",
        default="127.0.0.1:0",
        help="HOST:PORT to listen on (default 127.0.0.1:0, a free port)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="processes sharing the listening socket (default 1)"
    )
    parser.add_argument(
        "--client",
        choices=("httpx", "h11"),
        default="httpx",
        help="the upstream client: httpx, or trioagent's own h11 client (default httpx)",
    )
    parser.add_argument("--worker-fd", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    try:
        if args.worker_fd is not None:
            trio.run(_serve_worker, args.upstream, args.worker_fd, args.client)
        elif args.workers > 1:
            return run_workers(args.upstream, host, int(port), args.workers, args.client)
        else:
            trio.run(_serve_one, args.upstream, args.listen, args.client)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
