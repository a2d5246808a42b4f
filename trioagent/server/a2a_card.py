"""The agent card of ``serve a2a``: the agent file as an A2A agent, one skill per agent."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Final

from .. import __version__
from ..wire import a2a_card as c

if TYPE_CHECKING:
    from .state import ServerState

INPUT_MODES: Final = (
    "text/plain",
    "application/json",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
)
"""What a message may hold: text, JSON data (read as text), text files and images."""
OUTPUT_MODES: Final = ("text/plain",)
"""What the agent answers: its text."""
BEARER: Final = "bearer"
"""The name of the security scheme in the card."""


def card_name(source: str, default_agent: str) -> str:
    """The agent's name: the agent file's (``pirate`` for ``agentcatalog/pirate`` or
    ``pirate.yaml``), else the default agent's."""
    last = source.replace("\\", "/").rsplit("/", 1)[-1]
    return PurePosixPath(last.split("@")[0].split(":")[0]).stem or default_agent


def agent_card(state: ServerState, rpc_url: str) -> c.AgentCard:
    """The card of ``state``'s agents, answering JSON-RPC at ``rpc_url``.

    A message runs the default agent (``--agent``, else ``root``, else the first); its
    ``metadata.skill`` may name another of the skills, one per exposed agent.
    """
    file = state.team.file
    default = state.default_agent
    description = (
        file.metadata.description
        or file.agents[default].description
        or f"The agents of {card_name(file.source, default)}, served by trioagent."
    )
    skills = tuple(
        c.AgentSkill(
            id=name,
            name=name,
            description=file.agents[name].description or f"Agent {name}.",
            tags=("llm", "default") if name == default else ("llm",),
        )
        for name in state.agents
    )
    keyed = bool(state.options.api_keys)
    return c.AgentCard(
        name=card_name(file.source, default),
        description=description,
        supportedInterfaces=(
            c.AgentInterface(url=rpc_url, protocolBinding="JSONRPC", protocolVersion="1.0"),
            c.AgentInterface(url=rpc_url, protocolBinding="JSONRPC", protocolVersion="0.3"),
        ),
        version=file.metadata.version or __version__,
        capabilities=c.AgentCapabilities(
            streaming=True, pushNotifications=False, extendedAgentCard=False
        ),
        securitySchemes={
            BEARER: c.SecurityScheme(
                httpAuthSecurityScheme=c.HTTPAuthSecurityScheme(scheme="Bearer"),
                description="Authorization: Bearer <the server's --api-key>",
            )
        }
        if keyed
        else None,
        securityRequirements=(c.SecurityRequirement(schemes={BEARER: c.StringList()}),)
        if keyed
        else None,
        defaultInputModes=INPUT_MODES,
        defaultOutputModes=OUTPUT_MODES,
        skills=skills,
        url=rpc_url,
        security=({BEARER: ()},) if keyed else None,
    )
