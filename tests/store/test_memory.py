from __future__ import annotations

import pytest
import trio
import trio.testing

from trioagent.chat import Message
from trioagent.errors import ConversationBusy
from trioagent.store import MemoryStore


async def commit_turn(store: MemoryStore, cid: str, text: str) -> None:
    async with store.turn(cid) as turn:
        turn.session.messages.append(Message.user(text))
        turn.commit()


async def test_committed_turn_is_stored_and_returned_as_a_clone() -> None:
    store = MemoryStore(max_items=10, ttl=60)
    await commit_turn(store, "a", "hi")
    async with store.turn("a") as turn:
        assert turn.existed
        assert [m.content for m in turn.session.messages] == ["hi"]
        turn.session.messages.append(Message.user("not committed"))
    stored = await store.get("a")
    assert stored is not None
    assert [m.content for m in stored.messages] == ["hi"]


async def test_failed_turn_leaves_conversation_unchanged() -> None:
    store = MemoryStore(max_items=10, ttl=60)
    await commit_turn(store, "a", "hi")
    async def failing_turn() -> None:
        async with store.turn("a") as turn:
            turn.session.messages.append(Message.user("lost"))
            turn.session.tool_state["todo"] = {"items": [1]}
            turn.commit()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await failing_turn()
    stored = await store.get("a")
    assert stored is not None
    assert [m.content for m in stored.messages] == ["hi"]
    assert stored.tool_state == {}


async def test_cancelled_turn_leaves_conversation_unchanged_and_unlocks() -> None:
    store = MemoryStore(max_items=10, ttl=60)
    await commit_turn(store, "a", "hi")
    with trio.move_on_after(0.01):
        async with store.turn("a") as turn:
            turn.session.messages.append(Message.user("lost"))
            await trio.sleep_forever()
    assert not store.is_busy("a")
    stored = await store.get("a")
    assert stored is not None
    assert len(stored.messages) == 1


async def test_second_turn_on_same_id_is_busy() -> None:
    store = MemoryStore(max_items=10, ttl=60)
    async with store.turn("a"):
        assert store.is_busy("a")
        with pytest.raises(ConversationBusy):
            async with store.turn("a"):
                pass
        async with store.turn("b"):
            pass
    assert not store.is_busy("a")


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
