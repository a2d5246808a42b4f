"""From config to callable tools: ``build_toolset`` and the ``ToolBox`` dispatcher.

``build_toolset`` turns one ``toolsets:`` entry into a toolset (not yet opened), with its
``tools:`` allow-list applied. A runtime opens its toolsets and puts them in a
``ToolBox``, which offers their specs to the model and routes each call by tool name,
turning every failure (bad JSON arguments, unknown tool, a tool that raised) into an
error result the model sees. Only cancellation and non-``Exception`` errors propagate.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from trioagent.chat import ToolResult
from trioagent.errors import ConfigError

from .filesystem import FilesystemToolset
from .mcp import MCPToolset
from .memory import DEFAULT_PATH, MemoryToolset
from .policy import GuardedToolset, refused_tools, shell_environment
from .shell import DEFAULT_TIMEOUT, ShellToolset
from .think import ThinkToolset
from .todo import TodoToolset

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    import trio

    from trioagent.chat import ToolSpec
    from trioagent.config.schema import ToolsetConfig

    from .base import ToolContext, Toolset
    from .policy import Safety

logger = logging.getLogger(__name__)


def build_toolset(
    cfg: ToolsetConfig,
    *,
    env: Mapping[str, str] | None = None,
    working_dir: Path | None = None,
    safety: Safety = "standard",
    host: trio.Nursery | None = None,
) -> Toolset:
    """The toolset a ``toolsets:`` entry describes, not yet opened.

    Args:
        cfg: the entry.
        env: the server's environment (default: ``os.environ``); shell commands see what
            ``safety`` keeps of it, plus the entry's own ``env``.
        working_dir: where a relative memory ``path`` resolves and MCP servers start;
            without it, the working directory of each call (of the process, for MCP).
        safety: the server's tool policy (see ``tools.policy``).
        host: the nursery that runs MCP connections; required for ``mcp`` toolsets.

    Raises:
        ConfigError: the type is not supported (``mcp``, for now) or a setting is invalid.
    """
    toolset: Toolset
    if cfg.type == "think":
        toolset = ThinkToolset()
    elif cfg.type == "todo":
        toolset = TodoToolset()
    elif cfg.type == "filesystem":
        toolset = FilesystemToolset()
    elif cfg.type == "memory":
        path = Path(cfg.path or DEFAULT_PATH).expanduser()
        if working_dir is not None and not path.is_absolute():
            path = working_dir / path
        toolset = MemoryToolset(path)
    elif cfg.type == "shell":
        if cfg.timeout is not None and cfg.timeout <= 0:
            raise ConfigError(
                f"shell toolset timeout must be a positive number of seconds, not {cfg.timeout}"
            )
        base = os.environ if env is None else env
        toolset = ShellToolset(
            env=shell_environment(base, cfg.env, safety),
            timeout=cfg.timeout or DEFAULT_TIMEOUT,
        )
    elif cfg.type == "mcp":
        if cfg.ref is not None:
            raise ConfigError(
                f"MCP catalog refs ({cfg.ref!r}) are not supported; start the server with "
                "command/args, or reach it with remote: {url: ...}"
            )
        if host is None:
            raise ConfigError("an mcp toolset needs a host nursery (open it through a Team)")
        toolset = MCPToolset(cfg, host=host, working_dir=working_dir or Path.cwd())
    else:
        raise ConfigError(
            f"unknown toolset type {cfg.type!r}; use filesystem, shell, think, todo or memory"
        )
    if cfg.tools:
        toolset = FilteredToolset(toolset, cfg.tools, label=cfg.type)
    refused = refused_tools(cfg, safety)
    if refused is None or refused:
        toolset = GuardedToolset(toolset, refused, label=cfg.type)
    return toolset


def _name_set(names: Iterable[str]) -> frozenset[str]:
    return frozenset(names)


@attrs.define
class FilteredToolset:
    """A toolset offering only the tools of an allow-list (a ``tools:`` setting).

    Opening it raises ``ConfigError`` when the list names a tool the set does not have,
    so a typo fails at startup.
    """

    inner: Toolset
    allowed: frozenset[str] = attrs.field(converter=_name_set)
    label: str = "toolset"

    async def __aenter__(self) -> FilteredToolset:
        await self.inner.__aenter__()
        offered = {spec.name for spec in self.inner.tools()}
        unknown = sorted(self.allowed - offered)
        if unknown:
            await self.inner.__aexit__(None, None, None)
            raise ConfigError(
                f"{self.label} toolset has no tool {', '.join(map(repr, unknown))}; "
                f"its tools are: {', '.join(sorted(offered))}"
            )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.inner.__aexit__(*exc_info)

    def tools(self) -> list[ToolSpec]:
        return [spec for spec in self.inner.tools() if spec.name in self.allowed]

    async def call(self, name: str, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        if name not in self.allowed:
            return ToolResult.error(f"tool {name!r} is not available to this agent")
        return await self.inner.call(name, arguments, ctx)


def _toolset_tuple(toolsets: Iterable[Toolset]) -> tuple[Toolset, ...]:
    return tuple(toolsets)


@attrs.define
class ToolBox:
    """Opened toolsets behind one name -> toolset dispatch.

    Args:
        toolsets: the toolsets, already opened (their ``tools()`` are read here).

    Raises:
        ConfigError: two toolsets offer a tool of the same name.
    """

    toolsets: tuple[Toolset, ...] = attrs.field(converter=_toolset_tuple)
    _routes: dict[str, Toolset] = attrs.field(init=False, factory=dict)
    _specs: list[ToolSpec] = attrs.field(init=False, factory=list)

    def __attrs_post_init__(self) -> None:
        for toolset in self.toolsets:
            for spec in toolset.tools():
                if spec.name in self._routes:
                    raise ConfigError(
                        f"two toolsets offer a tool named {spec.name!r}; keep one of them "
                        "(a toolset's `tools:` list can leave a tool out)"
                    )
                self._routes[spec.name] = toolset
                self._specs.append(spec)

    def specs(self) -> list[ToolSpec]:
        """Every tool offered, in toolset order."""
        return list(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._routes

    async def call(self, name: str, arguments: str, ctx: ToolContext) -> ToolResult:
        """Run tool ``name`` with ``arguments``, the JSON object text the model wrote.

        Returns:
            The tool's result; an error result when the arguments are not a JSON object,
            the tool is unknown, or the tool raised an ``Exception``.
        """
        toolset = self._routes.get(name)
        if toolset is None:
            known = ", ".join(self._routes) or "none"
            return ToolResult.error(f"unknown tool {name!r}; the available tools are: {known}")
        try:
            parsed = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as exc:
            return ToolResult.error(
                f"the arguments of {name} are not valid JSON ({exc}); send a JSON object"
            )
        if not isinstance(parsed, dict):
            return ToolResult.error(
                f"the arguments of {name} must be a JSON object, not {type(parsed).__name__}"
            )
        try:
            return await toolset.call(name, parsed, ctx)
        except Exception as exc:
            # A bug or an unexpected failure of one tool must not end the turn: the model
            # sees the error and can try something else. trio.Cancelled is not an
            # Exception, so cancellation still propagates.
            logger.warning("tool %s raised", name, exc_info=True)
            return ToolResult.error(f"tool {name} failed: {type(exc).__name__}: {exc}")
