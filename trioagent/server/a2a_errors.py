"""The one table from failures to the JSON-RPC errors of ``serve a2a``.

Once a JSON-RPC call has been read, every failure is answered in-band (HTTP 200) with a
JSON-RPC error object built here: A2A's own errors (`A2AError`, raised with one of the
reasons of `CODES`), request problems (`RequestError`, by code: the body is not JSON, not a
JSON-RPC request, or the params break the method's rules), and anything else as the server's
table (`problem_of`) describes it. A2A defines no code for a busy conversation, a rate limit
or an unavailable store: those get JSON-RPC's implementation-defined server error, -32000,
the one code of that range that A2A leaves free (its own errors are -32001 to -32099), with
the reason in the details. Refusals before the call is read (401, 413, 415, 429, an unknown
path) keep their HTTP status, rendered as ``serve mcp`` renders them (`jsonrpc_error`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Literal

from ..errors import RequestError, TrioagentError, unwrap
from ..wire import a2a, jsonrpc
from ..wire.a2a_checks import INVALID_REQUEST
from .errors import Problem, problem_of
from .responses import json_response

if TYPE_CHECKING:
    from quart import Response

Reason = Literal[
    "PARSE_ERROR",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "INVALID_PARAMS",
    "INTERNAL_ERROR",
    "TASK_NOT_FOUND",
    "TASK_NOT_CANCELABLE",
    "PUSH_NOTIFICATION_NOT_SUPPORTED",
    "UNSUPPORTED_OPERATION",
    "CONTENT_TYPE_NOT_SUPPORTED",
    "VERSION_NOT_SUPPORTED",
]
"""A2A's error reasons (those of ``google.rpc.ErrorInfo``) that this server raises."""

CODES: Final[dict[str, int]] = {
    "PARSE_ERROR": -32700,
    "INVALID_REQUEST": jsonrpc.INVALID_REQUEST,
    "METHOD_NOT_FOUND": -32601,
    "INVALID_PARAMS": -32602,
    "INTERNAL_ERROR": jsonrpc.INTERNAL_ERROR,
    "TASK_NOT_FOUND": -32001,
    "TASK_NOT_CANCELABLE": -32002,
    "PUSH_NOTIFICATION_NOT_SUPPORTED": -32003,
    "UNSUPPORTED_OPERATION": -32004,
    "CONTENT_TYPE_NOT_SUPPORTED": -32005,
    "VERSION_NOT_SUPPORTED": -32009,
}
"""The JSON-RPC code of each reason: JSON-RPC's own, then A2A's (spec section 5.4)."""
SERVER_ERROR: Final = -32000
"""JSON-RPC's implementation-defined server error: a condition that passes (a busy
conversation, a rate limit, a store that does not answer) or a missing key."""
_SERVER_ERROR_STATUSES: Final = frozenset({401, 409, 429, 503})
A2A_DOMAIN: Final = "a2a-protocol.org"
OWN_DOMAIN: Final = "trioagent"
ERROR_INFO: Final = "type.googleapis.com/google.rpc.ErrorInfo"
BAD_REQUEST: Final = "type.googleapis.com/google.rpc.BadRequest"


class A2AError(TrioagentError):
    """One of A2A's errors, with a message that says what to do.

    Args:
        reason: which one (a key of `CODES`).
        message: what happened and how to go on.
        metadata: what it concerns, such as ``taskId``; sent in the error details.
    """

    def __init__(self, reason: Reason, message: str, **metadata: str) -> None:
        self.reason = reason
        self.message = message
        self.metadata = metadata
        super().__init__(message)


def _error_info(reason: str, domain: str, metadata: dict[str, str]) -> dict[str, Any]:
    return {"@type": ERROR_INFO, "reason": reason, "domain": domain, "metadata": metadata}


def rpc_error(exc: BaseException) -> a2a.RpcError:
    """The JSON-RPC error object of a failure in a call (see the module docstring)."""
    exc = unwrap(exc)
    if isinstance(exc, A2AError):
        return a2a.RpcError(
            code=CODES[exc.reason],
            message=exc.message,
            data=(_error_info(exc.reason, A2A_DOMAIN, exc.metadata),),
        )
    if isinstance(exc, RequestError) and exc.code in ("invalid_json", INVALID_REQUEST):
        reason: Reason = "PARSE_ERROR" if exc.code == "invalid_json" else "INVALID_REQUEST"
        return rpc_error(A2AError(reason, exc.message))
    return problem_rpc_error(problem_of(exc))


def problem_rpc_error(problem: Problem) -> a2a.RpcError:
    """The JSON-RPC error object of a problem in the server's table (a 400 is invalid
    params; see the module docstring for the others)."""
    if problem.status == 400:
        field = problem.param or ""
        details = (
            _error_info("INVALID_PARAMS", A2A_DOMAIN, {"field": field} if field else {}),
            {
                "@type": BAD_REQUEST,
                "fieldViolations": [{"field": field, "description": problem.message}],
            },
        )
        return a2a.RpcError(code=CODES["INVALID_PARAMS"], message=problem.message, data=details)
    if problem.status in _SERVER_ERROR_STATUSES:
        code = SERVER_ERROR
    elif problem.status < 500:
        code = CODES["INVALID_REQUEST"]
    else:
        code = CODES["INTERNAL_ERROR"]
    reason = (problem.code or problem.type).upper()
    metadata = {"status": str(problem.status)}
    if retry := problem.headers.get("Retry-After"):
        metadata["retryAfterSeconds"] = retry
    return a2a.RpcError(
        code=code, message=problem.message, data=(_error_info(reason, OWN_DOMAIN, metadata),)
    )


def rpc_error_response(request_id: str | int | None, exc: BaseException) -> Response:
    """A failed call's answer: HTTP 200 with the JSON-RPC error response."""
    return json_response(a2a.RpcErrorResponse(id=request_id, error=rpc_error(exc)))
