"""The memory tools: facts the agent keeps across conversations, in a JSON file.

The file holds a JSON array of ``{"id", "memory", "category", "created_at"}`` objects.
Every change is a read-modify-write done in a worker thread under a lock, and written
atomically (a temporary file in the same directory, then ``os.replace``), so a crash
never leaves half a file. A file we cannot parse is reported to the model as a tool
error and left untouched.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs
import trio

from trioagent._files import write_atomically
from trioagent.chat import ToolResult, ToolSpec

from ._common import ArgumentError, BuiltinToolset, schema, str_arg, to_json

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ._common import Handler
    from .base import ToolContext

DEFAULT_PATH: Final = "memories.json"
"""Where memories go when the toolset has no ``path`` (relative to the working dir)."""

Memory = dict[str, Any]

MEMORY_TOOLS: Final = (
    ToolSpec(
        name="add_memory",
        description="Add a new memory to the database",
        parameters=schema(
            {
                "memory": {"type": "string", "description": "The memory content to store"},
                "category": {
                    "type": "string",
                    "description": "Optional category to organize the memory "
                    "(e.g. preference, fact, project)",
                },
            },
            required=("memory",),
        ),
    ),
    ToolSpec(name="get_memories", description="Retrieve all stored memories"),
    ToolSpec(
        name="delete_memory",
        description="Delete a specific memory by ID",
        parameters=schema(
            {"id": {"type": "string", "description": "The ID of the memory to delete"}},
            required=("id",),
        ),
    ),
    ToolSpec(
        name="search_memories",
        description="Search memories by keywords and/or category. "
        "More efficient than retrieving all memories.",
        parameters=schema(
            {
                "query": {
                    "type": "string",
                    "description": "Keywords to search for in memory content "
                    "(space-separated, all must match)",
                },
                "category": {"type": "string", "description": "Optional category to filter by"},
            }
        ),
    ),
    ToolSpec(
        name="update_memory",
        description="Update an existing memory's content and/or category by ID",
        parameters=schema(
            {
                "id": {"type": "string", "description": "The ID of the memory to update"},
                "memory": {"type": "string", "description": "The new memory content"},
                "category": {
                    "type": "string",
                    "description": "Optional new category for the memory",
                },
            },
            required=("id", "memory"),
        ),
    ),
)

# One lock per memory file for the whole process: every runtime in a pool opens its own
# toolset on the same file, and they must not lose each other's updates.
_FILE_LOCKS: dict[Path, trio.Lock] = {}


class MemoryFileError(Exception):
    """The memory file cannot be read or written; the message says which and why."""


@attrs.define
class MemoryToolset(BuiltinToolset):
    """add_memory, get_memories, delete_memory, search_memories and update_memory.

    Args:
        path: the JSON file; a relative path resolves against the call's working dir.
    """

    path: Path = attrs.field(default=Path(DEFAULT_PATH), converter=Path)

    def tools(self) -> list[ToolSpec]:
        return list(MEMORY_TOOLS)

    def _handlers(self) -> Mapping[str, Handler]:
        return {
            "add_memory": self._add,
            "get_memories": self._get,
            "delete_memory": self._delete,
            "search_memories": self._search,
            "update_memory": self._update,
        }

    async def _add(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        text = str_arg(arguments, "memory")
        category = str_arg(arguments, "category", "")

        def add(memories: list[Memory]) -> str:
            new_id = str(1 + max((_int_id(m["id"]) for m in memories), default=0))
            now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
            memories.append({"id": new_id, "memory": text, "category": category, "created_at": now})
            return f"Memory added successfully with ID: {new_id}"

        return await self._change(ctx, add)

    async def _get(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        return await self._change(ctx, to_json, write=False)

    async def _delete(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        memory_id = str_arg(arguments, "id")

        def delete(memories: list[Memory]) -> str:
            memories.remove(_find(memories, memory_id))
            return f"Memory with ID {memory_id} deleted successfully"

        return await self._change(ctx, delete)

    async def _search(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        words = str_arg(arguments, "query", "").lower().split()
        category = str_arg(arguments, "category", "").lower()

        def search(memories: list[Memory]) -> str:
            return to_json(
                [
                    m
                    for m in memories
                    if all(word in m["memory"].lower() for word in words)
                    and (not category or str(m.get("category", "")).lower() == category)
                ]
            )

        return await self._change(ctx, search, write=False)

    async def _update(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        memory_id = str_arg(arguments, "id")
        text = str_arg(arguments, "memory")
        category = arguments.get("category")
        if category is not None:
            category = str_arg(arguments, "category")

        def update(memories: list[Memory]) -> str:
            memory = _find(memories, memory_id)
            memory["memory"] = text
            if category is not None:
                memory["category"] = category
            return f"Memory with ID {memory_id} updated successfully"

        return await self._change(ctx, update)

    async def _change(
        self, ctx: ToolContext, apply: Callable[[list[Memory]], str], *, write: bool = True
    ) -> ToolResult:
        """Load the file, ``apply`` a change (or a query), save it when ``write``."""
        path = self.resolved_path(ctx.working_dir)

        def run() -> str:
            memories = _load(path)
            answer = apply(memories)
            if write:
                _save(path, memories)
            return answer

        lock = _FILE_LOCKS.setdefault(path, trio.Lock())
        async with lock:
            try:
                # Not abandoned on cancel: the lock is held until the write is done.
                return ToolResult(await trio.to_thread.run_sync(run))
            except MemoryFileError as exc:
                return ToolResult.error(str(exc))

    def resolved_path(self, working_dir: Path) -> Path:
        """The absolute path of the memory file for a call in ``working_dir``."""
        return Path(os.path.abspath(working_dir / self.path.expanduser()))


def _int_id(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0


def _find(memories: list[Memory], memory_id: str) -> Memory:
    for memory in memories:
        if memory["id"] == memory_id:
            return memory
    raise ArgumentError(f"no memory has ID {memory_id!r}; get_memories lists them")


def _load(path: Path) -> list[Memory]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise MemoryFileError(f"cannot read the memory file {str(path)!r}: {exc}") from exc
    if not text.strip():
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MemoryFileError(
            f"the memory file {str(path)!r} is corrupt (not JSON: {exc}); "
            "it was left unchanged: fix or delete it"
        ) from exc
    if not isinstance(data, list) or not all(_is_memory(item) for item in data):
        raise MemoryFileError(
            f"the memory file {str(path)!r} is corrupt (expected an array of objects with "
            "string 'id' and 'memory'); it was left unchanged: fix or delete it"
        )
    memories: list[Memory] = data
    return memories


def _is_memory(item: object) -> bool:
    return (
        isinstance(item, dict)
        and isinstance(item.get("id"), str)
        and isinstance(item.get("memory"), str)
    )


def _save(path: Path, memories: list[Memory]) -> None:
    """Write ``memories`` to ``path`` atomically (see `trioagent._files`)."""
    data = json.dumps(memories, ensure_ascii=False, indent=2) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, data.encode("utf-8"))
    except OSError as exc:
        raise MemoryFileError(f"cannot write the memory file {str(path)!r}: {exc}") from exc
