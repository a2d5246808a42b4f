"""THE wire converter: every rule for reading and writing the JSON of `trioagent.wire`.

Inbound is tolerant of what it does not know and strict about what it does: unknown keys are
ignored (clients send many), but a known field of the wrong JSON type is an error, never a
coercion (cattrs' default would turn ``"10"`` into ``10`` and ``1`` into ``"1"``). Unions are
chosen by the JSON kind of the value (``"stop": "x"`` vs ``"stop": ["x"]``); messages are
tagged on ``role`` and content parts on ``type``. Every problem becomes one `RequestError`
whose ``param`` is the field's path, such as ``messages[3].role``.

Outbound is exact: a field whose default is ``None`` (or `OMIT`) is left out when it has that
value, except the fields in `_WRITE_NULL`, which OpenAI always writes, as ``null`` if unset.
"""

from __future__ import annotations

import collections
import json
import math
import re
import types
from collections.abc import Callable
from typing import Any, Final, Literal, TypeVar, Union, get_args, get_origin

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory
from cattrs.errors import (
    AttributeValidationNote,
    BaseValidationError,
    ClassValidationError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from trioagent.errors import RequestError

from .api import SESSION_ID, ChatRequest
from .openai import (
    OMIT,
    AssistantMessage,
    ChatCompletionRequest,
    ChatMessage,
    ChunkChoice,
    ContentPart,
    ErrorBody,
    Omit,
    UserMessage,
)
from .responses import (
    FunctionCallOutputItem,
    InputItem,
    InputPart,
    MessageItem,
    ResponseCreateRequest,
    ResponseObject,
)
from .ws import ClientFrame, HelloFrame, MessageFrame

T = TypeVar("T")
Hook = Callable[[Any, Any], Any]

MAX_DEPTH: Final = 64
"""The deepest nesting of arrays and objects a request body may have."""

_WRITE_NULL: Final[dict[type, frozenset[str]]] = {
    AssistantMessage: frozenset({"content"}),
    ChunkChoice: frozenset({"finish_reason"}),
    ErrorBody: frozenset({"param", "code"}),
    ResponseObject: frozenset({
        "error", "incomplete_details", "instructions", "max_output_tokens",
        "previous_response_id", "temperature", "top_p", "usage", "user",
    }),
}
"""Fields that default to ``None`` but that OpenAI writes as ``null`` rather than leave out."""

_TAGGED: Final[tuple[tuple[Any, str], ...]] = (
    (ChatMessage, "role"), (ContentPart, "type"), (ClientFrame, "type"),
    (InputItem, "type"), (InputPart, "type"),
)
"""Unions of attrs classes, each told apart by a ``Literal`` field with a default: the tag."""


# Inbound problems: raised inside hooks, turned into one RequestError by `_request_error`.


class _Problem(Exception):
    """A problem with one value; ``field`` names a key below it (a missing or bad tag)."""

    def __init__(self, code: str, detail: str = "", field: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.field = field


_KIND: Final[dict[type, str]] = {
    str: "a string", bool: "a boolean", int: "an integer", float: "a number",
    type(None): "null", list: "an array", dict: "an object",
}  # fmt: skip
"""What each type that `json.loads` returns is called in messages."""


def _wrong_type(expected: str, value: object) -> _Problem:
    return _Problem("invalid_type", f"expected {expected}, but got {_KIND[type(value)]}")


def _show(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _one_of(choices: tuple[Any, ...]) -> str:
    shown = ", ".join(_show(choice) for choice in choices)
    return shown if len(choices) == 1 else f"one of {shown}"


def _message(code: str, param: str | None, detail: str) -> str:
    where = f"'{param}'" if param else "the request body"
    if code == "missing_field":
        return f"Missing required parameter: {where}."
    kind = "type" if code == "invalid_type" else "value"
    return f"Invalid {kind} for {where}: {detail}."


def _invalid(param: str, detail: str) -> RequestError:
    return RequestError(_message("invalid_value", param, detail), param=param)


def _first_problem(exc: BaseException, path: str = "") -> tuple[str, BaseException]:
    """Walk cattrs' exception groups down to the first leaf; return its path and itself."""
    while isinstance(exc, ClassValidationError | IterableValidationError):
        with_notes, without = exc.group_exceptions()
        if with_notes:
            exc, note = with_notes[0]
            if isinstance(note, AttributeValidationNote):
                path = f"{path}.{note.name}"
            elif isinstance(note, IterableValidationNote):
                path = f"{path}[{note.index}]"
        else:
            exc = without[0]
    return path, exc


def _request_error(exc: BaseException) -> RequestError:
    path, leaf = _first_problem(exc)
    if isinstance(leaf, _Problem):
        code, detail = leaf.code, leaf.detail
        if leaf.field:
            path = f"{path}.{leaf.field}"
    elif isinstance(leaf, KeyError):  # the generated structure code reads o["name"]
        code, detail = "missing_field", ""
    else:
        code, detail = "invalid_value", str(leaf) or type(leaf).__name__
    param = path.lstrip(".") or None
    return RequestError(_message(code, param, detail), param=param, code=code)


# Inbound hooks.


_READ_FROM: Final[dict[Any, tuple[type, ...]]] = {
    str: (str,), int: (int,), float: (int, float), bool: (bool,), type(None): (type(None),)
}  # fmt: skip
"""The JSON kinds (as `json.loads` types) each primitive is read from: never a coercion."""


def _primitive_hook(tp: type) -> Hook:
    kinds = _READ_FROM[tp]

    def structure_primitive(value: Any, _: Any) -> Any:
        if type(value) in kinds:
            return tp(value)
        raise _wrong_type(_KIND[tp], value)

    return structure_primitive


def _structure_object(value: Any, _: Any) -> dict[str, Any]:
    if type(value) is dict:
        return value
    raise _wrong_type("an object", value)


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _is_literal(tp: Any) -> bool:
    return get_origin(tp) is Literal


def _is_array(tp: Any) -> bool:
    return get_origin(tp) is tuple and get_args(tp)[1:] == (Ellipsis,)


def _is_object(tp: Any) -> bool:
    return tp is dict or get_origin(tp) is dict


def _literal_hook(tp: Any) -> Hook:
    allowed = get_args(tp)

    def structure_literal(value: Any, _: Any) -> Any:
        if type(value) is str and value in allowed:
            return value
        if type(value) is not str:
            raise _wrong_type("a string", value)
        raise _Problem("invalid_value", f"expected {_one_of(allowed)}, but got {_show(value)}")

    return structure_literal


def _kinds(tp: Any) -> tuple[type, ...] | None:
    """The JSON kinds (as `json.loads` types) that a union member is read from."""
    if tp in _READ_FROM:
        return _READ_FROM[tp]
    if _is_literal(tp):
        values = get_args(tp)
        if all(isinstance(value, str) for value in values):
            return (str,)
        return () if all(isinstance(value, Omit) for value in values) else None
    if _is_array(tp):
        return (list,)
    if _is_object(tp) or attrs.has(tp):
        return (dict,)
    return None


def _kind_table(tp: Any) -> dict[type, Any] | None:
    """Map each JSON kind to the one member of union ``tp`` read from it, or None if unclear."""
    table: dict[type, Any] = {}
    for member in get_args(tp):
        kinds = _kinds(member)
        if kinds is None or any(kind in table for kind in kinds):
            return None
        table.update(dict.fromkeys(kinds, member))
    return table


def _tagged_union_hook(converter: cattrs.Converter, union: Any, tag: str) -> Hook:
    members = {attrs.fields_dict(cls)[tag].default: cls for cls in get_args(union)}

    def structure_tagged(value: Any, _: Any) -> Any:
        if type(value) is not dict:
            raise _wrong_type("an object", value)
        if tag not in value:
            raise _Problem("missing_field", field=tag)
        found = value[tag]
        if type(found) is not str:
            raise _Problem("invalid_type", _wrong_type("a string", found).detail, field=tag)
        if found not in members:
            detail = f"expected {_one_of(tuple(members))}, but got {_show(found)}"
            raise _Problem("invalid_value", detail, field=tag)
        # Looked up per call (a cached dispatch), so that the order of registration is free.
        return converter.structure(value, members[found])

    return structure_tagged


# Outbound.


def _omitted_when_unset(cls: type) -> dict[str, Any]:
    """The per-field cattrs overrides that express the omit/null rule for ``cls``."""
    write_null = _WRITE_NULL.get(cls, frozenset())
    return {
        field.name: override(
            omit_if_default=(field.default is None or field.default is OMIT)
            and field.name not in write_null
        )
        for field in attrs.fields(cls)
    }


def make_converter() -> cattrs.Converter:
    """Return a converter that applies every wire rule (see the module docstring).

    Returns:
        A new `cattrs.Converter`; `converter` is the one the rest of the package uses.
    """
    conv = cattrs.Converter(forbid_extra_keys=False, unstruct_collection_overrides={tuple: list})
    for tp in (str, int, float, bool):
        conv.register_structure_hook(tp, _primitive_hook(tp))
    conv.register_structure_hook_factory(_is_literal, _literal_hook)

    def object_hook(tp: Any) -> Hook:
        args = get_args(tp)
        value_type = args[1] if len(args) == 2 else Any
        if value_type is Any:
            return _structure_object
        values = conv.get_structure_hook(value_type)

        def structure_mapping(value: Any, _: Any) -> Any:
            if type(value) is not dict:
                raise _wrong_type("an object", value)
            mapping = {}
            for key, item in value.items():
                try:
                    mapping[key] = values(item, value_type)
                except _Problem as exc:  # name the key, as `metadata.color`
                    field = f"{key}.{exc.field}" if exc.field else key
                    raise _Problem(exc.code, exc.detail, field=field) from None
            return mapping

        return structure_mapping

    def array_hook(tp: Any) -> Hook:
        items = homogenous_tuple_structure_factory(tp, conv)

        def structure_array(value: Any, _: Any) -> Any:
            if type(value) is not list:
                raise _wrong_type("an array", value)
            return items(value, tp)

        return structure_array

    def class_hook(cls: type) -> Hook:
        fields: Hook = make_dict_structure_fn(cls, conv)

        def structure_class(value: Any, _: Any) -> Any:
            if type(value) is not dict:
                raise _wrong_type("an object", value)
            return fields(value, cls)

        return structure_class

    def kind_union_hook(tp: Any) -> Hook:
        table = _kind_table(tp) or {}
        hooks = {
            kind: (conv.get_structure_hook(member), member)
            for kind, member in table.items()
            if kind is not type(None)
        }
        kinds = [_KIND[kind] for kind in table if not (kind is int and float in table)]
        expected = " or ".join([", ".join(kinds[:-1]), kinds[-1]] if len(kinds) > 2 else kinds)

        def structure_union(value: Any, _: Any) -> Any:
            if value is None and type(None) in table:
                return None
            found = hooks.get(type(value))
            if found is None:
                raise _wrong_type(expected, value)
            return found[0](value, found[1])

        return structure_union

    conv.register_structure_hook_factory(_is_object, object_hook)
    conv.register_structure_hook_factory(_is_array, array_hook)
    conv.register_structure_hook_factory(attrs.has, class_hook)
    conv.register_structure_hook_factory(
        lambda tp: _is_union(tp) and _kind_table(tp) is not None, kind_union_hook
    )
    for union, tag in _TAGGED:
        conv.register_structure_hook(union, _tagged_union_hook(conv, union, tag))

    conv.register_unstructure_hook_factory(
        attrs.has, lambda cls: make_dict_unstructure_fn(cls, conv, **_omitted_when_unset(cls))
    )
    return conv


converter: Final = make_converter()
"""The converter of the wire package; use `structure`, `dumps` and the parse functions."""

# Unstructured wire values are trees, so the circularity check is skipped: a chunk is then
# about 5 us (1.8 us unstructure, 3.4 us encode), against 6 us with it.
_encode: Final = json.JSONEncoder(
    ensure_ascii=False, check_circular=False, allow_nan=False, separators=(",", ":")
).encode
_encode_ascii: Final = json.JSONEncoder(
    check_circular=False, allow_nan=False, separators=(",", ":")
).encode


def dumps(obj: object) -> bytes:
    """Write a wire value as compact UTF-8 JSON.

    Args:
        obj: an instance of a `trioagent.wire` class (or plain JSON data).

    Returns:
        The JSON text as bytes, without spaces. Text that cannot be UTF-8 (a lone surrogate
        half) is written with ``\\u`` escapes instead.
    """
    data = converter.unstructure(obj)
    try:
        return _encode(data).encode()
    except UnicodeEncodeError:
        return _encode_ascii(data).encode()


# Reading request bodies.


def _body_error(message: str) -> RequestError:
    return RequestError(message, param=None, code="invalid_json")


_TOO_DEEP: Final = f"The request body is nested deeper than {MAX_DEPTH} levels."


def _reject_constant(name: str) -> Any:
    raise _body_error(f"The request body is not valid JSON: {name} is not a JSON number.")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _body_error(f"The request body has a number too large for a float: {text[:20]}.")
    return value


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused when a key repeats: parsers disagree on which value wins
    (first or last), so a proxy and this server could read two different requests."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        counts = collections.Counter(key for key, _ in pairs)
        twice = next(key for key, count in counts.items() if count > 1)
        raise _body_error(f"The request body has the key {_show(twice)} twice in one object.")
    return obj


_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")
"""A ``\\u`` escape of a UTF-16 surrogate: only these can put one in a decoded string."""


def _lone_surrogate(obj: object) -> bool:
    """Whether a string (key or value) holds half of a surrogate pair: not Unicode text,
    so it can be neither stored nor sent on as UTF-8."""
    stack = [obj]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str) and not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                return True
    return False


def _too_deep(obj: object) -> bool:
    """Whether arrays and objects nest more than `MAX_DEPTH` levels (the top one is level 1)."""
    stack: list[tuple[object, int]] = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        for child in value if isinstance(value, list) else ():
            if isinstance(child, dict | list):
                if depth == MAX_DEPTH:
                    return True
                stack.append((child, depth + 1))
    return False


def loads(data: bytes) -> dict[str, Any]:
    """Read a request body: one JSON object, in strict JSON.

    Args:
        data: the raw body.

    Returns:
        The decoded object.

    Raises:
        RequestError: the body is empty, not UTF-8, not JSON (``NaN`` and ``Infinity``
            included), nested deeper than `MAX_DEPTH`, not an object, or has a key twice
            in one object or a lone surrogate (``"\\ud800"``) in a string.
    """
    if not data.strip():
        raise _body_error("The request body is empty: send a JSON object.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _body_error(f"The request body is not valid UTF-8 (at byte {exc.start}).") from None
    try:
        obj = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float,
                         object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise _body_error(f"The request body is not valid JSON: {exc.msg} ({where}).") from None
    except RecursionError:  # nested far deeper than MAX_DEPTH
        raise _body_error(_TOO_DEEP) from None
    except ValueError:  # int() refuses numbers of more than 4300 digits
        raise _body_error("The request body has a number with too many digits.") from None
    if _too_deep(obj):
        raise _body_error(_TOO_DEEP)
    if _SURROGATE_ESCAPE.search(text) and _lone_surrogate(obj):
        raise _body_error("The request body has a string with a lone UTF-16 surrogate "
                          "(such as \\ud800 without its pair): send valid Unicode text.")
    if type(obj) is not dict:
        raise _body_error(f"The request body must be a JSON object, not {_KIND[type(obj)]}.")
    return obj


def structure(data: Any, cls: type[T]) -> T:
    """Read decoded JSON as a wire type, with the strict rules of `converter`.

    Raises:
        RequestError: the first problem found, with ``param`` set to its path.
    """
    try:
        return converter.structure(data, cls)
    except (BaseValidationError, _Problem) as exc:
        raise _request_error(exc) from None


# The contract's rules beyond types.

_RANGES: Final[tuple[tuple[str, Callable[[float], bool], str], ...]] = (
    ("temperature", lambda x: 0 <= x <= 2, "a number from 0 to 2"),
    ("top_p", lambda x: 0 < x <= 1, "a number above 0 and at most 1"),
    ("max_tokens", lambda x: x > 0, "an integer above 0"),
    ("max_completion_tokens", lambda x: x > 0, "an integer above 0"),
    ("presence_penalty", lambda x: -2 <= x <= 2, "a number from -2 to 2"),
    ("frequency_penalty", lambda x: -2 <= x <= 2, "a number from -2 to 2"),
)
_TOOL_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _check_chat_request(request: ChatCompletionRequest) -> None:
    if not request.messages:
        raise _invalid("messages", "expected a non-empty array, but got an empty array")
    if not any(isinstance(message, UserMessage) for message in request.messages):
        raise _invalid("messages", "expected at least one message with role 'user'")
    for name, in_range, expected in _RANGES:
        value = getattr(request, name)
        if value is not None and not in_range(value):
            raise _invalid(name, f"expected {expected}, but got {value:g}")
    stop = request.stop
    if isinstance(stop, tuple) and len(stop) > 4:
        raise _invalid("stop", f"expected at most 4 strings, but got {len(stop)}")
    for i, word in enumerate((stop,) if isinstance(stop, str) else stop or ()):
        if not word:
            raise _invalid(
                "stop" if isinstance(stop, str) else f"stop[{i}]", "expected a non-empty string"
            )
    if request.n is not None and request.n != 1:
        raise _invalid("n", f"only 1 is supported (an agent gives one answer), but got {request.n}")
    if request.logprobs:
        raise _invalid("logprobs", "log probabilities are not supported")
    if request.top_logprobs:
        raise _invalid("top_logprobs", "log probabilities are not supported")
    if request.stream_options is not None and not request.stream:
        raise _invalid("stream_options", "only allowed when 'stream' is true")
    names: set[str] = set()
    for i, tool in enumerate(request.tools or ()):
        name = tool.function.name
        if not _TOOL_NAME.fullmatch(name):
            raise _invalid(
                f"tools[{i}].function.name",
                f"expected 1 to 64 of a-z, A-Z, 0-9, '_' and '-', but got {_show(name)}",
            )
        if name in names:
            raise _invalid("tools", f"two tools are named {_show(name)}")
        names.add(name)


def parse_chat_request(data: bytes) -> ChatCompletionRequest:
    """Read and check the body of ``POST /v1/chat/completions``.

    Raises:
        RequestError: the body breaks the wire contract; ``param`` names the field.
    """
    request = structure(loads(data), ChatCompletionRequest)
    _check_chat_request(request)
    return request


_RESPONSE_RANGES: Final[tuple[tuple[str, Callable[[float], bool], str], ...]] = (
    ("temperature", lambda x: 0 <= x <= 2, "a number from 0 to 2"),
    ("top_p", lambda x: 0 < x <= 1, "a number above 0 and at most 1"),
    ("max_output_tokens", lambda x: x > 0, "an integer above 0"),
)


def _check_responses_request(request: ResponseCreateRequest) -> None:
    if isinstance(request.input, tuple) and not request.input:
        raise _invalid("input", "expected a string or a non-empty array, but got an empty array")
    if isinstance(request.input, str) and not request.input:
        raise _invalid("input", "expected a non-empty string")
    for name, in_range, expected in _RESPONSE_RANGES:
        value = getattr(request, name)
        if value is not None and not in_range(value):
            raise _invalid(name, f"expected {expected}, but got {value:g}")
    if request.background:
        raise _invalid("background", "background responses are not supported")
    if request.conversation is not None:
        raise _invalid("conversation", "conversations are not supported: use "
                                       "previous_response_id")
    if request.prompt is not None:
        raise _invalid("prompt", "prompt templates are not supported")
    if request.top_logprobs:
        raise _invalid("top_logprobs", "log probabilities are not supported")
    if request.stream_options is not None and not request.stream:
        raise _invalid("stream_options", "only allowed when 'stream' is true")
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
                raise _invalid(f"{where}[{j}]", "file inputs are not supported: send the text, "
                                                "or let the agent read the file with its tools")
            if part.type == "input_image" and not getattr(part, "image_url", None):
                raise _invalid(f"{where}[{j}]", "expected an image_url (file_id is not supported)")
    for i, tool in enumerate(request.tools or ()):
        _check_response_tool(tool, f"tools[{i}]")


_FUNCTION_FIELDS: Final = (("description", str, "a string"), ("parameters", dict, "an object"),
                           ("strict", bool, "a boolean"))
"""The optional fields of a function tool of ``/v1/responses``: each ``null`` or this kind."""


def _check_response_tool(tool: dict[str, Any], where: str) -> None:
    """A tool is read as a plain object (its shape depends on its ``type``): check the
    fields the server reads, so that no value of a wrong JSON kind gets past."""
    if "type" not in tool:
        raise RequestError(_message("missing_field", f"{where}.type", ""),
                           param=f"{where}.type", code="missing_field")
    if type(tool["type"]) is not str:
        detail = _wrong_type("a string", tool["type"]).detail
        raise RequestError(_message("invalid_type", f"{where}.type", detail),
                           param=f"{where}.type", code="invalid_type")
    if tool["type"] != "function":
        return  # refused or skipped by the server, by type
    name = tool.get("name")
    # The name rule of /v1/chat/completions: the providers refuse any other name.
    if not (isinstance(name, str) and _TOOL_NAME.fullmatch(name)):
        raise _invalid(f"{where}.name",
                       f"expected 1 to 64 of a-z, A-Z, 0-9, '_' and '-', but got {_show(name)}")
    for field, kind, expected in _FUNCTION_FIELDS:
        value = tool.get(field)
        if value is not None and type(value) is not kind:
            detail = _wrong_type(f"{expected} or null", value).detail
            raise RequestError(_message("invalid_type", f"{where}.{field}", detail),
                               param=f"{where}.{field}", code="invalid_type")


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
            if type(item) is dict and "type" not in item and "role" in item else item
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
        raise _invalid("message", "expected a non-empty string")
    if request.session_id is not None and not SESSION_ID.fullmatch(request.session_id):
        raise _invalid(
            "session_id", "expected 1 to 128 characters from a-z, A-Z, 0-9, '.', '_', ':' and '-'"
        )
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
        raise RequestError(exc.message.replace("The request body", "The frame", 1),
                           param=exc.param, code=exc.code) from None
    if isinstance(frame, MessageFrame) and not frame.text.strip():
        raise _invalid("text", "expected a non-empty string")
    if isinstance(frame, HelloFrame) and frame.conversation_id is not None \
            and not SESSION_ID.fullmatch(frame.conversation_id):
        raise _invalid("conversation_id", "expected 1 to 128 characters from a-z, A-Z, 0-9, "
                       "'.', '_', ':' and '-'")
    return frame
