"""The tracing part of ``python -m benchmarks.run``: what OpenTelemetry tracing adds to a
served turn.

Two ``serve chat`` processes serve the same agent from the same fake upstream, one with
tracing off (``OTEL_SDK_DISABLED=true``), one exporting every span over OTLP/HTTP
(``OTEL_EXPORTER_OTLP_ENDPOINT``, default batching) to a fake collector on loopback
(`trioagent.testing.otlp`, in the load generator's process, where it decodes and counts
what arrives). Each mode and level is measured on both servers one right after the other,
the order alternating from level to level, so that the machine's drift falls on both
alike. Latency on a busy machine is noisy, so the part also reads each server's CPU time
(``/proc/PID/stat``, the exporter's thread included) around each measurement: CPU per
turn is what tracing costs, whatever the neighbours do. At the end the traced server is
stopped with SIGTERM, so that it flushes its last spans, and the spans received are
counted: 4 per turn (the request, ``invoke_agent``, ``chat`` and its ``POST``).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from trioagent.testing import open_fake_collector

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from contextlib import AbstractAsyncContextManager

    from trioagent.bench import BenchReport, Mode
    from trioagent.testing import ServerProcess

    Measure = Callable[[str, Mode, int], Awaitable[BenchReport]]
    """Measures ``mode`` at one concurrency level on the server at a URL."""
    OpenServer = Callable[..., AbstractAsyncContextManager[ServerProcess]]

MODES: tuple[Mode, ...] = ("chat", "stream")
SPANS_PER_TURN = 4
STOP_TIMEOUT = 30.0
"""Seconds the traced server has to flush and stop after SIGTERM."""


async def tracing_part(
    measure: Measure, open_server: OpenServer, agent_file: Path, levels: Sequence[int]
) -> dict[str, Any]:
    """Every mode at every level on both servers; the spans the traced one exported."""
    rows: list[dict[str, Any]] = []
    async with open_fake_collector(keep_spans=False) as collector:
        traced_env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": collector.traces_url,
        }
        async with (
            open_server("chat", agent_file, env={"OTEL_SDK_DISABLED": "true"}) as off,
            open_server("chat", agent_file, env=traced_env) as on,
        ):
            turns = 0
            for mode in MODES:
                for index, level in enumerate(levels):
                    order = [("off", off), ("on", on)]
                    row: dict[str, Any] = {"mode": mode, "concurrency": level}
                    for name, server in order if index % 2 == 0 else order[::-1]:
                        cpu = cpu_seconds(server.process.pid)
                        row[name] = await measure(server.url, mode, level)
                        row[f"cpu_{name}"] = cpu_seconds(server.process.pid) - cpu
                    turns += _turns(row["on"])
                    rows.append(row)
            on.process.send_signal(signal.SIGTERM)
            with trio.move_on_after(STOP_TIMEOUT):
                await on.process.wait()
        return {"rows": rows, "turns": turns, "spans": collector.span_count}


def cpu_seconds(pid: int) -> float:
    """The CPU time process ``pid`` has used so far (user and system, all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _turns(report: BenchReport) -> int:
    """The turns a measurement ran: its warm-up and its successful requests."""
    return report.warmup + sum(level.requests - level.failed for level in report.levels)


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def tracing_table(part: dict[str, Any]) -> str:
    """The part as Markdown: each mode and level off and on, and what tracing adds."""
    lines = [
        "| mode | c | p50 off | p50 on | added p50 | p99 off | p99 on | added p99 "
        "| req/s off | req/s on | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in part["rows"]:
        off, on = row["off"].levels[0], row["on"].levels[0]
        p50 = (off.latency.p50, on.latency.p50) if off.latency and on.latency else (None, None)
        p99 = (off.latency.p99, on.latency.p99) if off.latency and on.latency else (None, None)
        lines.append(
            f"| {row['mode']} | {row['concurrency']} | {_f(p50[0])} | {_f(p50[1])} "
            f"| {_f(_minus(p50))} | {_f(p99[0])} | {_f(p99[1])} | {_f(_minus(p99))} "
            f"| {_f(off.throughput, 0)} | {_f(on.throughput, 0)} | {off.failed + on.failed} |"
        )
    lines += ["", "| mode | CPU per turn off, ms | on, ms | added |", "|---|---:|---:|---:|"]
    for mode in [*MODES, "all"]:
        rows = [row for row in part["rows"] if mode in ("all", row["mode"])]
        off, on = (_cpu_per_turn(rows, side) for side in ("off", "on"))
        lines.append(
            f"| {mode} | {off * 1000:.2f} | {on * 1000:.2f} "
            f"| {(on - off) * 1000:+.2f} ms ({(on / off - 1) * 100:+.0f}%) |"
        )
    expected = part["turns"] * SPANS_PER_TURN
    lines += [
        "",
        f"Spans received by the collector: {part['spans']} of {expected} "
        f"({SPANS_PER_TURN} for each of the {part['turns']} traced turns, warm-up included).",
    ]
    return "\n".join(lines)


def _cpu_per_turn(rows: list[dict[str, Any]], side: str) -> float:
    seconds: float = sum(row[f"cpu_{side}"] for row in rows)
    return seconds / max(sum(_turns(row[side]) for row in rows), 1)


def _minus(pair: tuple[float | None, float | None]) -> float | None:
    off, on = pair
    return None if off is None or on is None else on - off
