"""``--store URL``: which conversation store a server uses, and opening it.

``memory:``            this process only (the default of ``serve chat``)
``sqlite:PATH``        a SQLite file, shared by the processes of one machine (the default
                       of ``serve api``); ``sqlite::memory:`` keeps it in memory
``redis://HOST:PORT/DB`` Redis, shared by many machines (``rediss://`` for TLS,
                       ``redis://:PASSWORD@HOST:PORT/DB`` with a password)
"""

from __future__ import annotations

import math
import sys
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Literal

import attrs

from .memory import MemoryStore
from .sqlite import open_sqlite_store

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from .base import ConversationStore

StoreKind = Literal["memory", "sqlite", "redis"]


@attrs.frozen
class StoreURL:
    """A parsed ``--store`` value."""

    kind: StoreKind
    target: str = ""
    """The SQLite path, or the whole Redis URL."""

    @classmethod
    def parse(cls, text: str) -> StoreURL:
        """``memory:``, ``sqlite:PATH`` or ``redis://HOST:PORT/DB`` -> StoreURL.

        Raises:
            ValueError: the text names no store; the message shows the forms.
        """
        scheme, sep, rest = text.partition(":")
        if sep and scheme == "memory" and not rest:
            return cls("memory")
        if sep and scheme == "sqlite" and rest:
            return cls("sqlite", rest)
        if scheme in ("redis", "rediss") and rest.startswith("//") and len(rest) > 2:
            return cls("redis", text)
        raise ValueError(
            f"invalid --store {text!r}: use memory:, sqlite:PATH or redis://HOST:PORT/DB"
        )

    @property
    def shared(self) -> bool:
        """Whether several processes see the same conversations through it."""
        return self.kind == "redis" or (self.kind == "sqlite" and self.target != ":memory:")

    def __str__(self) -> str:
        if self.kind == "memory":
            return "memory:"
        if self.kind == "sqlite":
            return f"sqlite:{self.target}"
        return _without_password(self.target)


def _without_password(url: str) -> str:
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at:
        return url
    user = credentials.partition(":")[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url


@asynccontextmanager
async def open_store(
    url: StoreURL,
    *,
    max_items: int,
    ttl: float,
    lock_ttl: float,
    namespace: str = "",
) -> AsyncIterator[ConversationStore]:
    """Open the store ``url`` names; close it on exit.

    Args:
        url: the store.
        max_items: conversations kept, least recently used dropped first; 0: no bound.
        ttl: seconds an idle conversation is kept; 0: forever.
        lock_ttl: seconds a turn's lock outlives a replica that died mid-turn (Redis).
        namespace: keeps this store's keys, and its bound, apart from another store's
            in the same SQLite file or Redis, e.g. ``responses``. A memory store is
            apart anyway.

    Raises:
        StoreUnavailable: the file cannot be opened, or Redis cannot be reached.
    """
    if url.kind == "memory":
        yield MemoryStore(max_items or sys.maxsize, ttl or math.inf)
    elif url.kind == "sqlite":
        async with open_sqlite_store(
            url.target, lock_ttl=lock_ttl, max_items=max_items, ttl=ttl, namespace=namespace or ""
        ) as store:
            yield store
    else:
        from .redis import open_redis_store  # coredis loads only when Redis is used

        async with open_redis_store(
            url.target,
            max_items=max_items,
            ttl=ttl,
            lock_ttl=lock_ttl,
            prefix=f"trioagent:{namespace}:" if namespace else "trioagent:",
        ) as redis_store:
            yield redis_store
