from __future__ import annotations

import os
import signal

import trio

from trioagent.chat import ToolResult
from trioagent.testing.process import wait_dead
from trioagent.tools import ShellToolset, ToolContext


async def run(
    ctx: ToolContext, cmd: str, toolset: ShellToolset | None = None, **arguments: object
) -> ToolResult:
    with trio.fail_after(10):
        async with toolset or ShellToolset() as shell:
            return await shell.call("shell", {"cmd": cmd, **arguments}, ctx)


async def test_output_and_exit_code(ctx: ToolContext) -> None:
    result = await run(ctx, "echo out; echo err >&2")
    assert result == ToolResult("out\nerr\n[exit code: 0]")


async def test_nonzero_exit_code_is_an_error_result(ctx: ToolContext) -> None:
    result = await run(ctx, "echo failing; exit 3")
    assert result.is_error
    assert result.content == "failing\n[exit code: 3]"


async def test_runs_in_the_working_dir_and_cwd(ctx: ToolContext) -> None:
    (ctx.working_dir / "sub").mkdir()
    here = await run(ctx, "pwd")
    sub = await run(ctx, "pwd", cwd="sub")
    assert here.content.splitlines()[0] == str(ctx.working_dir.resolve())
    assert sub.content.splitlines()[0] == str((ctx.working_dir / "sub").resolve())


async def test_cwd_outside_the_working_dir_is_refused(ctx: ToolContext) -> None:
    result = await run(ctx, "touch escaped", cwd="..")
    assert result.is_error
    assert "outside the working directory" in result.content
    assert not (ctx.working_dir.parent / "escaped").exists()


async def test_env_is_passed(ctx: ToolContext) -> None:
    toolset = ShellToolset(env={"PATH": os.environ["PATH"], "GREETING": "hi there"})
    result = await run(ctx, 'echo "$GREETING"', toolset)
    assert result.content.splitlines()[0] == "hi there"


async def test_long_output_is_truncated_with_a_note(ctx: ToolContext) -> None:
    toolset = ShellToolset(max_output=1000)
    result = await run(
        ctx, "printf 'start\\n'; head -c 100000 /dev/zero | tr '\\0' x; printf '\\nend\\n'", toolset
    )
    assert not result.is_error
    assert result.content.startswith("start\n")
    assert "end\n[exit code: 0]" in result.content
    assert "[output truncated: 99" in result.content
    assert len(result.content) < 1200


async def test_timeout_kills_the_command_and_its_background_children(
    ctx: ToolContext,
) -> None:
    start = trio.current_time()
    result = await run(ctx, "sleep 30 & echo $!; sleep 30", timeout=1)
    assert trio.current_time() - start < 3
    assert result.is_error
    assert "timed out after 1 seconds" in result.content
    background = int(result.content.split("Output:\n")[1].splitlines()[0])
    assert await wait_dead(background)


async def test_toolset_timeout_bounds_the_per_call_timeout(ctx: ToolContext) -> None:
    start = trio.current_time()
    result = await run(ctx, "sleep 30", ShellToolset(timeout=0.5), timeout=20)
    assert trio.current_time() - start < 3
    assert result.is_error
    assert "timed out" in result.content


async def test_background_child_does_not_hang_the_call(ctx: ToolContext) -> None:
    start = trio.current_time()
    result = await run(ctx, "sleep 30 & echo $!")
    assert trio.current_time() - start < 3
    assert not result.is_error
    assert await wait_dead(int(result.content.splitlines()[0]))


async def test_cancelling_the_caller_kills_the_process_group(ctx: ToolContext) -> None:
    with trio.fail_after(10):
        with trio.move_on_after(0.5) as scope:
            await ShellToolset().call(
                "shell",
                {"cmd": "echo $$ > sh.pid; sleep 30 & echo $! > bg.pid; sleep 30"},
                ctx,
            )
        assert scope.cancelled_caught
        shell_pid = int((ctx.working_dir / "sh.pid").read_text())
        background_pid = int((ctx.working_dir / "bg.pid").read_text())
        assert await wait_dead(shell_pid)
        assert await wait_dead(background_pid)


async def test_bad_arguments_are_errors(ctx: ToolContext) -> None:
    with trio.fail_after(5):
        shell = ShellToolset()
        missing = await shell.call("shell", {}, ctx)
        bad_timeout = await shell.call("shell", {"cmd": "true", "timeout": -1}, ctx)
    assert missing.is_error
    assert "cmd" in missing.content
    assert bad_timeout.is_error


async def test_child_that_leaves_the_group_does_not_hang_the_call(ctx: ToolContext) -> None:
    # setsid escapes the process group (so it is not killed) and holds the output pipe:
    # the call stops waiting for the pipe after a short grace period.
    start = trio.current_time()
    result = await run(ctx, "setsid sleep 30 & echo $!; sleep 0.2")
    try:
        assert trio.current_time() - start < 3
        assert result.content.endswith("[exit code: 0]")
    finally:
        os.kill(int(result.content.splitlines()[0]), signal.SIGKILL)
