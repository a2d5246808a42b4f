"""Run ``trioagent serve`` as a real subprocess, for end-to-end tests and benchmarks."""

from __future__ import annotations

import subprocess
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import trio

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping


TEST_AGENT = """\
agents:
  root:
    model: upstream
    instruction: Test agent.
models:
  upstream:
    provider: openai
    model: gpt-test
    base_url: {base_url}
"""


def write_test_agent(directory: Path, base_url: str) -> Path:
    """Write ``directory/agent.yaml``: one agent, ``root``, with no tools, whose model is
    the OpenAI-compatible upstream at ``base_url`` (a fake's); return its path."""
    path = directory / "agent.yaml"
    path.write_text(TEST_AGENT.format(base_url=base_url))
    return path


def trioagent_command(*args: str) -> list[str]:
    """The command line that runs ``trioagent ARGS`` with this interpreter."""
    return [sys.executable, "-m", "trioagent", *args]


@attrs.frozen
class ServerProcess:
    """A running server: its process and the URL its startup line names."""

    process: trio.Process
    url: str
    """``http://127.0.0.1:PORT/v1`` for ``serve chat``, ``.../api/chat`` for ``serve api``,
    ``.../a2a`` for ``serve a2a``."""
    startup_line: str = ""
    startup_log: str = ""
    """Everything the server wrote to stderr up to and including its startup line."""

    @property
    def base_url(self) -> str:
        """The URL without its path, e.g. ``http://127.0.0.1:PORT``."""
        scheme, _, rest = self.url.partition("://")
        return f"{scheme}://{rest.split('/')[0]}"


@asynccontextmanager
async def open_server_process(
    api: str, *args: str, env: Mapping[str, str] | None = None, listen: str = "127.0.0.1:0"
) -> AsyncIterator[ServerProcess]:
    """Start ``trioagent serve API ARGS`` on ``listen`` (a free loopback port by default);
    kill it when done.

    Waits for the startup line. Whatever the block does (SIGTERM, SIGKILL, nothing), the
    process is gone when it exits.

    Raises:
        RuntimeError: the server exited before it was listening (its stderr is the message).
    """
    process = await trio.lowlevel.open_process(
        trioagent_command("serve", api, *args, "-l", listen),
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert process.stderr is not None
        buffer = b""
        while b"listening on" not in buffer:
            data = await process.stderr.receive_some(4096)
            if not data:
                raise RuntimeError(buffer.decode(errors="replace"))
            buffer += data
        line = next(ln for ln in buffer.decode().splitlines() if "listening on" in ln)
        yield ServerProcess(
            process, line.split("listening on ")[1].split()[0], line, buffer.decode()
        )
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie waiting for its reaper counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


async def wait_dead(pid: int, within: float = 2.0) -> bool:
    """Whether process ``pid`` is dead within ``within`` seconds (polled: a process we
    did not start gives us nothing to wait on)."""
    for _ in range(max(1, round(within / 0.02))):
        if not pid_alive(pid):
            return True
        await trio.sleep(0.02)
    return not pid_alive(pid)
