"""Run an app on hypercorn's trio worker."""

from __future__ import annotations

import gc
import logging
from functools import partial
from random import randint
from typing import TYPE_CHECKING

import trio
from hypercorn.config import Config
from hypercorn.events import Event, Updated
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.statsd import StatsdLogger
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState
from hypercorn.utils import ShutdownError, raise_shutdown, repr_socket_addr, wrap_app

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from hypercorn.typing import (
        ASGIReceiveCallable,
        ASGISendCallable,
        ASGISendEvent,
        Framework,
        LifespanState,
        Scope,
    )
    from quart_trio import QuartTrio

    from .options import ServeOptions

logger = logging.getLogger(__name__)


class _TCPServer(TCPServer):
    """Hypercorn's trio connection, released as soon as the client has gone.

    Hypercorn's own stops reading when the client closes, then waits for its keep-alive
    timer before it closes the socket; nothing stops that timer, and a response that ends
    after the client left even starts it again. So every connection a client closed (after
    any kept-alive response: each SSE stream) kept its socket in CLOSE_WAIT and two tasks
    for ``keep_alive_timeout``: clients that open a connection per request could run the
    server out of file descriptors.

    Only the servers `serve_app` starts use it (hypercorn's worker has no parameter for
    its connection class, hence `_worker_serve`); the report for hypercorn is
    docs/hypercorn-close-wait.md.
    """

    _reading = True

    async def protocol_send(self, event: Event) -> None:
        if isinstance(event, Updated) and event.idle and not self._reading:
            return  # the client is gone: no keep-alive to wait for
        await super().protocol_send(event)

    async def _read_data(self) -> None:
        await super()._read_data()
        self._reading = False
        await self.idle_task.stop()


