"""The toolset protocol and what a tool call can see of its turn."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import attrs

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from ..chat import ToolResult, ToolSpec, Usage


@attrs.define(kw_only=True)
class ToolContext:
    """What a tool call may touch besides its arguments.

    ``state`` is the conversation's tool state (a dict per toolset name) on the turn's
    clone, so what a tool keeps there is committed with the turn or dropped with it:
    tool state never leaks between conversations.
    """

    working_dir: Path
    state: dict[str, Any]
    run_sub_agent: Callable[[str, str], Awaitable[tuple[str, Usage]]] | None = None
    """Runs a sub-agent on a task and returns its answer and usage (for transfer_task)."""

    def state_for(self, toolset: str) -> dict[str, Any]:
        """The state dict of one toolset, created empty on first use."""
        state: dict[str, Any] = self.state.setdefault(toolset, {})
        return state


class Toolset(Protocol):
    """A group of tools. Open toolsets once per runtime with ``async with``."""

    async def __aenter__(self) -> Toolset: ...

    async def __aexit__(self, *exc_info: object) -> None: ...

    def tools(self) -> list[ToolSpec]:
        """The tools this set offers (valid after ``__aenter__``)."""
        ...

    async def call(self, name: str, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Run one tool. Failures are returned as ``ToolResult.error(...)``, not raised;
        only ``trio.Cancelled`` propagates."""
        ...
