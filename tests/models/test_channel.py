"""`buffered_channel`: a model call's events, run ahead into a bounded buffer."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import pytest
import trio

from trioagent.models._channel import BUFFER, buffered_channel, receive_batch


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
        async with pieces(3, then_fail=True) as channel:
            await trio.testing.wait_all_tasks_blocked()  # the generator has failed by now
            while batch := await receive_batch(channel):
                got.extend(batch)

    with trio.fail_after(5), pytest.raises(Dropped):
        await read_all()
    assert got == [0, 1, 2]


async def test_the_generator_runs_ahead_up_to_the_buffer() -> None:
    with trio.fail_after(5):
        async with pieces(BUFFER + 10) as channel:
            await trio.testing.wait_all_tasks_blocked()
            assert channel.statistics().current_buffer_used == BUFFER
            first = await receive_batch(channel)  # all that waits, in one go
            assert len(first) >= BUFFER
            rest = [item async for item in channel]
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
        async with endless() as channel:
            assert await channel.receive() == 1
    assert closed.is_set()
