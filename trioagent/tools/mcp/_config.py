"""What a ``type: mcp`` entry names: one server, how to reach it, and how to call it in
logs and errors."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit, urlunsplit

from trioagent.errors import ConfigError

if TYPE_CHECKING:
    from trioagent.config.schema import ToolsetConfig

TRANSPORTS: Final = {
    "streamable": "http",
    "streamable-http": "http",
    "streamable_http": "http",
    "http": "http",
    "sse": "sse",
}
"""Each ``remote.transport_type`` we take (lower case), and the transport it means."""


def transport_of(cfg: ToolsetConfig) -> str:
    """stdio, http (streamable HTTP) or sse."""
    if cfg.remote is None:
        return "stdio"
    return TRANSPORTS[(cfg.remote.transport_type or "streamable").lower()]


def label_of(cfg: ToolsetConfig) -> str:
    """The server's name in logs and errors; checks that the entry names exactly one server.

    Raises:
        ConfigError: no server, two, an empty command, a bad URL or transport.
    """
    remote = cfg.remote
    if cfg.command is None and remote is None:
        if cfg.ref:
            raise ConfigError(
                f"mcp toolset ref {cfg.ref!r}: catalog references are not supported; "
                "give `command` (a stdio server) or `remote.url` (an HTTP server)"
            )
        raise ConfigError(
            "an mcp toolset needs `command` (a stdio server) or `remote.url` (an HTTP server)"
        )
    if cfg.command is not None and remote is not None:
        raise ConfigError("an mcp toolset takes `command` or `remote`, not both")
    if cfg.command is not None:
        if not cfg.command.strip():
            raise ConfigError("mcp toolset `command` is empty")
        return shlex.join([cfg.command, *cfg.args])
    assert remote is not None
    transport = remote.transport_type or "streamable"
    if transport.lower() not in TRANSPORTS:
        raise ConfigError(
            f"mcp toolset remote.transport_type {transport!r} is not supported; "
            "use streamable (HTTP, the default) or sse"
        )
    parts = urlsplit(remote.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"mcp toolset remote.url {remote.url!r} is not an http(s) URL")
    # Credentials may hide in userinfo or the query: neither goes into logs.
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
