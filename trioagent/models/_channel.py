"""A model call's events as a `ModelStream` that costs little per event.

Two ways to run the generator that makes them:

- `batch_stream` runs it in the reader's own task: each `receive_batch` resumes it for
  one batch (what one network read brought). No task, no channel, no scheduler trip:
  the cheapest, for a generator that holds no cancel scope or nursery open across a
  ``yield`` (trio forbids that in the reader's task).
- `buffered_channel` runs it in a task of its own, ahead of the reader into a bounded
  buffer, for a generator that does hold one open (the embedded model's worker thread).
  `trio.as_safe_channel` would hand over one item per scheduler round trip; here
  `receive_batch` takes everything that is waiting at once.
"""

from __future__ import annotations

from collections import deque
from contextlib import aclosing, asynccontextmanager
from functools import wraps
from typing import TYPE_CHECKING, Generic, ParamSpec, TypeVar

import trio

from ..errors import sole_exception

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Callable
    from contextlib import AbstractAsyncContextManager

P = ParamSpec("P")
T = TypeVar("T")

BUFFER = 64
"""Events a `buffered_channel` generator may run ahead of its reader (its backpressure
bound)."""


class BatchStream(Generic[T]):
    """Items read in batches from a generator of batches, in the reader's task."""

    def __init__(self, batches: AsyncGenerator[list[T], None]) -> None:
        self._batches = batches
        self._held: deque[T] = deque()  # what `__anext__` has not handed out yet

    async def receive_batch(self) -> list[T]:
        """The next batch (never empty); an empty list once the generator ended."""
        if self._held:
            batch = list(self._held)
            self._held.clear()
            return batch
        async for batch in self._batches:  # leaving early does not close the generator
            if batch:
                return batch
        return []

    def __aiter__(self) -> AsyncIterator[T]:
        return self

    async def __anext__(self) -> T:
        if not self._held:
            self._held.extend(await self.receive_batch())
            if not self._held:
                raise StopAsyncIteration
        return self._held.popleft()


def batch_stream(
    fn: Callable[P, AsyncGenerator[list[T], None]],
) -> Callable[P, AbstractAsyncContextManager[BatchStream[T]]]:
    """``fn``'s batches as a `BatchStream`, run in the reader's task; the generator is
    closed when the ``async with`` block exits. Its exceptions reach the reader from
    `BatchStream.receive_batch`, after every batch it yielded before."""

    @asynccontextmanager
    @wraps(fn)
    async def context_manager(*args: P.args, **kwargs: P.kwargs) -> AsyncIterator[BatchStream[T]]:
        async with aclosing(fn(*args, **kwargs)) as batches:
            yield BatchStream(batches)

    return context_manager


class ChannelStream(Generic[T]):
    """Items read in batches from a memory channel."""

    def __init__(self, channel: trio.MemoryReceiveChannel[T]) -> None:
        self.channel = channel

    async def receive_batch(self) -> list[T]:
        """Wait for the next item, and take every item already waiting after it; an empty
        list once the channel is closed and drained."""
        try:
            batch = [await self.channel.receive()]
        except trio.EndOfChannel:
            return []
        while True:
            try:
                batch.append(self.channel.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                return batch

    def __aiter__(self) -> AsyncIterator[T]:
        return self.channel


def buffered_channel(
    fn: Callable[P, AsyncGenerator[T, None]],
) -> Callable[P, AbstractAsyncContextManager[ChannelStream[T]]]:
    """``fn``'s items as a `ChannelStream`, the generator running up to `BUFFER` items
    ahead in a task of the context manager's nursery; it is closed when the block exits.

    When it fails, the reader still gets every item it made before (they happened: a
    model's text before the connection dropped), then the end of the channel; the
    generator's exception is raised out of the ``async with`` (unwrapped, when it is the
    only one).
    """

    @asynccontextmanager
    @wraps(fn)
    async def context_manager(*args: P.args, **kwargs: P.kwargs) -> AsyncIterator[ChannelStream[T]]:
        send, receive = trio.open_memory_channel[T](BUFFER)
        failed: list[Exception] = []
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_pump, fn(*args, **kwargs), send, failed)
                with receive:
                    yield ChannelStream(receive)
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
