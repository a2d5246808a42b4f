"""The SQLite store: its file, its leases between processes, and the session codec.

What every store does (turns, busy ids, get/delete/count) is in test_contract.py.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from trioagent.chat import Message, Usage
from trioagent.errors import ConversationBusy, ConversationConflict, StoreUnavailable
from trioagent.runtime.session import Session
from trioagent.store import SQLiteStore, open_sqlite_store
from trioagent.store.codec import dumps_session, loads_session
from trioagent.store.sqlite import SCHEMA_VERSION

from .support import commit_turn, contents, sample_session, store_sample

GOLDEN = (
    '{"format":1,"messages":['
    '{"role":"system","content":"Be brief."},'
    '{"role":"user","content":"What is this?","images":["data:image/png;base64,AAAA"]},'
    '{"role":"assistant","tool_calls":'
    '[{"id":"call_1","name":"todo_add","arguments":"{\\"item\\": \\"milk\\"}"}]},'
    '{"role":"tool","content":"added","tool_call_id":"call_1"},'
    '{"role":"assistant","content":"Done: milk is on the list."}],'
    '"usage":{"prompt_tokens":12,"completion_tokens":5},'
    '"tool_state":{"todo":{"items":["milk"],"done":[],"limit":null,"ratio":0.5}}}'
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "sessions.db"


@pytest.fixture
async def store(path: Path) -> AsyncIterator[SQLiteStore]:
    async with open_sqlite_store(path) as store:
        yield store


# The codec.


def test_session_json_shape_is_pinned() -> None:
    assert dumps_session(sample_session()) == GOLDEN
    assert loads_session(GOLDEN) == sample_session()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "not valid JSON"),
        ('["format", 1]', "not a session document"),
        ('{"format": 2, "messages": []}', "format 2"),
        ('{"format": 1, "messages": [{"role": "robot"}]}', r"\$\.messages\[0\]\.role"),
    ],
    ids=["not-json", "not-an-object", "unknown-format", "bad-role"],
)
def test_unreadable_session_json_is_store_unavailable(text: str, reason: str) -> None:
    with pytest.raises(StoreUnavailable, match=reason) as caught:
        loads_session(text)
    assert "stored session" in str(caught.value)


# Reopening the file.


async def test_committed_turn_is_visible_in_next_turn_and_after_reopening(path: Path) -> None:
    async with open_sqlite_store(path) as store:
        async with store.turn("a") as turn:
            assert not turn.existed
            assert turn.session == Session()
            turn.session = sample_session()
            turn.commit()
        async with store.turn("a") as turn:
            assert turn.existed
            assert turn.session == sample_session()
            turn.session.messages.append(Message.user("more"))
            turn.session.usage += Usage(1, 1)
            turn.commit()
    async with open_sqlite_store(path) as store:
        stored = await store.get("a")
        assert stored is not None
        assert stored.messages == [*sample_session().messages, Message.user("more")]
        assert stored.usage == Usage(13, 6)
        assert stored.tool_state == sample_session().tool_state
        assert await store.count() == 1


# Two stores on one file stand for two processes.


async def commit_after(
    store: SQLiteStore, cid: str, text: str, meanwhile: Callable[[], Awaitable[object]]
) -> None:
    """Take a turn on ``cid`` and commit ``text``, letting ``meanwhile`` run inside the turn."""
    async with store.turn(cid) as turn:
        await meanwhile()
        turn.session.messages.append(Message.user(text))
        turn.commit()


async def test_a_turn_of_another_process_on_the_id_is_busy_before_it_runs(
    path: Path,
) -> None:
    async with open_sqlite_store(path) as first, open_sqlite_store(path) as second:
        await commit_turn(first, "a", "hi")
        ran = False

        async def other_process_turn() -> None:
            nonlocal ran
            assert await first.is_taken("a")  # the route's fast 409 sees it too
            with pytest.raises(ConversationBusy):
                async with first.turn("a"):
                    ran = True
            with pytest.raises(ConversationBusy):
                await first.delete("a")

        await commit_after(second, "a", "second", other_process_turn)
        assert not ran
        assert not await first.is_taken("a")  # released when the turn ended
        assert contents(await first.get("a")) == ["hi", "second"]
        await commit_turn(first, "a", "retry")
        assert contents(await second.get("a")) == ["hi", "second", "retry"]


async def test_a_new_id_is_leased_too(path: Path) -> None:
    async with open_sqlite_store(path) as first, open_sqlite_store(path) as second:

        async def meanwhile() -> None:
            with pytest.raises(ConversationBusy):
                await commit_turn(first, "new", "first")

        await commit_after(second, "new", "second", meanwhile)
        assert contents(await first.get("new")) == ["second"]


class Clock:
    """Wall-clock time that a test moves."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_the_lease_of_a_dead_worker_expires(path: Path) -> None:
    clock = Clock()
    async with open_sqlite_store(path, lock_ttl=60, clock=clock) as store:
        await commit_turn(store, "a", "hi")
        # What a worker killed mid-turn leaves behind: its lease row.
        async with open_sqlite_store(path, lock_ttl=60, clock=clock) as dead:
            turn = dead.turn("a")
            await turn.__aenter__()  # never exited: the process died
            with pytest.raises(ConversationBusy):
                await commit_turn(store, "a", "too soon")
            clock.now += 61
            await commit_turn(store, "a", "after expiry")
        assert contents(await store.get("a")) == ["hi", "after expiry"]


