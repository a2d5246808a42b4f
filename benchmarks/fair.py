"""The fair way to compare servers on one machine: pinned cores, one cheap load generator,
server CPU read from ``/proc``.

- Each server under test runs alone on its own core (``taskset -c 0``); the fake upstream
  and the load generator share the other core (``taskset -c 1``), so neither the load nor
  the upstream takes CPU from the server, and every server is loaded by the same client.
- The load generator is ``wrk`` (the Debian package), one thread, N keep-alive
  connections, a Lua script for the POST body; its ``done`` hook prints one JSON line of
  counts and latency percentiles.
- The server's CPU is the sum of user and system time of every process in its process
  group (``/proc/PID/stat``), read before and after the load: CPU per request, and per
  streamed token, is what the server spent, whatever its latency.

`measure` runs one load and returns a `Load`; the callers run several rounds in rotated
order and report medians (`median_of`).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import trio

if TYPE_CHECKING:
    import subprocess

SERVER_CORE = 0
"""The core of the server under test."""
LOAD_CORE = 1
"""The core of the fake upstream and of wrk."""

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

_SCRIPT = """\
wrk.method = "POST"
wrk.body = {body}
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{{"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "status_errors": %d, "timeouts": %d, "p50_us": %d, "p99_us": %d}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def can_pin() -> bool:
    """Whether servers can have a core of their own: ``taskset`` and two cores or more."""
    return shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


def pinned(command: list[str], core: int) -> list[str]:
    """``command`` run on ``core`` only (unchanged where pinning is not possible)."""
    return ["taskset", "-c", str(core), *command] if can_pin() else command


def group_cpu(pgid: int) -> float:
    """CPU seconds (user + system) spent so far by the live processes of group ``pgid``."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # The command name may hold spaces: the fields start after its closing ")".
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:  # field 5, pgrp
            total += int(fields[11]) + int(fields[12])  # fields 14, 15: utime, stime
    return total / _TICKS


@attrs.frozen(kw_only=True)
class Load:
    """One wrk run against one server: what it completed, how fast, at what CPU."""

    connections: int
    requests: int
    seconds: float
    errors: int
    """Connect, read, write and timeout errors, and non-2xx answers."""
    p50_ms: float
    p99_ms: float
    server_cpu: float
    """CPU seconds the server's process group spent during the run."""
    tokens_per_request: int = 0

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_per_request_ms(self) -> float:
        return 1000 * self.server_cpu / self.requests if self.requests else float("nan")

    @property
    def cpu_per_token_us(self) -> float | None:
        tokens = self.requests * self.tokens_per_request
        return 1e6 * self.server_cpu / tokens if tokens else None


def wrk_script(body: bytes, headers: dict[str, str]) -> str:
    """The Lua script that makes wrk POST ``body`` with ``headers`` and print a JSON line."""
    lines = [f"wrk.headers[{_lua(name)}] = {_lua(value)}" for name, value in headers.items()]
    return _SCRIPT.format(body=_lua(body.decode()), headers="\n".join(lines))


def _lua(text: str) -> str:
    """A Lua string literal of ``text`` (JSON's escapes are valid Lua ones for ASCII)."""
    return json.dumps(text, ensure_ascii=True)


async def measure(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    pgid: int,
    connections: int,
    seconds: float,
    tokens_per_request: int = 0,
) -> Load:
    """Load ``url`` with wrk for ``seconds`` over ``connections`` connections, from the load
    core; read the server's CPU (process group ``pgid``) around it.

    Raises:
        RuntimeError: wrk is missing, failed or printed no summary.
    """
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed: apt-get install wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(wrk_script(body, headers))
    try:
        command = pinned(
            [
                wrk,
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",  # wrk takes whole seconds
                f"--timeout={max(10, 2 * round(seconds))}s",
                "-s",
                script.name,
                url,
            ],
            LOAD_CORE,
        )
        before = group_cpu(pgid)
        done = await trio.run_process(
            command, capture_stdout=True, capture_stderr=True, check=False
        )
        spent = group_cpu(pgid) - before
    finally:
        os.unlink(script.name)
    summary = _summary(done)
    errors = sum(
        summary[key]
        for key in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    return Load(
        connections=connections,
        requests=summary["requests"],
        seconds=summary["duration_us"] / 1e6,
        errors=errors,
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        server_cpu=spent,
        tokens_per_request=tokens_per_request,
    )


def _summary(done: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    lines = [line for line in done.stdout.decode().splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"wrk failed ({done.returncode}): {done.stderr.decode().strip() or done.stdout!r}"
        )
    summary: dict[str, Any] = json.loads(lines[-1])
    return summary


def median_of(loads: list[Load]) -> dict[str, float | None]:
    """The median of each figure over the rounds of one server and load."""

    def median(values: list[float | None]) -> float | None:
        present = [value for value in values if value is not None]
        return statistics.median(present) if present else None

    return {
        "rounds": len(loads),
        "throughput": median([load.throughput for load in loads]),
        "p50_ms": median([load.p50_ms for load in loads]),
        "p99_ms": median([load.p99_ms for load in loads]),
        "cpu_per_request_ms": median([load.cpu_per_request_ms for load in loads]),
        "cpu_per_token_us": median([load.cpu_per_token_us for load in loads]),
        "errors": sum(load.errors for load in loads),
    }
