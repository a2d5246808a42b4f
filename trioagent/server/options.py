"""ServeOptions: every setting of the servers, with its default, in one place."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import attrs

from ..store.open import StoreURL
from ..tools import Safety  # noqa: TC001 (attrs reads annotations at runtime)
from .durations import parse_duration as parse_duration
from .ratelimit import Rate  # noqa: TC001 (attrs reads annotations at runtime)

SHARED_CACHE_MAX = 100_000
"""``serve chat``'s conversation bound on a shared store when --conversations-max is unset."""
CONTEXTS_MAX = 1000
"""The conversation bound of ``serve mcp`` and ``serve a2a`` on the ``memory:`` store when
--conversations-max is unset: their protocols continue conversations by id, so they keep
some even in memory (``serve chat`` keeps none there: its clients send the history)."""
KIB = 1024
MIB = 1024 * KIB

_SIZE = re.compile(r"^\s*(\d+)\s*(b|kb|kib|k|mb|mib|m|gb|gib|g)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    None: 1,
    "b": 1,
    "k": KIB,
    "kb": 1000,
    "kib": KIB,
    "m": MIB,
    "mb": 1000**2,
    "mib": MIB,
    "g": 1024 * MIB,
    "gb": 1000**3,
    "gib": 1024 * MIB,
}


def parse_size(text: str) -> int:
    """``512KiB``, ``1MiB``, ``1000000`` -> bytes.

    Raises:
        ValueError: the text is not a size.
    """
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"invalid size {text!r}: use bytes or a unit, e.g. 512KiB or 1MiB")
    unit = match.group(2).lower() if match.group(2) else None
    return int(match.group(1)) * _SIZE_UNITS[unit]


