"""The SQL of `trioagent.store.sqlite`: the schema and what runs in its worker threads.

Each function takes the connection first and runs alone on it (the store's lock); the
ones that write do it in one ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

import attrs

from ..errors import StoreUnavailable
from .codec import loads_session

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ..runtime.session import Session

logger = logging.getLogger("trioagent.store.sqlite")

SCHEMA_VERSION: Final = 3
"""The ``PRAGMA user_version`` of the database layout below (1 had no leases, 2 no
namespaces)."""

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS sessions (
        id TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        data TEXT NOT NULL,
        namespace TEXT NOT NULL DEFAULT ''
    )""",
    """CREATE TABLE IF NOT EXISTS leases (
        id TEXT PRIMARY KEY,
        token TEXT NOT NULL,
        expires REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS sessions_by_use ON sessions (namespace, updated)",
)


def connect(path: str) -> sqlite3.Connection:
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
        with transaction(connection):
            (found,) = connection.execute("PRAGMA user_version").fetchone()
            if found > SCHEMA_VERSION:
                raise unavailable(
                    f"a newer trioagent wrote it (schema version {found}; this one reads"
                    f" {SCHEMA_VERSION})",
                    "upgrade trioagent",
                )
            if found < SCHEMA_VERSION:
                migrate(connection)
    except sqlite3.Error as exc:
        connection.close()
        raise unavailable(exc) from exc
    except BaseException:
        connection.close()
        raise
    return connection


def migrate(connection: sqlite3.Connection) -> None:
    """Bring a new file, or one of an older schema, to `SCHEMA_VERSION` (in a transaction)."""
    columns = {row[1] for row in connection.execute("PRAGMA table_info(sessions)")}
    if columns and "namespace" not in columns:  # schema 1 or 2: namespaces were id prefixes
        connection.execute("ALTER TABLE sessions ADD COLUMN namespace TEXT NOT NULL DEFAULT ''")
        connection.execute(
            "UPDATE sessions SET namespace = 'responses' WHERE id LIKE 'responses:%'"
        )
    for statement in _SCHEMA:
        connection.execute(statement)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on any error: never left open."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
        connection.execute("COMMIT")
    except BaseException:
        connection.rollback()
        raise


def select(
    connection: sqlite3.Connection, conversation_id: str, namespace: str, live_since: float
) -> tuple[Session, int] | None:
    row = connection.execute(
        "SELECT data, version FROM sessions WHERE id = ? AND namespace = ? AND updated > ?",
        (conversation_id, namespace, live_since),
    ).fetchone()
    return None if row is None else (loads_session(row[0]), row[1])


class Leased(Exception):
    """Another turn holds the conversation's lease."""


def take_lease(
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
        raise Leased


@attrs.frozen
class Lease:
    """A lease to take: in which namespace, from when, for how long."""

    namespace: str
    now: float
    ttl: float


def begin(
    connection: sqlite3.Connection,
    conversation_id: str,
    token: str,
    lease: Lease,
    live_since: float,
) -> tuple[Session, int] | None:
    """Take the lease and read the conversation, in one transaction (a stored session
    that cannot be read rolls the lease back too). An expired one is deleted (the turn
    starts afresh); a live one counts as used now."""
    with transaction(connection):
        take_lease(connection, conversation_id, token, lease.now, lease.ttl)
        connection.execute(
            "DELETE FROM sessions WHERE id = ? AND namespace = ? AND updated <= ?",
            (conversation_id, lease.namespace, live_since),
        )
        connection.execute(
            "UPDATE sessions SET updated = ? WHERE id = ? AND namespace = ?",
            (lease.now, conversation_id, lease.namespace),
        )
        return select(connection, conversation_id, lease.namespace, live_since)


@attrs.frozen
class Write:
    """A turn's commit: the conversation, the lease it holds and the version it read."""

    conversation_id: str
    token: str
    version: int | None
    data: str
    now: float


def commit(
    connection: sqlite3.Connection,
    write: Write,
    namespace: str,
    max_items: int,
    live_since: float,
) -> bool:
    """Store the conversation if the lease is still ours (and nobody else wrote it since
    it was read), then drop what the namespace holds past its bounds; True when stored."""
    with transaction(connection):
        held = connection.execute(
            "SELECT 1 FROM leases WHERE id = ? AND token = ? AND expires > ?",
            (write.conversation_id, write.token, write.now),
        ).fetchone()
        if held is None:
            return False
        if write.version is None:
            sql = (
                "INSERT INTO sessions (id, version, created, updated, data, namespace)"
                " VALUES (?1, 1, ?2, ?2, ?3, ?4) ON CONFLICT (id) DO NOTHING"
            )
            params: tuple[Any, ...] = (write.conversation_id, write.now, write.data, namespace)
        else:
            sql = (
                "UPDATE sessions SET data = ?, version = version + 1, updated = ?"
                " WHERE id = ? AND version = ?"
            )
            params = (write.data, write.now, write.conversation_id, write.version)
        if not connection.execute(sql, params).rowcount:
            return False
        # Only a new conversation can take the namespace past its bound: count then.
        trim(
            connection, namespace, max_items if write.version is None else 0, live_since, write.now
        )
        return True


_IDLE = "namespace = ? AND id NOT IN (SELECT id FROM leases WHERE expires > ?)"
"""The rows of a namespace that no turn holds: the ones the bounds may drop."""


def trim(
    connection: sqlite3.Connection, namespace: str, max_items: int, live_since: float, now: float
) -> None:
    """Drop the namespace's expired conversations, then its least recently used ones past
    ``max_items``; a conversation under a turn stays."""
    if live_since > -math.inf:  # conversations expire
        connection.execute(
            f"DELETE FROM sessions WHERE {_IDLE} AND updated <= ?", (namespace, now, live_since)
        )
    if max_items:
        excess = count(connection, namespace, live_since) - max_items
        if excess > 0:
            connection.execute(
                f"DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE {_IDLE}"
                " ORDER BY updated LIMIT ?)",
                (namespace, now, excess),
            )


def release(connection: sqlite3.Connection, conversation_id: str, token: str) -> None:
    with transaction(connection):
        connection.execute(
            "DELETE FROM leases WHERE id = ? AND token = ?", (conversation_id, token)
        )


def leased(connection: sqlite3.Connection, conversation_id: str, now: float) -> bool:
    row = connection.execute(
        "SELECT 1 FROM leases WHERE id = ? AND expires > ?", (conversation_id, now)
    ).fetchone()
    return row is not None


def delete(connection: sqlite3.Connection, conversation_id: str, now: float) -> bool | None:
    """Delete the conversation unless a turn holds it: True if it existed, None if held."""
    with transaction(connection):
        if leased(connection, conversation_id, now):
            return None
        changed = connection.execute(
            "DELETE FROM sessions WHERE id = ?", (conversation_id,)
        ).rowcount
    return changed > 0


def count(connection: sqlite3.Connection, namespace: str, live_since: float) -> int:
    (count,) = connection.execute(
        "SELECT COUNT(*) FROM sessions WHERE namespace = ? AND updated > ?",
        (namespace, live_since),
    ).fetchone()
    return int(count)
