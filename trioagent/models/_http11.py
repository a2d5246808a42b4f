"""A small HTTP/1.1 client on trio streams and h11, for streamed model calls: its values.

httpx and httpcore cost about a millisecond of CPU per request more than this client,
which does only what a model call needs: keep-alive connections per origin
(:mod:`._http11_pool`), one request at a time on each (:mod:`._http11_connection`),
bodies read as they arrive. This module holds what both share: timeouts, URLs, TLS
trust, and the errors. Foreign errors (trio's broken streams, ssl, h11) never leave the
client raw; they become this tree::

    HTTPClientError
    ├── InvalidRequest      the URL or a header cannot be sent
    ├── ConnectFailed       DNS, refused, unreachable, TLS handshake or certificate
    ├── ConnectionDropped   EOF or reset before the response ended
    ├── ProtocolBroken      the server's bytes are not HTTP/1.1
    └── TimedOut
        ├── PoolTimeout     no connection of the pool became free in time
        ├── ConnectTimeout  TCP connect and TLS handshake
        ├── WriteTimeout    sending the request
        └── ReadTimeout     the server stayed silent too long

Proxies are not spoken: :func:`proxied` tells when the environment asks for one.
"""

from __future__ import annotations

import functools
import math
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Literal

import attrs

from trioagent import __version__

if TYPE_CHECKING:
    import ssl

    import httpx

USER_AGENT = f"trioagent/{__version__}".encode()


class HTTPClientError(Exception):
    """A request of this client failed; the subclass says how."""


class InvalidRequest(HTTPClientError, ValueError):
    """The URL (not http or https, no host, bad port) or a header cannot be sent."""


class ConnectFailed(HTTPClientError):
    """No connection: the name did not resolve, the server refused, or TLS failed."""


class ConnectionDropped(HTTPClientError):
    """The connection ended (EOF or reset) before the whole response arrived."""


class ProtocolBroken(HTTPClientError):
    """The server sent something that is not a valid HTTP/1.1 response."""


class TimedOut(HTTPClientError):
    """A timeout of :class:`Timeouts` ran out."""


class PoolTimeout(TimedOut):
    """Every connection to the origin stayed busy for the whole pool timeout."""


class ConnectTimeout(TimedOut):
    """Connecting (TCP and TLS handshake) took longer than the connect timeout."""


class WriteTimeout(TimedOut):
    """Sending the request took longer than the write timeout."""


class ReadTimeout(TimedOut):
    """The server sent nothing for longer than the read timeout."""


def _limit(seconds: float | None) -> float:
    return math.inf if seconds is None else seconds


@attrs.frozen
class Timeouts:
    """Seconds each phase of a request may take; ``None`` (stored as ``inf``) for no limit.

    They nest inside the caller's cancel scope: whichever ends first wins.
    """

    connect: float = attrs.field(default=10.0, converter=_limit)
    """TCP connect plus TLS handshake."""
    read: float = attrs.field(default=300.0, converter=_limit)
    """Each read: how long the server may stay silent (a model may think for minutes)."""
    write: float = attrs.field(default=30.0, converter=_limit)
    """Sending the whole request."""
    pool: float = attrs.field(default=30.0, converter=_limit)
    """Waiting for a connection when the origin's are all busy."""

    @classmethod
    def from_httpx(cls, timeout: httpx.Timeout) -> Timeouts:
        """The same limits as an ``httpx.Timeout`` (the model clients' ``timeout``)."""
        return cls(timeout.connect, timeout.read, timeout.write, timeout.pool)


@attrs.frozen(cache_hash=True)
class Origin:
    """Where connections go; the pool keeps connections per origin."""

    scheme: Literal["http", "https"]
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


@attrs.frozen
class Target:
    """A URL split for a request: its origin, ``Host`` header and request target."""

    origin: Origin
    authority: bytes
    path: bytes

    @property
    def address(self) -> str:
        """``scheme://host[:port]``, the port only when not the default: for messages."""
        return f"{self.origin.scheme}://{self.authority.decode('ascii')}"


@functools.lru_cache(maxsize=256)
def parse_url(url: str) -> Target:
    """Split ``url`` (cached: model clients call a few URLs again and again).

    Raises:
        InvalidRequest: not an http or https URL with a host.
    """
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except (ValueError, UnicodeError) as exc:
        raise InvalidRequest(f"cannot read the URL {url!r}: {exc}") from None
    if scheme not in ("http", "https") or not host:
        raise InvalidRequest(f"cannot send to {url!r}: only http and https URLs with a host")
    default = 443 if scheme == "https" else 80
    bracketed = f"[{host}]" if ":" in host else host
    authority = bracketed if port in (None, default) else f"{bracketed}:{port}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not path.isascii():
        raise InvalidRequest(f"cannot send to {url!r}: percent-encode its path")
    return Target(
        Origin("https" if scheme == "https" else "http", host, port or default),
        authority.encode("ascii"),
        path.encode("ascii"),
    )


def proxied(url: str) -> bool:
    """Whether the environment routes ``url`` through a proxy, which this client cannot
    speak: ``http_proxy``, ``https_proxy`` or ``all_proxy`` (either case) is set for its
    scheme and ``no_proxy`` does not exempt its host. Read the environment once, not per
    request: it costs tens of microseconds."""
    proxies = urllib.request.getproxies_environment()
    parts = urllib.parse.urlsplit(url)
    if not (proxies.get(parts.scheme.lower()) or proxies.get("all")):
        return False
    host = parts.netloc.rpartition("@")[2]
    # proxy_bypass_environment reads only no_proxy, as httpx does (proxy_bypass would
    # also read macOS and Windows settings); typeshed leaves it out.
    bypass: bool = urllib.request.proxy_bypass_environment(host, proxies)  # type: ignore[attr-defined]
    return not bypass


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """The one TLS context of the process, made on first use (loading the CA bundle takes
    milliseconds): httpx's trust, so certifi's roots or ``SSL_CERT_FILE``/``SSL_CERT_DIR``
    as today, offering only HTTP/1.1 by ALPN."""
    import httpx

    context = httpx.create_ssl_context()
    context.set_alpn_protocols(["http/1.1"])
    return context
