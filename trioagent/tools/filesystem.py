"""The filesystem tools, confined to the working directory.

Every path argument is resolved, symlinks included, and refused unless it lands inside
the working directory (``../`` escapes, absolute paths elsewhere, links pointing out).
All file I/O runs in worker threads; read-only work is abandoned on cancellation, writes
finish first. Everything the model reads back is bounded: file reads, listings, trees,
search results. Walks never follow directory symlinks and skip VCS metadata
(``.git``, ``.hg``, ``.svn``).

A check-then-use race (a link swapped in between the check and the open) is not
defended against: the working directory is the agent's own, not an adversary's.
"""

from __future__ import annotations

import difflib
import os
import re
from typing import TYPE_CHECKING, Any, Final, TypeVarTuple

import attrs
import trio

from trioagent.chat import ToolResult, ToolSpec

from ._common import (
    ArgumentError,
    BuiltinToolset,
    bool_arg,
    clip,
    int_arg,
    object_list_arg,
    relative_name,
    resolve_inside,
    schema,
    str_arg,
    str_list_arg,
)
from ._fs_search import (
    MAX_ENTRIES,
    MAX_MATCHES,
    MAX_TREE_DEPTH,
    directory_tree,
    glob,
    grep,
    list_directory,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from ._common import Handler
    from .base import ToolContext

Ts = TypeVarTuple("Ts")

MAX_READ_BYTES: Final = 256 * 1024
"""Bytes of one read (and of all files of one read_multiple_files) shown to the model."""
MAX_DIFF_CHARS: Final = 10_000

_PATH = {"type": "string", "description": "The path, relative to the working directory"}
_DIR = {"type": "string", "description": "The directory (default: the working directory)"}
_EXCLUDE = {
    "type": "array",
    "items": {"type": "string"},
    "description": "Glob patterns of files and directories to skip (e.g. node_modules)",
}

FILESYSTEM_TOOLS: Final = (
    ToolSpec(
        name="read_file",
        description="Read the complete contents of a text file. "
        f"Files larger than {MAX_READ_BYTES // 1024} KiB are truncated.",
        parameters=schema({"path": _PATH}, required=("path",)),
    ),
    ToolSpec(
        name="read_multiple_files",
        description="Read the contents of multiple files simultaneously.",
        parameters=schema(
            {
                "paths": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Array of file paths to read",
                }
            },
            required=("paths",),
        ),
    ),
    ToolSpec(
        name="write_file",
        description="Create a new file or completely overwrite an existing file with new "
        "content. Missing parent directories are created.",
        parameters=schema(
            {
                "path": _PATH,
                "content": {"type": "string", "description": "The content to write to the file"},
            },
            required=("path", "content"),
        ),
    ),
    ToolSpec(
        name="edit_file",
        description="Edit a text file by exact replacements. Each edit replaces oldText, "
        "which must occur exactly once in the file, with newText. Edits apply in order; "
        "if one fails, the file is left unchanged.",
        parameters=schema(
            {
                "path": _PATH,
                "edits": {
                    "type": "array",
                    "description": "Array of edit operations",
                    "items": {
                        "type": "object",
                        "properties": {
                            "oldText": {
                                "type": "string",
                                "description": "The exact text to replace",
                            },
                            "newText": {"type": "string", "description": "The replacement text"},
                        },
                        "required": ["oldText", "newText"],
                    },
                },
            },
            required=("path", "edits"),
        ),
    ),
    ToolSpec(
        name="list_directory",
        description="Get a detailed listing of all files and directories in a specified path.",
        parameters=schema({"path": _DIR}),
    ),
    ToolSpec(
        name="directory_tree",
        description="Get a recursive tree view of files and directories as a JSON structure "
        f"(at most {MAX_ENTRIES} entries).",
        parameters=schema(
            {
                "path": _DIR,
                "max_depth": {
                    "type": "integer",
                    "description": f"How deep to descend (default and maximum: {MAX_TREE_DEPTH})",
                },
            }
        ),
    ),
    ToolSpec(
        name="search_files",
        description="Find files and directories whose name or relative path matches a glob "
        f"pattern such as '*.py' or 'src/*/test_*' (at most {MAX_ENTRIES} results).",
        parameters=schema(
            {
                "path": _DIR,
                "pattern": {"type": "string", "description": "The glob pattern to match"},
                "excludePatterns": _EXCLUDE,
            },
            required=("pattern",),
        ),
    ),
    ToolSpec(
        name="search_files_content",
        description="Search for text or regex patterns in the content of files, optionally "
        f"only files matching a glob pattern (at most {MAX_MATCHES} matching lines).",
        parameters=schema(
            {
                "path": {"type": "string", "description": "The starting directory path"},
                "query": {
                    "type": "string",
                    "description": "The text or regex pattern to search for",
                },
                "is_regex": {
                    "type": "boolean",
                    "description": "If true, treat query as regex; otherwise literal text",
                },
                "pattern": {
                    "type": "string",
                    "description": "Only search files matching this glob (e.g. *.py)",
                },
                "excludePatterns": _EXCLUDE,
            },
            required=("query",),
        ),
    ),
    ToolSpec(
        name="create_directory",
        description="Create one or more new directories or nested directory structures.",
        parameters=schema(
            {
                "paths": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Array of directory paths to create",
                }
            },
            required=("paths",),
        ),
    ),
)


