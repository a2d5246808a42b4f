"""The one table from exceptions to HTTP errors.

Every server route and hook turns failures into a ``Problem`` here; each API then renders
it in its own shape (the OpenAI envelope, or the simple API's ``{"error", "code"}``).
"""

from __future__ import annotations

import logging
import uuid

import attrs
import trio
from quart import Response
from werkzeug.exceptions import HTTPException

from .. import errors, wire
from ..logs import request_id as current_request_id
from ..wire import openai as w
from .ratelimit import retry_after_header

logger = logging.getLogger(__name__)

NO_RETRY = {"x-should-retry": "false"}
"""On answers of a turn that may have had side effects: SDKs must not re-run it."""


@attrs.frozen(kw_only=True)
class Problem:
    """An error as the client will see it."""

    status: int
    type: str
    code: str | None
    message: str
    param: str | None = None
    headers: dict[str, str] = attrs.Factory(dict)


_HTTP = {
    400: ("invalid_request_error", "invalid_value", "The request is malformed."),
    404: ("invalid_request_error", "not_found", "Unknown path: see GET /openapi.json."),
    405: ("invalid_request_error", "method_not_allowed", "Method not allowed on this path."),
    408: ("invalid_request_error", "request_timeout",
          "The request body did not arrive in time."),
    413: ("invalid_request_error", "request_too_large",
          "The request body is larger than the server's --max-request-size."),
    415: ("invalid_request_error", "unsupported_media_type",
          "Send the body as JSON with Content-Type: application/json."),
}


def unwrap(exc: BaseException) -> BaseException:
    """The exception that matters inside nested ExceptionGroups (nurseries, cattrs)."""
    while isinstance(exc, BaseExceptionGroup):
        inner = [e for e in exc.exceptions if not isinstance(e, trio.Cancelled)]
        exc = (inner or list(exc.exceptions))[0]
    return exc


def problem_of(exc: BaseException) -> Problem:
    """Describe ``exc`` for the client; unexpected errors are logged with an id, not shown."""
    exc = unwrap(exc)
    match exc:
        case errors.UnknownModel():
            return Problem(status=404, type="invalid_request_error", code=exc.code,
                           message=exc.message, param=exc.param)
        case errors.RequestError():
            return Problem(status=400, type="invalid_request_error", code=exc.code,
                           message=exc.message, param=exc.param)
        case errors.SessionNotFound():
            return Problem(status=404, type="invalid_request_error", code="not_found",
                           message=str(exc), param="session_id")
        case errors.UnknownResponse():  # OpenAI's code when it was previous_response_id
            code = ("previous_response_not_found" if exc.param == "previous_response_id"
                    else "not_found")
            return Problem(status=404, type="invalid_request_error", code=code,
                           message=str(exc), param=exc.param)
        case errors.ConversationBusy():
            return Problem(status=409, type="conflict_error", code="conversation_busy",
                           message=str(exc), param=exc.param, headers={"Retry-After": "1"})
        case errors.ConversationConflict():
            return Problem(status=409, type="conflict_error", code="conversation_conflict",
                           message=str(exc), param="X-Conversation-Id", headers=NO_RETRY)
        case errors.RateLimitExceeded():
            return Problem(status=429, type="rate_limit_error", code="rate_limit_exceeded",
                           message=str(exc),
                           headers={"Retry-After": retry_after_header(exc.retry_after)})
        case errors.TurnTimeout():
            return Problem(status=504, type="server_error", code="timeout",
                           message=str(exc) or "The turn ran past the request timeout.",
                           headers=NO_RETRY)
        case errors.StoreUnavailable():
            logger.warning("%s", exc)  # where and why, for the operator only
            return Problem(status=503, type="server_error", code="unavailable",
                           message="The conversation store is unavailable; retry shortly.",
                           headers={"Retry-After": "1"})
        case errors.ModelError():
            logger.warning("model provider failed: %s%s", exc,
                           f" ({exc.where})" if exc.where else "")
            return Problem(status=502, type="server_error", code="upstream_error",
                           message=f"The model provider failed: {exc}", headers=NO_RETRY)
        case HTTPException() if exc.code in _HTTP:
            type_, code, message = _HTTP[exc.code]
            headers = dict(exc.get_headers()) if exc.code == 405 else {}
            headers = {k: v for k, v in headers.items() if k.lower() == "allow"}
            return Problem(status=exc.code, type=type_, code=code, message=message,
                           headers=headers)
        case HTTPException():
            status = exc.code or 500
            return Problem(status=status, type="invalid_request_error" if status < 500
                           else "server_error", code=None, message=exc.description or exc.name)
    # The exchange's X-Request-Id, so that the client's report leads to this log line.
    request_id = current_request_id.get() or uuid.uuid4().hex[:12]
    logger.error("internal error (request id %s)", request_id, exc_info=exc)
    return Problem(status=500, type="server_error", code="internal_error",
                   message=f"Internal server error (request id {request_id}).",
                   headers=NO_RETRY)


def error_envelope(problem: Problem) -> w.ErrorEnvelope:
    """A problem as OpenAI's ``{"error": {...}}``."""
    return w.ErrorEnvelope(error=w.ErrorBody(
        message=problem.message, type=problem.type, param=problem.param, code=problem.code,
    ))


def openai_error(problem: Problem) -> Response:
    """A problem as an OpenAI error response."""
    return _error_response(wire.dumps(error_envelope(problem)), problem.status, problem)


def api_error_body(problem: Problem) -> wire.ApiError:
    """A problem as the simple API's ``{"error": "...", "code": N}``.

    Its contract names fewer statuses than OpenAI's: every failure of the model provider
    or of the server itself is a 500 ``Failed to get response: <reason>``.
    """
    if problem.status == 400:
        return wire.ApiError(error=f"Invalid request: {problem.message}", code=400)
    if problem.status >= 500 and problem.status not in (503, 504):
        return wire.ApiError(error=f"Failed to get response: {problem.message}", code=500)
    return wire.ApiError(error=problem.message, code=problem.status)


def api_error(problem: Problem) -> Response:
    """A problem as a simple API error response."""
    body = api_error_body(problem)
    return _error_response(wire.dumps(body), body.code, problem)


def _error_response(body: bytes, status: int, problem: Problem) -> Response:
    response = Response(body, status=status, content_type="application/json")
    response.headers.update(problem.headers)
    return response
