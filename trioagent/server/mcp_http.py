"""``/mcp``: the Streamable HTTP endpoint of ``serve mcp --http``.

The MCP SDK's session manager speaks the protocol (an ASGI app); `mount_mcp` puts it at
``/mcp`` on the server's Quart app, whose other paths (``/healthz``, ``/readyz``,
``/metrics``) and hooks stay as they are. In front of the SDK, `open_mcp_endpoint` applies
what the app's hooks apply to the other fronts, with the same functions: the request id,
the access line and the request count (`observe_requests`), CORS, the API key, the rate
limit, and the body's size and time limits. What it refuses, it refuses before the
protocol, as a JSON-RPC error response without an id (`jsonrpc_error_body`).

It also refuses a browser ``Origin`` that is neither a ``--cors-origin`` nor on loopback
(403): MCP asks servers to check it, against DNS rebinding (a page of another site that
reaches a server on 127.0.0.1 without a key).
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import trio
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.datastructures import Headers
from werkzeug.exceptions import Forbidden, RequestEntityTooLarge, RequestTimeout

from .. import wire
from .access import note_route, observe_requests
from .errors import Problem, jsonrpc_error_body, problem_of
from .guards import authorize, cors_headers, preflight_headers, rate_client
from .mcp_front import KEY_SCOPE
from .options import is_loopback

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine

    from hypercorn.typing import ASGIReceiveCallable, ASGIReceiveEvent, ASGISendCallable, Scope
    from mcp.server.lowlevel import Server
    from quart_trio import QuartTrio

    from .options import ServeOptions
    from .state import ServerState

    ASGICallable = Callable[
        [Scope, ASGIReceiveCallable, ASGISendCallable], Coroutine[Any, Any, None]
    ]

MCP_PATH: Final = "/mcp"
EXPOSED_HEADERS: Final = "Mcp-Session-Id, X-Request-Id"
"""The response headers a browser page may read: the session id the protocol needs."""


@asynccontextmanager
async def open_mcp_endpoint(state: ServerState, server: Server[Any]) -> AsyncIterator[ASGICallable]:
    """The guarded ``/mcp`` endpoint of ``server``, serving while the block runs.

    The session manager's task group (every session, every running call) lives in this
    block: leaving it cancels them, and their turns commit nothing.
    """
    manager = StreamableHTTPSessionManager(
        app=server, max_request_body_size=state.options.max_request_size
    )
    async with manager.run():
        yield _Guard(state, manager.handle_request).serve


def mount_mcp(app: QuartTrio, endpoint: ASGICallable, state: ServerState) -> None:
    """Serve ``endpoint`` at ``/mcp`` on ``app``, observed like the app's own paths."""
    observed = observe_requests(endpoint, state.metrics)
    others = app.asgi_app

    async def route(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] == "http" and scope["path"] == MCP_PATH:
            await observed(scope, receive, send)
        else:
            await others(scope, receive, send)

    app.asgi_app = route  # type: ignore[method-assign]