def format_size(size: int) -> str:
    """``1048576`` -> ``1MiB``: the largest binary unit that writes ``size`` whole."""
    for name, unit in (("GiB", 1024 * MIB), ("MiB", MIB), ("KiB", KIB)):
        if size >= unit and size % unit == 0:
            return f"{size // unit}{name}"
    return f"{size}B"


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` or ``[::1]:PORT`` -> (host, port).

    Raises:
        ValueError: the text is not an address.
    """
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"invalid listen address {text!r}: use HOST:PORT, e.g. 127.0.0.1:8083")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


_ORIGIN = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?")
"""An exact origin as browsers send it: scheme, host and optional port, nothing else."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@attrs.frozen(kw_only=True)
class ServeOptions:
    """How a server runs. The CLI fills it; tests build it directly."""

    host: str = "127.0.0.1"
    port: int = 8083
    agent: str | None = None
    """Expose only this agent (all agents of the file when None)."""
    api_keys: tuple[str, ...] = ()
    """Bearer tokens accepted on every API path; no auth when empty."""
    cors_origins: tuple[str, ...] = ()
    """Exact origins allowed to call from a browser."""
    max_request_size: int = MIB
    request_timeout: float = 300.0
    """Seconds a whole turn may take: model calls, tools and streaming."""
    body_timeout: float = 60.0
    """Seconds a client may take to send the request body (408 after)."""
    store: StoreURL | None = None
    """Where conversations live (``--store``); None: `store_for` the API's default."""
    conversations_max: int | None = None
    """Conversations kept server-side for X-Conversation-Id; 0 disables the cache. None:
    off with the ``memory:`` store, `SHARED_CACHE_MAX` with a shared one."""
    conversation_ttl: float = 1800.0
    responses_max: int = 1000
    """Responses API responses kept for ``previous_response_id`` and ``GET``, least
    recently used dropped first, each forgotten after ``conversation_ttl`` idle; 0 keeps
    none (``store`` is then ignored)."""
    tasks_max: int = 1000
    """``serve a2a``: finished tasks kept in memory for ``GetTask`` and ``ListTasks``, each
    forgotten ``conversation_ttl`` after it ended; 0 keeps none (a task is then found
    only while it runs)."""
    sessions: str = "trioagent-sessions.db"
    """The SQLite file of ``serve api`` sessions when ``store`` is None; ``:memory:`` keeps
    them in memory only."""
    rate_limit: Rate | None = None
    """Requests allowed per API key (or client address without one); None: no limit."""
    max_idle_runtimes: int = 4
    ws_ping_interval: float = 20.0
    """Seconds of WebSocket silence before a ping; a client silent for as long again after
    it is taken for gone and disconnected."""
    keep_alive_interval: float = 15.0
    """Seconds of silence on an SSE stream before a ``: keep-alive`` comment."""
    shutdown_grace: float = 10.0
    """Seconds running turns may finish after SIGINT/SIGTERM before they are cancelled."""
    shutdown_drain: float = 0.0
    """Seconds the server goes on serving after SIGINT/SIGTERM, with ``/readyz`` failing, so
    that a load balancer stops sending to it; then the listener closes."""
    workers: int = 1
    """Server processes sharing the port (see `trioagent.server.workers`)."""
    listen_fd: int | None = None
    """Serve on this inherited listening socket instead of binding (a worker's)."""
    working_dir: Path = attrs.field(factory=Path.cwd)
    insecure_no_auth: bool = False
    """Allow a non-loopback listen address without an API key."""
    safety: Safety | None = None
    """The tool policy (``tools.policy``); None: ``restricted`` when listening beyond
    loopback, ``standard`` on loopback."""

    def store_for(self, api: str) -> StoreURL:
        """The store in force: ``store``, else ``serve api``'s sessions file or ``memory:``."""
        if self.store is not None:
            return self.store
        return StoreURL("sqlite", self.sessions) if api == "api" else StoreURL("memory")

    def cache_size(self, store: StoreURL, api: str = "chat") -> int:
        """How many conversations ``serve chat`` (or ``serve mcp``, ``serve a2a``: ``api``)
        keeps in ``store``; 0: no cache."""
        if self.conversations_max is not None:
            return self.conversations_max
        if store.shared:
            return SHARED_CACHE_MAX
        return CONTEXTS_MAX if api in ("mcp", "a2a") else 0

    @property
    def lock_ttl(self) -> float:
        """Seconds a turn's lock on a shared store lives: longer than any turn may take,
        so it only ever expires under a replica that died or stalled mid-turn."""
        return self.request_timeout + max(1.0, 0.1 * self.request_timeout)

    @property
    def tool_safety(self) -> Safety:
        """The tool policy in force."""
        if self.safety is not None:
            return self.safety
        return "standard" if is_loopback(self.host) else "restricted"

    def check(self) -> None:
        """Refuse settings that would be unsafe or meaningless.

        Raises:
            ValueError: with a message saying which flag to fix.
        """
        if not self.api_keys and not self.insecure_no_auth and not is_loopback(self.host):
            raise ValueError(
                f"refusing to listen on {self.host} without an API key: pass --api-key or "
                "--api-key-env, or --insecure-no-auth if the network is trusted"
            )
        if self.request_timeout <= 0:
            raise ValueError("--request-timeout must be positive")
        if self.max_request_size <= 0:
            raise ValueError("--max-request-size must be positive")
        if self.responses_max < 0:
            raise ValueError("--responses-max must be 0 or more")
        if self.tasks_max < 0:
            raise ValueError("--tasks-max must be 0 or more")
        if self.conversations_max is not None and self.conversations_max < 0:
            raise ValueError("--conversations-max must be 0 (off) or more")
        if self.conversation_ttl <= 0:
            raise ValueError("--conversation-ttl must be positive")
        if self.ws_ping_interval <= 0:
            raise ValueError("--ws-ping-interval must be positive")
        if self.workers < 1:
            raise ValueError("--workers must be 1 or more")
        if not self.working_dir.is_dir():
            raise ValueError(
                f"--working-dir {self.working_dir} is not a directory: create it or pass another"
            )
        for origin in self.cors_origins:
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"--cors-origin {origin!r} can never match a browser's Origin header: "
                    "give an exact origin, scheme://host[:port] with no path and no trailing "
                    "slash (wildcards are not supported), e.g. https://app.example.com"
                )
        if self.max_idle_runtimes < 0:
            raise ValueError("--max-idle-runtimes must be 0 or more")
