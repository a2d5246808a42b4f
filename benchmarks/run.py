"""What trioagent adds to an upstream model: latency, throughput, streaming and memory.

    python -m benchmarks.run [--quick] [--concurrency 1,8,32,128] [--requests 500]
                             [--streams 100 --tokens 200 --token-rate 20] [--memory 1000]

One run, one fake upstream (``benchmarks.fake_fast``, in its own process), and
``trioagent serve`` in its own process too, so that the load generator (this process),
the fake and the server never share an event loop:

1. Latency: the fake called directly (the baseline), then through the stack floor
   (``benchmarks.floor``: the same stack with no agent work, ``chat`` and ``stream``;
   ``--no-floor`` skips it), then the same answers through ``serve chat`` (``chat``,
   ``stream``, ``ws``) and ``serve api`` (``api``, ``api-stream``), at each concurrency
   level. Each mode is reported as latency added over the baseline (p50, p99, in ms) and
   as a ratio to it. Streams are compared with the streamed baseline, JSON answers with
   the JSON one.
2. Long streams (``--streams N --tokens M --token-rate R``): N concurrent streams of M
   tokens, the fake pausing 1/R s between tokens; inter-token latency against that
   interval, direct and through ``serve chat``, and the server's RSS before, at the peak
   and after.
3. Idle conversations (``--memory N``): N conversations of 10 messages (5 turns with
   ``X-Conversation-Id``) kept by ``serve chat --conversations-max N+1``; RSS growth
   per conversation.
4. Tracing (``benchmarks.tracing_cost``; ``--no-tracing`` skips it): ``serve chat`` with
   OpenTelemetry tracing off and on (exporting to a collector on loopback), measured
   side by side; the latency tracing adds.

Prints a Markdown report and writes it with the JSON of every number to
``--output-dir`` (default ``benchmarks/results/``: ``latest.md``, ``latest.json``).
``trioagent bench URL`` measures any one server the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import httpx
import trio

from trioagent import __version__
from trioagent.bench import BenchConfig, BenchReport, Mode, markdown_table, run_bench
from trioagent.bench.report import report_data
from trioagent.testing import ServerProcess, open_server_process

from .tracing_cost import tracing_part, tracing_table

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    from trioagent.bench import Distribution, LevelReport

DEFAULT_OUTPUT_DIR = Path("benchmarks/results")
CHECKOUT = Path(__file__).resolve().parent.parent
"""Where ``python -m benchmarks.fake_fast`` (and ``.floor``) run from, wherever we run."""
AGENT_YAML = """\
models:
  upstream:
    provider: openai
    model: m
    base_url: {base_url}
  long:
    provider: openai
    model: m
    base_url: {long_url}
agents:
  root:
    model: upstream
    instruction: You are a helpful assistant. Answer in one short paragraph.
  long:
    model: long
    instruction: You are a storyteller. Answer at length.
"""
"""Two agents, no tools: ``root`` answers like the latency part's upstream, ``long`` like
the long streams' one."""
SERVER_ENV = {"OPENAI_API_KEY": "sk-bench"}
"""The upstream is a fake; serve only checks that a key is set."""
MESSAGE = "Hello! In one sentence, what is a benchmark?"
BASELINE_OF: dict[Mode, Mode] = {
    "chat": "chat",
    "api": "chat",
    "stream": "stream",
    "api-stream": "stream",
    "ws": "stream",
}
"""Which direct call each mode is compared with: JSON answers with JSON, streams with
streams."""


@attrs.frozen(kw_only=True)
class Settings:
    """What one suite run measures."""

    concurrency: tuple[int, ...] = (1, 8, 32, 128)
    requests: int = 500
    warmup: int = 20
    words: int = 16
    """Words (streamed tokens) per answer in the latency part."""
    streams: int = 100
    tokens: int = 200
    token_rate: float = 20.0
    memory: int = 1000
    fake: str = "fast"
    """``fast`` (benchmarks.fake_fast) or ``testing`` (trioagent.testing's fake)."""
    workers: int = 1
    """``--workers`` of the measured servers (the floor's too)."""
    floor: bool = True
    """Whether to measure the stack floor (``benchmarks.floor``) as well."""
    tracing: bool = True
    """Whether to measure what tracing costs (``benchmarks.tracing_cost``)."""
    progress: bool = True


QUICK = Settings(
    concurrency=(1, 8), requests=12, warmup=2, streams=4, tokens=10, token_rate=100.0, memory=8
)


# Processes.


