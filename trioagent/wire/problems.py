"""What is wrong with a request, in words the client can act on.

The converter's hooks raise `ValueProblem` for one bad value; cattrs gathers those into
exception groups, and `request_error` turns the first into one `RequestError` whose
``param`` is the field's path, such as ``messages[3].role``. The body loader and the
request checks word their problems with the same helpers.
"""

from __future__ import annotations

import json
from typing import Any, Final

from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    IterableValidationError,
    IterableValidationNote,
)

from trioagent.errors import RequestError


class ValueProblem(Exception):
    """A problem with one value; ``field`` names a key below it (a missing or bad tag)."""

    def __init__(self, code: str, detail: str = "", field: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.field = field


JSON_KIND: Final[dict[type, str]] = {
    str: "a string", bool: "a boolean", int: "an integer", float: "a number",
    type(None): "null", list: "an array", dict: "an object",
}  # fmt: skip
"""What each type that `json.loads` returns is called in messages."""


def wrong_type(expected: str, value: object) -> ValueProblem:
    """The problem of ``value``, which is not of the JSON kind ``expected``."""
    return ValueProblem("invalid_type", f"expected {expected}, but got {JSON_KIND[type(value)]}")


def show(value: object) -> str:
    """``value`` as JSON, cut to 40 characters."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def one_of(choices: tuple[Any, ...]) -> str:
    """The allowed ``choices``, in words."""
    shown = ", ".join(show(choice) for choice in choices)
    return shown if len(choices) == 1 else f"one of {shown}"


def problem_error(code: str, param: str | None, detail: str = "") -> RequestError:
    """The `RequestError` of a problem ``code`` (``missing_field``, ``invalid_type``,
    ``invalid_value``) with the field ``param``; ``detail`` says what was expected."""
    where = f"'{param}'" if param else "the request body"
    if code == "missing_field":
        message = f"Missing required parameter: {where}."
    else:
        kind = "type" if code == "invalid_type" else "value"
        message = f"Invalid {kind} for {where}: {detail}."
    return RequestError(message, param=param, code=code)


def invalid(param: str, detail: str) -> RequestError:
    """The `RequestError` of a field ``param`` of the right type but a wrong value."""
    return problem_error("invalid_value", param, detail)


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


def request_error(exc: BaseException) -> RequestError:
    """The `RequestError` of what structuring raised: its first problem, with its path."""
    path, leaf = _first_problem(exc)
    if isinstance(leaf, ValueProblem):
        code, detail = leaf.code, leaf.detail
        if leaf.field:
            path = f"{path}.{leaf.field}"
    elif isinstance(leaf, KeyError):  # the generated structure code reads o["name"]
        code, detail = "missing_field", ""
    else:
        code, detail = "invalid_value", str(leaf) or type(leaf).__name__
    return problem_error(code, path.lstrip(".") or None, detail)
