"""Around every HTTP request and WebSocket connection: its request id, its access line, its count.

`observe_requests` wraps the app's ASGI callable (``app.asgi_app``), so it sees every answer
the app sends, error pages included, whether or not quart's hooks ran. For each exchange it

- takes the client's ``X-Request-Id`` when acceptable (`trioagent.logs.valid_request_id`),
  else a new id, and sets `trioagent.logs.request_id` for the exchange: the tasks it starts
  (quart's, the turn's) copy the context, so every log line of the exchange carries the id;
- adds ``X-Request-Id`` to the response (and to a WebSocket's accept) unless it has one;
- logs one access line at INFO: ``METHOD PATH STATUS DURATIONms`` (hypercorn's own access
  log is off: see `serve.hypercorn_config`);
- counts it in ``trioagent_requests_total`` under the URL rule the app matched
  (`note_route`), or ``other``;
- traces it as the server span of its request (`trioagent.tracing.server_span`), the
  parent of its turns' spans.

An exchange that ends before any answer started (the client went away during a turn) is
logged with status ``-`` and not counted; its turn is (outcome ``cancelled``).
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, cast

import attrs
import trio

from .. import tracing
from ..logs import new_request_id, request_id

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Mapping

    from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, ASGISendEvent, Scope

    from .metrics import Metrics

    ASGICallable = Callable[
        [Scope, ASGIReceiveCallable, ASGISendCallable], Coroutine[Any, Any, None]
    ]

logger = logging.getLogger(__name__)

MAX_LOGGED_PATH = 256
"""Characters of a path the access line shows; a longer one is cut."""
_REQUEST_ID_HEADER = b"x-request-id"


@attrs.define
class _Exchange:
    span: tracing.ServerSpan
    route: str = "other"


_exchange: ContextVar[_Exchange | None] = ContextVar("trioagent_exchange", default=None)


def note_route(rule: str | None) -> None:
    """Record the URL rule (e.g. ``/api/sessions/<session_id>``) the exchange matched."""
    exchange = _exchange.get()
    if exchange is not None and rule is not None:
        exchange.route = rule
        exchange.span.routed(rule)


def observe_requests(app: ASGICallable, metrics: Metrics) -> ASGICallable:
    """``app`` with request ids, access lines and request counts (see the module doc)."""

    async def observed(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] not in ("http", "websocket"):
            await app(scope, receive, send)
            return
        fields = cast("Mapping[str, Any]", scope)
        rid = new_request_id(_header(fields, _REQUEST_ID_HEADER))
        span = tracing.server_span(fields, request_id=rid)
        exchange = _Exchange(span)
        id_token, exchange_token = request_id.set(rid), _exchange.set(exchange)
        status: int | None = None
        started = trio.current_time()

        async def send_observed(message: ASGISendEvent) -> None:
            nonlocal status
            kind = message["type"]
            if kind in ("http.response.start", "websocket.http.response.start"):
                status = int(message["status"])  # type: ignore[typeddict-item]
                message = _with_request_id(message, rid)
                span.responded(status)
            elif kind == "websocket.accept":
                status = 101
                message = _with_request_id(message, rid)
                span.responded(status)
            await send(message)

        try:
            with span:
                await app(scope, receive, send_observed)
        finally:
            method = str(fields.get("method", "GET"))
            path = _printable_path(fields)
            milliseconds = (trio.current_time() - started) * 1000
            logger.info(
                "%s %s %s %.1fms",
                method,
                path,
                "-" if status is None else status,
                milliseconds,
                extra={
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": round(milliseconds, 3),
                },
            )
            if status is not None:
                metrics.count_request(exchange.route, method, status)
            _exchange.reset(exchange_token)
            request_id.reset(id_token)

    return observed


def _header(scope: Mapping[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _with_request_id(message: Any, rid: str) -> Any:
    headers = list(message.get("headers") or ())
    if any(key.lower() == _REQUEST_ID_HEADER for key, _ in headers):
        return message
    return {**message, "headers": [*headers, (_REQUEST_ID_HEADER, rid.encode())]}


def _printable_path(scope: Mapping[str, Any]) -> str:
    """The path as the client sent it, without the query (it may hold secrets); percent
    escapes stay as they are and any other unprintable byte is escaped, so a hostile path
    cannot break a log line."""
    raw = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "replace")
    path = bytes(raw).partition(b"?")[0].decode("latin-1")
    if not (path.isascii() and path.isprintable()) or " " in path:
        path = "".join(char if "\x20" < char < "\x7f" else f"\\x{ord(char):02x}" for char in path)
    if len(path) > MAX_LOGGED_PATH:
        path = path[:MAX_LOGGED_PATH] + "..."
    return path
