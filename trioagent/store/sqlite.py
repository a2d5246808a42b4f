"""A conversation store in one SQLite file, which survives restarts and may be shared.

Every database call runs in a worker thread (`trio.to_thread.run_sync`, which waits for
the thread even when cancelled, so a write that started always finishes), one at a time
on one connection. A turn holds an in-process lock on its id; across processes sharing
the file, a commit is optimistic: it stores only if nobody else committed or deleted the
conversation since the turn loaded it, and raises `ConversationBusy` otherwise.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, Final, TypeVar, TypeVarTuple

import attrs
import trio

from ..errors import ConversationBusy, StoreUnavailable
from ..runtime.session import Session
from .base import Turn
from .codec import dumps_session, loads_session

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

logger = logging.getLogger(__name__)

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

SCHEMA_VERSION: Final = 1
"""The ``PRAGMA user_version`` of the database layout below."""

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    data TEXT NOT NULL
)"""


@attrs.define
class SQLiteStore:
    """Conversations in a SQLite file; build it with `open_sqlite_store`.

    ``is_busy`` and `ConversationBusy` on ``turn`` see only this process's turns; a turn
    of another process on the same id surfaces as `ConversationBusy` at commit instead.
    """

    _connection: sqlite3.Connection
    _path: str
    _lock: trio.Lock = attrs.field(factory=trio.Lock, init=False)
    _busy: set[str] = attrs.field(factory=set, init=False)

    def is_busy(self, conversation_id: str) -> bool:
        return conversation_id in self._busy

    async def is_taken(self, conversation_id: str) -> bool:
        """This process's turns only: another process's turn shows at commit (409)."""
        return conversation_id in self._busy

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
            StoreUnavailable: the database failed.
        """
        sql = "DELETE FROM sessions WHERE id = ?"
        return await self._run(_write, sql, (conversation_id,))

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
        """Load the conversation for one turn; store it at the end if the turn commits.

        Raises:
            ConversationBusy: a turn on this id is running in this process, or another
                process changed or deleted the conversation before this turn committed.
            StoreUnavailable: the database failed, or the stored session is damaged.
        """
        if conversation_id in self._busy:
            raise ConversationBusy(conversation_id)
        self._busy.add(conversation_id)
        try:
            row = await self._run(_select, conversation_id)
            session, version = (Session(), None) if row is None else row
            turn = Turn(conversation_id, session, existed=row is not None)
            yield turn
            if turn.committed:
                data = dumps_session(turn.session)
                if version is None:
                    sql = ("INSERT INTO sessions (id, version, created, updated, data)"
                           " VALUES (?1, 1, ?2, ?2, ?3) ON CONFLICT (id) DO NOTHING")
                    params: tuple[Any, ...] = (conversation_id, time.time(), data)
                else:
                    sql = ("UPDATE sessions SET data = ?, version = version + 1, updated = ?"
                           " WHERE id = ? AND version = ?")
                    params = (data, time.time(), conversation_id, version)
                if not await self._run(_write, sql, params):
                    raise ConversationBusy(conversation_id)
        finally:
            self._busy.discard(conversation_id)

    async def _close(self) -> None:
        # Under the lock, so that no query of a leftover task meets a closed connection.
        async with self._lock:
            await trio.to_thread.run_sync(self._connection.close)

    async def _run(
        self, fn: Callable[[sqlite3.Connection, *Ts], T], *args: *Ts
    ) -> T:
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
async def open_sqlite_store(path: str | os.PathLike[str]) -> AsyncIterator[SQLiteStore]:
    """Open (creating if needed) a sessions file, and close it on exit.

    Args:
        path: the database file; its directory must exist. ``":memory:"`` keeps the
            conversations in memory, for as long as the store is open.

    Raises:
        StoreUnavailable: the file cannot be opened or created, is not a sessions
            database, or was written by a newer trioagent.
    """
    name = os.fspath(path)
    connection = await trio.to_thread.run_sync(_connect, name)
    store = SQLiteStore(connection, name)
    try:
        yield store
    finally:
        with trio.CancelScope(shield=True):
            await store._close()


# The functions below run in worker threads.


def _connect(path: str) -> sqlite3.Connection:
    def unavailable(reason: object, fix: str = "fix it") -> StoreUnavailable:
        return StoreUnavailable(
            f"cannot open sessions file {path}: {reason}; {fix} or pass another --sessions path"
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
                    f" {SCHEMA_VERSION})", "upgrade trioagent",
                )
            if found < SCHEMA_VERSION:
                connection.execute(_SCHEMA)
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


def _write(connection: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> bool:
    """Run one changing statement in its own transaction; True when it changed a row."""
    with _transaction(connection):
        changed = connection.execute(sql, params).rowcount
    return changed > 0


def _count(connection: sqlite3.Connection) -> int:
    (count,) = connection.execute("SELECT COUNT(*) FROM sessions").fetchone()
    return int(count)