async def test_a_turn_that_outlived_its_lease_is_a_conflict_not_a_commit(path: Path) -> None:
    clock = Clock()
    async with (
        open_sqlite_store(path, lock_ttl=60, clock=clock) as stalled,
        open_sqlite_store(path, lock_ttl=60, clock=clock) as healthy,
    ):
        await commit_turn(healthy, "a", "first")

        async def stall_past_the_lease() -> None:
            clock.now += 61
            await commit_turn(healthy, "a", "newer")  # took the expired lease

        with pytest.raises(ConversationConflict):
            await commit_after(stalled, "a", "stale", stall_past_the_lease)
        assert contents(await healthy.get("a")) == ["first", "newer"]
        # The stalled turn's end released nothing of the lease the next turn holds.
        async with healthy.turn("a"):
            assert await stalled.is_taken("a")


async def test_a_turn_past_its_lease_with_nobody_else_still_commits_nothing(
    path: Path,
) -> None:
    clock = Clock()
    async with open_sqlite_store(path, lock_ttl=60, clock=clock) as store:
        await commit_turn(store, "a", "first")

        async def stall() -> None:
            clock.now += 61

        with pytest.raises(ConversationConflict):
            await commit_after(store, "a", "late", stall)
        assert contents(await store.get("a")) == ["first"]


# No file at all.


async def test_memory_database_works() -> None:
    async with open_sqlite_store(":memory:") as store:
        before = await store_sample(store, "a")
        assert await store.get("a") == before
        assert await store.count() == 1


# The file.


async def test_file_is_in_wal_mode_and_intact_after_writes(store: SQLiteStore, path: Path) -> None:
    for index in range(5):
        await commit_turn(store, f"c{index}", "hi")
        await commit_turn(store, f"c{index}", "again")
    await store.delete("c0")
    with sqlite3.connect(path) as outside:
        assert outside.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert outside.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert outside.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        rows = outside.execute("SELECT id, version FROM sessions ORDER BY id").fetchall()
    assert rows == [("c1", 2), ("c2", 2), ("c3", 2), ("c4", 2)]


