"""A conversation store in one SQLite file, which survives restarts and may be shared.

Every database call runs in a worker thread (`trio.to_thread.run_sync`, which waits for
the thread even when cancelled, so a write that started always finishes), one at a time
on one connection.

A turn takes a lease on its id before it runs: a row of ``leases`` with a random token and
an expiry ``lock_ttl`` seconds ahead (longer than any turn may take), inserted in one
transaction with the read of the conversation. So a second turn on the id, in this
process or in any other process sharing the file, gets `ConversationBusy` before it runs
anything, and so does a delete. A worker that dies mid-turn leaves its lease behind; it
expires. A commit stores only while the turn still holds its lease (and nobody else wrote
the conversation since it was read), else raises `ConversationConflict`; the lease is
released when the turn ends, whatever happened.
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import time
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, Final, TypeVar, TypeVarTuple

import attrs
import trio

from ..errors import ConversationBusy, ConversationConflict, StoreUnavailable
from ..runtime.session import Session
from .base import Turn
from .codec import dumps_session, loads_session

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

logger = logging.getLogger(__name__)

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

SCHEMA_VERSION: Final = 2
"""The ``PRAGMA user_version`` of the database layout below (1 had no leases)."""

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS sessions (
        id TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        data TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS leases (
        id TEXT PRIMARY KEY,
        token TEXT NOT NULL,
        expires REAL NOT NULL
    )""",
)


@attrs.define
class SQLiteStore:
    """Conversations in a SQLite file; build it with `open_sqlite_store`.

    ``is_busy`` sees this process's turns; ``is_taken`` and ``turn`` see every process's
    (see the module docstring).
    """

    _connection: sqlite3.Connection
    _path: str
    lock_ttl: float = 330.0
    """Seconds a turn's lease lasts: longer than any turn may take."""
    clock: Callable[[], float] = time.time
    """Wall-clock time, shared by the processes (tests pass their own)."""
    _lock: trio.Lock = attrs.field(factory=trio.Lock, init=False)
    _busy: set[str] = attrs.field(factory=set, init=False)

    def is_busy(self, conversation_id: str) -> bool:
        return conversation_id in self._busy

    async def is_taken(self, conversation_id: str) -> bool:
        """Whether a turn on this id holds a lease, in any process sharing the file.

        Raises:
            StoreUnavailable: the database failed.
        """
        if conversation_id in self._busy:
            return True
        return await self._run(_leased, conversation_id, self.clock())

    async def get(self, conversation_id: str) -> Session | None:
        """A new copy of the stored conversation, or None.

        Raises:
            StoreUnavailable: the database failed, or the stored session is damaged.
        """
        row = await self._run(_select, conversation_id)
        return None if row is None else row[0]

    async def delete(self, conversation_id: str) -> bool:
        """Forget a conversation; True when it existed.

        Raises:
            ConversationBusy: a turn on it is running (in any process).
            StoreUnavailable: the database failed.
        """
        if conversation_id in self._busy:
            raise ConversationBusy(conversation_id)
        deleted = await self._run(_delete, conversation_id, self.clock())
        if deleted is None:
            raise ConversationBusy(conversation_id)
        return deleted

    async def count(self) -> int:
        """How many conversations the file holds.

        Raises:
            StoreUnavailable: the database failed.
        """
        return await self._run(_count)

    async def check(self) -> None:
        """Return when the file answers a query.

        Raises:
            StoreUnavailable: the database failed.
        """
        await self._run(_count)

    @asynccontextmanager
    async def turn(self, conversation_id: str) -> AsyncIterator[Turn]:
        """Take the conversation's lease and load it; store it at the end if the turn
        commits; release the lease.

        Raises:
            ConversationBusy: a turn on this id is running, in this or another process.
            ConversationConflict: this turn outlived its lease and another turn took the
                conversation (or it was deleted), so the commit was refused.
            StoreUnavailable: the database failed, or the stored session is damaged.
        """
        if conversation_id in self._busy:
            raise ConversationBusy(conversation_id)
        self._busy.add(conversation_id)
        token = secrets.token_hex(16)
        taken = False
        try:
            try:
                row = await self._run(_begin, conversation_id, token, self.clock(), self.lock_ttl)
            except _Leased:
                raise ConversationBusy(conversation_id) from None
            taken = True
            session, version = (Session(), None) if row is None else row
            turn = Turn(conversation_id, session, existed=row is not None)
            yield turn
            if turn.committed:
                stored = await self._run(
                    _commit,
                    conversation_id,
                    token,
                    version,
                    dumps_session(turn.session),
                    self.clock(),
                )
                if not stored:
                    logger.warning(
                        "conversation %r: the turn outlived its lease (%g s) or "
                        "lost a race; not saved",
                        conversation_id,
                        self.lock_ttl,
                    )
                    raise ConversationConflict(conversation_id)
        finally:
            self._busy.discard(conversation_id)
            if taken:
                with trio.CancelScope(shield=True):  # a lease left behind would hold it
                    try:
                        await self._run(_release, conversation_id, token)
                    except StoreUnavailable as exc:
                        logger.warning(
                            "could not release a conversation lease (it expires by itself): %s", exc
                        )

    async def _close(self) -> None:
        # Under the lock, so that no query of a leftover task meets a closed connection.
        async with self._lock:
            await trio.to_thread.run_sync(self._connection.close)

    async def _run(self, fn: Callable[[sqlite3.Connection, *Ts], T], *args: *Ts) -> T:
        """Run ``fn(connection, *args)`` in a thread, alone on the connection."""
        async with self._lock:
            try:
                return await trio.to_thread.run_sync(fn, self._connection, *args)
            except sqlite3.Error as exc:
                raise StoreUnavailable(
                    f"sessions file {self._path} failed: {exc} (check the disk and the file;"
                    " another process may hold it locked)"
                ) from exc


