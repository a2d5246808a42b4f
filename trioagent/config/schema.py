"""Agent file types, in the docker-agent YAML format.

These classes are what ``config.load`` returns. Field names are the YAML keys; the strict
converter in ``config.convert`` refuses unknown keys, so a typo fails at load time.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

ToolsetType = Literal["filesystem", "shell", "think", "todo", "memory", "mcp"]
TOOLSET_TYPES: tuple[str, ...] = ("filesystem", "shell", "think", "todo", "memory", "mcp")

DEFAULT_MAX_ITERATIONS = 20


@attrs.frozen(kw_only=True)
class RemoteConfig:
    """An MCP server reached over streamable HTTP."""

    url: str
    """The server's URL."""
    transport_type: str | None = None
    headers: dict[str, str] = attrs.Factory(dict)


@attrs.frozen(kw_only=True)
class ToolsetConfig:
    """One entry of an agent's ``toolsets:`` list."""

    type: ToolsetType
    """Which toolset: filesystem, shell, think, todo, memory or mcp."""
    tools: tuple[str, ...] = ()
    """Only offer these tools of the set (all when empty)."""
    instruction: str = ""
    """Text added to the agent's instruction when this toolset is present."""
    path: str | None = None
    """memory: the file the memories persist to."""
    timeout: int | None = None
    """shell: seconds a command may run (default 30)."""
    shared: bool = False
    """todo: accepted for docker-agent compatibility; todo lists are per conversation."""
    env: dict[str, str] = attrs.Factory(dict)
    """shell, mcp: extra environment variables."""
    command: str | None = None
    """mcp (stdio): the server command."""
    args: tuple[str, ...] = ()
    """mcp (stdio): its arguments."""
    remote: RemoteConfig | None = None
    """mcp (HTTP): the remote server."""
    ref: str | None = None
    """mcp: a docker-agent catalog reference (``docker:...``); not supported yet."""
    allow_when_restricted: bool = False
    """shell, filesystem: run this toolset fully even under ``--safety restricted``
    (which otherwise refuses shell commands and file writes). A trioagent extension."""


@attrs.frozen(kw_only=True)
class ModelConfig:
    """One entry of ``models:``, or an inline ref such as ``openai/gpt-4o`` expanded."""

    provider: str
    """openai, anthropic, ollama, vllm, llamacpp, lmstudio, local, or any name with a
    ``base_url`` (spoken to as OpenAI-compatible)."""
    model: str
    """The provider's model id."""
    base_url: str | None = None
    """Where the provider listens; the provider's default when unset."""
    token_key: str | None = None
    """The name of the environment variable holding the API key."""
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    parallel_tool_calls: bool | None = None
    provider_opts: dict[str, Any] = attrs.Factory(dict)
    """Provider-specific settings, passed through."""


@attrs.frozen(kw_only=True)
class AgentConfig:
    """One entry of ``agents:``. Its name is the key it stands under."""

    model: str
    """A key of ``models:``, an inline ref (``openai/gpt-4o``) or ``auto``."""
    description: str = ""
    instruction: str = ""
    toolsets: tuple[ToolsetConfig, ...] = ()
    sub_agents: tuple[str, ...] = ()
    """Names of agents of the same file this agent may hand tasks to."""
    max_iterations: int = DEFAULT_MAX_ITERATIONS
    """Model calls per turn before the agent stops with ``finish_reason: length``."""
    welcome_message: str = ""
    add_date: bool = False
    """Add today's date to the instruction."""
    add_environment_info: bool = False
    """Add the working directory and OS to the instruction."""


@attrs.frozen(kw_only=True)
class Metadata:
    """Optional information about the agent file."""

    author: str = ""
    license: str = ""
    description: str = ""
    readme: str = ""
    version: str = ""


@attrs.frozen(kw_only=True)
class AgentFile:
    """A whole agent file. After ``config.load``, every agent's ``model`` is a key of
    ``models`` (inline refs and ``auto`` are resolved), and every sub-agent exists."""

    agents: dict[str, AgentConfig]
    """Agents in file order; the one named ``root``, else the first, is the default."""
    models: dict[str, ModelConfig] = attrs.Factory(dict)
    version: str | None = None
    metadata: Metadata = Metadata()
    source: str = ""
    """Where the file was loaded from (set by the loader)."""

    @property
    def default_agent(self) -> str:
        return "root" if "root" in self.agents else next(iter(self.agents))

    def model_of(self, agent: str) -> ModelConfig:
        """The resolved model config of an agent."""
        return self.models[self.agents[agent].model]
