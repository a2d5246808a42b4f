"""The conversation store protocol.

A turn works on a clone of the stored session; only ``turn.commit()`` replaces what is
stored. Errors, cancellation and a forgotten commit all leave the stored conversation
exactly as it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import attrs

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from ..runtime.session import Session


@attrs.define
class Turn:
    """One turn's hold on a conversation: the lock, a clone, and the commit flag."""

    conversation_id: str
    session: Session
    """A clone of the stored session (empty when the conversation is new)."""
    existed: bool
    """Whether the store held this conversation when the turn began."""
    committed: bool = False

    def commit(self) -> None:
        """Mark ``session`` to replace the stored conversation when the turn ends."""
        self.committed = True


class ConversationStore(Protocol):
    """Where conversations live between requests."""

    def turn(self, conversation_id: str) -> AbstractAsyncContextManager[Turn]:
        """Take the conversation's lock for one turn.

        Raises:
            ConversationBusy: another turn on this id is running.
            StoreUnavailable: the store cannot be reached.
        """
        ...

    def is_busy(self, conversation_id: str) -> bool:
        """Whether a turn of this process on this id is running."""
        ...

    async def is_taken(self, conversation_id: str) -> bool:
        """Whether a turn on this id is running here or, for a shared store, anywhere.

        A fast pre-check that lets a route answer 409 (or 503) before its response
        starts; ``turn`` decides.

        Raises:
            StoreUnavailable: the store cannot be reached.
        """
        ...

    async def get(self, conversation_id: str) -> Session | None:
        """A clone of the stored conversation, or None."""
        ...

    async def delete(self, conversation_id: str) -> bool:
        """Forget a conversation; True when it existed."""
        ...

    async def count(self) -> int:
        """How many conversations the store holds (for metrics).

        Raises:
            StoreUnavailable: the store cannot be reached.
        """
        ...

    async def check(self) -> None:
        """Return when the store answers (``/readyz``).

        Raises:
            StoreUnavailable: the store cannot be reached.
        """
        ...
