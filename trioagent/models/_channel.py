"""A model call's events as a channel that costs little per event.

`trio.as_safe_channel` hands over one item per round trip of the scheduler (the
receiver asks, the generator makes one, the receiver takes it). A model call makes an
event per token, so that round trip was most of the server's time per event.
`buffered_channel` runs the generator ahead into a bounded buffer instead, without a
scheduler trip while there is room, and `receive_batch` takes everything that is waiting
at once: events that arrived together cost one trip together.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from functools import wraps
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import trio

from ..errors import sole_exception

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Callable
    from contextlib import AbstractAsyncContextManager

P = ParamSpec("P")
T = TypeVar("T")

BUFFER = 64
"""Events a generator may run ahead of its reader (its backpressure bound)."""


def buffered_channel(
    fn: Callable[P, AsyncGenerator[T, None]],
) -> Callable[P, AbstractAsyncContextManager[trio.MemoryReceiveChannel[T]]]:
    """Like `trio.as_safe_channel`, but the generator runs up to `BUFFER` items ahead.

    The generator runs in a task of the context manager's nursery and is closed when the
    block exits. When it fails, the reader still gets every item it made before (they
    happened: a model's text before the connection dropped), then the end of the channel;
    the generator's exception is raised out of the ``async with`` (unwrapped, when it is
    the only one).
    """

    @asynccontextmanager
    @wraps(fn)
    async def context_manager(
        *args: P.args, **kwargs: P.kwargs
    ) -> AsyncIterator[trio.MemoryReceiveChannel[T]]:
        send, receive = trio.open_memory_channel[T](BUFFER)
        failed: list[Exception] = []
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_pump, fn(*args, **kwargs), send, failed)
                with receive:
                    yield receive
                nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            if (sole := sole_exception(group)) is not None:
                raise sole from None
            raise
        if failed:
            raise failed[0]

    return context_manager


async def _pump(
    agen: AsyncGenerator[T, None], send: trio.MemorySendChannel[T], failed: list[Exception]
) -> None:
    """Move ``agen``'s items into ``send``; keep its failure in ``failed`` and end the
    channel, so that the reader takes what is buffered first."""
    with send:
        try:
            async for item in agen:
                try:
                    send.send_nowait(item)
                except trio.WouldBlock:
                    await send.send(item)
        except trio.BrokenResourceError:
            pass  # the reader is gone
        except Exception as exc:
            failed.append(exc)
        finally:
            await agen.aclose()


async def receive_batch(channel: trio.MemoryReceiveChannel[T]) -> list[T]:
    """Wait for the next item, and take every item already waiting after it.

    Returns:
        The items in order; an empty list once the channel is closed and drained.
    """
    try:
        batch = [await channel.receive()]
    except trio.EndOfChannel:
        return []
    while True:
        try:
            batch.append(channel.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            return batch
