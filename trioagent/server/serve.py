"""Run an app on hypercorn's trio worker."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from quart_trio import QuartTrio

    from .options import ServeOptions

logger = logging.getLogger(__name__)


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
    config.h11_max_incomplete_size = 64 * 1024
    # Frames up to the request size get an error frame from the app; far bigger ones are
    # refused by hypercorn itself (close code 1009) before they are buffered.
    config.websocket_max_message_size = 4 * options.max_request_size
    return config


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
            app, hypercorn_config(options), shutdown_trigger=shutdown_trigger,
            task_status=task_status, mode="asgi",
        )

    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(started)
        task_status.started(binds[0])
