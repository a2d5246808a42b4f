"""Listing and searching below the working directory, for the filesystem tools.

Everything here runs in a worker thread and is bounded: entries listed, tree size and
depth, entries visited by a search, matching lines. Walks never follow directory
symlinks, skip files that are symlinks when reading content, and skip VCS metadata.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from trioagent.chat import ToolResult

from ._common import ArgumentError, clip, relative_name, resolve_inside, to_json

if TYPE_CHECKING:
    import re
    from collections.abc import Iterator

MAX_ENTRIES: Final = 1000
"""Entries of a listing, tree or glob search."""
MAX_MATCHES: Final = 200
"""Matching lines of a content search."""
MAX_TREE_DEPTH: Final = 64
MAX_WALKED: Final = 100_000
"""Entries a glob or content search visits before it stops (with a note)."""
MAX_SEARCHED_FILE_BYTES: Final = 4 * 1024 * 1024
"""Larger files are skipped by search_files_content."""
MAX_LINE_CHARS: Final = 300
SKIPPED_DIRS: Final = frozenset({".git", ".hg", ".svn"})


def list_directory(root: Path, path: str) -> ToolResult:
    target = resolve_inside(root, path)
    with os.scandir(target) as scan:
        entries = sorted(scan, key=lambda entry: entry.name)
    lines = [f"{_kind(entry).upper():<4} {entry.name}" for entry in entries[:MAX_ENTRIES]]
    if len(entries) > MAX_ENTRIES:
        lines.append(f"[listing truncated: {len(entries) - MAX_ENTRIES} more entries]")
    return ToolResult("\n".join(lines) if lines else f"{path} is empty")


def _kind(entry: os.DirEntry[str]) -> str:
    if entry.is_symlink():
        return "link"
    return "dir" if entry.is_dir() else "file"


def directory_tree(root: Path, path: str, max_depth: int) -> ToolResult:
    target = resolve_inside(root, path)
    if not target.is_dir():
        raise ArgumentError(f"{path} is not a directory")
    budget = [MAX_ENTRIES]

    def node(directory: Path, name: str, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {"name": name, "type": "directory"}
        if depth >= max_depth:
            return result
        children: list[dict[str, Any]] = []
        try:
            with os.scandir(directory) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError:
            entries = []
        for entry in entries:
            if entry.name in SKIPPED_DIRS:
                continue
            if budget[0] <= 0:
                result["truncated"] = True
                break
            budget[0] -= 1
            kind = _kind(entry)
            if kind == "dir":
                children.append(node(Path(entry.path), entry.name, depth + 1))
            else:
                children.append({"name": entry.name, "type": kind})
        result["children"] = children
        return result

    tree = node(target, relative_name(root, target), 0)
    text = to_json(tree)
    if budget[0] <= 0:
        text += f"\n[tree truncated at {MAX_ENTRIES} entries: list a subdirectory]"
    return ToolResult(text)


class _Walk:
    """(relative posix path, is_dir, path) below ``top``, sorted, links not followed.

    Stops after ``MAX_WALKED`` entries and sets ``stopped``.
    """

    def __init__(self, top: Path, exclude: list[str]) -> None:
        self.top = top
        self.exclude = exclude
        self.stopped = False

    def __iter__(self) -> Iterator[tuple[str, bool, Path]]:
        for count, entry in enumerate(_walk(self.top, self.exclude)):
            if count == MAX_WALKED:
                self.stopped = True
                return
            yield entry

    def note(self) -> str:
        if not self.stopped:
            return ""
        return f"\n[search stopped after {MAX_WALKED} entries: search a subdirectory]"


def _walk(top: Path, exclude: list[str]) -> Iterator[tuple[str, bool, Path]]:
    """Every entry below ``top``, unbounded (``_Walk`` bounds it)."""
    for dirpath, dirnames, filenames in os.walk(top):
        base = Path(dirpath)
        rel_base = base.relative_to(top).as_posix()
        prefix = "" if rel_base == "." else f"{rel_base}/"
        kept = []
        for name in sorted(dirnames):
            rel = prefix + name
            if name in SKIPPED_DIRS or _matches(name, rel, exclude):
                continue
            kept.append(name)
            yield rel, True, base / name
        dirnames[:] = [n for n in kept if not (base / n).is_symlink()]
        for name in sorted(filenames):
            rel = prefix + name
            if not _matches(name, rel, exclude):
                yield rel, False, base / name


def _matches(name: str, rel: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(rel, p) for p in patterns)


def glob(root: Path, path: str, pattern: str, exclude: list[str]) -> ToolResult:
    top = resolve_inside(root, path)
    if not top.is_dir():
        raise ArgumentError(f"{path} is not a directory")
    found: list[str] = []
    walk = _Walk(top, exclude)
    for rel, is_dir, full in walk:
        if _matches(full.name, rel, [pattern]):
            if len(found) == MAX_ENTRIES:
                found.append(f"[results truncated at {MAX_ENTRIES}: use a narrower pattern]")
                break
            found.append(relative_name(root, full) + ("/" if is_dir else ""))
    return ToolResult(("\n".join(found) if found else "No files found") + walk.note())


def grep(
    root: Path, path: str, regex: re.Pattern[str], include: str, exclude: list[str]
) -> ToolResult:
    top = resolve_inside(root, path)
    walk = _Walk(top, exclude)
    files = (
        ((rel, full) for rel, is_dir, full in walk if not is_dir)
        if top.is_dir()
        else iter([(top.name, top)])
    )
    results: list[str] = []
    for rel, full in files:
        if include and not _matches(full.name, rel, [include]):
            continue
        for lineno, line in _search_file(full, regex):
            if len(results) == MAX_MATCHES:
                results.append(
                    f"[results truncated at {MAX_MATCHES} matches: narrow the query or the path]"
                )
                return ToolResult("\n".join(results))
            results.append(f"{relative_name(root, full)}:{lineno}: {clip(line, MAX_LINE_CHARS)}")
    return ToolResult(("\n".join(results) if results else "No results found") + walk.note())


def _search_file(path: Path, regex: re.Pattern[str]) -> Iterator[tuple[int, str]]:
    """Matching (line number, line) of a text file; binary, huge or unreadable files skip."""
    try:
        if path.is_symlink() or path.stat().st_size > MAX_SEARCHED_FILE_BYTES:
            return
        data = path.read_bytes()
    except OSError:
        return
    if b"\0" in data[:8192]:
        return
    for lineno, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        if regex.search(line):
            yield lineno, line
