"""The Redis store against a real redis-server on loopback: replicas, locks, the LRU bound,
the idle TTL, outages. What every store does is in test_contract.py.

Lock expiry, the idle TTL and the LRU order are Redis's own clock, so those tests never
sleep a fixed time: they read the expiry Redis set (PTTL) or the time it recorded (the
index score), shorten an expiry where the test stands for time going by (PEXPIRE), and
wait, under a bound, until Redis's clock has passed the point; a slow machine only makes
them wait longer.
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

from .support import commit_turn, sample_session


def open_replica(server: RedisServer, **settings: Any) -> AbstractAsyncContextManager[RedisStore]:
    """One replica's view of the shared Redis (each has its own client and pool)."""
    settings = {"max_items": 100, "ttl": 60.0, "lock_ttl": 30.0, **settings}
    return open_redis_store(server.url, **settings)


@pytest.fixture
async def store(redis_server: RedisServer) -> AsyncIterator[RedisStore]:
    async with open_replica(redis_server) as store:
        yield store


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[coredis.Redis[bytes]]:
    """A plain client, to see (and age) the store's keys as Redis does."""
    client: coredis.Redis[bytes] = coredis.Redis.from_url(redis_server.url)
    async with client:
        yield client


INDEX = "trioagent:index"


def conv_key(cid: str) -> str:
    return f"trioagent:conv:{cid}"


def lock_key(cid: str) -> str:
    return f"trioagent:lock:{cid}"


# Redis's clock in ms, as the store's scripts read it for the index.
_NOW_MS = "local t = redis.call('TIME') return t[1] * 1000 + math.floor(t[2] / 1000)"


def expires_within(pttl: int, ms: int) -> bool:
    """Whether Redis's PTTL says the key expires within ``ms`` (or has expired: -2, which
    a slow machine can see); -1, a key without expiry, is not."""
    return pttl == -2 or 0 <= pttl <= ms


async def wait_for_redis_time(redis: coredis.Redis[bytes], ms: float) -> None:
    """Return once Redis's clock reads at least ``ms`` (ms since the epoch)."""
    with trio.fail_after(5):
        while True:
            now = int(await redis.eval(_NOW_MS, [], []))
            if now >= ms:
                return
            await trio.sleep(min(0.05, (ms - now) / 1000))


async def after_last_use(redis: coredis.Redis[bytes], cid: str) -> None:
    """Return once Redis's clock is past ``cid``'s last use, so that the next use of any
    conversation orders after it in the index (which keeps times in ms)."""
    score = await redis.zscore(INDEX, cid)
    assert score is not None
    await wait_for_redis_time(redis, score + 1)


async def wait_for_expiry(redis: coredis.Redis[bytes], key: str) -> None:
    """Return once Redis has expired ``key``, bounded by the expiry Redis reports for it."""
    left = await redis.pttl(key)
    assert left != -1, f"{key} has no expiry"
    with trio.fail_after(max(left, 0) / 1000 + 5):
        while await redis.exists([key]):  # Redis expires it on its own clock: poll
            left = await redis.pttl(key)
            await trio.sleep(min(0.05, max(left, 1) / 1000))


async def texts(store: RedisStore, cid: str) -> list[str] | None:
    session = await store.get(cid)
    return None if session is None else [m.content for m in session.messages]


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
    redis_server: RedisServer, redis: coredis.Redis[bytes]
) -> None:
    async with (
        open_replica(redis_server, lock_ttl=0.2) as stalled,
        open_replica(redis_server) as healthy,
    ):
        await commit_turn(healthy, "c1", "first")

        async def stalled_turn() -> None:
            async with stalled.turn("c1") as late:
                late.session.messages.append(Message.user("stale"))
                assert expires_within(await redis.pttl(lock_key("c1")), 200)  # lock_ttl
                await wait_for_expiry(redis, lock_key("c1"))  # stalled past its lock...
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
    redis_server: RedisServer, redis: coredis.Redis[bytes]
) -> None:
    async with open_replica(redis_server) as healthy:
        await commit_turn(healthy, "c1", "first")
        # What a dead replica leaves: its lock, with its expiry.
        await redis.set(lock_key("c1"), "dead-replica", px=30_000)
        with pytest.raises(ConversationBusy):
            async with healthy.turn("c1"):
                pass
        await redis.pexpire(lock_key("c1"), 50)  # its lock_ttl runs out...
        await wait_for_expiry(redis, lock_key("c1"))  # ...and Redis frees it
        await commit_turn(healthy, "c1", "second")
        assert await texts(healthy, "c1") == ["first", "second"]


async def test_least_recently_used_conversations_go_past_the_bound(
    redis_server: RedisServer, redis: coredis.Redis[bytes]
) -> None:
    async with open_replica(redis_server, max_items=2) as store:
        await commit_turn(store, "a", "a")
        await after_last_use(redis, "a")  # the index orders by Redis time in ms
        await commit_turn(store, "b", "b")
        await after_last_use(redis, "b")
        async with store.turn("a"):  # using "a" makes "b" the least recently used
            pass
        await after_last_use(redis, "a")
        await commit_turn(store, "c", "c")
        assert (await texts(store, "a"), await texts(store, "b")) == (["a"], None)
        assert await texts(store, "c") == ["c"]
        assert await store.count() == 2


async def test_a_turn_starts_the_idle_ttl_again(
    redis_server: RedisServer, redis: coredis.Redis[bytes]
) -> None:
    async with open_replica(redis_server, ttl=60) as store:
        await commit_turn(store, "old", "old")
        assert 0 < await redis.pttl(conv_key("old")) <= 60_000
        await redis.pexpire(conv_key("old"), 30_000)  # half the TTL went by, idle
        async with store.turn("old"):  # a turn counts as use: the TTL starts again
            pass
        assert 30_000 < await redis.pttl(conv_key("old")) <= 60_000
        assert await texts(store, "old") == ["old"]
        assert await store.count() == 1


async def test_idle_conversations_expire_after_the_ttl(
    redis_server: RedisServer, redis: coredis.Redis[bytes]
) -> None:
    async with open_replica(redis_server, ttl=0.3) as store:
        await commit_turn(store, "old", "old")
        assert expires_within(await redis.pttl(conv_key("old")), 300)
        last_use = await redis.zscore(INDEX, "old")
        assert last_use is not None
        await wait_for_redis_time(redis, last_use + 300 + 1)  # idle past the TTL
        assert await texts(store, "old") is None
        assert await store.count() == 0


async def test_api_sessions_never_expire_nor_get_evicted(redis_server: RedisServer) -> None:
    async with open_store(
        StoreURL.parse(redis_server.url), max_items=0, ttl=0, lock_ttl=5
    ) as store:
        for index in range(5):
            async with store.turn(f"s{index}") as turn:
                turn.commit()
        assert await store.count() == 5
        client: coredis.Redis[bytes] = coredis.Redis.from_url(redis_server.url)
        async with client:
            assert await client.pttl("trioagent:conv:s0") == -1  # no expiry


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
