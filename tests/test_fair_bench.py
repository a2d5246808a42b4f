"""The fair benchmark method (`benchmarks.fair`): wrk loads a real server and the server's
CPU is read from /proc.

wrk is the Debian package; without it these tests are skipped, unless
TRIOAGENT_REQUIRE_WRK=1 (CI) makes that a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # benchmarks/ is not installed; `pytest` may not run from ROOT
    sys.path.insert(0, str(ROOT))

from benchmarks.fair import group_cpu, measure, median_of, wrk_script  # noqa: E402

needs_wrk = pytest.mark.skipif(
    shutil.which("wrk") is None and os.environ.get("TRIOAGENT_REQUIRE_WRK") != "1",
    reason="wrk is not installed (apt-get install wrk)",
)


@asynccontextmanager
async def fake_upstream() -> AsyncIterator[tuple[str, int]]:
    """``benchmarks.fake_fast`` in its own process group: its base URL and its pid."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "benchmarks.fake_fast", "--words", "4"],
        cwd=str(ROOT),
        stderr=subprocess.PIPE,  # its one line: "fake upstream: listening on URL"
        start_new_session=True,
    )
    try:
        assert process.stderr is not None
        seen = b""
        while b"\n" not in seen:
            piece = await process.stderr.receive_some()
            assert piece, "the fake upstream exited before it listened"
            seen += piece
        match = re.search(rb"listening on (http://\S+)", seen)
        assert match is not None, seen
        yield match.group(1).decode(), process.pid
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        with trio.CancelScope(shield=True):
            await process.wait()


def test_the_script_posts_the_body_and_headers_as_lua_strings() -> None:
    script = wrk_script(b'{"a": "x\\"y"}', {"Authorization": "Bearer k"})
    assert 'wrk.method = "POST"' in script
    assert 'wrk.body = "{\\"a\\": \\"x\\\\\\"y\\"}"' in script
    assert 'wrk.headers["Authorization"] = "Bearer k"' in script


def test_group_cpu_counts_this_process_group() -> None:
    assert group_cpu(os.getpgrp()) > 0
    assert group_cpu(2**22 + 12345) == 0  # no such group


@needs_wrk
async def test_wrk_loads_a_server_and_its_cpu_is_read() -> None:
    with trio.fail_after(60):
        async with fake_upstream() as (url, pid):
            body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
            loads = [
                await measure(
                    f"{url}/chat/completions",
                    body.encode(),
                    {"Content-Type": "application/json"},
                    pgid=pid,
                    connections=2,
                    seconds=1,
                    tokens_per_request=4,
                )
                for _ in range(2)
            ]
    for load in loads:
        assert load.requests > 0
        assert load.errors == 0
        assert load.server_cpu > 0
        assert 0 < load.p50_ms <= load.p99_ms
        assert load.cpu_per_token_us == pytest.approx(load.cpu_per_request_ms * 1000 / 4)
    medians = median_of(loads)
    assert medians["rounds"] == 2
    assert medians["errors"] == 0
    assert medians["throughput"] == pytest.approx(
        sorted(load.throughput for load in loads)[0] / 2
        + sorted(load.throughput for load in loads)[1] / 2
    )


@needs_wrk
async def test_errors_of_the_server_are_counted() -> None:
    with trio.fail_after(60):
        async with fake_upstream() as (url, pid):
            load = await measure(
                f"{url}/no/such/path", b"{}", {}, pgid=pid, connections=1, seconds=1
            )
    assert load.requests > 0
    assert load.errors == load.requests  # every answer a 404
