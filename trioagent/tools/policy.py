"""The tool safety policy: what ``--safety`` lets an agent's tools do.

==========  ==============================================================================
restricted  ``shell`` and the file-writing tools are refused, unless the toolset entry says
            ``allow_when_restricted: true``; otherwise as ``standard``. The default when a
            server listens beyond loopback.
standard    every tool runs; shell commands see a scrubbed environment (no API keys or
            other secrets of the server). The default on loopback and for ``trioagent run``.
off         as ``standard``, but shell commands see the server's whole environment.
==========  ==============================================================================

In every mode, the file tools stay inside the working directory (symlinks that lead out
are refused), and a shell command has a timeout and an output cap. A refused call is a
tool error the model sees, and a warning in the log.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs

from trioagent.chat import ToolResult, ToolSpec

if TYPE_CHECKING:
    from collections.abc import Mapping

    from trioagent.config.schema import ToolsetConfig

    from .base import ToolContext, Toolset

logger = logging.getLogger(__name__)

Safety = Literal["restricted", "standard", "off"]
SAFETY_LEVELS: Final[tuple[Safety, ...]] = ("restricted", "standard", "off")

FILE_WRITE_TOOLS: Final = frozenset({"write_file", "edit_file", "create_directory"})
"""The filesystem tools that change files; ``restricted`` refuses them."""

SHELL_ENV_KEPT: Final = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "LANG",
        "LANGUAGE",
        "TERM",
        "TZ",
        "TMPDIR",
        "TEMP",
        "TMP",
        "HOSTNAME",
        "COLUMNS",
        "LINES",
    }
)
"""The server's environment variables a shell command sees, besides ``LC_*``."""


def shell_environment(
    server_env: Mapping[str, str], toolset_env: Mapping[str, str], safety: Safety
) -> dict[str, str]:
    """The environment of a shell command: the server's (whole under ``off``, else only
    the variables of :data:`SHELL_ENV_KEPT` and ``LC_*``), then the toolset's ``env``,
    which the agent file's author set on purpose."""
    if safety == "off":
        kept = dict(server_env)
    else:
        kept = {
            name: value
            for name, value in server_env.items()
            if name in SHELL_ENV_KEPT or name.startswith("LC_")
        }
    return {**kept, **toolset_env}


def refused_tools(cfg: ToolsetConfig, safety: Safety) -> frozenset[str] | None:
    """The tools of toolset ``cfg`` that ``safety`` refuses: a set of names, ``None`` for
    every tool of the set, or an empty set when nothing is refused."""
    if safety != "restricted" or cfg.allow_when_restricted:
        return frozenset()
    if cfg.type == "shell":
        return None
    if cfg.type == "filesystem":
        return FILE_WRITE_TOOLS
    return frozenset()


REFUSAL: Final = (
    "{tool} is disabled by this server's safety policy (--safety restricted): it does not "
    "let agents {what} for remote callers. Tell the user it cannot be done here."
)


@attrs.define
class GuardedToolset:
    """A toolset whose ``refused`` tools (all of them when ``None``) are refused.

    The refused tools are still offered, with a note in their description, so the model
    can tell the user why instead of guessing; a call to one returns a tool error and logs
    a warning.
    """

    inner: Toolset
    refused: frozenset[str] | None
    label: str

    async def __aenter__(self) -> GuardedToolset:
        await self.inner.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.inner.__aexit__(*exc_info)

    def _is_refused(self, name: str) -> bool:
        return self.refused is None or name in self.refused

    def tools(self) -> list[ToolSpec]:
        return [
            attrs.evolve(
                spec,
                description=f"{spec.description} (Disabled on this server by "
                "its safety policy: calls are refused.)",
            )
            if self._is_refused(spec.name)
            else spec
            for spec in self.inner.tools()
        ]

    async def call(self, name: str, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        if not self._is_refused(name):
            return await self.inner.call(name, arguments, ctx)
        logger.warning(
            "refused a call of %s (%s toolset) under --safety restricted", name, self.label
        )
        what = "run commands" if self.label == "shell" else "change files"
        return ToolResult.error(REFUSAL.format(tool=name, what=what))
