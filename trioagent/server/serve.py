"""Run an app on hypercorn's trio worker."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import hypercorn.trio.run
import trio
from hypercorn.config import Config
from hypercorn.events import Event, Updated
from hypercorn.trio import serve as hypercorn_serve
from hypercorn.trio.tcp_server import TCPServer

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, ASGISendEvent, Scope
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


setattr(hypercorn.trio.run, "TCPServer", _TCPServer)  # noqa: B010 (what hypercorn's worker builds)


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


def _shield_last_body(app: QuartTrio) -> Callable[
    [Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]
]:
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
        await hypercorn_serve(
            _shield_last_body(app), hypercorn_config(options), shutdown_trigger=shutdown_trigger,
            task_status=task_status, mode="asgi",
        )

    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(started)
        task_status.started(binds[0])
