"""``--workers N``: several server processes sharing one listening socket.

The parent binds the socket, starts N copies of the same command with that socket
inherited (``--worker-fd``), waits until each says it is ready, then only supervises:
the first SIGINT/SIGTERM is passed on as SIGTERM (each worker finishes its running turns,
then stops), a second one kills them. Workers live in their own session, so a terminal's
Ctrl-C reaches the parent only; a worker whose parent is gone (its stdin closes) stops at
once, cancelling its turns, so no worker outlives a killed parent.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
from typing import TYPE_CHECKING

import trio

from ..errors import TrioagentError
from ..logs import announce as announce_line
from .serve import LISTEN_BACKLOG

if TYPE_CHECKING:
    from collections.abc import Sequence

logger = logging.getLogger(__name__)

READY = b"ready\n"
"""What a worker writes on its stdout once it is listening."""
START_TIMEOUT = 120.0


def default_workers(shared_store: bool) -> int:
    """The number of cores when every worker sees the same conversations, else 1."""
    return (os.cpu_count() or 1) if shared_store else 1


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket the workers will inherit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=LISTEN_BACKLOG)
    sock.set_inheritable(True)
    return sock


async def serve_workers(
    command: Sequence[str], sock: socket.socket, count: int, *, announce: str
) -> int:
    """Run ``count`` workers of ``command`` on ``sock`` until a signal; return the status:
    0 when every worker stopped cleanly, 1 when one did not (its turns were lost), 130
    after a second signal.

    ``announce`` is written on stderr once every worker is listening.

    Raises:
        TrioagentError: a worker failed to start, or exited on its own.
    """
    fd = sock.fileno()
    argv = [sys.executable, "-m", "trioagent", *command, "--workers", "1", "--worker-fd", str(fd)]
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            workers = []
            try:
                for _ in range(count):
                    workers.append(
                        await trio.lowlevel.open_process(
                            argv,
                            stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE,
                            pass_fds=(fd,),
                            start_new_session=True,
                        )
                    )
                with trio.fail_after(START_TIMEOUT):
                    for worker in workers:
                        await _wait_ready(worker)
                sock.close()  # the workers hold it now
                announce_line(announce)
                stopped = trio.Event()
                for worker in workers:
                    nursery.start_soon(_watch, worker, stopped)
                async for signum in signals:
                    if stopped.is_set():  # a second signal: no more waiting
                        for worker in workers:
                            _send(worker, signal.SIGKILL)
                        return 130
                    logger.info(
                        "%s received: stopping %d workers", signal.Signals(signum).name, count
                    )
                    stopped.set()
                    for worker in workers:
                        _send(worker, signal.SIGTERM)
                    nursery.start_soon(_wait_all, workers, nursery.cancel_scope)
            finally:
                with trio.CancelScope(shield=True):
                    for worker in workers:
                        if worker.returncode is None:
                            _send(worker, signal.SIGKILL)
                        await worker.wait()
    # A worker that did not stop cleanly (killed during the grace...) lost its turns.
    failed = [worker for worker in workers if worker.returncode != 0]
    for worker in failed:
        logger.warning(
            "worker %d ended with status %s while stopping", worker.pid, worker.returncode
        )
    return 1 if failed else 0


async def _wait_ready(worker: trio.Process) -> None:
    assert worker.stdout is not None
    data = b""
    while not data.endswith(READY):
        chunk = await worker.stdout.receive_some(64)
        if not chunk:
            raise TrioagentError(
                f"a worker exited while starting (status {await worker.wait()}); its error is above"
            )
        data += chunk


async def _watch(worker: trio.Process, stopped: trio.Event) -> None:
    status = await worker.wait()
    if not stopped.is_set():
        raise TrioagentError(f"worker {worker.pid} exited on its own (status {status})")


async def _wait_all(workers: Sequence[trio.Process], scope: trio.CancelScope) -> None:
    for worker in workers:
        await worker.wait()
    scope.cancel()


def _send(worker: trio.Process, signum: signal.Signals) -> None:
    if worker.returncode is None:
        worker.send_signal(signum)


async def watch_parent() -> None:
    """Return when the parent is gone: a worker's stdin closes with it."""
    stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    async with stdin:
        while await stdin.receive_some(64):
            pass


def tell_parent_ready() -> None:
    """Tell the parent this worker is listening."""
    os.write(sys.stdout.fileno(), READY)
