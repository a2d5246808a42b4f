"""Response builders shared by the routes: one JSON body, or a stream of events."""

from __future__ import annotations

from typing import TYPE_CHECKING

from quart import Response

from .. import wire

if TYPE_CHECKING:
    from quart.wrappers.response import ResponseBody

SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


def json_response(obj: object, status: int = 200) -> Response:
    """``obj`` (a wire value or plain JSON data) as a JSON response."""
    return Response(wire.dumps(obj), status=status, content_type="application/json")


def sse_response(body: ResponseBody) -> Response:
    """A 200 Server-Sent Events response whose body bounds its own time."""
    response = Response(body, status=200, headers=SSE_HEADERS)
    response.headers["Content-Type"] = "text/event-stream"
    response.timeout = None  # the turn's own deadline bounds the stream
    return response
