"""Sub-agents from other agent files: ``sub_agents: [agentcatalog/pirate]``.

A ``sub_agents`` entry that is not an agent of the file but a registry reference names
another agent file; its agents join this file, as docker-agent does. They are renamed so
nothing clashes: the external file's default agent takes the last part of the reference's
repository (``pirate``, or ``pirate-2`` when that name is taken), its other agents and its
models take that name as a prefix (``pirate.helper``, ``pirate.gpt``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

import attrs

if TYPE_CHECKING:
    from .schema import AgentConfig, AgentFile

MAX_DEPTH: Final = 5
"""How deep sub-agent references may nest (a reference cycle ends here)."""

_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def is_agent_reference(entry: str, file: AgentFile) -> bool:
    """Whether a ``sub_agents`` entry names another file rather than an agent of ``file``."""
    return entry not in file.agents and "/" in entry


def merge_external(file: AgentFile, ref: str, external: AgentFile) -> tuple[AgentFile, str]:
    """``file`` with ``external``'s agents and models added; and the name its default
    agent got (what the ``sub_agents`` entry ``ref`` becomes)."""
    name = _free_name(_base_name(ref), file)

    def renamed(agent: str) -> str:
        return name if agent == external.default_agent else f"{name}.{agent}"

    agents = dict(file.agents)
    for agent, config in external.agents.items():
        agents[renamed(agent)] = attrs.evolve(
            config,
            model=f"{name}.{config.model}",
            sub_agents=tuple(renamed(sub) for sub in config.sub_agents),
        )
    models = dict(file.models)
    models.update({f"{name}.{key}": model for key, model in external.models.items()})
    return attrs.evolve(file, agents=agents, models=models), name


def replace_sub_agent(config: AgentConfig, ref: str, name: str) -> AgentConfig:
    """``config`` with its ``sub_agents`` entry ``ref`` replaced by ``name``."""
    return attrs.evolve(
        config, sub_agents=tuple(name if sub == ref else sub for sub in config.sub_agents)
    )


def _base_name(ref: str) -> str:
    repository = ref.split("@", 1)[0]
    last = repository.rsplit("/", 1)[-1]
    last = last.split(":", 1)[0]
    return _NAME_CHARS.sub("-", last).strip("-.") or "agent"


def _free_name(base: str, file: AgentFile) -> str:
    taken = set(file.agents)
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"
