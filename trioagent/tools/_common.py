"""What the built-in toolsets share: argument checks, confinement, output bounds.

A tool's arguments come from a model, so every check here raises ``ArgumentError`` with a
message the model can act on; ``BuiltinToolset.call`` turns it into ``ToolResult.error``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trioagent.chat import ToolResult

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping
    from typing import Self

    from trioagent.chat import ToolSpec

    from .base import ToolContext

    Handler = Callable[[dict[str, Any], ToolContext], Awaitable[ToolResult]]


class ArgumentError(Exception):
    """A tool was called with arguments it cannot run; the message is shown to the model."""


def str_arg(arguments: Mapping[str, Any], key: str, default: str | None = None) -> str:
    """The string argument ``key``; required when ``default`` is None."""
    value = arguments.get(key)
    if value is None:
        if default is None:
            raise ArgumentError(f"missing required argument {key!r} (a string)")
        return default
    if not isinstance(value, str):
        raise ArgumentError(f"argument {key!r} must be a string, not {_json_type(value)}")
    return value


def int_arg(arguments: Mapping[str, Any], key: str, default: int | None = None) -> int:
    """The integer argument ``key`` (numeric strings accepted); required when no default."""
    value = arguments.get(key)
    if value is None:
        if default is None:
            raise ArgumentError(f"missing required argument {key!r} (an integer)")
        return default
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentError(f"argument {key!r} must be an integer, not {_json_type(value)}")
    return value


def bool_arg(arguments: Mapping[str, Any], key: str, default: bool) -> bool:
    """The boolean argument ``key``."""
    value = arguments.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ArgumentError(f"argument {key!r} must be a boolean, not {_json_type(value)}")
    return value


def str_list_arg(
    arguments: Mapping[str, Any], key: str, default: list[str] | None = None
) -> list[str]:
    """The list-of-strings argument ``key``; required when ``default`` is None."""
    value = arguments.get(key)
    if value is None:
        if default is None:
            raise ArgumentError(f"missing required argument {key!r} (an array of strings)")
        return default
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ArgumentError(f"argument {key!r} must be an array of strings")
    return value


def object_list_arg(arguments: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    """The required list-of-objects argument ``key``."""
    value = arguments.get(key)
    if value is None:
        raise ArgumentError(f"missing required argument {key!r} (an array of objects)")
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ArgumentError(f"argument {key!r} must be an array of objects")
    return value


def _json_type(value: object) -> str:
    names = {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }
    return names.get(type(value), type(value).__name__)


def schema(properties: dict[str, dict[str, Any]], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A JSON Schema object for a tool's arguments."""
    result: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        result["required"] = list(required)
    return result


def to_json(value: object) -> str:
    """Compact JSON for tool output (non-ASCII kept readable)."""
    return json.dumps(value, ensure_ascii=False)


def resolve_inside(root: Path, path: str) -> Path:
    """Resolve ``path`` (relative to ``root``, or absolute) and check it stays inside ``root``.

    Symlinks are followed, so a link inside ``root`` that points out is refused too.
    This touches the filesystem: call it off the event loop.

    Raises:
        ArgumentError: the path, once resolved, is outside ``root``.
    """
    base = root.resolve()
    if "\0" in path:
        raise ArgumentError(f"path {path!r} contains a NUL character")
    resolved = (base / Path(path).expanduser()).resolve()
    if resolved != base and not resolved.is_relative_to(base):
        raise ArgumentError(
            f"path {path!r} is outside the working directory {str(base)!r}; use a path inside it"
        )
    return resolved


def relative_name(root: Path, path: Path) -> str:
    """``path`` as the model should see it: relative to the working directory."""
    try:
        name = path.relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
    return name or "."


def clip(text: str, limit: int, what: str = "output") -> str:
    """``text`` cut to ``limit`` characters, with a note saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[{what} truncated: {len(text) - limit} more characters not shown]"


class BuiltinToolset:
    """Base of the built-in toolsets: nothing to open, calls routed to ``_handlers()``."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    def tools(self) -> list[ToolSpec]:
        raise NotImplementedError

    def _handlers(self) -> Mapping[str, Handler]:
        raise NotImplementedError

    async def call(self, name: str, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Run tool ``name``; bad arguments and unknown names become error results."""
        handler = self._handlers().get(name)
        if handler is None:
            offered = ", ".join(spec.name for spec in self.tools())
            return ToolResult.error(f"unknown tool {name!r}; this toolset offers: {offered}")
        try:
            return await handler(arguments, ctx)
        except ArgumentError as exc:
            return ToolResult.error(f"{name}: {exc}")
