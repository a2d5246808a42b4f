from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from trioagent.chat import ToolResult
from trioagent.tools import FilesystemToolset, ToolContext


async def call(ctx: ToolContext, name: str, **arguments: object) -> ToolResult:
    with trio.fail_after(5):
        async with FilesystemToolset() as toolset:
            return await toolset.call(name, dict(arguments), ctx)


def test_offers_the_docker_agent_tool_names() -> None:
    assert {spec.name for spec in FilesystemToolset().tools()} == {
        "read_file",
        "read_multiple_files",
        "write_file",
        "edit_file",
        "list_directory",
        "directory_tree",
        "search_files",
        "search_files_content",
        "create_directory",
    }


async def test_write_then_read(ctx: ToolContext) -> None:
    written = await call(ctx, "write_file", path="a/b/c.txt", content="héllo\n")
    read = await call(ctx, "read_file", path="a/b/c.txt")
    assert not written.is_error
    assert read == ToolResult("héllo\n")
    assert (ctx.working_dir / "a/b/c.txt").read_text() == "héllo\n"


async def test_absolute_path_inside_the_working_dir_is_fine(ctx: ToolContext) -> None:
    (ctx.working_dir / "f.txt").write_text("inside")
    result = await call(ctx, "read_file", path=str(ctx.working_dir / "f.txt"))
    assert result == ToolResult("inside")


async def test_large_read_is_truncated_with_a_note(ctx: ToolContext) -> None:
    (ctx.working_dir / "big.txt").write_text("x" * 300_000)
    result = await call(ctx, "read_file", path="big.txt")
    assert not result.is_error
    assert result.content.startswith("x" * 1000)
    assert len(result.content) < 270_000
    assert "truncated" in result.content


async def test_read_missing_file_is_an_error(ctx: ToolContext) -> None:
    result = await call(ctx, "read_file", path="nope.txt")
    assert result.is_error
    assert "No such file" in result.content


async def test_read_multiple_files_reports_each(ctx: ToolContext) -> None:
    (ctx.working_dir / "a.txt").write_text("AAA")
    (ctx.working_dir / "b.txt").write_text("BBB")
    result = await call(ctx, "read_multiple_files", paths=["a.txt", "missing.txt", "b.txt"])
    assert not result.is_error
    assert "=== a.txt ===\nAAA" in result.content
    assert "=== b.txt ===\nBBB" in result.content
    assert "=== missing.txt ===\nerror:" in result.content


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    return secret


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("read_file", {"path": "../secret.txt"}),
        ("read_file", {"path": "/etc/passwd"}),
        ("read_file", {"path": "sub/../../secret.txt"}),
        ("write_file", {"path": "../evil.txt", "content": "x"}),
        ("edit_file", {"path": "../secret.txt", "edits": [{"oldText": "s", "newText": "t"}]}),
        ("list_directory", {"path": ".."}),
        ("directory_tree", {"path": "/"}),
        ("search_files", {"path": "..", "pattern": "*.txt"}),
        ("search_files_content", {"path": "..", "query": "secret"}),
        ("create_directory", {"paths": ["ok", "../../escape"]}),
        ("read_multiple_files", {"paths": ["../secret.txt"]}),
    ],
    ids=[
        "dotdot",
        "etc-passwd",
        "nested-dotdot",
        "write",
        "edit",
        "list",
        "tree",
        "glob",
        "grep",
        "mkdir",
        "read-many",
    ],
)
async def test_paths_outside_the_working_dir_are_refused(
    ctx: ToolContext, outside: Path, tool: str, arguments: dict[str, object]
) -> None:
    result = await call(ctx, tool, **arguments)
    assert result.is_error
    assert "outside the working directory" in result.content
    assert nothing_changed(outside, ctx.working_dir)


def nothing_changed(outside: Path, work_dir: Path) -> bool:
    return (
        outside.read_text() == "secret"
        and not (outside.parent / "evil.txt").exists()
        and not (outside.parent.parent / "escape").exists()
        and not (work_dir / "ok").exists()
    )


async def test_symlink_pointing_outside_is_refused(ctx: ToolContext, outside: Path) -> None:
    (ctx.working_dir / "link.txt").symlink_to(outside)
    (ctx.working_dir / "linkdir").symlink_to(outside.parent)
    read = await call(ctx, "read_file", path="link.txt")
    write = await call(ctx, "write_file", path="linkdir/new.txt", content="x")
    assert read.is_error
    assert "outside the working directory" in read.content
    assert write.is_error
    assert not (outside.parent / "new.txt").exists()


async def test_symlink_inside_pointing_inside_is_fine(ctx: ToolContext) -> None:
    (ctx.working_dir / "real.txt").write_text("real")
    (ctx.working_dir / "alias.txt").symlink_to(ctx.working_dir / "real.txt")
    assert await call(ctx, "read_file", path="alias.txt") == ToolResult("real")


