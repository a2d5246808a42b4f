from __future__ import annotations

from pathlib import Path

import trio

from trioagent.chat import ToolResult, Usage
from trioagent.tools import ToolContext, TransferToolset

TEAM = [("planner", "Plans the work"), ("coder", "Writes code")]


def context(work_dir: Path, calls: list[tuple[str, str]]) -> ToolContext:
    async def run_sub_agent(name: str, task: str) -> tuple[str, Usage]:
        calls.append((name, task))
        await trio.lowlevel.checkpoint()
        return f"{name} did it", Usage(3, 4)

    return ToolContext(working_dir=work_dir, state={}, run_sub_agent=run_sub_agent)


def test_schema_lists_the_sub_agents() -> None:
    (spec,) = TransferToolset(TEAM).tools()
    assert spec.name == "transfer_task"
    assert spec.parameters["properties"]["agent"]["enum"] == ["planner", "coder"]
    assert spec.parameters["required"] == ["agent", "task"]
    assert "coder: Writes code" in spec.description


async def test_transfer_runs_the_sub_agent_and_returns_its_answer(work_dir: Path) -> None:
    calls: list[tuple[str, str]] = []
    with trio.fail_after(5):
        async with TransferToolset(TEAM) as toolset:
            result = await toolset.call(
                "transfer_task",
                {"agent": "coder", "task": "write hello.py", "expected_output": "the path"},
                context(work_dir, calls),
            )
    assert result == ToolResult("coder did it")
    ((name, task),) = calls
    assert name == "coder"
    assert "<task>\nwrite hello.py\n</task>" in task
    assert "<expected_output>\nthe path\n</expected_output>" in task


async def test_unknown_agent_is_an_error(work_dir: Path) -> None:
    calls: list[tuple[str, str]] = []
    with trio.fail_after(5):
        result = await TransferToolset(TEAM).call(
            "transfer_task", {"agent": "nobody", "task": "x"}, context(work_dir, calls)
        )
    assert result.is_error
    assert "planner, coder" in result.content
    assert calls == []


async def test_without_run_sub_agent_is_an_error(ctx: ToolContext) -> None:
    with trio.fail_after(5):
        result = await TransferToolset(TEAM).call(
            "transfer_task", {"agent": "coder", "task": "x"}, ctx
        )
    assert result.is_error


async def test_a_failing_sub_agent_is_an_error_result(work_dir: Path) -> None:
    async def broken(name: str, task: str) -> tuple[str, Usage]:
        raise RuntimeError("model down")

    ctx = ToolContext(working_dir=work_dir, state={}, run_sub_agent=broken)
    with trio.fail_after(5):
        result = await TransferToolset(TEAM).call(
            "transfer_task", {"agent": "coder", "task": "x"}, ctx
        )
    assert result.is_error
    assert "model down" in result.content
