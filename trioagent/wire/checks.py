"""The request checks: each API's rules beyond JSON types, and the parse function of each body.

A parse function reads a body with `trioagent.wire.body.loads`, structures it with the wire
converter, then checks what the types cannot say (ranges, patterns, combinations of fields);
the rules themselves are written once, in `trioagent.wire.rules`. Every problem is one
`RequestError` whose ``param`` names the field.
"""

from __future__ import annotations

from typing import Any, Final

from trioagent.errors import RequestError

from .api import ChatRequest
from .body import loads
from .convert import structure
from .openai import ChatCompletionRequest, UserMessage
from .problems import invalid, problem_error, show, wrong_type
from .responses import FunctionCallOutputItem, MessageItem, ResponseCreateRequest
from .rules import (
    CHAT_RANGES,
    RESPONSE_RANGES,
    SESSION_ID,
    SESSION_ID_CHARACTERS,
    STOP_MAX,
    TOOL_NAME,
    TOOL_NAME_CHARACTERS,
    Range,
)
from .ws import ClientFrame, HelloFrame, MessageFrame


def _check_ranges(request: object, ranges: dict[str, Range]) -> None:
    for name, allowed in ranges.items():
        value = getattr(request, name)
        if value is not None and value not in allowed:
            raise invalid(name, f"expected {allowed.describe()}, but got {value:g}")


def _check_tool_name(name: object, param: str) -> None:
    if not (isinstance(name, str) and TOOL_NAME.fullmatch(name)):
        raise invalid(param, f"expected {TOOL_NAME_CHARACTERS}, but got {show(name)}")


def _check_chat_request(request: ChatCompletionRequest) -> None:
    if not request.messages:
        raise invalid("messages", "expected a non-empty array, but got an empty array")
    if not any(isinstance(message, UserMessage) for message in request.messages):
        raise invalid("messages", "expected at least one message with role 'user'")
    _check_ranges(request, CHAT_RANGES)
    stop = request.stop
    if isinstance(stop, tuple) and len(stop) > STOP_MAX:
        raise invalid("stop", f"expected at most {STOP_MAX} strings, but got {len(stop)}")
    for i, word in enumerate((stop,) if isinstance(stop, str) else stop or ()):
        if not word:
            raise invalid(
                "stop" if isinstance(stop, str) else f"stop[{i}]", "expected a non-empty string"
            )
    if request.n is not None and request.n != 1:
        raise invalid("n", f"only 1 is supported (an agent gives one answer), but got {request.n}")
    if request.logprobs:
        raise invalid("logprobs", "log probabilities are not supported")
    if request.top_logprobs:
        raise invalid("top_logprobs", "log probabilities are not supported")
    if request.stream_options is not None and not request.stream:
        raise invalid("stream_options", "only allowed when 'stream' is true")
    names: set[str] = set()
    for i, tool in enumerate(request.tools or ()):
        name = tool.function.name
        _check_tool_name(name, f"tools[{i}].function.name")
        if name in names:
            raise invalid("tools", f"two tools are named {show(name)}")
        names.add(name)


def parse_chat_request(data: bytes) -> ChatCompletionRequest:
    """Read and check the body of ``POST /v1/chat/completions``.

    Raises:
        RequestError: the body breaks the wire contract; ``param`` names the field.
    """
    request = structure(loads(data), ChatCompletionRequest)
    _check_chat_request(request)
    return request


