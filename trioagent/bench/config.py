"""What a benchmark run is asked to do (`BenchConfig`), and where each mode sends requests."""

from __future__ import annotations

from typing import Final, Literal
from urllib.parse import urlsplit, urlunsplit

import attrs

from ..errors import TrioagentError

Mode = Literal["chat", "stream", "api", "api-stream", "ws"]
"""What is measured:

- ``chat``: ``POST {url}/chat/completions``, one JSON answer;
- ``stream``: the same with ``"stream": true``, an SSE stream of chunks;
- ``api``: ``POST /api/chat`` with ``{"message": ...}``, one JSON answer;
- ``api-stream``: the same with ``"stream": true`` (``delta`` events, then ``done``);
- ``ws``: the WebSocket chat at ``/v1/ws``, one connection per worker.
"""
MODES: Final[tuple[Mode, ...]] = ("chat", "stream", "api", "api-stream", "ws")
STREAMING_MODES: Final[frozenset[Mode]] = frozenset({"stream", "api-stream", "ws"})
"""Modes whose answers arrive in pieces: they have a TTFT and inter-token latencies."""


class BenchError(TrioagentError):
    """The benchmark cannot run (a bad URL, no model to pick, a missing optional package)."""


@attrs.frozen(kw_only=True)
class BenchConfig:
    """One benchmark run: a target, its load levels and what each request sends."""

    url: str
    """The server: an OpenAI base URL (``http://HOST:PORT/v1``), its origin
    (``http://HOST:PORT``), ``.../api/chat`` or a ``ws://.../v1/ws`` URL; see `endpoint`."""
    mode: Mode = "chat"
    concurrency: tuple[int, ...] = (1,)
    """The load levels: how many requests are in flight at once, one level after another."""
    requests: int | None = 100
    """Requests measured per level (all workers together); ignored when `duration` is set."""
    duration: float | None = None
    """Seconds each level lasts instead of a fixed count: no request starts after it, the
    ones in flight finish and count."""
    warmup: int = 0
    """Requests sent before each level is measured, on the same connections; not counted."""
    model: str | None = None
    """The ``model`` of chat requests (default: the first id of ``GET /models``), or the
    agent of ``api``/``ws`` requests (default: the server's default agent)."""
    api_key: str | None = None
    """Sent as ``Authorization: Bearer KEY`` (and in the WebSocket hello)."""
    message: str = "Hello! Say something short."
    """The user message of every request."""
    timeout: float = 60.0
    """Seconds one request may take in all (connect, wait, read); then it is an error."""
    headers: tuple[tuple[str, str], ...] = ()
    """Extra HTTP headers for every request (not for ``ws``)."""

    def __attrs_post_init__(self) -> None:
        if self.mode not in MODES:
            raise BenchError(f"unknown mode {self.mode!r}: use one of {', '.join(MODES)}")
        if not self.concurrency or min(self.concurrency) < 1:
            raise BenchError("concurrency levels must be whole numbers of at least 1")
        if self.duration is None and (self.requests is None or self.requests < 1):
            raise BenchError("give --requests (at least 1) or --duration")
        if self.duration is not None and self.duration <= 0:
            raise BenchError("--duration must be more than 0 seconds")
        if self.warmup < 0:
            raise BenchError("--warmup cannot be negative")
        endpoint(self.url, self.mode)  # fails early on a URL we cannot use

    @property
    def streaming(self) -> bool:
        return self.mode in STREAMING_MODES


def endpoint(url: str, mode: Mode) -> str:
    """The URL that ``mode``'s requests go to, from whatever URL of the server was given.

    ``http://h:p`` and ``http://h:p/v1`` give ``http://h:p/v1/chat/completions`` (chat
    modes), ``http://h:p/api/chat`` (api modes) and ``ws://h:p/v1/ws`` (ws); a path
    prefix before ``/v1`` or ``/api/chat`` is kept.

    Raises:
        BenchError: the URL is not an http(s) or ws(s) URL with a host.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.netloc:
        raise BenchError(f"cannot benchmark {url!r}: give a URL such as http://127.0.0.1:8083/v1")
    path = parts.path.rstrip("/")
    for suffix in ("/chat/completions", "/api/chat", "/v1/ws", "/v1"):
        if path.endswith(suffix):
            path = path.removesuffix(suffix)
            break
    secure = parts.scheme in ("https", "wss")
    if mode == "ws":
        scheme, path = ("wss" if secure else "ws"), f"{path}/v1/ws"
    else:
        scheme = "https" if secure else "http"
        path = (
            f"{path}/api/chat" if mode in ("api", "api-stream") else (f"{path}/v1/chat/completions")
        )
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def models_url(url: str) -> str:
    """``GET /v1/models`` of the server at ``url`` (for the default ``model``)."""
    return endpoint(url, "chat").removesuffix("/chat/completions") + "/models"