@attrs.define
class FilesystemToolset(BuiltinToolset):
    """read_file, read_multiple_files, write_file, edit_file, list_directory,
    directory_tree, search_files, search_files_content and create_directory.

    Paths are relative to (and confined to) the working directory of each call.
    """

    max_read_bytes: int = MAX_READ_BYTES

    def tools(self) -> list[ToolSpec]:
        return list(FILESYSTEM_TOOLS)

    def _handlers(self) -> Mapping[str, Handler]:
        return {
            "read_file": self._read_file,
            "read_multiple_files": self._read_multiple_files,
            "write_file": self._write_file,
            "edit_file": self._edit_file,
            "list_directory": self._list_directory,
            "directory_tree": self._directory_tree,
            "search_files": self._search_files,
            "search_files_content": self._search_files_content,
            "create_directory": self._create_directory,
        }

    async def _read_file(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        path = str_arg(arguments, "path")
        return await _reading(self._read_one, ctx.working_dir, path, self.max_read_bytes)

    async def _read_multiple_files(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        paths = str_list_arg(arguments, "paths")
        return await _reading(self._read_many, ctx.working_dir, paths)

    async def _write_file(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        path = str_arg(arguments, "path")
        content = str_arg(arguments, "content")
        return await _writing(_write, ctx.working_dir, path, content)

    async def _edit_file(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        path = str_arg(arguments, "path")
        edits = [
            (_text_of(edit, i, "old"), _text_of(edit, i, "new"))
            for i, edit in enumerate(object_list_arg(arguments, "edits"), 1)
        ]
        if not edits:
            raise ArgumentError("'edits' is empty: give at least one edit")
        return await _writing(_edit, ctx.working_dir, path, edits)

    async def _list_directory(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        path = str_arg(arguments, "path", ".")
        return await _reading(list_directory, ctx.working_dir, path)

    async def _directory_tree(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        path = str_arg(arguments, "path", ".")
        max_depth = min(int_arg(arguments, "max_depth", MAX_TREE_DEPTH), MAX_TREE_DEPTH)
        return await _reading(directory_tree, ctx.working_dir, path, max_depth)

    async def _search_files(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        path = str_arg(arguments, "path", ".")
        pattern = str_arg(arguments, "pattern")
        exclude = str_list_arg(arguments, "excludePatterns", [])
        return await _reading(glob, ctx.working_dir, path, pattern, exclude)

    async def _search_files_content(
        self, arguments: dict[str, Any], ctx: ToolContext
    ) -> ToolResult:
        path = str_arg(arguments, "path", ".")
        query = str_arg(arguments, "query")
        if not query:
            raise ArgumentError("'query' is empty")
        try:
            regex = re.compile(
                query if bool_arg(arguments, "is_regex", False) else re.escape(query)
            )
        except re.error as exc:
            raise ArgumentError(f"invalid regex {query!r}: {exc}") from exc
        include = str_arg(arguments, "pattern", "")
        exclude = str_list_arg(arguments, "excludePatterns", [])
        return await _reading(grep, ctx.working_dir, path, regex, include, exclude)

    async def _create_directory(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        paths = str_list_arg(arguments, "paths")
        return await _writing(_mkdirs, ctx.working_dir, paths)

    def _read_one(self, root: Path, path: str, limit: int) -> ToolResult:
        target = resolve_inside(root, path)
        return ToolResult(_read_text(target, path, limit))

    def _read_many(self, root: Path, paths: list[str]) -> ToolResult:
        budget = self.max_read_bytes
        parts: list[str] = []
        failures = 0
        for i, path in enumerate(paths):
            if budget <= 0:
                parts.append(f"[{len(paths) - i} more files not read: output limit reached]")
                break
            try:
                text = _read_text(resolve_inside(root, path), path, budget)
            except (ArgumentError, OSError) as exc:
                failures += 1
                text = f"error: {_describe(exc)}"
            budget -= len(text.encode())
            parts.append(f"=== {path} ===\n{text}")
        result = "\n\n".join(parts)
        return ToolResult.error(result) if paths and failures == len(paths) else ToolResult(result)


async def _reading(function: Callable[[*Ts], ToolResult], *args: *Ts) -> ToolResult:
    """Run read-only ``function`` in a thread; cancellation abandons it."""
    try:
        return await trio.to_thread.run_sync(function, *args, abandon_on_cancel=True)
    except OSError as exc:
        return ToolResult.error(_describe(exc))


async def _writing(function: Callable[[*Ts], ToolResult], *args: *Ts) -> ToolResult:
    """Run ``function``, which changes files, in a thread it waits for even when cancelled."""
    try:
        return await trio.to_thread.run_sync(function, *args)
    except OSError as exc:
        return ToolResult.error(_describe(exc))


def _describe(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc)


def _text_of(edit: dict[str, Any], number: int, which: str) -> str:
    """``oldText``/``newText`` of an edit (``old_text``/``new_text`` accepted too)."""
    for key in (f"{which}Text", f"{which}_text"):
        if key in edit:
            value = edit[key]
            if not isinstance(value, str):
                raise ArgumentError(f"edit {number}: {key!r} must be a string")
            return value
    raise ArgumentError(f"edit {number}: missing {which}Text")


def _read_text(target: Path, shown: str, limit: int) -> str:
    with target.open("rb") as file:
        data = file.read(limit + 1)
        size = os.fstat(file.fileno()).st_size
    if b"\0" in data[:8192]:
        raise ArgumentError(f"{shown} is a binary file ({size} bytes); it is not shown")
    text = data[:limit].decode("utf-8", errors="replace")
    if len(data) > limit:
        text += f"\n[file truncated: showing the first {limit} of {size} bytes]"
    return text


def _write(root: Path, path: str, content: str) -> ToolResult:
    target = resolve_inside(root, path)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode()
    target.write_bytes(data)
    return ToolResult(
        f"File written successfully: {relative_name(root, target)} ({len(data)} bytes)"
    )


def _edit(root: Path, path: str, edits: list[tuple[str, str]]) -> ToolResult:
    target = resolve_inside(root, path)
    try:
        before = target.read_bytes().decode()
    except UnicodeDecodeError as exc:
        raise ArgumentError(f"{path} is not UTF-8 text; edit_file cannot change it") from exc
    after = before
    for number, (old, new) in enumerate(edits, 1):
        if not old:
            raise ArgumentError(f"edit {number}: oldText is empty; nothing was changed")
        count = after.count(old)
        if count == 0:
            raise ArgumentError(
                f"edit {number}: oldText not found in {path}; nothing was changed. "
                "Read the file and copy the text exactly, whitespace included"
            )
        if count > 1:
            raise ArgumentError(
                f"edit {number}: oldText occurs {count} times in {path}; nothing was "
                "changed. Include more surrounding lines so it matches exactly once"
            )
        after = after.replace(old, new, 1)
    target.write_bytes(after.encode())
    name = relative_name(root, target)
    diff = "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"a/{name}",
            tofile=f"b/{name}",
        )
    )
    return ToolResult(f"Applied {len(edits)} edit(s) to {name}\n{clip(diff, MAX_DIFF_CHARS)}")


def _mkdirs(root: Path, paths: list[str]) -> ToolResult:
    if not paths:
        raise ArgumentError("'paths' is empty: give at least one directory")
    targets = [resolve_inside(root, path) for path in paths]
    for target in targets:
        target.mkdir(parents=True, exist_ok=True)
    names = ", ".join(relative_name(root, target) for target in targets)
    return ToolResult(f"Directories created: {names}")
