from __future__ import annotations

import trio

from trioagent.tools import ThinkToolset, ToolContext


async def test_think_acknowledges_the_thought(ctx: ToolContext) -> None:
    with trio.fail_after(5):
        async with ThinkToolset() as toolset:
            assert [spec.name for spec in toolset.tools()] == ["think"]
            result = await toolset.call("think", {"thought": "check the rules"}, ctx)
    assert not result.is_error
    assert "check the rules" in result.content


async def test_think_is_stateless(ctx: ToolContext) -> None:
    with trio.fail_after(5):
        toolset = ThinkToolset()
        await toolset.call("think", {"thought": "first"}, ctx)
        result = await toolset.call("think", {"thought": "second"}, ctx)
    assert "first" not in result.content
    assert ctx.state == {}


async def test_think_without_thought_is_an_error(ctx: ToolContext) -> None:
    with trio.fail_after(5):
        result = await ThinkToolset().call("think", {}, ctx)
    assert result.is_error
    assert "thought" in result.content