async def test_database_error_is_store_unavailable_and_leaves_no_transaction(
    store: SQLiteStore, path: Path
) -> None:
    def rename(old: str, new: str) -> None:
        # timeout=0: this fails with "database is locked" if the store left a transaction open.
        with sqlite3.connect(path, timeout=0) as outside:
            outside.execute(f"ALTER TABLE {old} RENAME TO {new}")

    async def move_table() -> None:
        rename("sessions", "moved")

    await commit_turn(store, "a", "hi")
    with pytest.raises(StoreUnavailable, match="no such table") as caught:
        await commit_after(store, "a", "lost", move_table)
    assert isinstance(caught.value.__cause__, sqlite3.Error)
    assert str(path) in str(caught.value)
    assert not store.is_busy("a")
    rename("moved", "sessions")
    assert contents(await store.get("a")) == ["hi"]
    await commit_turn(store, "a", "kept")
    assert contents(await store.get("a")) == ["hi", "kept"]


async def test_damaged_stored_session_is_store_unavailable(store: SQLiteStore, path: Path) -> None:
    await commit_turn(store, "a", "hi")
    with sqlite3.connect(path) as outside:
        outside.execute("UPDATE sessions SET data = '{\"format\": 99}'")
    with pytest.raises(StoreUnavailable, match="format 99"):
        async with store.turn("a"):
            pass
    assert not store.is_busy("a")
    assert await store.delete("a")


def write_garbage(path: Path) -> Path:
    path.write_bytes(b"this is not a database, just some bytes" * 100)
    return path


def write_newer_schema(path: Path) -> Path:
    with sqlite3.connect(path) as newer:
        newer.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    return path


@pytest.mark.parametrize(
    ("prepare", "reason"),
    [
        (write_garbage, "not a database"),
        (lambda path: path.parent / "missing" / "sessions.db", "does not exist"),
        (write_newer_schema, "newer trioagent"),
    ],
    ids=["not-a-database", "missing-directory", "newer-schema"],
)
async def test_unusable_file_is_store_unavailable(
    path: Path, prepare: Callable[[Path], Path], reason: str
) -> None:
    target = prepare(path)
    with pytest.raises(StoreUnavailable, match=reason) as caught:
        async with open_sqlite_store(target):
            pass
    assert str(target) in str(caught.value)
    assert "--sessions" in str(caught.value)
    assert not (path.parent / "missing").exists()


async def test_a_file_of_schema_1_gains_leases_and_keeps_its_sessions(path: Path) -> None:
    with sqlite3.connect(path) as old:  # what trioagent wrote before leases
        old.execute(
            "CREATE TABLE sessions (id TEXT PRIMARY KEY, version INTEGER NOT NULL,"
            " created REAL NOT NULL, updated REAL NOT NULL, data TEXT NOT NULL)"
        )
        old.execute("PRAGMA user_version = 1")
    async with open_sqlite_store(path) as store:
        await commit_turn(store, "a", "hi")
        async with store.turn("a"):
            assert await store.is_taken("a")
        assert contents(await store.get("a")) == ["hi"]
    with sqlite3.connect(path) as outside:
        assert outside.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


async def test_a_namespace_keeps_two_kinds_of_record_apart_in_one_file(path: Path) -> None:
    from trioagent.store.open import StoreURL, open_store

    url = StoreURL.parse(f"sqlite:{path}")
    async with (
        open_store(url, max_items=0, ttl=0, lock_ttl=60) as conversations,
        open_store(url, max_items=0, ttl=0, lock_ttl=60, namespace="responses") as responses,
    ):
        await commit_turn(conversations, "resp_1", "a conversation named like a response")  # type: ignore[arg-type]
        await commit_turn(responses, "resp_1", "a response")  # type: ignore[arg-type]
        assert contents(await conversations.get("resp_1")) == [
            "a conversation named like a response"
        ]
        assert contents(await responses.get("resp_1")) == ["a response"]
        async with responses.turn("resp_1"):
            assert await responses.is_taken("resp_1")
            assert not await conversations.is_taken("resp_1")
        assert await responses.delete("resp_1")
        assert await conversations.get("resp_1") is not None


