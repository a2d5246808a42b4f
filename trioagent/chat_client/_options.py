"""Where ``trioagent chat`` connects and as whom: its options and the server's URL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit, urlunsplit

import attrs

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping

API_KEY_ENV: Final = "TRIOAGENT_API_KEY"
"""The environment variable ``--api-key`` falls back to."""


@attrs.frozen(kw_only=True)
class ChatOptions:
    """What ``trioagent chat`` was asked to do."""

    url: str
    """The ``ws[s]://.../v1/ws`` URL (see `websocket_url`)."""
    api_key: str | None = None
    agent: str | None = None
    """The agent to start with; the server's default when None."""
    conversation_id: str | None = None
    """The conversation to resume; a new one when None."""
    verbose: bool = False
    """Show the agent, the conversation id and each turn's token usage."""

    @classmethod
    def from_args(cls, args: argparse.Namespace, env: Mapping[str, str]) -> ChatOptions:
        """Options from parsed ``chat`` flags; the API key falls back to `API_KEY_ENV`.

        Raises:
            ValueError: the URL is not an HTTP or WebSocket URL.
        """
        return cls(
            url=websocket_url(args.url),
            api_key=args.api_key or env.get(API_KEY_ENV),
            agent=args.agent,
            conversation_id=args.conversation,
            verbose=args.verbose,
        )


def websocket_url(url: str) -> str:
    """The WebSocket chat URL of a server given by any URL it prints or serves.

    ``http://HOST:PORT``, ``http://HOST:PORT/v1``, ``.../api/chat`` and ``.../v1/ws`` all
    give ``ws://HOST:PORT/v1/ws`` (``https`` gives ``wss``); a URL without a scheme is
    taken as ``http``. A path before those endings (a proxy prefix) is kept.

    Raises:
        ValueError: the scheme is not http, https, ws or wss, or there is no host.
    """
    parts = urlsplit(url if "://" in url else f"http://{url}")
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme.lower())
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range
        port = -1
    if scheme is None or not parts.hostname or parts.username is not None or port == -1:
        raise ValueError(f"URL: expected http://HOST:PORT (or https, ws, wss), but got {url!r}")
    path = parts.path.rstrip("/")
    for ending in ("/v1/ws", "/v1", "/api/chat"):
        if path.endswith(ending):
            path = path.removesuffix(ending)
            break
    return urlunsplit((scheme, parts.netloc, f"{path}/v1/ws", parts.query, ""))
