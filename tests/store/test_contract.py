"""What every conversation store promises (`trioagent.store.base`), run on each of them.

The memory store, a SQLite file and Redis (a real redis-server on loopback; skipped when it
is not installed, unless TRIOAGENT_REQUIRE_REDIS=1) must all pass these. What only one
store does (SQLite's file and leases, Redis's replicas and outages, the memory store's LRU
and idle expiry) is tested in that store's own file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import trio

from trioagent.chat import Message, Usage
from trioagent.errors import ConversationBusy
from trioagent.runtime.session import Session
from trioagent.store import ConversationStore, MemoryStore, Turn, open_sqlite_store

from .support import commit_turn, contents, sample_session, store_sample

if TYPE_CHECKING:
    from ..conftest import StartRedis


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, start_redis: StartRedis
) -> AsyncIterator[ConversationStore]:
    if request.param == "memory":
        yield MemoryStore(max_items=10, ttl=60)
    elif request.param == "sqlite":
        async with open_sqlite_store(tmp_path / "sessions.db") as sqlite_store:
            yield sqlite_store
    else:
        from trioagent.store.redis import open_redis_store  # coredis only for Redis

        async with (
            start_redis() as server,
            open_redis_store(
                server.url,
                max_items=100,
                ttl=60.0,
                lock_ttl=30.0,
            ) as redis_store,
        ):
            yield redis_store


# Committed turns.


async def test_committed_turn_round_trips_the_whole_session(store: ConversationStore) -> None:
    async with store.turn("c1") as turn:
        assert not turn.existed
        assert turn.session == Session()
        turn.session.messages.extend(sample_session().messages)  # changed in place
        turn.session.usage = sample_session().usage
        turn.session.tool_state = sample_session().tool_state
        turn.commit()
    assert await store.get("c1") == sample_session()
    async with store.turn("c1") as turn:
        assert turn.existed
        assert turn.session == sample_session()
        turn.session.messages.append(Message.user("not committed"))
    assert await store.get("c1") == sample_session()
    assert await store.count() == 1


async def test_a_committed_turn_adds_to_what_the_last_one_stored(
    store: ConversationStore,
) -> None:
    before = await store_sample(store, "a")  # replaced whole
    async with store.turn("a") as turn:
        turn.session.messages.append(Message.user("more"))
        turn.session.usage += Usage(1, 1)
        turn.commit()
    stored = await store.get("a")
    assert stored is not None
    assert stored.messages == [*before.messages, Message.user("more")]
    assert stored.usage == Usage(13, 6)
    assert stored.tool_state == before.tool_state


async def test_get_returns_an_independent_copy(store: ConversationStore) -> None:
    before = await store_sample(store, "a")
    copy = await store.get("a")
    assert copy == before
    assert copy is not None
    copy.messages.clear()
    copy.tool_state["todo"]["items"].clear()
    assert await store.get("a") == before


# Turns that end without a commit: a failure, a cancellation, a forgotten commit.


def change(turn: Turn) -> None:
    turn.session.messages.append(Message.user("lost"))
    turn.session.usage += Usage(100, 100)
    turn.session.tool_state.setdefault("todo", {"items": []})["items"].append("lost")


async def raise_in_turn(store: ConversationStore, cid: str) -> None:
    async def failing_turn() -> None:
        async with store.turn(cid) as turn:
            change(turn)
            turn.commit()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await failing_turn()


async def raise_before_commit(store: ConversationStore, cid: str) -> None:
    async def failing_turn() -> None:
        async with store.turn(cid) as turn:
            change(turn)
            raise RuntimeError("the model failed")

    with pytest.raises(RuntimeError, match="the model failed"):
        await failing_turn()


async def cancel_turn(store: ConversationStore, cid: str) -> None:
    with trio.CancelScope() as scope:
        async with store.turn(cid) as turn:
            change(turn)
            turn.commit()
            scope.cancel()
            await trio.sleep_forever()
    assert scope.cancelled_caught


async def run_out_of_time(store: ConversationStore, cid: str) -> None:
    """A deadline outside the turn cancels it while it waits (a client that hung up)."""
    with trio.move_on_after(0.05) as scope:
        async with store.turn(cid) as turn:
            change(turn)
            await trio.sleep_forever()
    assert scope.cancelled_caught


async def forget_commit(store: ConversationStore, cid: str) -> None:
    async with store.turn(cid) as turn:
        change(turn)


UNFINISHED = pytest.mark.parametrize(
    "unfinished",
    [raise_in_turn, raise_before_commit, cancel_turn, run_out_of_time, forget_commit],
    ids=["raises", "raises-before-commit", "cancelled", "deadline", "no-commit"],
)


@UNFINISHED
async def test_unfinished_turn_leaves_stored_session_unchanged_and_unlocks(
    store: ConversationStore, unfinished: Callable[[ConversationStore, str], Awaitable[None]]
) -> None:
    before = await store_sample(store, "a")
    await unfinished(store, "a")
    assert not store.is_busy("a")
    assert not await store.is_taken("a")
    assert await store.get("a") == before
    async with store.turn("a") as turn:  # the lock was freed
        assert turn.session == before
    await commit_turn(store, "a", "next")
    assert contents(await store.get("a")) == [*contents(before), "next"]


@UNFINISHED
async def test_unfinished_turn_on_new_id_stores_nothing(
    store: ConversationStore, unfinished: Callable[[ConversationStore, str], Awaitable[None]]
) -> None:
    await unfinished(store, "new")
    assert not store.is_busy("new")
    assert await store.get("new") is None
    assert await store.count() == 0


# One turn at a time on an id.


async def hold_turn(
    store: ConversationStore,
    cid: str,
    release: trio.Event,
    task_status: trio.TaskStatus[Turn] = trio.TASK_STATUS_IGNORED,
) -> None:
    async with store.turn(cid) as turn:
        task_status.started(turn)
        await release.wait()


async def test_second_turn_on_same_id_is_busy_while_other_ids_work(
    store: ConversationStore,
) -> None:
    release = trio.Event()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(hold_turn, store, "a", release)
            assert store.is_busy("a")
            assert await store.is_taken("a")
            with pytest.raises(ConversationBusy) as caught:
                async with store.turn("a"):
                    pass
            assert caught.value.conversation_id == "a"
            await commit_turn(store, "b", "hi")
            assert not store.is_busy("b")
            release.set()
    assert not store.is_busy("a")
    assert not await store.is_taken("a")
    assert contents(await store.get("b")) == ["hi"]


# get, delete, count.


async def test_get_delete_and_count(store: ConversationStore) -> None:
    assert await store.get("a") is None
    assert await store.count() == 0
    await commit_turn(store, "a", "1")
    await commit_turn(store, "b", "2")
    assert await store.count() == 2
    assert await store.delete("a")
    assert not await store.delete("a")
    assert await store.get("a") is None
    assert contents(await store.get("b")) == ["2"]
    assert await store.count() == 1
    assert await store.delete("b")
    assert await store.count() == 0
    await store.check()