@asynccontextmanager
async def open_sqlite_store(
    path: str | os.PathLike[str],
    *,
    lock_ttl: float = 330.0,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[SQLiteStore]:
    """Open (creating if needed) a sessions file, and close it on exit.

    Args:
        path: the database file; its directory must exist. ``":memory:"`` keeps the
            conversations in memory, for as long as the store is open.
        lock_ttl: seconds a turn's lease lasts (longer than any turn may take).
        clock: wall-clock time in seconds (tests pass their own).

    Raises:
        StoreUnavailable: the file cannot be opened or created, is not a sessions
            database, or was written by a newer trioagent.
    """
    name = os.fspath(path)
    connection = await trio.to_thread.run_sync(_connect, name)
    store = SQLiteStore(connection, name, lock_ttl=lock_ttl, clock=clock)
    try:
        yield store
    finally:
        with trio.CancelScope(shield=True):
            await store._close()


# The functions below run in worker threads.


def _connect(path: str) -> sqlite3.Connection:
    def unavailable(reason: object, fix: str = "fix it") -> StoreUnavailable:
        return StoreUnavailable(
            f"cannot open sessions file {path}: {reason}; {fix}, or pass another path "
            "(--store sqlite:PATH, or --sessions PATH for serve api)"
        )

    in_memory = path == ":memory:"
    directory = os.path.dirname(os.path.abspath(path))
    if not in_memory and not os.path.isdir(directory):
        raise unavailable(f"directory {directory} does not exist", "create it")
    try:
        connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as exc:
        raise unavailable(exc) from exc
    try:
        connection.execute("PRAGMA busy_timeout = 5000")
        if not in_memory:
            (mode,) = connection.execute("PRAGMA journal_mode = WAL").fetchone()
            if mode != "wal":
                logger.warning("%s: SQLite cannot use WAL here; journal mode is %s", path, mode)
        connection.execute("PRAGMA synchronous = FULL")
        with _transaction(connection):
            (found,) = connection.execute("PRAGMA user_version").fetchone()
            if found > SCHEMA_VERSION:
                raise unavailable(
                    f"a newer trioagent wrote it (schema version {found}; this one reads"
                    f" {SCHEMA_VERSION})",
                    "upgrade trioagent",
                )
            if found < SCHEMA_VERSION:
                for statement in _SCHEMA:
                    connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except sqlite3.Error as exc:
        connection.close()
        raise unavailable(exc) from exc
    except BaseException:
        connection.close()
        raise
    return connection


@contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on any error: never left open."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
        connection.execute("COMMIT")
    except BaseException:
        connection.rollback()
        raise


def _select(connection: sqlite3.Connection, conversation_id: str) -> tuple[Session, int] | None:
    row = connection.execute(
        "SELECT data, version FROM sessions WHERE id = ?", (conversation_id,)
    ).fetchone()
    return None if row is None else (loads_session(row[0]), row[1])


class _Leased(Exception):
    """Another turn holds the conversation's lease."""


def _take_lease(
    connection: sqlite3.Connection,
    conversation_id: str,
    token: str,
    now: float,
    ttl: float,
) -> None:
    connection.execute("DELETE FROM leases WHERE id = ? AND expires <= ?", (conversation_id, now))
    taken = connection.execute(
        "INSERT INTO leases (id, token, expires) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
        (conversation_id, token, now + ttl),
    ).rowcount
    if not taken:
        raise _Leased


def _begin(
    connection: sqlite3.Connection,
    conversation_id: str,
    token: str,
    now: float,
    ttl: float,
) -> tuple[Session, int] | None:
    """Take the lease and read the conversation, in one transaction (a stored session
    that cannot be read rolls the lease back too)."""
    with _transaction(connection):
        _take_lease(connection, conversation_id, token, now, ttl)
        row = connection.execute(
            "SELECT data, version FROM sessions WHERE id = ?", (conversation_id,)
        ).fetchone()
        return None if row is None else (loads_session(row[0]), row[1])


def _commit(
    connection: sqlite3.Connection,
    conversation_id: str,
    token: str,
    version: int | None,
    data: str,
    now: float,
) -> bool:
    """Store the conversation if the lease is still ours (and nobody else wrote it since
    it was read); True when stored."""
    with _transaction(connection):
        held = connection.execute(
            "SELECT 1 FROM leases WHERE id = ? AND token = ? AND expires > ?",
            (conversation_id, token, now),
        ).fetchone()
        if held is None:
            return False
        if version is None:
            sql = (
                "INSERT INTO sessions (id, version, created, updated, data)"
                " VALUES (?1, 1, ?2, ?2, ?3) ON CONFLICT (id) DO NOTHING"
            )
            params: tuple[Any, ...] = (conversation_id, now, data)
        else:
            sql = (
                "UPDATE sessions SET data = ?, version = version + 1, updated = ?"
                " WHERE id = ? AND version = ?"
            )
            params = (data, now, conversation_id, version)
        return bool(connection.execute(sql, params).rowcount)


def _release(connection: sqlite3.Connection, conversation_id: str, token: str) -> None:
    with _transaction(connection):
        connection.execute(
            "DELETE FROM leases WHERE id = ? AND token = ?", (conversation_id, token)
        )


def _leased(connection: sqlite3.Connection, conversation_id: str, now: float) -> bool:
    row = connection.execute(
        "SELECT 1 FROM leases WHERE id = ? AND expires > ?", (conversation_id, now)
    ).fetchone()
    return row is not None


def _delete(connection: sqlite3.Connection, conversation_id: str, now: float) -> bool | None:
    """Delete the conversation unless a turn holds it: True if it existed, None if held."""
    with _transaction(connection):
        if _leased(connection, conversation_id, now):
            return None
        changed = connection.execute(
            "DELETE FROM sessions WHERE id = ?", (conversation_id,)
        ).rowcount
    return changed > 0


def _count(connection: sqlite3.Connection) -> int:
    (count,) = connection.execute("SELECT COUNT(*) FROM sessions").fetchone()
    return int(count)
