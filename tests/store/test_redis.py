"""The Redis store against a real redis-server on loopback.

Lock expiry and the idle TTL are Redis's own clock, so those tests wait for real (a few
hundred milliseconds); everything else is event-driven.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import coredis
import pytest
import trio
from coredis.tokens import PureToken

from trioagent.chat import Message
from trioagent.errors import ConversationBusy, ConversationConflict, StoreUnavailable
from trioagent.store import StoreURL, open_store
from trioagent.store.codec import dumps_session
from trioagent.store.redis import RedisStore, open_redis_store
from trioagent.testing.redis import RedisServer

from .test_sqlite import sample_session


def open_replica(server: RedisServer, **settings: Any) -> AbstractAsyncContextManager[RedisStore]:
    """One replica's view of the shared Redis (each has its own client and pool)."""
    settings = {"max_items": 100, "ttl": 60.0, "lock_ttl": 30.0, **settings}
    return open_redis_store(server.url, **settings)


@pytest.fixture
async def store(redis_server: RedisServer) -> AsyncIterator[RedisStore]:
    async with open_replica(redis_server) as store:
        yield store


async def commit_turn(store: RedisStore, cid: str, text: str) -> None:
    async with store.turn(cid) as turn:
        turn.session.messages.append(Message.user(text))
        turn.commit()


async def texts(store: RedisStore, cid: str) -> list[str] | None:
    session = await store.get(cid)
    return None if session is None else [m.content for m in session.messages]


async def test_committed_turn_round_trips_the_whole_session(store: RedisStore) -> None:
    async with store.turn("c1") as turn:
        assert not turn.existed
        assert turn.session.messages == []
        turn.session.messages.extend(sample_session().messages)
        turn.session.usage = sample_session().usage
        turn.session.tool_state = sample_session().tool_state
        turn.commit()
    assert await store.get("c1") == sample_session()
    async with store.turn("c1") as turn:
        assert turn.existed
        assert turn.session == sample_session()
    assert await store.count() == 1


async def test_failed_or_uncommitted_turn_leaves_conversation_unchanged(
    store: RedisStore,
) -> None:
    await commit_turn(store, "c1", "first")

    async def failing_turn() -> None:
        async with store.turn("c1") as turn:
            turn.session.messages.append(Message.user("lost"))
            raise RuntimeError("the model failed")

    with pytest.raises(RuntimeError):
        await failing_turn()
    async with store.turn("c1") as turn:
        turn.session.messages.append(Message.user("forgotten"))
    with trio.move_on_after(0.05):
        async with store.turn("c1") as turn:
            turn.session.messages.append(Message.user("cancelled"))
            await trio.sleep_forever()
    assert await texts(store, "c1") == ["first"]
    await commit_turn(store, "c1", "second")  # and the lock was freed every time
    assert await texts(store, "c1") == ["first", "second"]


async def test_a_turn_cancelled_while_taking_the_lock_frees_it(
    redis_server: RedisServer,
) -> None:
    """Regression: a turn cancelled after Redis got its lock script but before the answer
    came back (a client that hung up as its stream opened) left the lock held for lock_ttl."""
    async with open_replica(redis_server) as store:
        pauser: coredis.Redis[bytes] = coredis.Redis.from_url(redis_server.url)
        async with pauser:
            await pauser.client_pause(1000, PureToken.ALL)  # Redis holds every command
        with trio.move_on_after(0.1) as waited:  # the script is sent; no answer comes
            async with store.turn("c1"):
                pass
        assert waited.cancelled_caught
        assert not await store.is_taken("c1")  # Redis ran the script, then the release
        await commit_turn(store, "c1", "after")
        assert await texts(store, "c1") == ["after"]


async def test_a_turn_on_one_replica_makes_the_other_busy(redis_server: RedisServer) -> None:
    async with open_replica(redis_server) as one, open_replica(redis_server) as two:
        async with one.turn("c1") as turn:
            with pytest.raises(ConversationBusy):
                async with two.turn("c1"):
                    pass
            with pytest.raises(ConversationBusy):  # and on its own replica
                async with one.turn("c1"):
                    pass
            turn.session.messages.append(Message.user("one"))
            turn.commit()
        await commit_turn(two, "c1", "two")
        assert await texts(one, "c1") == ["one", "two"]


async def test_replica_that_outlived_its_lock_cannot_overwrite_a_newer_turn(
    redis_server: RedisServer,
) -> None:
    async with open_replica(redis_server, lock_ttl=0.2) as stalled, \
            open_replica(redis_server) as healthy:
        await commit_turn(healthy, "c1", "first")

        async def stalled_turn() -> None:
            async with stalled.turn("c1") as late:
                late.session.messages.append(Message.user("stale"))
                await trio.sleep(0.4)  # stalled past its lock...
                await commit_turn(healthy, "c1", "newer")  # ...which another replica took
                late.commit()  # refused at the end of the block

        with pytest.raises(ConversationConflict):  # its own code: the turn ran, unsaved
            await stalled_turn()
        assert await texts(healthy, "c1") == ["first", "newer"]

        # The stalled replica's end freed nothing of the lock a third turn now holds.
        async with healthy.turn("c1"):
            async with stalled.turn("c2"):
                pass
            with pytest.raises(ConversationBusy):
                async with stalled.turn("c1"):
                    pass