async def test_edit_file_replaces_exact_text(ctx: ToolContext) -> None:
    path = ctx.working_dir / "code.py"
    path.write_text("a = 1\nb = 2\nc = 3\n")
    result = await call(
        ctx,
        "edit_file",
        path="code.py",
        edits=[
            {"oldText": "b = 2", "newText": "b = 20"},
            {"old_text": "c = 3\n", "new_text": "c = 30\nd = 4\n"},
        ],
    )
    assert not result.is_error, result.content
    assert path.read_text() == "a = 1\nb = 20\nc = 30\nd = 4\n"
    assert "+b = 20" in result.content


@pytest.mark.parametrize(
    ("edits", "message"),
    [
        ([{"oldText": "zzz", "newText": "y"}], "not found"),
        ([{"oldText": "x", "newText": "y"}], "occurs 3 times"),
        ([{"oldText": "", "newText": "y"}], "empty"),
        ([{"oldText": "one", "newText": "1"}, {"oldText": "zzz", "newText": "y"}], "edit 2"),
        ([{"newText": "y"}], "missing oldText"),
    ],
    ids=["not-found", "ambiguous", "empty", "second-fails", "missing-key"],
)
async def test_edit_file_errors_leave_the_file_unchanged(
    ctx: ToolContext, edits: list[dict[str, str]], message: str
) -> None:
    path = ctx.working_dir / "f.txt"
    path.write_text("one x\ntwo x\nthree x\n")
    result = await call(ctx, "edit_file", path="f.txt", edits=edits)
    assert result.is_error
    assert message in result.content
    assert path.read_text() == "one x\ntwo x\nthree x\n"


async def test_list_directory_and_create_directory(ctx: ToolContext) -> None:
    created = await call(ctx, "create_directory", paths=["d1/nested", "d2"])
    (ctx.working_dir / "f.txt").write_text("")
    listed = await call(ctx, "list_directory")
    assert not created.is_error
    assert (ctx.working_dir / "d1/nested").is_dir()
    assert listed.content.splitlines() == ["DIR  d1", "DIR  d2", "FILE f.txt"]


async def test_directory_tree_is_json_and_skips_git(ctx: ToolContext) -> None:
    (ctx.working_dir / "src/pkg").mkdir(parents=True)
    (ctx.working_dir / "src/pkg/mod.py").write_text("")
    (ctx.working_dir / ".git").mkdir()
    result = await call(ctx, "directory_tree")
    tree = json.loads(result.content)
    assert tree == {
        "name": ".",
        "type": "directory",
        "children": [
            {
                "name": "src",
                "type": "directory",
                "children": [
                    {
                        "name": "pkg",
                        "type": "directory",
                        "children": [{"name": "mod.py", "type": "file"}],
                    }
                ],
            }
        ],
    }
    shallow = json.loads((await call(ctx, "directory_tree", max_depth=1)).content)
    assert shallow["children"] == [{"name": "src", "type": "directory"}]


async def test_directory_tree_is_bounded(ctx: ToolContext) -> None:
    for i in range(1100):
        (ctx.working_dir / f"f{i:04}").touch()
    result = await call(ctx, "directory_tree")
    assert "tree truncated" in result.content
    tree = json.loads(result.content.split("\n")[0])
    assert len(tree["children"]) == 1000
    assert tree["truncated"] is True


async def test_search_files_by_glob(ctx: ToolContext) -> None:
    (ctx.working_dir / "src/sub").mkdir(parents=True)
    (ctx.working_dir / "src/a.py").write_text("")
    (ctx.working_dir / "src/sub/b.py").write_text("")
    (ctx.working_dir / "src/c.txt").write_text("")
    (ctx.working_dir / "node_modules").mkdir()
    (ctx.working_dir / "node_modules/d.py").write_text("")
    result = await call(ctx, "search_files", pattern="*.py", excludePatterns=["node_modules"])
    assert result.content.splitlines() == ["src/a.py", "src/sub/b.py"]
    none = await call(ctx, "search_files", pattern="*.rs")
    assert none.content == "No files found"


async def test_search_files_content_text_and_regex(ctx: ToolContext) -> None:
    (ctx.working_dir / "a.py").write_text("def main():\n    return 1\n")
    (ctx.working_dir / "b.txt").write_text("main course\n")
    (ctx.working_dir / "bin.dat").write_bytes(b"\0main")
    text = await call(ctx, "search_files_content", query="main")
    regex = await call(ctx, "search_files_content", query=r"^def \w+", is_regex=True)
    only_py = await call(ctx, "search_files_content", query="main", pattern="*.py")
    bad = await call(ctx, "search_files_content", query="(", is_regex=True)
    assert text.content.splitlines() == ["a.py:1: def main():", "b.txt:1: main course"]
    assert regex.content == "a.py:1: def main():"
    assert only_py.content == "a.py:1: def main():"
    assert bad.is_error
    assert "invalid regex" in bad.content


async def test_search_files_content_is_bounded(ctx: ToolContext) -> None:
    (ctx.working_dir / "many.txt").write_text("hit\n" * 500)
    result = await call(ctx, "search_files_content", query="hit")
    lines = result.content.splitlines()
    assert len(lines) == 201
    assert "truncated" in lines[-1]


async def test_missing_argument_is_an_error(ctx: ToolContext) -> None:
    result = await call(ctx, "write_file", path="x.txt")
    assert result.is_error
    assert "content" in result.content
    assert not await trio.Path(ctx.working_dir / "x.txt").exists()
