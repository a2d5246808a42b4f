"""Reading a request body: one JSON object, in strict JSON.

Stricter than `json.loads`: no ``NaN`` or ``Infinity``, no key twice in one object, no lone
surrogate in a string, no nesting past `MAX_DEPTH`. Every problem is one `RequestError` with
the code ``invalid_json``.
"""

from __future__ import annotations

import collections
import json
import math
import re
from typing import Any, Final

from trioagent.errors import RequestError

from .problems import JSON_KIND, show

MAX_DEPTH: Final = 64
"""The deepest nesting of arrays and objects a request body may have."""


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
        raise _body_error(f"The request body has the key {show(twice)} twice in one object.")
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
    obj = load_value(data)
    if type(obj) is not dict:
        raise _body_error(f"The request body must be a JSON object, not {JSON_KIND[type(obj)]}.")
    return obj


def load_value(data: bytes) -> Any:
    """Read a request body that may be any JSON value (a JSON-RPC batch is an array), with
    every rule of `loads` but the one that wants an object.

    Raises:
        RequestError: as `loads`.
    """
    if not data.strip():
        raise _body_error("The request body is empty: send a JSON object.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _body_error(f"The request body is not valid UTF-8 (at byte {exc.start}).") from None
    try:
        obj = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            object_pairs_hook=_object,
        )
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
        raise _body_error(
            "The request body has a string with a lone UTF-16 surrogate "
            "(such as \\ud800 without its pair): send valid Unicode text."
        )
    return obj
