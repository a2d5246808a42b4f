"""THE wire converter: every rule for reading and writing the JSON of `trioagent.wire`.

Inbound is tolerant of what it does not know and strict about what it does: unknown keys are
ignored (clients send many), but a known field of the wrong JSON type is an error, never a
coercion (cattrs' default would turn ``"10"`` into ``10`` and ``1`` into ``"1"``). Unions are
chosen by the JSON kind of the value (``"stop": "x"`` vs ``"stop": ["x"]``); messages are
tagged on ``role`` and content parts on ``type`` (A2A 0.3 parts on ``kind``). Every problem
becomes one `RequestError` whose ``param`` is the field's path, such as ``messages[3].role``
(`trioagent.wire.problems`). The body loader is `trioagent.wire.body`; the rules beyond types
are `trioagent.wire.checks` (and `trioagent.wire.a2a_checks` for A2A).

Outbound is exact: a field whose default is ``None`` (or `OMIT`) is left out when it has that
value, except the fields in `_WRITE_NULL`, which OpenAI always writes, as ``null`` if unset.
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable
from typing import Any, Final, Literal, TypeVar, Union, get_args, get_origin

import attrs
import cattrs
import orjson
from cattrs.cols import homogenous_tuple_structure_factory
from cattrs.errors import BaseValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from .a2a_v03 import Part as A2APartV03
from .openai import (
    OMIT,
    AssistantMessage,
    ChatMessage,
    ChunkChoice,
    ContentPart,
    ErrorBody,
    Omit,
)
from .problems import JSON_KIND, ValueProblem, one_of, request_error, show, wrong_type
from .responses import InputItem, InputPart, ResponseObject
from .ws import ClientFrame

T = TypeVar("T")
Hook = Callable[[Any, Any], Any]

_WRITE_NULL: Final[dict[type, frozenset[str]]] = {
    AssistantMessage: frozenset({"content"}),
    ChunkChoice: frozenset({"finish_reason"}),
    ErrorBody: frozenset({"param", "code"}),
    ResponseObject: frozenset(
        {
            "error",
            "incomplete_details",
            "instructions",
            "max_output_tokens",
            "previous_response_id",
            "temperature",
            "top_p",
            "usage",
            "user",
        }
    ),
}
"""Fields that default to ``None`` but that OpenAI writes as ``null`` rather than leave out."""

_TAGGED: Final[tuple[tuple[Any, str], ...]] = (
    (ChatMessage, "role"),
    (ContentPart, "type"),
    (ClientFrame, "type"),
    (InputItem, "type"),
    (InputPart, "type"),
    (A2APartV03, "kind"),
)
"""Unions of attrs classes, each told apart by a ``Literal`` field with a default: the tag."""


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
        raise wrong_type(JSON_KIND[tp], value)

    return structure_primitive


def _structure_object(value: Any, _: Any) -> dict[str, Any]:
    if type(value) is dict:
        return value
    raise wrong_type("an object", value)


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
            raise wrong_type("a string", value)
        raise ValueProblem("invalid_value", f"expected {one_of(allowed)}, but got {show(value)}")

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
            raise wrong_type("an object", value)
        if tag not in value:
            raise ValueProblem("missing_field", field=tag)
        found = value[tag]
        if type(found) is not str:
            raise ValueProblem("invalid_type", wrong_type("a string", found).detail, field=tag)
        if found not in members:
            detail = f"expected {one_of(tuple(members))}, but got {show(found)}"
            raise ValueProblem("invalid_value", detail, field=tag)
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
                raise wrong_type("an object", value)
            mapping = {}
            for key, item in value.items():
                try:
                    mapping[key] = values(item, value_type)
                except ValueProblem as exc:  # name the key, as `metadata.color`
                    field = f"{key}.{exc.field}" if exc.field else key
                    raise ValueProblem(exc.code, exc.detail, field=field) from None
            return mapping

        return structure_mapping

    def array_hook(tp: Any) -> Hook:
        items = homogenous_tuple_structure_factory(tp, conv)

        def structure_array(value: Any, _: Any) -> Any:
            if type(value) is not list:
                raise wrong_type("an array", value)
            return items(value, tp)

        return structure_array

    def class_hook(cls: type) -> Hook:
        fields: Hook = make_dict_structure_fn(cls, conv)

        def structure_class(value: Any, _: Any) -> Any:
            if type(value) is not dict:
                raise wrong_type("an object", value)
            return fields(value, cls)

        return structure_class

    def kind_union_hook(tp: Any) -> Hook:
        table = _kind_table(tp) or {}
        hooks = {
            kind: (conv.get_structure_hook(member), member)
            for kind, member in table.items()
            if kind is not type(None)
        }
        kinds = [JSON_KIND[kind] for kind in table if not (kind is int and float in table)]
        expected = " or ".join([", ".join(kinds[:-1]), kinds[-1]] if len(kinds) > 2 else kinds)

        def structure_union(value: Any, _: Any) -> Any:
            if value is None and type(None) in table:
                return None
            found = hooks.get(type(value))
            if found is None:
                raise wrong_type(expected, value)
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

# What orjson refuses (a lone surrogate half, an integer past 64 bits) is written by json,
# with every non-ASCII character escaped. Unstructured wire values are trees, so the
# circularity check is skipped.
_encode_ascii: Final = json.JSONEncoder(
    check_circular=False, allow_nan=False, separators=(",", ":")
).encode


def dumps(obj: object) -> bytes:
    """Write a wire value as compact UTF-8 JSON.

    Args:
        obj: an instance of a `trioagent.wire` class (or plain JSON data).

    Returns:
        The JSON text as bytes, without spaces, written by orjson (a tenth of the json
        module's cost). Text that cannot be UTF-8 (a lone surrogate half) is written with
        ``\\u`` escapes instead.
    """
    return _json_bytes(converter.unstructure(obj))


def dumps_text(text: str) -> bytes:
    """``text`` as a JSON string, written as `dumps` writes strings."""
    return _json_bytes(text)


def _json_bytes(data: object) -> bytes:
    try:
        return orjson.dumps(data)
    except orjson.JSONEncodeError:
        return _encode_ascii(data).encode()


def structure(data: Any, cls: type[T]) -> T:
    """Read decoded JSON as a wire type, with the strict rules of `converter`.

    Raises:
        RequestError: the first problem found, with ``param`` set to its path.
    """
    try:
        return converter.structure(data, cls)
    except (BaseValidationError, ValueProblem) as exc:
        raise request_error(exc) from None
