"""The A2A agent card (``GET /.well-known/agent-card.json``), readable by 1.0 and 0.3 clients.

A 1.0 client reads ``supportedInterfaces`` (each with its URL, binding and protocol version)
and the security scheme in its protobuf JSON form (``httpAuthSecurityScheme``). A 0.3 client
reads ``url``, ``preferredTransport`` and ``protocolVersion`` and the OpenAPI-like
``{"type": "http", "scheme": "bearer"}``. One card carries both, as the a2a-sdk's own
server writes it: each client ignores the other's fields.
"""

from __future__ import annotations

from typing import Literal

import attrs


@attrs.frozen(kw_only=True)
class AgentInterface:
    """Where the agent answers, over which binding and protocol version."""

    url: str
    protocolBinding: str
    """``JSONRPC`` here."""
    protocolVersion: str
    """``1.0`` or ``0.3``."""


@attrs.frozen(kw_only=True)
class AgentCapabilities:
    """The optional parts of A2A the agent supports."""

    streaming: bool
    pushNotifications: bool
    extendedAgentCard: bool


@attrs.frozen(kw_only=True)
class AgentSkill:
    """One agent of the file; a request picks it with ``metadata.skill``."""

    id: str
    name: str
    description: str
    tags: tuple[str, ...]


@attrs.frozen(kw_only=True)
class HTTPAuthSecurityScheme:
    """HTTP authentication (1.0)."""

    scheme: str
    """``Bearer``."""


@attrs.frozen(kw_only=True)
class SecurityScheme:
    """Bearer auth, in the 1.0 form (``httpAuthSecurityScheme``) and the 0.3 one
    (``type`` and ``scheme``)."""

    httpAuthSecurityScheme: HTTPAuthSecurityScheme
    type: Literal["http"] = "http"
    scheme: str = "bearer"
    description: str | None = None


@attrs.frozen(kw_only=True)
class StringList:
    """The scopes a security requirement asks for (none here)."""

    list: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class SecurityRequirement:
    """The 1.0 form of a security requirement: scheme name -> scopes."""

    schemes: dict[str, StringList]


@attrs.frozen(kw_only=True)
class AgentCard:
    """The card: who the agent is, what it does, where and how to call it."""

    name: str
    description: str
    supportedInterfaces: tuple[AgentInterface, ...]
    version: str
    capabilities: AgentCapabilities
    securitySchemes: dict[str, SecurityScheme] | None = None
    securityRequirements: tuple[SecurityRequirement, ...] | None = None
    defaultInputModes: tuple[str, ...]
    defaultOutputModes: tuple[str, ...]
    skills: tuple[AgentSkill, ...]
    url: str
    """0.3: the JSON-RPC endpoint."""
    preferredTransport: str = "JSONRPC"
    """0.3: the binding at ``url``."""
    protocolVersion: str = "0.3.0"
    """0.3: the protocol version at ``url``."""
    security: tuple[dict[str, tuple[str, ...]], ...] | None = None
    """0.3: the security requirements (scheme name -> scopes)."""
