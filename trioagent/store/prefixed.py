"""A store's view with every id under a prefix, so two kinds of record share one store.

The SQLite file of ``serve chat`` holds both ``X-Conversation-Id`` conversations and stored
Responses API responses; with the responses under ``responses:``, an id of one kind can
never name a record of the other. (Redis takes its prefix natively.)
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from ..runtime.session import Session
    from .base import ConversationStore, Turn


@attrs.define
class PrefixedStore:
    """``inner`` with ``prefix`` before every conversation id (a `ConversationStore`)."""

    inner: ConversationStore
    prefix: str

    def is_busy(self, conversation_id: str) -> bool:
        return self.inner.is_busy(self.prefix + conversation_id)

    async def is_taken(self, conversation_id: str) -> bool:
        return await self.inner.is_taken(self.prefix + conversation_id)

    async def get(self, conversation_id: str) -> Session | None:
        return await self.inner.get(self.prefix + conversation_id)

    async def delete(self, conversation_id: str) -> bool:
        return await self.inner.delete(self.prefix + conversation_id)

    async def count(self) -> int:
        return await self.inner.count()

    async def check(self) -> None:
        await self.inner.check()

    @asynccontextmanager
    async def turn(self, conversation_id: str) -> AsyncIterator[Turn]:
        async with self.inner.turn(self.prefix + conversation_id) as turn:
            yield turn
