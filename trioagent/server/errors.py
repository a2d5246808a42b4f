"""The one table from exceptions to HTTP errors.

Every server route and hook turns failures into a ``Problem`` here; each API then renders
it in its own shape (the OpenAI envelope, the simple API's ``{"error", "code"}``, or, for
the JSON-RPC protocols MCP and A2A, a JSON-RPC error response).
`STATUSES` holds what each error status says unless its exception says more; the OpenAPI
documents list their errors' headers from it.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Final

import attrs
from quart import Response
from werkzeug.exceptions import HTTPException

from .. import errors, wire
from ..logs import request_id as current_request_id
from ..wire import jsonrpc
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


STATUSES: Final[dict[int, Problem]] = {
    problem.status: problem
    for problem in (
        Problem(
            status=400,
            type="invalid_request_error",
            code="invalid_value",
            message="The request is malformed.",
        ),
        Problem(
            status=401,
            type="authentication_error",
            code="invalid_api_key",
            message="Missing or wrong bearer token.",
            headers={"WWW-Authenticate": "Bearer"},
        ),
        Problem(
            status=404,
            type="invalid_request_error",
            code="not_found",
            message="Unknown path: see GET /openapi.json.",
        ),
        Problem(
            status=405,
            type="invalid_request_error",
            code="method_not_allowed",
            message="Method not allowed on this path.",
        ),
        Problem(
            status=408,
            type="invalid_request_error",
            code="request_timeout",
            message="The request body did not arrive in time.",
        ),
        Problem(
            status=409,
            type="conflict_error",
            code="conversation_busy",
            message="A turn on this conversation is running; retry when it ends.",
            headers={"Retry-After": "1"},
        ),
        Problem(
            status=413,
            type="invalid_request_error",
            code="request_too_large",
            message="The request body is larger than the server's --max-request-size.",
        ),
        Problem(
            status=415,
            type="invalid_request_error",
            code="unsupported_media_type",
            message="Send the body as JSON with Content-Type: application/json.",
        ),
        Problem(
            status=429,
            type="rate_limit_error",
            code="rate_limit_exceeded",
            message="Rate limit exceeded.",
            headers={"Retry-After": "1"},
        ),
        Problem(
            status=500,
            type="server_error",
            code="internal_error",
            message="Internal server error.",
            headers=NO_RETRY,
        ),
        Problem(
            status=502,
            type="server_error",
            code="upstream_error",
            message="The model provider failed.",
            headers=NO_RETRY,
        ),
        Problem(
            status=503,
            type="server_error",
            code="unavailable",
            message="The conversation store is unavailable; retry shortly.",
            headers={"Retry-After": "1"},
        ),
        Problem(
            status=504,
            type="server_error",
            code="timeout",
            message="The turn ran past the request timeout.",
            headers=NO_RETRY,
        ),
    )
}
"""Each error status the servers answer, as the client sees it unless the exception says
more (its message, code, param): `problem_of` starts from these."""

_HTTP_STATUSES: Final = frozenset({400, 404, 405, 408, 413, 415})
"""The statuses of werkzeug's exceptions (routing, body, media type) told as in `STATUSES`;
any other keeps werkzeug's own description."""


def status_problem(status: int, **changes: Any) -> Problem:
    """The problem of ``status`` in `STATUSES`, with ``changes`` (``message``, ``code``,
    ``param``, ``headers``) made."""
    return attrs.evolve(STATUSES[status], **changes)


def problem_of(exc: BaseException) -> Problem:
    """Describe ``exc`` for the client; unexpected errors are logged with an id, not shown."""
    exc = errors.unwrap(exc)
    match exc:
        case errors.AuthError():
            return status_problem(401, message=exc.message)
        case errors.UnknownModel():
            return status_problem(404, code=exc.code, message=exc.message, param=exc.param)
        case errors.RequestError():
            return status_problem(400, code=exc.code, message=exc.message, param=exc.param)
        case errors.SessionNotFound():
            return status_problem(404, message=str(exc), param="session_id")
        case errors.UnknownResponse():  # OpenAI's code when it was previous_response_id
            code = (
                "previous_response_not_found"
                if exc.param == "previous_response_id"
                else "not_found"
            )
            return status_problem(404, code=code, message=str(exc), param=exc.param)
        case errors.ConversationBusy():
            return status_problem(409, message=str(exc), param=exc.param)
        case errors.ConversationConflict():
            return status_problem(
                409,
                code="conversation_conflict",
                message=str(exc),
                param="X-Conversation-Id",
                headers=NO_RETRY,
            )
        case errors.RateLimitExceeded():
            return status_problem(
                429, message=str(exc), headers={"Retry-After": retry_after_header(exc.retry_after)}
            )
        case errors.TurnTimeout():
            return status_problem(504, message=str(exc) or STATUSES[504].message)
        case errors.StoreUnavailable():
            logger.warning("%s", exc)  # where and why, for the operator only
            return STATUSES[503]
        case errors.ModelError():
            logger.warning(
                "model provider failed: %s%s", exc, f" ({exc.where})" if exc.where else ""
            )
            return status_problem(502, message=f"The model provider failed: {exc}")
        case HTTPException() if exc.code in _HTTP_STATUSES:
            headers = dict(exc.get_headers()) if exc.code == 405 else {}
            headers = {k: v for k, v in headers.items() if k.lower() == "allow"}
            return status_problem(exc.code, headers=headers)
        case HTTPException():
            status = exc.code or 500
            return Problem(
                status=status,
                type="invalid_request_error" if status < 500 else "server_error",
                code=None,
                message=exc.description or exc.name,
            )
    # The exchange's X-Request-Id, so that the client's report leads to this log line.
    request_id = current_request_id.get() or uuid.uuid4().hex[:12]
    logger.error("internal error (request id %s)", request_id, exc_info=exc)
    return status_problem(500, message=f"Internal server error (request id {request_id}).")


def error_envelope(problem: Problem) -> w.ErrorEnvelope:
    """A problem as OpenAI's ``{"error": {...}}``."""
    return w.ErrorEnvelope(
        error=w.ErrorBody(
            message=problem.message,
            type=problem.type,
            param=problem.param,
            code=problem.code,
        )
    )


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


def jsonrpc_error_body(problem: Problem) -> jsonrpc.JsonRpcErrorResponse:
    """A problem as a JSON-RPC error response without an id: how the servers of JSON-RPC
    protocols (``serve mcp --http``, ``serve a2a``) refuse a request before the protocol
    reads it."""
    code = jsonrpc.INTERNAL_ERROR if problem.status >= 500 else jsonrpc.INVALID_REQUEST
    data = jsonrpc.ErrorData(status=problem.status, type=problem.type, code=problem.code)
    return jsonrpc.JsonRpcErrorResponse(
        id=None, error=jsonrpc.JsonRpcError(code=code, message=problem.message, data=data)
    )


def jsonrpc_error(problem: Problem) -> Response:
    """A problem as a JSON-RPC error response (see `jsonrpc_error_body`)."""
    return _error_response(wire.dumps(jsonrpc_error_body(problem)), problem.status, problem)


def _error_response(body: bytes, status: int, problem: Problem) -> Response:
    response = Response(body, status=status, content_type="application/json")
    response.headers.update(problem.headers)
    return response
