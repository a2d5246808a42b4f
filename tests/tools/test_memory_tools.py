from __future__ import annotations

import json
from pathlib import Path

import trio

from trioagent.tools import MemoryToolset, ToolContext


async def test_memories_persist_across_toolset_instances(ctx: ToolContext) -> None:
    with trio.fail_after(5):
        async with MemoryToolset("mem/memories.json") as first:
            added = await first.call(
                "add_memory", {"memory": "user likes tea", "category": "preference"}, ctx
            )
            await first.call("add_memory", {"memory": "project uses trio"}, ctx)
        async with MemoryToolset("mem/memories.json") as second:
            listed = await second.call("get_memories", {}, ctx)
    assert not added.is_error
    assert "ID: 1" in added.content
    memories = json.loads(listed.content)
    assert [m["memory"] for m in memories] == ["user likes tea", "project uses trio"]
    assert [m["id"] for m in memories] == ["1", "2"]
    on_disk = json.loads((ctx.working_dir / "mem" / "memories.json").read_text())
    assert on_disk == memories
    assert [p.name for p in (ctx.working_dir / "mem").iterdir()] == ["memories.json"]


async def test_delete_update_and_search(ctx: ToolContext) -> None:
    with trio.fail_after(5):
        memory = MemoryToolset("m.json")
        await memory.call("add_memory", {"memory": "likes green tea", "category": "pref"}, ctx)
        await memory.call("add_memory", {"memory": "uses vim"}, ctx)
        found = await memory.call("search_memories", {"query": "GREEN tea"}, ctx)
        by_category = await memory.call("search_memories", {"category": "pref"}, ctx)
        updated = await memory.call("update_memory", {"id": "2", "memory": "uses emacs"}, ctx)
        deleted = await memory.call("delete_memory", {"id": "1"}, ctx)
        missing = await memory.call("delete_memory", {"id": "1"}, ctx)
        listed = await memory.call("get_memories", {}, ctx)
    assert [m["id"] for m in json.loads(found.content)] == ["1"]
    assert [m["id"] for m in json.loads(by_category.content)] == ["1"]
    assert not updated.is_error
    assert not deleted.is_error
    assert missing.is_error
    assert [m["memory"] for m in json.loads(listed.content)] == ["uses emacs"]


async def test_absolute_path_is_used_as_is(ctx: ToolContext, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "memories.json"
    with trio.fail_after(5):
        await MemoryToolset(target).call("add_memory", {"memory": "x"}, ctx)
    assert json.loads(target.read_text())[0]["memory"] == "x"


async def test_corrupt_file_is_a_tool_error_and_left_unchanged(ctx: ToolContext) -> None:
    path = ctx.working_dir / "memories.json"
    path.write_text("{not json")
    with trio.fail_after(5):
        memory = MemoryToolset("memories.json")
        listed = await memory.call("get_memories", {}, ctx)
        added = await memory.call("add_memory", {"memory": "x"}, ctx)
    assert listed.is_error
    assert "corrupt" in listed.content
    assert added.is_error
    assert path.read_text() == "{not json"


async def test_wrong_shape_is_a_tool_error(ctx: ToolContext) -> None:
    (ctx.working_dir / "memories.json").write_text('{"memories": []}')
    with trio.fail_after(5):
        result = await MemoryToolset("memories.json").call("get_memories", {}, ctx)
    assert result.is_error
    assert "corrupt" in result.content


async def test_concurrent_adds_are_not_lost(ctx: ToolContext) -> None:
    # Two toolsets on one file, as two runtimes of a pool would have.
    first, second = MemoryToolset("m.json"), MemoryToolset("m.json")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for i in range(10):
                toolset = first if i % 2 else second
                nursery.start_soon(toolset.call, "add_memory", {"memory": f"m{i}"}, ctx)
        listed = await first.call("get_memories", {}, ctx)
    memories = json.loads(listed.content)
    assert sorted(m["memory"] for m in memories) == sorted(f"m{i}" for i in range(10))
    assert len({m["id"] for m in memories}) == 10
