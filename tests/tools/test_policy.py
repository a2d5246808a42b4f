"""The --safety policy applied by build_toolset: real tool calls under each level."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pytest
import trio

from trioagent.config.schema import ToolsetConfig
from trioagent.tools import build_toolset
from trioagent.tools.policy import SHELL_ENV_KEPT, shell_environment

if TYPE_CHECKING:
    from trioagent.chat import ToolResult
    from trioagent.tools import ToolContext, Toolset

SERVER_ENV = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/agent",
    "LC_ALL": "C.UTF-8",
    "OPENAI_API_KEY": "sk-secret",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "TRIOAGENT_API_KEY": "server-key",
    "DATABASE_URL": "postgres://u:p@db/x",
}


async def call(toolset: Toolset, ctx: ToolContext, name: str, **arguments: Any) -> ToolResult:
    with trio.fail_after(10):
        async with toolset as opened:
            return await opened.call(name, arguments, ctx)


def shell(safety: Any, **settings: Any) -> Toolset:
    return build_toolset(ToolsetConfig(type="shell", **settings), env=SERVER_ENV, safety=safety)


def filesystem(safety: Any, **settings: Any) -> Toolset:
    return build_toolset(ToolsetConfig(type="filesystem", **settings), safety=safety)


@pytest.mark.parametrize("safety", ["standard", "restricted"])
def test_scrubbed_environment_keeps_only_harmless_variables(safety: Any) -> None:
    env = shell_environment(SERVER_ENV, {"TOOL_TOKEN": "set-by-the-author"}, safety)
    assert env == {
        "PATH": "/usr/bin:/bin",
        "HOME": "/home/agent",
        "LC_ALL": "C.UTF-8",
        "TOOL_TOKEN": "set-by-the-author",
    }
    assert not any("KEY" in name or "SECRET" in name for name in SHELL_ENV_KEPT)


def test_off_passes_the_whole_environment() -> None:
    assert shell_environment(SERVER_ENV, {"X": "1"}, "off") == {**SERVER_ENV, "X": "1"}


async def test_standard_shell_commands_see_no_secrets(ctx: ToolContext) -> None:
    result = await call(shell("standard", env={"GREETING": "hi"}), ctx, "shell", cmd="env")
    assert not result.is_error
    assert "GREETING=hi" in result.content
    assert "PATH=/usr/bin:/bin" in result.content
    for secret in ("sk-secret", "aws-secret", "server-key", "postgres://"):
        assert secret not in result.content


async def test_off_shell_commands_see_the_server_environment(ctx: ToolContext) -> None:
    result = await call(shell("off"), ctx, "shell", cmd="echo $OPENAI_API_KEY")
    assert result.content.startswith("sk-secret")


async def test_restricted_refuses_shell_commands_with_a_log_line(
    ctx: ToolContext, caplog: pytest.LogCaptureFixture
) -> None:
    toolset = shell("restricted")
    marker = ctx.working_dir / "ran"
    with caplog.at_level(logging.WARNING, logger="trioagent.tools.policy"):
        result = await call(toolset, ctx, "shell", cmd=f"touch {marker}")
    assert result.is_error
    assert "disabled by this server's safety policy" in result.content
    assert "--safety restricted" in result.content
    assert not marker.exists()
    assert any("refused a call of shell" in r.getMessage() for r in caplog.records)
    # The model is told up front, in the tool's description.
    async with toolset as opened:
        (spec,) = opened.tools()
    assert "Disabled on this server" in spec.description


async def test_restricted_shell_runs_when_the_toolset_opts_in(ctx: ToolContext) -> None:
    result = await call(
        shell("restricted", allow_when_restricted=True),
        ctx,
        "shell",
        cmd="echo ok; echo ${OPENAI_API_KEY:-no key}",
    )
    assert not result.is_error
    assert result.content.startswith("ok\nno key")


async def test_restricted_filesystem_reads_but_does_not_write(ctx: ToolContext) -> None:
    (ctx.working_dir / "notes.txt").write_text("old")
    toolset = filesystem("restricted")
    read = await call(toolset, ctx, "read_file", path="notes.txt")
    assert read.content == "old"
    listing = await call(toolset, ctx, "list_directory")
    assert "notes.txt" in listing.content
    for name, arguments in [
        ("write_file", {"path": "notes.txt", "content": "new"}),
        ("write_file", {"path": "fresh.txt", "content": "new"}),
        ("edit_file", {"path": "notes.txt", "edits": [{"oldText": "old", "newText": "new"}]}),
        ("create_directory", {"paths": ["made"]}),
    ]:
        result = await call(toolset, ctx, name, **arguments)
        assert result.is_error, name
        assert "disabled by this server's safety policy" in result.content
    assert (ctx.working_dir / "notes.txt").read_text() == "old"
    assert sorted(p.name for p in ctx.working_dir.iterdir()) == ["notes.txt"]
    async with toolset as opened:
        notes = {s.name: "Disabled on this server" in s.description for s in opened.tools()}
    disabled = {name for name, note in notes.items() if note}
    assert disabled == {"write_file", "edit_file", "create_directory"}


@pytest.mark.parametrize("safety", ["standard", "off"])
async def test_filesystem_writes_outside_restricted(ctx: ToolContext, safety: Any) -> None:
    result = await call(filesystem(safety), ctx, "write_file", path="a.txt", content="x")
    assert not result.is_error
    assert (ctx.working_dir / "a.txt").read_text() == "x"


async def test_restricted_filesystem_writes_when_the_toolset_opts_in(ctx: ToolContext) -> None:
    toolset = filesystem("restricted", allow_when_restricted=True)
    result = await call(toolset, ctx, "write_file", path="a.txt", content="x")
    assert not result.is_error
    assert (ctx.working_dir / "a.txt").read_text() == "x"


@pytest.mark.parametrize("safety", ["restricted", "standard", "off"])
async def test_confinement_holds_at_every_level(
    ctx: ToolContext, tmp_path: Any, safety: Any
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    (ctx.working_dir / "link.txt").symlink_to(outside)
    toolset = filesystem(safety, allow_when_restricted=True)
    for name, arguments in [
        ("read_file", {"path": "link.txt"}),
        ("read_file", {"path": str(outside)}),
        ("write_file", {"path": "link.txt", "content": "x"}),
        ("write_file", {"path": "../outside.txt", "content": "x"}),
    ]:
        result = await call(toolset, ctx, name, **arguments)
        assert result.is_error, (name, arguments)
        assert "outside the working directory" in result.content
    assert outside.read_text() == "secret"


async def test_shell_timeout_and_output_cap_hold_when_opted_in(ctx: ToolContext) -> None:
    toolset = shell("restricted", allow_when_restricted=True, timeout=1)
    slow = await call(toolset, ctx, "shell", cmd="sleep 20")
    assert slow.is_error
    assert "timed out after 1 seconds" in slow.content
    big = await call(toolset, ctx, "shell", cmd="head -c 200000 /dev/zero | tr '\\0' a")
    assert "[output truncated:" in big.content
    assert len(big.content) < 40_000