async def _drain(stream: trio.abc.ReceiveStream) -> None:
    """Read a child's stderr to the end, so that it never blocks on a full pipe."""
    while await stream.receive_some(65536):
        pass


@attrs.frozen
class Fake:
    url: str
    """Base URL (``.../v1``) of the latency part's answers."""
    long_url: str
    """Base URL of the long streams' answers."""


@asynccontextmanager
async def open_helper(command: list[str], name: str) -> AsyncIterator[str]:
    """Run ``command`` in its own process until the block ends; yield what it wrote on
    stderr up to the line that says where it is listening, then drain the rest."""
    process = await trio.lowlevel.open_process(command, stderr=subprocess.PIPE, cwd=CHECKOUT)
    try:
        assert process.stderr is not None
        buffer = b""
        while b"listening on " not in buffer or not buffer.endswith(b"\n"):
            data = await process.stderr.receive_some(4096)
            if not data:
                raise RuntimeError(f"{name} did not start: {buffer.decode()}")
            buffer += data
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_drain, process.stderr)
            yield buffer.decode()
            nursery.cancel_scope.cancel()
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()


@asynccontextmanager
async def open_fake(settings: Settings) -> AsyncIterator[Fake]:
    """Run the fake upstream in its own process, with both kinds of answers."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.fake_fast",
        "--impl",
        settings.fake,
        "--words",
        str(settings.words),
        "--long-words",
        str(max(settings.tokens, 1)),
        "--long-chunk-delay",
        str(1 / settings.token_rate),
    ]
    async with open_helper(command, "the fake upstream") as line:
        yield Fake(
            url=line.split("listening on ")[1].split()[0],
            long_url=line.split("long answers on ")[1].split(")")[0],
        )


@asynccontextmanager
async def open_floor(upstream: str, *, workers: int = 1) -> AsyncIterator[str]:
    """Run the stack floor (``benchmarks.floor``) on ``upstream`` in its own process;
    yield its base URL (``.../v1``)."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.floor",
        "--upstream",
        upstream,
        "--workers",
        str(workers),
    ]
    async with open_helper(command, "the stack floor") as line:
        yield line.split("listening on ")[1].split()[0]


@asynccontextmanager
async def open_server(
    api: str, agent_file: Path, *args: str, env: Mapping[str, str] | None = None
) -> AsyncIterator[ServerProcess]:
    """Run ``trioagent serve API AGENT_FILE ARGS`` in its own process on a free port, with
    ``env`` added to this process's environment."""
    env = {**os.environ, **SERVER_ENV, **(env or {})}
    async with open_server_process(api, str(agent_file), *args, env=env) as server:
        assert server.process.stderr is not None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_drain, server.process.stderr)
            yield server
            nursery.cancel_scope.cancel()


def rss_kib(pid: int) -> int:
    """The resident memory of process ``pid`` in KiB (``VmRSS`` of /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


@attrs.define
class RSSWatch:
    """The highest RSS of a process, sampled every ``interval`` seconds while running."""

    pid: int
    interval: float = 0.1
    peak: int = 0

    async def run(self) -> None:
        while True:
            self.peak = max(self.peak, rss_kib(self.pid))
            await trio.sleep(self.interval)


def write_agent_file(directory: Path, fake: Fake) -> Path:
    path = directory / "agent.yaml"
    path.write_text(AGENT_YAML.format(base_url=fake.url, long_url=fake.long_url))
    return path


# The three parts.


async def bench(
    settings: Settings, url: str, mode: Mode, *, model: str, **overrides: Any
) -> BenchReport:
    """``run_bench`` with the suite's settings; ``overrides`` replace `BenchConfig` fields."""
    config = BenchConfig(
        url=url,
        mode=mode,
        concurrency=settings.concurrency,
        requests=settings.requests,
        warmup=settings.warmup,
        message=MESSAGE,
        timeout=120.0,
        model=model,
    )
    return await run_bench(attrs.evolve(config, **overrides), progress=settings.progress)


async def latency_part(
    settings: Settings,
    fake: Fake,
    server: ServerProcess,
    api_server: ServerProcess,
    floor: str | None = None,
) -> dict[str, BenchReport]:
    """Every mode at every level, the baselines first, then the stack floor at ``floor``
    (if given); keys ``direct chat``, ``stack floor: chat``, ``serve chat: stream``,
    ``serve api: api``..."""
    reports: dict[str, BenchReport] = {}
    for mode in ("chat", "stream"):
        reports[f"direct {mode}"] = await bench(settings, fake.url, mode, model="m")
    if floor is not None:
        for mode in ("chat", "stream"):
            reports[f"stack floor: {mode}"] = await bench(settings, floor, mode, model="root")
    for mode in ("chat", "stream", "ws"):
        reports[f"serve chat: {mode}"] = await bench(settings, server.url, mode, model="root")
    for mode in ("api", "api-stream"):
        reports[f"serve api: {mode}"] = await bench(settings, api_server.url, mode, model="root")
    return reports


