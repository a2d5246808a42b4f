"""Teams and runtimes: an agent file made runnable.

A ``Team`` holds the model clients of an agent file for the life of a server or a CLI
run. A ``Runtime`` is one agent with its toolsets opened; the pool lends runtimes to turns.
This module imports neither ``loop`` nor ``pool``: both build on it.
"""

from __future__ import annotations

import datetime
import os
import platform
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Protocol

import attrs
import trio

from ..chat import Message, ToolSpec
from ..models import open_model_client
from ..tools import ToolBox, TransferToolset, build_toolset

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping
    from pathlib import Path

    from ..config import AgentConfig, AgentFile, ModelConfig
    from ..models import ModelClient
    from ..tools import Safety


@attrs.define
class Team:
    """The agents of one file and their model clients (shared by all runtimes)."""

    file: AgentFile
    models: dict[str, ModelClient]
    working_dir: Path
    env: Mapping[str, str]
    safety: Safety
    host: trio.Nursery
    """Runs the team's long-lived connections (MCP sessions) until the team closes."""

    @property
    def agent_names(self) -> list[str]:
        return list(self.file.agents)


@asynccontextmanager
async def open_team(
    file: AgentFile,
    *,
    working_dir: Path,
    env: Mapping[str, str] | None = None,
    safety: Safety = "standard",
) -> AsyncIterator[Team]:
    """Create the model clients of every agent of ``file``; close them on exit.

    Args:
        safety: the tool policy of every runtime (see ``tools.policy``).

    Raises:
        ConfigError: a model cannot be used (for example its provider is not installed).
    """
    env = os.environ if env is None else env
    clients: dict[str, ModelClient] = {}
    try:
        for agent in file.agents.values():
            if agent.model not in clients:
                clients[agent.model] = open_model_client(file.models[agent.model], env=env)
        async with trio.open_nursery() as host:
            yield Team(file, clients, working_dir, env, safety, host)
            host.cancel_scope.cancel()  # what the runtimes left running stops with the team
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(2):
            for client in clients.values():
                await client.aclose()


class RuntimeLender(Protocol):
    """Lends runtimes of a team's agents: a ``RuntimePool``, as a runtime sees it."""

    def borrow(self, agent: str) -> AbstractAsyncContextManager[Runtime]:
        """A runtime of ``agent`` for the ``async with`` block."""
        ...


@attrs.define(kw_only=True)
class Runtime:
    """One agent, ready to run turns: its model client and its opened toolsets."""

    name: str
    config: AgentConfig
    model: ModelClient
    model_config: ModelConfig
    """The config of ``model``: its provider and sampling defaults, for traces."""
    toolbox: ToolBox
    working_dir: Path
    pool: RuntimeLender
    """Where the agent's sub-agents come from (``loop`` borrows them for transfers)."""

    @property
    def max_iterations(self) -> int:
        return self.config.max_iterations

    def tool_specs(self) -> list[ToolSpec]:
        return self.toolbox.specs()

    def preamble(self) -> list[Message]:
        """The system message the agent's instruction makes; it precedes every call."""
        parts = [self.config.instruction.strip()]
        parts.extend(ts.instruction.strip() for ts in self.config.toolsets)
        if self.config.add_date:
            parts.append(f"Today's date is {datetime.date.today().isoformat()}.")
        if self.config.add_environment_info:
            parts.append(
                f"Working directory: {self.working_dir}. Operating system: {platform.system()}."
            )
        text = "\n\n".join(part for part in parts if part)
        return [Message.system(text)] if text else []


@asynccontextmanager
async def open_runtime(team: Team, name: str, pool: RuntimeLender) -> AsyncIterator[Runtime]:
    """Open agent ``name``'s toolsets and yield it as a runtime; close them on exit."""
    config = team.file.agents[name]
    async with AsyncExitStack() as stack:
        toolsets = [
            await stack.enter_async_context(
                build_toolset(
                    ts,
                    env=team.env,
                    working_dir=team.working_dir,
                    safety=team.safety,
                    host=team.host,
                )
            )
            for ts in config.toolsets
        ]
        if config.sub_agents:
            members = [(sub, team.file.agents[sub].description) for sub in config.sub_agents]
            toolsets.append(await stack.enter_async_context(TransferToolset(members)))
        yield Runtime(
            name=name,
            config=config,
            model=team.models[config.model],
            model_config=team.file.models[config.model],
            toolbox=ToolBox(toolsets),
            working_dir=team.working_dir,
            pool=pool,
        )