# The bounds: --conversations-max / --responses-max and --conversation-ttl.


async def test_the_least_recently_used_conversation_goes_past_max_items(path: Path) -> None:
    clock = Clock()
    async with open_sqlite_store(path, clock=clock, max_items=2) as store:
        for cid in ("a", "b"):
            await commit_turn(store, cid, cid)
            clock.now += 1
        await commit_turn(store, "a", "a again")  # now b is the least recently used
        clock.now += 1
        await commit_turn(store, "c", "c")
        assert await store.get("b") is None
        assert contents(await store.get("a")) == ["a", "a again"]
        assert await store.count() == 2


async def test_a_conversation_under_a_turn_is_not_dropped_for_the_bound(path: Path) -> None:
    clock = Clock()
    async with open_sqlite_store(path, clock=clock, max_items=1) as store:
        await commit_turn(store, "a", "first")
        clock.now += 1
        async with store.turn("a") as held:
            clock.now += 1
            await commit_turn(store, "b", "b")  # over the bound, but a is held
            assert await store.get("a") is not None
            held.session.messages.append(Message.user("second"))
            held.commit()
        assert contents(await store.get("a")) == ["first", "second"]


async def test_an_idle_conversation_expires_after_ttl_and_its_id_starts_afresh(
    path: Path,
) -> None:
    clock = Clock()
    async with open_sqlite_store(path, clock=clock, ttl=60) as store:
        await commit_turn(store, "a", "old")
        clock.now += 59
        assert contents(await store.get("a")) == ["old"]
        async with store.turn("a") as turn:  # a turn is a use: the idle time restarts
            assert turn.existed
        clock.now += 59
        assert await store.get("a") is not None
        clock.now += 2
        assert await store.get("a") is None
        assert await store.count() == 0
        async with store.turn("a") as turn:
            assert not turn.existed
            turn.session.messages.append(Message.user("new"))
            turn.commit()
        assert contents(await store.get("a")) == ["new"]


async def test_each_namespace_has_its_own_bound(path: Path) -> None:
    clock = Clock()
    async with (
        open_sqlite_store(path, clock=clock, max_items=1) as conversations,
        open_sqlite_store(path, clock=clock, max_items=1, namespace="responses") as responses,
    ):
        await commit_turn(conversations, "c1", "c1")
        clock.now += 1
        await commit_turn(responses, "r1", "r1")
        clock.now += 1
        await commit_turn(responses, "r2", "r2")
        assert await conversations.get("c1") is not None  # not pushed out by responses
        assert await responses.get("r1") is None
        assert (await conversations.count(), await responses.count()) == (1, 1)


async def test_responses_of_a_schema_2_file_join_their_namespace(path: Path) -> None:
    with sqlite3.connect(path) as old:  # schema 2 kept a namespace as an id prefix
        old.execute(
            "CREATE TABLE sessions (id TEXT PRIMARY KEY, version INTEGER NOT NULL,"
            " created REAL NOT NULL, updated REAL NOT NULL, data TEXT NOT NULL)"
        )
        old.execute(
            "CREATE TABLE leases (id TEXT PRIMARY KEY, token TEXT NOT NULL, expires REAL NOT NULL)"
        )
        for cid in ("open/c1", "responses:open/resp_1"):
            old.execute(
                "INSERT INTO sessions VALUES (?, 1, 0, 0, ?)", (cid, dumps_session(Session()))
            )
        old.execute("PRAGMA user_version = 2")
    clock = Clock()
    async with (
        open_sqlite_store(path, clock=clock) as conversations,
        open_sqlite_store(path, clock=clock, namespace="responses") as responses,
    ):
        assert await responses.get("open/resp_1") is not None
        assert await conversations.get("responses:open/resp_1") is None
        assert (await conversations.count(), await responses.count()) == (1, 1)