async def long_stream_part(settings: Settings, fake: Fake, agent_file: Path) -> dict[str, Any]:
    """N concurrent streams of M tokens at R tokens/s: ITL against the upstream's pace, on
    a fresh ``serve chat`` (so that its RSS shows what the streams cost)."""
    overrides = {"concurrency": (settings.streams,), "requests": settings.streams, "warmup": 0}
    direct = await bench(settings, fake.long_url, "stream", model="m", **overrides)
    floor = None
    if settings.floor:
        async with open_floor(fake.long_url) as floor_url:
            floor = await bench(settings, floor_url, "stream", model="root", **overrides)
    async with open_server("chat", agent_file) as server:
        await bench(
            settings, server.url, "stream", model="root", concurrency=(2,), requests=4, warmup=0
        )  # imports and first calls are not the streams'
        pid = server.process.pid
        before = rss_kib(pid)
        watch = RSSWatch(pid, peak=before)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch.run)
            served = await bench(settings, server.url, "stream", model="long", **overrides)
            nursery.cancel_scope.cancel()
        after = rss_kib(pid)
    return {
        "streams": settings.streams,
        "tokens": settings.tokens,
        "token_rate": settings.token_rate,
        "interval_ms": 1000 / settings.token_rate,
        "direct": direct,
        "floor": floor,
        "served": served,
        "rss_kib": {"before": before, "peak": watch.peak, "after": after},
    }


async def memory_part(
    settings: Settings, agent_file: Path, *, turns: int = 5, workers: int = 16
) -> dict[str, Any]:
    """RSS growth of ``serve chat`` per cached conversation of ``2 * turns`` messages."""
    count = settings.memory
    workers = max(1, min(workers, count))
    async with open_server("chat", agent_file, "--conversations-max", str(count + 1)) as server:
        pid = server.process.pid
        url = f"{server.url}/chat/completions"
        errors = 0

        async def converse(client: httpx.AsyncClient, number: int) -> None:
            nonlocal errors
            for turn in range(turns):
                response = await client.post(
                    url,
                    headers={"X-Conversation-Id": f"bench-{number}"},
                    json={
                        "model": "root",
                        "messages": [
                            {
                                "role": "user",
                                "content": f"Conversation {number}, turn {turn}: {MESSAGE}",
                            }
                        ],
                    },
                )
                errors += response.status_code != 200

        async def worker(numbers: list[int]) -> None:
            async with httpx.AsyncClient(timeout=60) as client:
                for number in numbers:
                    await converse(client, number)

        await bench(
            settings,
            server.url,
            "chat",
            model="root",
            concurrency=(workers,),
            requests=2 * workers,
            warmup=0,
        )  # warm up, no conversation
        before = rss_kib(pid)
        started = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for index in range(workers):
                nursery.start_soon(worker, list(range(index, count, workers)))
        elapsed = time.perf_counter() - started
        await trio.sleep(0.2)  # let the last responses' buffers go
        after = rss_kib(pid)
    return {
        "conversations": count,
        "messages_each": 2 * turns,
        "errors": errors,
        "elapsed_s": elapsed,
        "rss_kib": {"before": before, "after": after},
        "kib_per_conversation": (after - before) / count if count else 0.0,
    }


