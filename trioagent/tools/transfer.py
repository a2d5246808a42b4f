"""The ``transfer_task`` tool: hand a task to a sub-agent and return its answer."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import attrs
import trio

from trioagent.chat import ToolResult, ToolSpec

from ._common import BuiltinToolset, schema, str_arg

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from ._common import Handler
    from .base import ToolContext

logger = logging.getLogger(__name__)


def task_text(task: str, expected_output: str = "") -> str:
    """The message a sub-agent receives for a transferred task."""
    text = (
        "You are a member of a team of agents. Your goal is to complete the following task:"
        f"\n\n<task>\n{task}\n</task>"
    )
    if expected_output:
        text += f"\n\n<expected_output>\n{expected_output}\n</expected_output>"
    return text


def _pairs(sub_agents: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((name, description) for name, description in sub_agents)


@attrs.define
class TransferToolset(BuiltinToolset):
    """``transfer_task`` for an agent with sub-agents.

    Args:
        sub_agents: ``(name, description)`` of each agent tasks may be handed to.
    """

    sub_agents: tuple[tuple[str, str], ...] = attrs.field(converter=_pairs)

    @property
    def agent_names(self) -> list[str]:
        return [name for name, _ in self.sub_agents]

    def tools(self) -> list[ToolSpec]:
        team = "\n".join(
            f"- {name}: {description}" if description else f"- {name}"
            for name, description in self.sub_agents
        )
        return [
            ToolSpec(
                name="transfer_task",
                description=(
                    "Use this function to transfer a task to the selected team member. You "
                    "must provide a clear and concise description of the task the member "
                    "should achieve AND the expected output. The member's answer is "
                    f"returned.\nTeam members:\n{team}"
                ),
                parameters=schema(
                    {
                        "agent": {
                            "type": "string",
                            "enum": self.agent_names,
                            "description": "The name of the agent to transfer the task to.",
                        },
                        "task": {
                            "type": "string",
                            "description": "A clear and concise description of the task "
                            "the member should achieve.",
                        },
                        "expected_output": {
                            "type": "string",
                            "description": "The expected output from the member (optional).",
                        },
                    },
                    required=("agent", "task"),
                ),
            )
        ]

    def _handlers(self) -> Mapping[str, Handler]:
        return {"transfer_task": self._transfer}

    async def _transfer(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        agent = str_arg(arguments, "agent")
        task = str_arg(arguments, "task")
        expected = str_arg(arguments, "expected_output", "")
        if agent not in self.agent_names:
            known = ", ".join(self.agent_names) or "none"
            return ToolResult.error(
                f"cannot transfer to {agent!r}: it is not a sub-agent of this agent. "
                f"Available agents: {known}"
            )
        if ctx.run_sub_agent is None:
            return ToolResult.error("transfer_task is not available in this context")
        try:
            answer, _usage = await ctx.run_sub_agent(agent, task_text(task, expected))
        except trio.Cancelled:
            raise
        except Exception as exc:
            logger.warning("sub-agent %s failed", agent, exc_info=True)
            return ToolResult.error(f"agent {agent!r} failed: {type(exc).__name__}: {exc}")
        return ToolResult(answer or f"agent {agent!r} finished without an answer")