async def _worker_serve(
    asgi_app: Framework,
    config: Config,
    *,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """``hypercorn.trio.serve`` (hypercorn 0.18.0, pinned) with `_TCPServer`.

    The same steps in the same order: lifespan startup, listen on ``config``'s sockets,
    serve until ``shutdown_trigger`` returns, give running connections
    ``config.graceful_timeout``, lifespan shutdown. trioagent sets no certificate and no
    QUIC bind and passes no pre-made sockets, so the TLS, QUIC and ``sockets`` branches are
    left out.
    """
    app = wrap_app(asgi_app, config.wsgi_max_body_size, "asgi")
    config.set_statsd_logger_class(StatsdLogger)
    lifespan_state: LifespanState = {}
    lifespan = Lifespan(app, config, lifespan_state)
    max_requests = None
    if config.max_requests is not None:
        max_requests = config.max_requests + randint(0, config.max_requests_jitter)
    context = WorkerContext(max_requests)

    async with trio.open_nursery() as lifespan_nursery:
        await lifespan_nursery.start(lifespan.handle_lifespan)
        await lifespan.wait_for_startup()

        async with trio.open_nursery() as server_nursery:
            sockets = config.create_sockets()
            listeners = []
            binds = []
            for sock in sockets.insecure_sockets:
                sock.listen(config.backlog)
                listeners.append(trio.SocketListener(trio.socket.from_stdlib_socket(sock)))
                bind = f"http://{repr_socket_addr(sock.family, sock.getsockname())}"
                binds.append(bind)
                await config.log.info(f"Running on {bind} (CTRL + C to quit)")

            task_status.started(binds)
            try:
                async with trio.open_nursery(strict_exception_groups=True) as nursery:
                    if shutdown_trigger is not None:
                        nursery.start_soon(raise_shutdown, shutdown_trigger)
                    nursery.start_soon(raise_shutdown, context.terminate.wait)
                    nursery.start_soon(
                        partial(
                            trio.serve_listeners,
                            partial(
                                _TCPServer,
                                app,
                                config,
                                context,
                                ConnectionState(lifespan_state.copy()),
                            ),
                            listeners,
                            handler_nursery=server_nursery,
                        )
                    )
                    await trio.sleep_forever()
            except BaseExceptionGroup as error:
                _, other_errors = error.split((ShutdownError, KeyboardInterrupt))
                if other_errors is not None:
                    raise other_errors from None  # the rest of `error` is the shutdown
            finally:
                await context.terminated.set()
                server_nursery.cancel_scope.deadline = trio.current_time() + config.graceful_timeout

        await lifespan.wait_for_shutdown()
        lifespan_nursery.cancel_scope.cancel()


YOUNG_GC_THRESHOLD = 5000
"""Net container allocations between two young collections in a serving process (Python's
default is 700). Each young collection walks every object of the requests in flight, so
at 700 a loaded server walked them every few requests: about 4% of its CPU at 32
concurrent requests, against under 1% at 5000 (docs/benchmarks.md, "Garbage collection")."""


def settle_heap() -> int:
    """Ready a process that now serves for a long life; returns the objects set aside.

    What start-up allocated (modules, agents, the app) lives as long as the process:
    collected once, it is frozen out of the collector's sight (`gc.freeze`), so a full
    collection walks only what serving allocated since (here, without it, 90k objects and
    about 100 ms every few thousand requests). Young collections run every
    `YOUNG_GC_THRESHOLD` allocations. Only a process that serves calls this (``trioagent
    serve``, the benchmark floor): never a library user's process, nor the tests'.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GC_THRESHOLD, *gc.get_threshold()[1:])
    return gc.get_freeze_count()


LISTEN_BACKLOG = 1024
"""Connections the kernel queues for accept (capped by net.core.somaxconn)."""


def hypercorn_config(options: ServeOptions) -> Config:
    """Hypercorn settings derived from ``options``."""
    config = Config()
    host = f"[{options.host}]" if ":" in options.host else options.host
    config.bind = [f"{host}:{options.port}"]
    if options.listen_fd is not None:
        config.bind = [f"fd://{options.listen_fd}"]
    config.graceful_timeout = options.shutdown_grace
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.keep_alive_timeout = 75
    # Hypercorn's 100 overflows when hundreds of clients connect at once: the kernel drops
    # their handshakes, and they wait seconds for a retry or fail (1000 streams did).
    config.backlog = LISTEN_BACKLOG
    config.h11_max_incomplete_size = 64 * 1024
    # Frames up to the request size get an error frame from the app; far bigger ones are
    # refused by hypercorn itself (close code 1009) before they are buffered.
    config.websocket_max_message_size = 4 * options.max_request_size
    return config


def _shield_last_body(
    app: QuartTrio,
) -> Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]:
    """``app`` with the last body message of each HTTP response sent under a shield.

    Hypercorn handles that send in the app's task, all the way to readying the connection
    for the next request: it restarts the connection's idle timer there. quart-trio cancels
    the app's task as soon as hypercorn reports the response complete, in the middle of that
    send, so the timer never restarted: idle keep-alive connections (every pooled client:
    the openai SDK, LangChain) were never closed, neither after ``keep_alive_timeout`` nor on
    shutdown, which then waited the whole ``shutdown_grace``. The shielded part does no
    waiting of its own (hypercorn already shields the socket write).
    """

    async def shielded_app(
        scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        async def send_last_shielded(message: ASGISendEvent) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body"):
                with trio.CancelScope(shield=True):
                    await send(message)
            else:
                await send(message)

        await app(scope, receive, send_last_shielded if scope["type"] == "http" else send)

    return shielded_app


async def serve_app(
    app: QuartTrio,
    options: ServeOptions,
    *,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` until ``shutdown_trigger`` returns (or forever).

    On shutdown the listener closes at once; running requests get ``options.shutdown_grace``
    seconds to finish, then they are cancelled (their turns commit nothing).
    ``task_status.started`` receives the real base URL (useful with port 0).
    """

    async def started(task_status: trio.TaskStatus[list[str]]) -> None:
        await _worker_serve(
            _shield_last_body(app),
            hypercorn_config(options),
            shutdown_trigger=shutdown_trigger,
            task_status=task_status,
        )

    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(started)
        task_status.started(binds[0])