# Report.


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next(
            (
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        )
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "trioagent": __version__,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def _level(report: BenchReport, concurrency: int) -> LevelReport | None:
    return next((lv for lv in report.levels if lv.concurrency == concurrency), None)


def comparisons(reports: dict[str, BenchReport]) -> list[dict[str, Any]]:
    """One row per served mode and level: its numbers and what it adds to its baseline."""
    rows = []
    for name, report in reports.items():
        if name.startswith("direct"):
            continue
        baseline = reports[f"direct {BASELINE_OF[report.mode]}"]
        for level in report.levels:
            base = _level(baseline, level.concurrency)
            row: dict[str, Any] = {
                "path": name,
                "concurrency": level.concurrency,
                "baseline": f"direct {baseline.mode}",
                "throughput": level.throughput,
                "baseline_throughput": base.throughput if base else None,
                "errors": level.failed,
            }
            for key in ("latency", "ttft"):
                ours: Distribution | None = getattr(level, key)
                theirs: Distribution | None = getattr(base, key) if base else None
                for p in ("p50", "p99"):
                    value = getattr(ours, p) if ours else None
                    ref = getattr(theirs, p) if theirs else None
                    row[f"{key}_{p}"] = value
                    row[f"{key}_{p}_added"] = (
                        value - ref if value is not None and ref is not None else None
                    )
                    row[f"{key}_{p}_ratio"] = value / ref if value is not None and ref else None
            rows.append(row)
    return rows


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def comparison_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| path | c | req/s (direct) | p50 ms | p99 ms | added p50 | added p99 | ratio p50 "
        "| TTFT p50 | added TTFT p50 | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['path']} | {row['concurrency']} | {_f(row['throughput'], 0)} "
            f"({_f(row['baseline_throughput'], 0)}) | {_f(row['latency_p50'])} "
            f"| {_f(row['latency_p99'])} | {_f(row['latency_p50_added'])} "
            f"| {_f(row['latency_p99_added'])} | {_f(row['latency_p50_ratio'], 2)}x "
            f"| {_f(row['ttft_p50'])} | {_f(row['ttft_p50_added'])} | {row['errors']} |"
        )
    return "\n".join(lines)