class _Guard:
    """What every ``/mcp`` request passes before the SDK sees it."""

    def __init__(
        self,
        state: ServerState,
        handle: Callable[[Any, Any, Any], Awaitable[None]],
    ) -> None:
        self.state = state
        self.options: ServeOptions = state.options
        self.handle = handle

    async def serve(
        self, asgi_scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        note_route(MCP_PATH)
        scope: dict[str, Any] = dict(asgi_scope)  # an HTTP scope (`mount_mcp` routes only those)
        headers = Headers(raw=list(scope["headers"]))
        origin = headers.get("origin")
        allowed = self.options.cors_origins
        if scope["method"] == "OPTIONS":  # a CORS preflight: never reaches the protocol
            preflight = preflight_headers(
                origin, allowed, headers.get("access-control-request-headers")
            )
            await _respond(send, 204, preflight, b"")
            return
        send = _with_headers(send, self._cors(origin))
        try:
            key_scope = self._admit(scope, headers, origin)
            if scope["method"] == "POST":
                body = await _read_body(receive, headers, self.options)
                if body is None:
                    return  # the client left while sending: nobody to answer
                receive = _replaying(body, receive)
        except Exception as exc:  # every refusal: problem_of logs the unexpected ones
            await _refuse(send, problem_of(exc))
            return
        scope[KEY_SCOPE] = key_scope
        if key_scope is not None:  # a session serves only the key that opened it
            token = AccessToken(token=key_scope, client_id=key_scope, scopes=[])
            scope["user"] = AuthenticatedUser(token)
        if scope["method"] == "GET":
            await self._serve_stream(scope, receive, send)
        else:
            await self.handle(scope, receive, send)

    def _admit(self, scope: dict[str, Any], headers: Headers, origin: str | None) -> str | None:
        """Check the request's origin, key and rate; return its key's scope.

        Raises:
            Forbidden: a browser page of a foreign origin.
            AuthError: the key is missing or wrong.
            RateLimitExceeded: the caller is over ``--rate-limit``.
        """
        if origin is not None and origin not in self.options.cors_origins:
            host = urlsplit(origin).hostname
            if host is None or not is_loopback(host):
                raise Forbidden(
                    f"Origin {origin!r} may not call this server: "
                    "allow it with --cors-origin, or call from a page on loopback."
                )
        key_scope = authorize(headers.getlist("authorization"), self.options.api_keys)
        client = scope.get("client")
        self.state.check_rate(rate_client(key_scope, client[0] if client else None))
        return key_scope

    async def _serve_stream(
        self, scope: dict[str, Any], receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        """A GET: the session's stream of messages that answer no request. It carries
        no turn, so it ends as soon as the server begins to shut down, rather than hold
        the shutdown for ``--shutdown-grace``."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_cancel_on, self.state.stopping, nursery.cancel_scope)
            await self.handle(scope, receive, send)
            nursery.cancel_scope.cancel()

    def _cors(self, origin: str | None) -> dict[str, str]:
        headers = cors_headers(origin, self.options.cors_origins)
        if headers:
            headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        if self.options.cors_origins:
            headers["Vary"] = "Origin"
        return headers


async def _cancel_on(event: trio.Event, scope: trio.CancelScope) -> None:
    await event.wait()
    scope.cancel()


async def _read_body(
    receive: ASGIReceiveCallable, headers: Headers, options: ServeOptions
) -> bytes | None:
    """The whole request body, within ``--max-request-size`` and the body timeout; None
    when the client went away first.

    Raises:
        RequestEntityTooLarge: the body is larger than ``--max-request-size``.
        RequestTimeout: the body did not arrive in time.
    """
    limit = options.max_request_size
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestEntityTooLarge()
    chunks: list[bytes] = []
    size = 0
    with trio.move_on_after(options.body_timeout) as timer:
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk = bytes(message.get("body", b""))
            size += len(chunk)
            if size > limit:
                raise RequestEntityTooLarge()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
    assert timer.cancelled_caught
    raise RequestTimeout()


def _replaying(body: bytes, receive: ASGIReceiveCallable) -> ASGIReceiveCallable:
    """``receive`` with the body already read given once more, as its first message."""
    pending = True

    async def replay() -> ASGIReceiveEvent:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _with_headers(send: ASGISendCallable, extra: dict[str, str]) -> ASGISendCallable:
    """``send`` with ``extra`` headers added to the response's start."""
    if not extra:
        return send
    encoded = [(name.lower().encode(), value.encode()) for name, value in extra.items()]

    async def send_with_headers(message: Any) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), *encoded]}
        await send(message)

    return send_with_headers


async def _refuse(send: ASGISendCallable, problem: Problem) -> None:
    body = wire.dumps(jsonrpc_error_body(problem))
    headers = {"Content-Type": "application/json", **problem.headers}
    await _respond(send, problem.status, headers, body)


async def _respond(
    send: ASGISendCallable, status: int, headers: dict[str, str], body: bytes
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *((name.lower().encode(), value.encode()) for name, value in headers.items()),
                (b"content-length", str(len(body)).encode()),
            ],
            "trailers": False,
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
