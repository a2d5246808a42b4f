"""RuntimePool: lends each turn a runtime of its agent, keeping a few idle ones open."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

import attrs
import trio

from .agent import Runtime, Team, open_runtime

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

logger = logging.getLogger(__name__)


@attrs.define
class RuntimePool:
    """Runtimes per agent; at most ``max_idle`` idle ones are kept open per agent."""

    team: Team
    max_idle: int = 4
    _idle: dict[str, list[tuple[Runtime, AsyncExitStack]]] = attrs.field(factory=dict, init=False)

    @asynccontextmanager
    async def borrow(self, agent: str) -> AsyncIterator[Runtime]:
        """Lend a runtime of ``agent`` for one turn.

        A runtime goes back to the idle list only when the turn ended without an error,
        so a toolset left in an unknown state by a failure is closed, not reused.
        """
        idle = self._idle.setdefault(agent, [])
        if idle:
            runtime, stack = idle.pop()
        else:
            stack = AsyncExitStack()
            runtime = await stack.enter_async_context(open_runtime(self.team, agent, self))
        clean = False
        try:
            yield runtime
            clean = True
        finally:
            if clean and len(idle) < self.max_idle:
                idle.append((runtime, stack))
            else:
                await _close(stack)

    def idle_count(self, agent: str) -> int:
        return len(self._idle.get(agent, ()))

    async def aclose(self) -> None:
        """Close every idle runtime."""
        for idle in self._idle.values():
            while idle:
                await _close(idle.pop()[1])


async def _close(stack: AsyncExitStack) -> None:
    with trio.CancelScope(shield=True), trio.move_on_after(2):
        await stack.aclose()


@asynccontextmanager
async def open_pool(team: Team, *, max_idle: int = 4) -> AsyncIterator[RuntimePool]:
    """A pool for ``team`` that closes its idle runtimes on exit."""
    pool = RuntimePool(team, max_idle)
    try:
        yield pool
    finally:
        await pool.aclose()