def long_stream_table(part: dict[str, Any]) -> str:
    lines = [
        "| path | streams x tokens | upstream interval ms | ITL p50 | ITL p99 | ITL max "
        "| TTFT p99 | stream p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    names = {"direct": "direct", "floor": "stack floor", "served": "serve chat"}
    for name, label in names.items():
        if part.get(name) is None:
            continue
        level = part[name].levels[0]
        itl, ttft, latency = level.itl, level.ttft, level.latency
        lines.append(
            f"| {label} "
            f"| {part['streams']} x {part['tokens']} | {part['interval_ms']:.1f} "
            f"| {_f(itl.p50 if itl else None)} | {_f(itl.p99 if itl else None)} "
            f"| {_f(itl.max if itl else None)} | {_f(ttft.p99 if ttft else None)} "
            f"| {_f(latency.p99 if latency else None, 0)} | {level.failed} |"
        )
    rss = part["rss_kib"]
    lines += [
        "",
        f"serve chat RSS: {rss['before'] / 1024:.1f} MiB before, "
        f"{rss['peak'] / 1024:.1f} MiB at the peak, {rss['after'] / 1024:.1f} MiB after "
        f"({(rss['peak'] - rss['before']) / max(part['streams'], 1):.0f} KiB per "
        "open stream at the peak).",
    ]
    return "\n".join(lines)


def memory_table(part: dict[str, Any]) -> str:
    rss = part["rss_kib"]
    return "\n".join(
        [
            "| conversations | messages each | RSS before MiB | RSS after MiB "
            "| KiB per conversation | errors |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {part['conversations']} | {part['messages_each']} | {rss['before'] / 1024:.1f} "
            f"| {rss['after'] / 1024:.1f} | {part['kib_per_conversation']:.1f} "
            f"| {part['errors']} |",
        ]
    )


def markdown_report(results: dict[str, Any]) -> str:
    m, s = results["machine"], results["settings"]
    out = [
        "## Latency added over the upstream",
        "",
        f"{m['cpus']} CPUs ({m['cpu'] or 'unknown'}), Python {m['python']}, {m['platform']}; "
        f"{s['requests']} requests per level after {s['warmup']} warm-up, answers of "
        f"{s['words']} streamed words; fake upstream `{s['fake']}`; servers with "
        f"`--workers {s.get('workers', 1)}`; load average at start "
        f"{_f(m['load_average'][0] if m['load_average'] else None, 2)}.",
        "",
        comparison_table(results["comparison"]),
    ]
    if any(name.startswith("stack floor") for name in results["reports"]):
        out += [
            "",
            "`stack floor` is `benchmarks.floor`: a Quart-trio route on hypercorn that "
            "makes one streamed httpx call to the fake and answers, with no agent work. "
            "A served row minus the floor row at the same level is trioagent's own share.",
        ]
    out += ["", "### Every mode", ""]
    for name, report in results["reports"].items():
        out += [f"#### {name}", "", markdown_table(report), ""]
    if "long_streams" in results:
        out += ["## Long streams", "", long_stream_table(results["long_streams"]), ""]
    if "memory" in results:
        out += ["## Idle conversations", "", memory_table(results["memory"]), ""]
    if "tracing" in results:
        out += ["## Tracing", "", tracing_table(results["tracing"]), ""]
    return "\n".join(out).rstrip() + "\n"


def to_json(results: dict[str, Any]) -> dict[str, Any]:
    def convert(value: Any) -> Any:
        if isinstance(value, BenchReport):
            return report_data(value)
        if isinstance(value, dict):
            return {key: convert(item) for key, item in value.items()}
        if isinstance(value, list):
            return [convert(item) for item in value]
        return value

    return convert(results)  # type: ignore[no-any-return]


async def run_suite(settings: Settings, workdir: Path) -> dict[str, Any]:
    """Every part, on one fake upstream; the results as `to_json` writes them."""
    results: dict[str, Any] = {"machine": machine(), "settings": attrs.asdict(settings)}
    async with open_fake(settings) as fake:
        agent_file = write_agent_file(workdir, fake)
        workers = ("--workers", str(settings.workers))
        async with AsyncExitStack() as stack:
            server = await stack.enter_async_context(open_server("chat", agent_file, *workers))
            api_server = await stack.enter_async_context(
                open_server("api", agent_file, "--sessions", ":memory:", *workers)
            )
            floor = (
                await stack.enter_async_context(open_floor(fake.url, workers=settings.workers))
                if settings.floor
                else None
            )
            reports = await latency_part(settings, fake, server, api_server, floor)
        results["reports"] = reports
        results["comparison"] = comparisons(reports)
        if settings.streams:
            results["long_streams"] = await long_stream_part(settings, fake, agent_file)
        if settings.memory:
            results["memory"] = await memory_part(settings, agent_file)
        if settings.tracing:

            async def measure(url: str, mode: Mode, level: int) -> BenchReport:
                return await bench(settings, url, mode, model="root", concurrency=(level,))

            results["tracing"] = await tracing_part(
                measure, open_server, agent_file, settings.concurrency
            )
    results["machine"]["load_average_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    return results


def _levels(text: str) -> tuple[int, ...]:
    from trioagent.bench.command import parse_levels

    return parse_levels(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n")[0] if __doc__ else None
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: few requests, levels 1,8, small long-stream and "
        "memory parts (flags given too still apply)",
    )
    parser.add_argument("--concurrency", type=_levels, help="levels (default 1,8,32,128)")
    parser.add_argument("--requests", type=int, help="requests per level (default 500)")
    parser.add_argument("--warmup", type=int, help="warm-up requests per level (default 20)")
    parser.add_argument("--words", type=int, help="words per answer (default 16)")
    parser.add_argument(
        "--streams", type=int, help="concurrent long streams; 0 skips them (default 100)"
    )
    parser.add_argument("--tokens", type=int, help="tokens per long stream (default 200)")
    parser.add_argument(
        "--token-rate", type=float, help="tokens per second of each long stream (default 20)"
    )
    parser.add_argument(
        "--memory", type=int, help="cached conversations to create; 0 skips (default 1000)"
    )
    parser.add_argument(
        "--fake",
        choices=("fast", "testing"),
        help="the fake upstream: benchmarks.fake_fast (default) or trioagent.testing's",
    )
    parser.add_argument("--workers", type=int, help="--workers of the measured servers (default 1)")
    parser.add_argument(
        "--no-floor",
        dest="floor",
        action="store_false",
        default=None,
        help="skip the stack floor (benchmarks.floor: the same stack with no agent work)",
    )
    parser.add_argument(
        "--no-tracing",
        dest="tracing",
        action="store_false",
        default=None,
        help="skip the tracing part (serve chat with OpenTelemetry tracing off and on)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=DEFAULT_OUTPUT_DIR,
        help=f"where latest.md and latest.json go (default {DEFAULT_OUTPUT_DIR})",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else Settings()
    overrides = {
        key: getattr(args, key)
        for key in (
            "concurrency",
            "requests",
            "warmup",
            "words",
            "streams",
            "tokens",
            "token_rate",
            "memory",
            "fake",
            "workers",
            "floor",
            "tracing",
        )
        if getattr(args, key) is not None
    }
    settings = attrs.evolve(settings, progress=not args.quiet, **overrides)
    with tempfile.TemporaryDirectory(prefix="trioagent-bench-") as workdir:
        results = trio.run(partial(run_suite, settings, Path(workdir)))
    report = markdown_report(results)
    print(report)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "latest.md").write_text(report)
    (args.output_dir / "latest.json").write_text(json.dumps(to_json(results), indent=2) + "\n")
    print(f"wrote {args.output_dir / 'latest.md'} and latest.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