def _check_responses_request(request: ResponseCreateRequest) -> None:
    if isinstance(request.input, tuple) and not request.input:
        raise invalid("input", "expected a string or a non-empty array, but got an empty array")
    if isinstance(request.input, str) and not request.input:
        raise invalid("input", "expected a non-empty string")
    _check_ranges(request, RESPONSE_RANGES)
    if request.background:
        raise invalid("background", "background responses are not supported")
    if request.conversation is not None:
        raise invalid("conversation", "conversations are not supported: use previous_response_id")
    if request.prompt is not None:
        raise invalid("prompt", "prompt templates are not supported")
    if request.top_logprobs:
        raise invalid("top_logprobs", "log probabilities are not supported")
    if request.stream_options is not None and not request.stream:
        raise invalid("stream_options", "only allowed when 'stream' is true")
    for i, item in enumerate(request.input if isinstance(request.input, tuple) else ()):
        # A function_call_output's parts follow the rules of a message's content.
        if isinstance(item, MessageItem):
            parts, where = item.content, f"input[{i}].content"
        elif isinstance(item, FunctionCallOutputItem):
            parts, where = item.output, f"input[{i}].output"
        else:
            continue
        for j, part in enumerate(parts if isinstance(parts, tuple) else ()):
            if part.type == "input_file":
                raise invalid(
                    f"{where}[{j}]",
                    "file inputs are not supported: send the text, "
                    "or let the agent read the file with its tools",
                )
            if part.type == "input_image" and not getattr(part, "image_url", None):
                raise invalid(f"{where}[{j}]", "expected an image_url (file_id is not supported)")
    names: set[str] = set()
    for i, tool in enumerate(request.tools or ()):
        _check_response_tool(tool, f"tools[{i}]")
        if tool["type"] == "function":
            if tool["name"] in names:
                raise invalid("tools", f"two tools are named {show(tool['name'])}")
            names.add(tool["name"])


_FUNCTION_FIELDS: Final = (
    ("description", str, "a string"),
    ("parameters", dict, "an object"),
    ("strict", bool, "a boolean"),
)
"""The optional fields of a function tool of ``/v1/responses``: each ``null`` or this kind."""


def _check_response_tool(tool: dict[str, Any], where: str) -> None:
    """A tool is read as a plain object (its shape depends on its ``type``): check the
    fields the server reads, so that no value of a wrong JSON kind gets past."""
    if "type" not in tool:
        raise problem_error("missing_field", f"{where}.type")
    if type(tool["type"]) is not str:
        raise problem_error(
            "invalid_type", f"{where}.type", wrong_type("a string", tool["type"]).detail
        )
    if tool["type"] != "function":
        return  # refused or skipped by the server, by type
    # The name rule of /v1/chat/completions: the providers refuse any other name.
    _check_tool_name(tool.get("name"), f"{where}.name")
    for field, kind, expected in _FUNCTION_FIELDS:
        value = tool.get(field)
        if value is not None and type(value) is not kind:
            raise problem_error(
                "invalid_type", f"{where}.{field}", wrong_type(f"{expected} or null", value).detail
            )


def parse_responses_request(data: bytes) -> ResponseCreateRequest:
    """Read and check the body of ``POST /v1/responses``.

    A message item may leave out ``"type": "message"`` (the SDKs' "easy" input messages).

    Raises:
        RequestError: the body breaks the wire contract; ``param`` names the field.
    """
    body = loads(data)
    items = body.get("input")
    if type(items) is list:
        body["input"] = [
            {"type": "message", **item}
            if type(item) is dict and "type" not in item and "role" in item
            else item
            for item in items
        ]
    request = structure(body, ResponseCreateRequest)
    _check_responses_request(request)
    return request


def parse_api_chat_request(data: bytes) -> ChatRequest:
    """Read and check the body of ``POST /api/chat``.

    Raises:
        RequestError: the body is invalid; ``param`` names the field.
    """
    request = structure(loads(data), ChatRequest)
    if not request.message.strip():
        raise invalid("message", "expected a non-empty string")
    if request.session_id is not None and not SESSION_ID.fullmatch(request.session_id):
        raise invalid("session_id", f"expected {SESSION_ID_CHARACTERS}")
    return request


def parse_client_frame(data: str) -> ClientFrame:
    """Read and check one text frame a WebSocket client sent.

    Raises:
        RequestError: the frame is not JSON, not a known ``type``, or breaks its rules;
            ``param`` names the field.
    """
    try:
        frame: ClientFrame = structure(loads(data.encode()), ClientFrame)  # type: ignore[arg-type]
    except RequestError as exc:
        # The body rules are the frame rules; only the word for what was read differs.
        raise RequestError(
            exc.message.replace("The request body", "The frame", 1), param=exc.param, code=exc.code
        ) from None
    if isinstance(frame, MessageFrame) and not frame.text.strip():
        raise invalid("text", "expected a non-empty string")
    if (
        isinstance(frame, HelloFrame)
        and frame.conversation_id is not None
        and not SESSION_ID.fullmatch(frame.conversation_id)
    ):
        raise invalid("conversation_id", f"expected {SESSION_ID_CHARACTERS}")
    return frame
