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

Like the other stores, it keeps at most ``max_items`` conversations, least recently used
dropped first, and forgets one idle ``ttl`` seconds (since its last turn); 0 means no bound.
A ``namespace`` keeps a second kind of record in the same file (``serve chat``'s stored
responses beside its conversations), with ids and bound of its own.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import sqlite3
import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypeVar, TypeVarTuple

import attrs
import trio

from ..errors import ConversationBusy, ConversationConflict, StoreUnavailable
from ..runtime.session import Session
from . import _sqlite_sql as sql
from ._sqlite_sql import SCHEMA_VERSION as SCHEMA_VERSION
from .base import Turn
from .codec import dumps_session

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

logger = logging.getLogger(__name__)

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


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
    max_items: int = 0
    """Conversations kept (in ``namespace``), least recently used dropped first; 0: all."""
    ttl: float = 0.0
    """Seconds since its last turn after which a conversation is forgotten; 0: never."""
    namespace: str = ""
    """The kind of record this store sees; ids of another namespace never meet its own."""
    _lock: trio.Lock = attrs.field(factory=trio.Lock, init=False)
    _busy: set[str] = attrs.field(factory=set, init=False)

    def is_busy(self, conversation_id: str) -> bool:
        return self._key(conversation_id) in self._busy

    async def is_taken(self, conversation_id: str) -> bool:
        """Whether a turn on this id holds a lease, in any process sharing the file.

        Raises:
            StoreUnavailable: the database failed.
        """
        key = self._key(conversation_id)
        if key in self._busy:
            return True
        return await self._run(sql.leased, key, self.clock())

    async def get(self, conversation_id: str) -> Session | None:
        """A new copy of the stored conversation, or None.

        Raises:
            StoreUnavailable: the database failed, or the stored session is damaged.
        """
        row = await self._run(
            sql.select, self._key(conversation_id), self.namespace, self._live_since()
        )
        return None if row is None else row[0]

    async def delete(self, conversation_id: str) -> bool:
        """Forget a conversation; True when it existed.

        Raises:
            ConversationBusy: a turn on it is running (in any process).
            StoreUnavailable: the database failed.
        """
        key = self._key(conversation_id)
        if key in self._busy:
            raise ConversationBusy(conversation_id)
        deleted = await self._run(sql.delete, key, self.clock())
        if deleted is None:
            raise ConversationBusy(conversation_id)
        return deleted

    async def count(self) -> int:
        """How many conversations (of ``namespace``) the file holds.

        Raises:
            StoreUnavailable: the database failed.
        """
        return await self._run(sql.count, self.namespace, self._live_since())

    async def check(self) -> None:
        """Return when the file answers a query.

        Raises:
            StoreUnavailable: the database failed.
        """
        await self._run(sql.count, self.namespace, self._live_since())

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
        key = self._key(conversation_id)
        if key in self._busy:
            raise ConversationBusy(conversation_id)
        self._busy.add(key)
        token = secrets.token_hex(16)
        taken = False
        try:
            try:
                row = await self._run(sql.begin, key, token, self._lease(), self._live_since())
            except sql.Leased:
                raise ConversationBusy(conversation_id) from None
            taken = True
            session, version = (Session(), None) if row is None else row
            turn = Turn(conversation_id, session, existed=row is not None)
            yield turn
            if turn.committed:
                stored = await self._run(
                    sql.commit,
                    sql.Write(key, token, version, dumps_session(turn.session), self.clock()),
                    self.namespace,
                    self.max_items,
                    self._live_since(),
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
            self._busy.discard(key)
            if taken:
                with trio.CancelScope(shield=True):  # a lease left behind would hold it
                    try:
                        await self._run(sql.release, key, token)
                    except StoreUnavailable as exc:
                        logger.warning(
                            "could not release a conversation lease (it expires by itself): %s", exc
                        )

    def _key(self, conversation_id: str) -> str:
        """The row id of a conversation: its id, after the namespace's prefix."""
        return f"{self.namespace}:{conversation_id}" if self.namespace else conversation_id

    def _lease(self) -> sql.Lease:
        return sql.Lease(self.namespace, self.clock(), self.lock_ttl)

    def _live_since(self) -> float:
        """Rows last used before this time have expired (-inf: none expire)."""
        return self.clock() - self.ttl if self.ttl else -math.inf

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
    max_items: int = 0,
    ttl: float = 0.0,
    namespace: str = "",
) -> AsyncIterator[SQLiteStore]:
    """Open (creating if needed) a sessions file, and close it on exit.

    Args:
        path: the database file; its directory must exist. ``":memory:"`` keeps the
            conversations in memory, for as long as the store is open.
        lock_ttl: seconds a turn's lease lasts (longer than any turn may take).
        clock: wall-clock time in seconds (tests pass their own).
        max_items: conversations kept, least recently used dropped first; 0: no bound.
        ttl: seconds after its last turn that a conversation is forgotten; 0: never.
        namespace: the kind of record this store holds, apart from the others in the file.

    Raises:
        StoreUnavailable: the file cannot be opened or created, is not a sessions
            database, or was written by a newer trioagent.
    """
    name = os.fspath(path)
    connection = await trio.to_thread.run_sync(sql.connect, name)
    store = SQLiteStore(
        connection,
        name,
        lock_ttl=lock_ttl,
        clock=clock,
        max_items=max_items,
        ttl=ttl,
        namespace=namespace,
    )
    try:
        yield store
    finally:
        with trio.CancelScope(shield=True):
            await store._close()