async def test_lock_of_a_replica_that_died_frees_itself_on_expiry(
    redis_server: RedisServer,
) -> None:
    async with open_replica(redis_server) as healthy:
        await commit_turn(healthy, "c1", "first")
        client: coredis.Redis[bytes] = coredis.Redis.from_url(redis_server.url)
        async with client:  # what a dead replica leaves: its lock, with its expiry
            await client.set("trioagent:lock:c1", "dead-replica", px=300)
        with pytest.raises(ConversationBusy):
            async with healthy.turn("c1"):
                pass
        await trio.sleep(0.4)
        await commit_turn(healthy, "c1", "second")
        assert await texts(healthy, "c1") == ["first", "second"]


async def test_least_recently_used_conversations_go_past_the_bound(
    redis_server: RedisServer,
) -> None:
    async with open_replica(redis_server, max_items=2) as store:
        await commit_turn(store, "a", "a")
        await trio.sleep(0.002)  # the index orders by Redis time in ms
        await commit_turn(store, "b", "b")
        await trio.sleep(0.002)
        async with store.turn("a"):  # using "a" makes "b" the least recently used
            pass
        await trio.sleep(0.002)
        await commit_turn(store, "c", "c")
        assert (await texts(store, "a"), await texts(store, "b")) == (["a"], None)
        assert await texts(store, "c") == ["c"]
        assert await store.count() == 2


async def test_idle_conversations_expire_after_the_ttl(redis_server: RedisServer) -> None:
    async with open_replica(redis_server, ttl=0.3) as store:
        await commit_turn(store, "old", "old")
        await trio.sleep(0.2)
        async with store.turn("old"):  # a turn counts as use: the TTL starts again
            pass
        await trio.sleep(0.2)
        assert await texts(store, "old") == ["old"]
        await trio.sleep(0.25)
        assert await texts(store, "old") is None
        assert await store.count() == 0


async def test_api_sessions_never_expire_nor_get_evicted(redis_server: RedisServer) -> None:
    async with open_store(StoreURL.parse(redis_server.url), max_items=0, ttl=0,
                          lock_ttl=5) as store:
        for index in range(5):
            async with store.turn(f"s{index}") as turn:
                turn.commit()
        assert await store.count() == 5
        client: coredis.Redis[bytes] = coredis.Redis.from_url(redis_server.url)
        async with client:
            assert await client.pttl("trioagent:conv:s0") == -1  # no expiry


async def test_delete_forgets_the_conversation(store: RedisStore) -> None:
    await commit_turn(store, "c1", "first")
    assert await store.delete("c1") is True
    assert await store.delete("c1") is False
    assert await store.get("c1") is None
    assert await store.count() == 0


async def test_damaged_conversation_is_reported_not_served(
    store: RedisStore, redis_server: RedisServer
) -> None:
    client: coredis.Redis[bytes] = coredis.Redis.from_url(redis_server.url)
    async with client:
        await client.set("trioagent:conv:bad", "{not json")
        await client.set("trioagent:conv:good", dumps_session(sample_session()))
    with pytest.raises(StoreUnavailable):
        await store.get("bad")
    for _ in range(2):  # not ConversationBusy the second time: the failed load freed the lock
        with pytest.raises(StoreUnavailable, match="not valid JSON"):
            async with store.turn("bad"):
                pass
    assert await store.get("good") == sample_session()
    assert await store.delete("bad") is True


async def test_redis_down_is_unavailable_then_recovers(
    store: RedisStore, redis_server: RedisServer
) -> None:
    await commit_turn(store, "c1", "first")
    await redis_server.stop()
    for attempt in (store.get("c1"), store.check(), store.count(), store.delete("c1")):
        with pytest.raises(StoreUnavailable, match=r"Redis at 127\.0\.0\.1:"):
            await attempt
    with pytest.raises(StoreUnavailable):
        await commit_turn(store, "c1", "lost")
    await redis_server.start()  # same port, same data directory
    await store.check()
    assert await texts(store, "c1") == ["first"]
    await commit_turn(store, "c1", "second")
    assert await texts(store, "c1") == ["first", "second"]


async def test_unreachable_redis_at_start_says_what_to_fix(redis_server: RedisServer) -> None:
    await redis_server.stop()
    with pytest.raises(StoreUnavailable, match=r"start Redis or fix --store"):
        async with open_replica(redis_server):
            pass


async def test_prefix_and_password_never_leak_into_messages(redis_server: RedisServer) -> None:
    url = redis_server.url.replace("redis://", "redis://:s3cret@")
    await redis_server.stop()
    with pytest.raises(StoreUnavailable) as caught:
        async with open_redis_store(url, max_items=1, ttl=1, lock_ttl=1):
            pass
    assert "s3cret" not in str(caught.value)
