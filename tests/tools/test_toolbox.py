from __future__ import annotations

import json
import os
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import trio

from trioagent.chat import ToolResult, ToolSpec
from trioagent.config.schema import ToolsetConfig
from trioagent.errors import ConfigError
from trioagent.tools import (
    FilesystemToolset,
    FilteredToolset,
    MemoryToolset,
    ShellToolset,
    ThinkToolset,
    TodoToolset,
    ToolBox,
    ToolContext,
    TransferToolset,
    build_toolset,
)


class Exploding(ThinkToolset):
    """A toolset whose tool raises, as a buggy tool would."""

    def tools(self) -> list[ToolSpec]:
        return [ToolSpec("explode", "raises"), ToolSpec("cancel", "cancels its caller")]

    async def call(self, name: str, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        if name == "cancel":
            await trio.sleep_forever()
        raise ValueError("kaboom")


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("think", ThinkToolset),
        ("todo", TodoToolset),
        ("memory", MemoryToolset),
        ("filesystem", FilesystemToolset),
        ("shell", ShellToolset),
    ],
    ids=["think", "todo", "memory", "filesystem", "shell"],
)
def test_build_toolset_by_type(kind: Any, cls: type) -> None:
    assert isinstance(build_toolset(ToolsetConfig(type=kind)), cls)


def test_mcp_catalog_refs_are_refused_with_what_to_use_instead() -> None:
    with pytest.raises(ConfigError, match=r"MCP catalog refs .* are not supported; start"):
        build_toolset(ToolsetConfig(type="mcp", ref="docker:duckduckgo"))


def test_shell_settings_come_from_the_config() -> None:
    toolset = build_toolset(
        ToolsetConfig(type="shell", timeout=5, env={"EXTRA": "1"}),
        env={"BASE": "0", "PATH": "/bin"},
    )
    assert isinstance(toolset, ShellToolset)
    assert toolset.timeout == 5
    assert toolset.env == {"PATH": "/bin", "EXTRA": "1"}  # scrubbed: see test_policy.py
    default = build_toolset(ToolsetConfig(type="shell"))
    assert isinstance(default, ShellToolset)
    assert default.timeout == 30
    assert default.env is not None
    assert default.env["PATH"] == os.environ["PATH"]


def test_memory_path_resolves_against_the_working_dir(tmp_path: Path) -> None:
    toolset = build_toolset(ToolsetConfig(type="memory", path="m.json"), working_dir=tmp_path)
    assert isinstance(toolset, MemoryToolset)
    assert toolset.path == tmp_path / "m.json"


async def test_allow_list_limits_offered_and_callable_tools(ctx: ToolContext) -> None:
    cfg = ToolsetConfig(type="todo", tools=("list_todos",))
    with trio.fail_after(5):
        async with build_toolset(cfg) as toolset:
            box = ToolBox([toolset])
            assert [spec.name for spec in box.specs()] == ["list_todos"]
            listed = await box.call("list_todos", "{}", ctx)
            hidden = await box.call("create_todo", '{"description": "x"}', ctx)
            direct = await toolset.call("create_todo", {"description": "x"}, ctx)
    assert not listed.is_error
    assert hidden.is_error
    assert "unknown tool 'create_todo'" in hidden.content
    assert direct.is_error
    assert "not available" in direct.content


async def test_allow_list_with_a_tool_the_set_lacks_fails_on_open() -> None:
    cfg = ToolsetConfig(type="think", tools=("think", "ponder"))
    toolset = build_toolset(cfg)
    assert isinstance(toolset, FilteredToolset)
    with trio.fail_after(5), pytest.raises(ConfigError, match="ponder"):
        async with toolset:
            pass


async def test_dispatch_routes_by_name(ctx: ToolContext) -> None:
    box = ToolBox([ThinkToolset(), TodoToolset()])
    with trio.fail_after(5):
        thought = await box.call("think", '{"thought": "hmm"}', ctx)
        created = await box.call("create_todo", '{"description": "a"}', ctx)
        listed = await box.call("list_todos", "", ctx)  # empty text counts as {}
    assert "hmm" in thought.content
    assert not created.is_error
    assert len(json.loads(listed.content)["todos"]) == 1
    assert "think" in box
    assert [spec.name for spec in box.specs()][:2] == ["think", "create_todo"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('"text"', "must be a JSON object"),
    ],
    ids=["invalid", "array", "string"],
)
async def test_bad_json_arguments_are_errors(
    ctx: ToolContext, arguments: str, message: str
) -> None:
    with trio.fail_after(5):
        result = await ToolBox([ThinkToolset()]).call("think", arguments, ctx)
    assert result.is_error
    assert message in result.content


async def test_unknown_tool_is_an_error(ctx: ToolContext) -> None:
    with trio.fail_after(5):
        result = await ToolBox([ThinkToolset()]).call("rm_rf", "{}", ctx)
    assert result.is_error
    assert "unknown tool 'rm_rf'" in result.content
    assert "think" in result.content


async def test_a_tool_that_raises_becomes_an_error_result(ctx: ToolContext) -> None:
    with trio.fail_after(5):
        result = await ToolBox([Exploding()]).call("explode", "{}", ctx)
    assert result.is_error
    assert "ValueError: kaboom" in result.content


async def test_cancellation_is_not_swallowed(ctx: ToolContext) -> None:
    box = ToolBox([Exploding()])
    reached_end = False
    with trio.fail_after(5):
        with trio.move_on_after(0.05) as scope:
            await box.call("cancel", "{}", ctx)
            reached_end = True
    assert scope.cancelled_caught
    assert not reached_end


def test_duplicate_tool_names_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'think'"):
        ToolBox([ThinkToolset(), ThinkToolset()])


async def test_all_builtin_toolsets_fit_in_one_toolbox(tmp_path: Path) -> None:
    toolsets = [
        ThinkToolset(),
        TodoToolset(),
        MemoryToolset(tmp_path / "m.json"),
        FilesystemToolset(),
        ShellToolset(),
        TransferToolset([("helper", "Helps")]),
    ]
    with trio.fail_after(5):
        async with AsyncExitStack() as stack:
            opened = [await stack.enter_async_context(toolset) for toolset in toolsets]
            box = ToolBox(opened)
    names = [spec.name for spec in box.specs()]
    assert len(names) == len(set(names)) == 1 + 4 + 5 + 9 + 1 + 1
    for spec in box.specs():
        assert spec.parameters["type"] == "object"
        assert set(spec.parameters.get("required", ())) <= set(spec.parameters["properties"])
