"""A real ``redis-server`` on loopback, for tests and benchmarks of the Redis store."""

from __future__ import annotations

import shutil
import socket
import subprocess
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import attrs
import trio

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

REDIS_SERVER = "redis-server"


def redis_available() -> bool:
    """Whether ``redis-server`` (Debian's package ``redis-server``) is installed."""
    return shutil.which(REDIS_SERVER) is not None


@attrs.define
class RedisServer:
    """A ``redis-server`` process that keeps its data in ``directory`` (append-only file);
    `stop` and `start` it again to play an outage."""

    directory: Path
    port: int
    process: trio.Process | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        """Start the server on its port and wait until it accepts connections.

        Raises:
            RuntimeError: it exited, or did not listen within 10 s.
        """
        self.process = await trio.lowlevel.open_process(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                # Every write is on disk before Redis answers: a kill loses nothing.
                "--dir",
                str(self.directory),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--protected-mode",
                "yes",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with trio.move_on_after(10):
            while self.process.poll() is None:
                try:
                    stream = await trio.open_tcp_stream("127.0.0.1", self.port)
                except OSError:
                    await trio.sleep(0.02)
                    continue
                async with stream:
                    await stream.send_all(b"PING\r\n")
                    if (await stream.receive_some(64)).startswith(b"+PONG"):
                        return
                await trio.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    async def stop(self) -> None:
        """Kill the server (no save), as a crash would."""
        if self.process is not None:
            self.process.kill()
            with trio.CancelScope(shield=True):
                await self.process.wait()
            self.process = None


@asynccontextmanager
async def open_redis_server(directory: Path) -> AsyncIterator[RedisServer]:
    """Run ``redis-server`` on a free loopback port with its files in ``directory``."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = RedisServer(directory, port)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
