"""The A2A request checks: the JSON-RPC envelope, and each method's params beyond their types.

Every problem is one `RequestError`, told apart by its code as JSON-RPC tells them apart:
``invalid_json`` (from `trioagent.wire.body`) when the body is not JSON (a parse error),
`INVALID_REQUEST` when it is JSON but not a JSON-RPC request, and any other code for the
params of a method (invalid params), with ``param`` the field's path within the params
(``message.parts[0]``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, TypeVar

from trioagent.errors import RequestError

from . import a2a, a2a_v03
from .convert import structure
from .problems import JSON_KIND, invalid, problem_error
from .rules import SESSION_ID, SESSION_ID_CHARACTERS

T = TypeVar("T")

INVALID_REQUEST: Final = "invalid_request"
"""The `RequestError` code of a body that is JSON but not a JSON-RPC 2.0 request."""
PAGE_SIZE_MAX: Final = 100
"""The most tasks one ``ListTasks`` page holds."""


def _not_a_request(message: str) -> RequestError:
    return RequestError(f"Not a JSON-RPC 2.0 request: {message}", code=INVALID_REQUEST)


def request_id_of(body: Any) -> str | int | None:
    """The ``id`` of a decoded request body, when it is one a response may echo."""
    found = body.get("id") if type(body) is dict else None
    return found if type(found) in (str, int) else None


def parse_rpc_request(body: Any) -> a2a.RpcRequest:
    """Read a decoded body (`trioagent.wire.body.load_value`) as one JSON-RPC request.

    Raises:
        RequestError: code `INVALID_REQUEST` for a batch, a body that is not an object, a
            ``jsonrpc`` other than ``"2.0"``, a missing or non-string ``method`` or an
            ``id`` that is not a string, an integer or null; ``invalid_type`` (invalid
            params) for ``params`` that are not an object.
    """
    if type(body) is list:
        raise _not_a_request("batches are not supported; send one request per HTTP request.")
    if type(body) is not dict:
        raise _not_a_request(f"expected an object, but got {JSON_KIND[type(body)]}.")
    try:
        call = structure(body, a2a.RpcRequest)
    except RequestError as exc:
        raise _not_a_request(exc.message) from None
    if call.jsonrpc != a2a.JSONRPC_VERSION:
        raise _not_a_request(f"'jsonrpc' must be \"2.0\", not {call.jsonrpc!r}.")
    if not call.method:
        raise _not_a_request("'method' is empty.")
    if call.params is not None and type(call.params) is not dict:
        raise problem_error(
            "invalid_type", "params", f"expected an object, but got {JSON_KIND[type(call.params)]}"
        )
    return call


def parse_params(params: Any, cls: type[T]) -> T:
    """Read a method's ``params`` (None: ``{}``) as ``cls`` and check its rules.

    Raises:
        RequestError: the params break the method's contract; ``param`` names the field.
    """
    parsed = structure({} if params is None else params, cls)
    check = _CHECKS.get(cls)
    if check is not None:
        check(parsed)
    return parsed


def _check_history_length(value: int | None, param: str) -> None:
    if value is not None and value < 0:
        raise invalid(param, f"expected 0 or more, but got {value}")


def _check_id(value: str, param: str) -> None:
    if not value:
        raise invalid(param, "expected a non-empty string")


def _check_context_id(value: str | None, param: str) -> None:
    # The context id names the stored conversation: the rule of every conversation id.
    if value is not None and not SESSION_ID.fullmatch(value):
        raise invalid(param, f"expected {SESSION_ID_CHARACTERS}")


def _check_message(message: a2a.Message | a2a_v03.Message, param: str) -> None:
    _check_id(message.messageId, f"{param}.messageId")
    _check_context_id(message.contextId, f"{param}.contextId")
    if message.role not in ("ROLE_USER", "user"):
        raise invalid(f"{param}.role", "expected the user's role: a client sends user messages")
    if not message.parts:
        raise invalid(f"{param}.parts", "expected at least one part")
    for i, part in enumerate(message.parts):
        where = f"{param}.parts[{i}]"
        if isinstance(part, a2a.Part):
            contents = [part.text, part.raw, part.url, part.data]
            if sum(content is not None for content in contents) != 1:
                raise invalid(where, "expected exactly one of 'text', 'raw', 'url' and 'data'")
        elif isinstance(part, a2a_v03.FilePart) and (part.file.bytes is None) == (
            part.file.uri is None
        ):
            raise invalid(f"{where}.file", "expected exactly one of 'bytes' and 'uri'")


def _check_send(request: a2a.SendMessageRequest | a2a_v03.MessageSendParams) -> None:
    _check_message(request.message, "message")
    if request.configuration is not None:
        _check_history_length(request.configuration.historyLength, "configuration.historyLength")


def _check_get(request: a2a.GetTaskRequest | a2a_v03.TaskQueryParams) -> None:
    _check_id(request.id, "id")
    _check_history_length(request.historyLength, "historyLength")


def _check_cancel(request: a2a.CancelTaskRequest | a2a_v03.TaskIdParams) -> None:
    _check_id(request.id, "id")


def _check_list(request: a2a.ListTasksRequest) -> None:
    if request.pageSize is not None and not 1 <= request.pageSize <= PAGE_SIZE_MAX:
        raise invalid("pageSize", f"expected 1 to {PAGE_SIZE_MAX}, but got {request.pageSize}")
    _check_history_length(request.historyLength, "historyLength")
    if request.statusTimestampAfter is not None:
        parse_timestamp(request.statusTimestampAfter, "statusTimestampAfter")


def parse_timestamp(text: str, param: str) -> datetime:
    """An ISO 8601 time with its zone (``2026-12-07T17:30:00Z``).

    Raises:
        RequestError: ``text`` is not one; ``param`` names the field.
    """
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise invalid(param, "expected an ISO 8601 time with its zone, e.g. 2026-12-07T17:30:00Z")
    return when


_CHECKS: Final[dict[type, Any]] = {
    a2a.SendMessageRequest: _check_send,
    a2a_v03.MessageSendParams: _check_send,
    a2a.GetTaskRequest: _check_get,
    a2a_v03.TaskQueryParams: _check_get,
    a2a.CancelTaskRequest: _check_cancel,
    a2a_v03.TaskIdParams: _check_cancel,
    a2a.ListTasksRequest: _check_list,
}
"""Each params type's rules beyond its JSON types."""
