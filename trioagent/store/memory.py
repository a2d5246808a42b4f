"""An in-process conversation store with an LRU bound and idle expiry."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import attrs
import trio

from ..errors import ConversationBusy
from ..runtime.session import Session
from .base import Turn
from .codec import dumps_session, loads_session

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@attrs.define
class _Entry:
    data: bytes
    """The session as compact JSON (`codec`): an idle conversation of 10 messages takes
    about 1.5 KiB this way, against about 4 KiB as live objects."""
    last_used: float


@attrs.define
class MemoryStore:
    """Conversations in memory, at most ``max_items``, forgotten after ``ttl`` idle seconds.

    Time is ``trio.current_time()``, so tests drive expiry with ``trio.testing.MockClock``.
    A conversation with a turn running is never expired or evicted under it: the turn's
    commit re-inserts it as the most recently used.
    """

    max_items: int
    ttl: float
    _entries: OrderedDict[str, _Entry] = attrs.field(factory=OrderedDict, init=False)
    _busy: set[str] = attrs.field(factory=set, init=False)

    def __len__(self) -> int:
        self._expire()
        return len(self._entries)

    def __contains__(self, conversation_id: str) -> bool:
        self._expire()
        return conversation_id in self._entries

    def is_busy(self, conversation_id: str) -> bool:
        return conversation_id in self._busy

    async def is_taken(self, conversation_id: str) -> bool:
        return conversation_id in self._busy

    async def get(self, conversation_id: str) -> Session | None:
        self._expire()
        entry = self._entries.get(conversation_id)
        return None if entry is None else loads_session(entry.data.decode())

    async def delete(self, conversation_id: str) -> bool:
        return self._entries.pop(conversation_id, None) is not None

    async def count(self) -> int:
        return len(self)

    async def check(self) -> None:
        """Always ready: the conversations are in this process."""

    @asynccontextmanager
    async def turn(self, conversation_id: str) -> AsyncIterator[Turn]:
        if conversation_id in self._busy:
            raise ConversationBusy(conversation_id)
        self._expire()  # before the id is busy: _expire() keeps busy ids
        self._busy.add(conversation_id)
        try:
            entry = self._entries.get(conversation_id)
            if entry is not None:
                entry.last_used = trio.current_time()
                self._entries.move_to_end(conversation_id)
            session = Session() if entry is None else loads_session(entry.data.decode())
            turn = Turn(conversation_id, session, existed=entry is not None)
            yield turn
            if turn.committed:
                self._put(conversation_id, turn.session)
        finally:
            self._busy.discard(conversation_id)

    def _put(self, conversation_id: str, session: Session) -> None:
        data = dumps_session(session).encode()
        self._entries[conversation_id] = _Entry(data, trio.current_time())
        self._entries.move_to_end(conversation_id)
        excess = len(self._entries) - self.max_items
        if excess > 0:
            idle = (cid for cid in self._entries if cid not in self._busy)
            for victim in list(itertools.islice(idle, excess)):
                del self._entries[victim]

    def _expire(self) -> None:
        """Drop conversations idle past the TTL; the oldest are first in the LRU order."""
        deadline = trio.current_time() - self.ttl
        expired = []
        for conversation_id, entry in self._entries.items():
            if entry.last_used > deadline:
                break
            expired.append(conversation_id)
        for conversation_id in expired:
            if conversation_id not in self._busy:
                del self._entries[conversation_id]
