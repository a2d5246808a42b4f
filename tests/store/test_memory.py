"""The memory store's own rules: its LRU bound and idle expiry on trio's clock.

What every store does (turns, busy ids, get/delete/count) is in test_contract.py.
"""

from __future__ import annotations

import trio
import trio.testing

from trioagent.store import MemoryStore

from .support import commit_turn


async def test_lru_evicts_least_recently_used() -> None:
    store = MemoryStore(max_items=2, ttl=60)
    await commit_turn(store, "a", "1")
    await commit_turn(store, "b", "2")
    async with store.turn("a"):  # touching "a" makes "b" the least recently used
        pass
    await commit_turn(store, "c", "3")
    assert "a" in store
    assert "b" not in store
    assert "c" in store


async def test_busy_conversation_is_not_evicted_under_its_turn() -> None:
    store = MemoryStore(max_items=1, ttl=60)
    await commit_turn(store, "a", "1")
    async with store.turn("a") as turn:
        await commit_turn(store, "b", "2")
        assert "a" in store
        turn.commit()
    assert "a" in store


async def test_idle_conversation_expires_after_ttl(autojump_clock: trio.testing.MockClock) -> None:
    store = MemoryStore(max_items=10, ttl=30 * 60)
    await commit_turn(store, "old", "1")
    await trio.sleep(20 * 60)
    await commit_turn(store, "new", "2")
    await trio.sleep(11 * 60)
    assert "old" not in store
    assert "new" in store
    await trio.sleep(20 * 60)
    assert len(store) == 0


async def test_an_idle_conversation_whose_id_comes_back_starts_afresh(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = MemoryStore(max_items=10, ttl=2)
    await commit_turn(store, "c", "1")
    await trio.sleep(12)  # idle past the TTL; nothing else touched the store meanwhile
    async with store.turn("c") as turn:
        assert not turn.existed
        assert turn.session.messages == []
