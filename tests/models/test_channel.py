"""`batch_stream` and `buffered_channel`: a model call's events as a `ModelStream`."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import pytest
import trio
import trio.testing

from trioagent.models._channel import BUFFER, batch_stream, buffered_channel


class Dropped(Exception):
    pass


@buffered_channel
async def pieces(count: int, *, then_fail: bool = False) -> AsyncGenerator[int, None]:
    for i in range(count):
        yield i
    if then_fail:
        raise Dropped("the connection dropped")


async def test_items_made_before_a_failure_reach_the_reader_then_the_failure() -> None:
    """The generator fails right after its items, before the reader ran: the reader
    still gets them all (a model's text before its connection dropped), then the error."""
    got: list[int] = []

    async def read_all() -> None:
        async with pieces(3, then_fail=True) as stream:
            await trio.testing.wait_all_tasks_blocked()  # the generator has failed by now
            while batch := await stream.receive_batch():
                got.extend(batch)

    with trio.fail_after(5), pytest.raises(Dropped):
        await read_all()
    assert got == [0, 1, 2]


async def test_the_generator_runs_ahead_up_to_the_buffer() -> None:
    with trio.fail_after(5):
        async with pieces(BUFFER + 10) as stream:
            await trio.testing.wait_all_tasks_blocked()
            assert stream.channel.statistics().current_buffer_used == BUFFER
            first = await stream.receive_batch()  # all that waits, in one go
            assert len(first) >= BUFFER
            rest = [item async for item in stream]
    assert first + rest == list(range(BUFFER + 10))


async def test_a_reader_that_leaves_early_closes_the_generator() -> None:
    closed = trio.Event()

    @buffered_channel
    async def endless() -> AsyncGenerator[int, None]:
        try:
            while True:
                yield 1
        finally:
            closed.set()

    with trio.fail_after(5):
        async with endless() as stream:
            assert await stream.channel.receive() == 1
    assert closed.is_set()


@batch_stream
async def batches(*sizes: int, then_fail: bool = False) -> AsyncGenerator[list[int], None]:
    start = 0
    for size in sizes:
        yield list(range(start, start + size))
        start += size
    if then_fail:
        raise Dropped("the connection dropped")


async def test_a_batch_stream_hands_over_each_batch_whole_and_skips_empty_ones() -> None:
    with trio.fail_after(5):
        async with batches(2, 0, 3) as stream:
            assert await stream.receive_batch() == [0, 1]
            assert await stream.receive_batch() == [2, 3, 4]
            assert await stream.receive_batch() == []


async def test_a_batch_stream_reads_one_by_one_too() -> None:
    with trio.fail_after(5):
        async with batches(2, 3) as stream:
            assert await stream.__anext__() == 0
            assert await stream.receive_batch() == [1]  # what the first batch still holds
            assert [item async for item in stream] == [2, 3, 4]


async def test_a_batch_stream_runs_in_the_readers_task_and_fails_after_its_batches() -> None:
    got: list[int] = []
    tasks: set[trio.lowlevel.Task] = set()

    @batch_stream
    async def watched() -> AsyncGenerator[list[int], None]:
        tasks.add(trio.lowlevel.current_task())
        async with batches(2, 1, then_fail=True) as inner:
            while batch := await inner.receive_batch():
                yield batch

    async def read_all() -> None:
        async with watched() as stream:
            while batch := await stream.receive_batch():
                got.extend(batch)

    with trio.fail_after(5), pytest.raises(Dropped):
        await read_all()
    assert got == [0, 1, 2]
    assert tasks == {trio.lowlevel.current_task()}


async def test_leaving_a_batch_stream_early_closes_its_generator() -> None:
    closed = trio.Event()

    @batch_stream
    async def endless() -> AsyncGenerator[list[int], None]:
        try:
            while True:
                yield [1]
        finally:
            closed.set()

    with trio.fail_after(5):
        async with endless() as stream:
            assert await stream.receive_batch() == [1]
            assert not closed.is_set()
    assert closed.is_set()
