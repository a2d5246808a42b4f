"""The ``shell`` tool: run a command with ``/bin/sh -c`` in the working directory.

The command runs in a new session, so it leads its own process group, and the whole
group is killed with it: on timeout, when the caller is cancelled, and once the shell
itself has exited (so ``sleep 100 &`` cannot keep our output pipe open and outlive the
call). stdout and stderr share one pipe, so their lines interleave as they were written.
Output past a bound keeps its head and tail, with a note saying how much was cut.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
from typing import TYPE_CHECKING, Any, Final

import attrs
import trio

from trioagent.chat import ToolResult, ToolSpec

from ._common import ArgumentError, BuiltinToolset, int_arg, resolve_inside, schema, str_arg

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from ._common import Handler
    from .base import ToolContext

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT: Final = 30
"""Seconds a command may run when the toolset config sets no ``timeout``."""
MAX_OUTPUT_CHARS: Final = 30_000
"""Bytes of combined output shown to the model: the first and last halves are kept."""
DRAIN_GRACE: Final = 1.0
"""Seconds to wait for the pipe to close after the process group was killed."""
_READ_CHUNK: Final = 65536


@attrs.define
class ShellToolset(BuiltinToolset):
    """The ``shell`` tool.

    Args:
        env: the environment commands see (the server's, plus the toolset's ``env``).
        timeout: the most seconds a command may run; a call may ask for less.
        max_output: bytes of output shown to the model.
    """

    env: Mapping[str, str] | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_output: int = MAX_OUTPUT_CHARS

    def tools(self) -> list[ToolSpec]:
        limit = f"{self.timeout:g}"
        return [
            ToolSpec(
                name="shell",
                description=(
                    "Executes the given shell command with /bin/sh in the working directory. "
                    "Each call runs in a fresh shell: no state persists between calls. "
                    "Combined stdout and stderr and the exit code are returned; background "
                    "processes the command starts are stopped when it exits."
                ),
                parameters=schema(
                    {
                        "cmd": {"type": "string", "description": "The shell command to execute"},
                        "cwd": {
                            "type": "string",
                            "description": "The directory to run in, relative to the working "
                            'directory (default: ".")',
                        },
                        "timeout": {
                            "type": "integer",
                            "description": f"Timeout in seconds (default and maximum: {limit})",
                        },
                    },
                    required=("cmd",),
                ),
            )
        ]

    def _handlers(self) -> Mapping[str, Handler]:
        return {"shell": self._shell}

    async def _shell(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        cmd = str_arg(arguments, "cmd")
        if not cmd.strip():
            raise ArgumentError("'cmd' is empty")
        timeout = float(self.timeout)
        if arguments.get("timeout") is not None:
            asked = int_arg(arguments, "timeout")
            if asked <= 0:
                raise ArgumentError("'timeout' must be a positive number of seconds")
            timeout = min(timeout, asked)
        cwd = await trio.to_thread.run_sync(
            resolve_inside, ctx.working_dir, str_arg(arguments, "cwd", ".")
        )
        if not await trio.Path(cwd).is_dir():
            raise ArgumentError("'cwd' is not a directory")
        env = {**(os.environ if self.env is None else self.env)}
        return await run_command(cmd, cwd=cwd, env=env, time_limit=timeout, limit=self.max_output)


async def run_command(
    cmd: str, *, cwd: Path, env: Mapping[str, str], time_limit: float, limit: int
) -> ToolResult:
    """Run ``cmd`` with ``/bin/sh -c``; return its bounded output and exit code.

    Returns:
        The output followed by ``[exit code: N]``, an error result when the code is not
        zero, or a "timed out" error result (with the output so far) after
        ``time_limit`` seconds.
    """
    output = _BoundedOutput(limit)
    process = await trio.lowlevel.open_process(
        ["/bin/sh", "-c", cmd],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env=env,
        start_new_session=True,
    )
    assert process.stdout is not None
    pipe = process.stdout
    killed = False
    try:
        async with trio.open_nursery() as nursery:
            drained = trio.Event()
            nursery.start_soon(_drain, pipe, output, drained)
            with trio.move_on_after(time_limit) as deadline:
                await process.wait()
            # The shell is gone (or out of time): its background children go too, so
            # the pipe closes and nothing started by the call outlives it.
            _kill_group(process)
            killed = True
            await process.wait()
            # A child that left the group (setsid) may still hold the pipe: stop waiting.
            with trio.move_on_after(DRAIN_GRACE):
                await drained.wait()
            nursery.cancel_scope.cancel()
    finally:
        if not killed:  # cancelled or failed: the command must not outlive the call
            _kill_group(process)
        with trio.CancelScope(shield=True), trio.move_on_after(2):
            await pipe.aclose()
            await process.wait()

    text = output.text()
    if deadline.cancelled_caught:
        return ToolResult.error(
            f"Command timed out after {time_limit:g} seconds and was killed.\nOutput:\n{text}"
        )
    code = process.returncode
    assert code is not None
    if code < 0:
        return ToolResult.error(f"{text}\n[killed by signal {_signal_name(-code)}]")
    result = f"{text}\n[exit code: {code}]"
    return ToolResult(result) if code == 0 else ToolResult.error(result)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _kill_group(process: trio.Process) -> None:
    """SIGKILL the command's whole process group (its pgid is its pid)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


async def _drain(pipe: trio.abc.ReceiveStream, output: _BoundedOutput, done: trio.Event) -> None:
    try:
        while chunk := await pipe.receive_some(_READ_CHUNK):
            output.add(chunk)
    except (trio.ClosedResourceError, trio.BrokenResourceError):
        pass
    done.set()


@attrs.define
class _BoundedOutput:
    """Keeps the first and last ``limit // 2`` bytes of a stream and counts the rest."""

    limit: int
    head: bytearray = attrs.Factory(bytearray)
    tail: bytearray = attrs.Factory(bytearray)
    total: int = 0

    def add(self, chunk: bytes | bytearray) -> None:
        self.total += len(chunk)
        room = self.limit // 2 - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        keep = self.limit - self.limit // 2
        if len(self.tail) > keep:
            del self.tail[: len(self.tail) - keep]

    def text(self) -> str:
        cut = self.total - len(self.head) - len(self.tail)
        if cut > 0:
            head = self.head.decode(errors="replace")
            tail = self.tail.decode(errors="replace")
            text = f"{head}\n[output truncated: {cut} bytes not shown]\n{tail}"
        else:
            text = (self.head + self.tail).decode(errors="replace")
        return text.rstrip("\n") or "<no output>"
