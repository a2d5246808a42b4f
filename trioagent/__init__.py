"""trioagent: serve LLM agents defined in YAML through OpenAI-compatible APIs, on trio.

What a program that embeds trioagent needs is here::

    import trio
    import trioagent

    file = trioagent.load_agent_file("agent.yaml")
    trio.run(trioagent.serve_chat, file, trioagent.ServeOptions(port=8083))

``serve_chat`` speaks the OpenAI Chat Completions API, ``serve_api`` the simple chat
API, ``serve_a2a`` the A2A protocol, ``serve_mcp`` MCP (over stdio, or HTTP with
``http=True``); each takes ``task_status`` (the bound URL) and ``shutdown_trigger``.
Every error trioagent raises on purpose is a ``TrioagentError``; ``trioagent.errors``
draws the tree.

The loader and the server are imported on first use: the server takes seconds to
import, and ``import trioagent`` (which every submodule import runs first) stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from .errors import ConfigError as ConfigError
from .errors import MissingAPIKey as MissingAPIKey
from .errors import ModelError as ModelError
from .errors import RegistryError as RegistryError
from .errors import StoreUnavailable as StoreUnavailable
from .errors import TrioagentError as TrioagentError

if TYPE_CHECKING:
    from .config import AgentFile as AgentFile
    from .config import load_agent_file as load_agent_file
    from .config import parse_agent_file as parse_agent_file
    from .server.app import serve_a2a as serve_a2a
    from .server.app import serve_api as serve_api
    from .server.app import serve_chat as serve_chat
    from .server.options import ServeOptions as ServeOptions
    from .server.serve_mcp import serve_mcp as serve_mcp

__version__ = "0.1.0"

__all__ = [
    "AgentFile",
    "ConfigError",
    "MissingAPIKey",
    "ModelError",
    "RegistryError",
    "ServeOptions",
    "StoreUnavailable",
    "TrioagentError",
    "__version__",
    "load_agent_file",
    "parse_agent_file",
    "serve_a2a",
    "serve_api",
    "serve_chat",
    "serve_mcp",
]

_LAZY: dict[str, str] = {
    "AgentFile": ".config",
    "load_agent_file": ".config",
    "parse_agent_file": ".config",
    "ServeOptions": ".server.options",
    "serve_a2a": ".server.app",
    "serve_api": ".server.app",
    "serve_chat": ".server.app",
    "serve_mcp": ".server.serve_mcp",
}
"""The public names imported on first use, and their modules (the ``TYPE_CHECKING``
imports above, for type checkers)."""


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name], __name__), name)
    globals()[name] = value  # the next lookup does not come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
