"""The ``think`` tool: a scratchpad the model writes to before it acts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trioagent.chat import ToolResult, ToolSpec

from ._common import BuiltinToolset, schema, str_arg

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._common import Handler
    from .base import ToolContext

THINK = ToolSpec(
    name="think",
    description=(
        "Use the tool to think about something. It will not obtain new information or "
        "change anything, but just append the thought to the log. Use it when complex "
        "reasoning or some cache memory is needed."
    ),
    parameters=schema(
        {"thought": {"type": "string", "description": "The thought to think about"}},
        required=("thought",),
    ),
)


class ThinkToolset(BuiltinToolset):
    """The ``think`` tool. Stateless: the thought lives on in the conversation itself."""

    def tools(self) -> list[ToolSpec]:
        return [THINK]

    def _handlers(self) -> Mapping[str, Handler]:
        return {"think": self._think}

    async def _think(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        thought = str_arg(arguments, "thought")
        return ToolResult(f"Thought recorded:\n{thought}")
