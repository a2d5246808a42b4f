"""Speed and memory of the embedded model (``provider: local``), through :class:`LocalClient`.

    python -m benchmarks.local_model [--model PATH.gguf] [--threads N] [--parallel 4]
                                     [--concurrency 4] [--rounds 5] [--json FILE]

Runs SmolLM2 (or ``--model``) in this process, the way an agent call does, and prints a
Markdown table of the medians over ``--rounds``:

- load: ``open_engine`` on a fresh process (the first, cold load), then once per round
  after ``close_engines()`` (a reload, with the file in the page cache). The import of
  ``xllamacpp`` is not in it: ``trioagent serve`` does that at start-up.
- c=1: one stream at a time. TTFT is from entering ``client.stream`` to the first
  ``TextDelta``; decode tok/s is the answer's tokens (from ``UsageReport``) over the time
  from the first ``TextDelta`` to ``Finished``.
- c=N (``--concurrency``, default 4): N streams at once in a nursery. Aggregate tok/s is
  every answer's tokens over the time from the start to the last ``Finished``; per-stream
  tok/s is each stream's decode rate, as at c=1.
- memory: VmRSS of the process after the c=N run, and its peak (VmHWM) so far.
- other CPU: the cores that other processes used during each part (from ``/proc/stat``
  less this process's CPU time). llama.cpp's threads wait for each other by spinning, so
  another busy process on a small machine slows a part many times over: trust a part
  only when this is near 0.

Every call has a seed (so llama.cpp decodes the whole prompt: no prompt cache), asks for a
long story and stops at ``max_tokens`` (128), so answers are usually exactly 128 tokens;
the table reports the actual counts. One untimed warm-up call runs before c=1; its TTFT
is in the JSON as ``first_call_ttft_s``. This is a measurement tool: nothing here checks
that a number is fast enough.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any, Final

import attrs
import trio

from trioagent.chat import Message, Sampling
from trioagent.config.schema import ModelConfig
from trioagent.models import Finished, TextDelta, UsageReport
from trioagent.models._llama_engine import close_engines, open_engine
from trioagent.models.local import LocalClient, require_local_extra

MAX_TOKENS: Final = 128
TEMPERATURE: Final = 0.8
PROMPTS: Final = (
    "Write a long story about a lighthouse keeper and a whale.",
    "Write a long story about a dragon who is afraid of the dark.",
    "Write a long story about two robots who open a bakery.",
    "Write a long story about a girl who finds a map in her grandmother's attic.",
)
"""c=1 uses the first; stream i at c=N uses prompt i mod 4."""


@attrs.frozen
class StreamResult:
    """One timed call: seconds from entering ``client.stream``."""

    prompt_tokens: int
    completion_tokens: int
    first_token_s: float
    finished_s: float

    @property
    def decode_tok_s(self) -> float:
        return self.completion_tokens / (self.finished_s - self.first_token_s)


async def timed_stream(
    client: LocalClient,
    prompt: str,
    seed: int,
    max_tokens: int,
    started: float,
) -> StreamResult:
    """One call; times are from ``started`` (``time.perf_counter()``)."""
    sampling = Sampling(max_tokens=max_tokens, temperature=TEMPERATURE, seed=seed)
    first = finished = None
    usage = None
    async with client.stream([Message.user(prompt)], [], sampling) as events:
        async for event in events:
            now = time.perf_counter() - started
            if isinstance(event, TextDelta) and first is None:
                first = now
            elif isinstance(event, UsageReport):
                usage = event.usage
            elif isinstance(event, Finished):
                finished = now
    if first is None or finished is None or usage is None:
        raise RuntimeError(f"the call gave no text, usage or finish (seed {seed})")
    return StreamResult(usage.prompt_tokens, usage.completion_tokens, first, finished)


async def measure_loads(client: LocalClient, rounds: int) -> dict[str, Any]:
    """The cold first load, then ``rounds`` reloads after ``close_engines()``."""
    # The client's own engine settings, so the calls below find this engine loaded.
    settings = client._settings
    samples = []
    for _ in range(rounds + 1):
        close_engines()
        started = time.perf_counter()
        await open_engine(settings)
        samples.append(time.perf_counter() - started)
    return {
        "first_s": samples[0],
        "reload_s": samples[1:],
        "reload_median_s": statistics.median(samples[1:]),
    }


async def measure_c1(client: LocalClient, rounds: int, max_tokens: int) -> dict[str, Any]:
    runs = []
    for seed in range(rounds):
        result = await timed_stream(client, PROMPTS[0], seed, max_tokens, time.perf_counter())
        runs.append(
            {
                "ttft_s": result.first_token_s,
                "decode_tok_s": result.decode_tok_s,
                "prompt_tokens": result.prompt_tokens,
                "completion_tokens": result.completion_tokens,
            }
        )
    return {
        "runs": runs,
        "median": {key: statistics.median(run[key] for run in runs) for key in runs[0]},
    }


async def concurrent_round(
    client: LocalClient,
    concurrency: int,
    seed: int,
    max_tokens: int,
) -> dict[str, Any]:
    results: list[StreamResult] = []

    async def one(index: int) -> None:
        results.append(
            await timed_stream(
                client,
                PROMPTS[index % len(PROMPTS)],
                seed * concurrency + index,
                max_tokens,
                started,
            )
        )

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for index in range(concurrency):
            nursery.start_soon(one, index)
    wall = max(result.finished_s for result in results)
    tokens = sum(result.completion_tokens for result in results)
    return {
        "wall_s": wall,
        "completion_tokens": tokens,
        "aggregate_tok_s": tokens / wall,
        "streams": [
            {
                "ttft_s": r.first_token_s,
                "decode_tok_s": r.decode_tok_s,
                "completion_tokens": r.completion_tokens,
            }
            for r in results
        ],
    }


async def measure_concurrent(
    client: LocalClient,
    concurrency: int,
    rounds: int,
    max_tokens: int,
) -> dict[str, Any]:
    runs = [await concurrent_round(client, concurrency, seed, max_tokens) for seed in range(rounds)]
    streams = [stream for run in runs for stream in run["streams"]]
    return {
        "runs": runs,
        "median": {
            "aggregate_tok_s": statistics.median(run["aggregate_tok_s"] for run in runs),
            "wall_s": statistics.median(run["wall_s"] for run in runs),
            "per_stream_tok_s": statistics.median(s["decode_tok_s"] for s in streams),
            "per_stream_ttft_s": statistics.median(s["ttft_s"] for s in streams),
            "completion_tokens": statistics.median(s["completion_tokens"] for s in streams),
        },
        "min_per_stream_tok_s": min(s["decode_tok_s"] for s in streams),
        "min_completion_tokens": min(s["completion_tokens"] for s in streams),
    }


@attrs.frozen
class CpuMark:
    """The wall clock, the busy CPU seconds of the machine and of this process."""

    wall: float
    machine: float | None
    own: float

    @classmethod
    def now(cls) -> CpuMark:
        machine = None
        stat = Path("/proc/stat")
        if stat.exists():
            # user nice system idle iowait irq softirq steal: all but idle and iowait
            ticks = [int(field) for field in stat.read_text().split("\n", 1)[0].split()[1:9]]
            machine = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
        return cls(time.perf_counter(), machine, time.process_time())

    def other_cores(self) -> float | None:
        """Cores used by other processes since this mark."""
        end = CpuMark.now()
        if self.machine is None or end.machine is None:
            return None
        other = (end.machine - self.machine) - (end.own - self.own)
        return max(0.0, other) / (end.wall - self.wall)


def memory_kib() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in KiB (empty off Linux)."""
    status = Path("/proc/self/status")
    if not status.exists():
        return {}
    fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
    return {
        key: int(fields[name].split()[0])
        for key, name in (("rss_kib", "VmRSS"), ("peak_kib", "VmHWM"))
        if name in fields
    }


def machine() -> dict[str, Any]:
    cpu = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        )
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return {
        "cpu": cpu,
        "cores": cores,
        "xllamacpp": importlib.metadata.version("xllamacpp"),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


async def run_benchmark(
    client: LocalClient,
    *,
    concurrency: int,
    rounds: int,
    max_tokens: int,
) -> dict[str, Any]:
    other: dict[str, float | None] = {}
    mark = CpuMark.now()
    report: dict[str, Any] = {"load": await measure_loads(client, rounds)}
    other["load"] = mark.other_cores()
    report["memory_after_load"] = memory_kib()
    warmup = await timed_stream(client, PROMPTS[0], 10_000, 8, time.perf_counter())
    report["first_call_ttft_s"] = warmup.first_token_s
    mark = CpuMark.now()
    report["c1"] = await measure_c1(client, rounds, max_tokens)
    other["c1"] = mark.other_cores()
    mark = CpuMark.now()
    report["concurrent"] = await measure_concurrent(client, concurrency, rounds, max_tokens)
    other["concurrent"] = mark.other_cores()
    report["memory"] = memory_kib()
    report["other_cpu_cores"] = other
    return report


def table(report: dict[str, Any]) -> str:
    s, m = report["settings"], report["machine"]
    c1, cn = report["c1"]["median"], report["concurrent"]["median"]
    n, rounds = s["concurrency"], s["rounds"]
    load, memory, other = report["load"], report["memory"], report["other_cpu_cores"]
    rows = [
        ("load, first (s)", f"{load['first_s']:.3f}", "cold: a fresh process"),
        (
            "load, reload (s)",
            f"{load['reload_median_s']:.3f}",
            f"median of {rounds}, after close_engines()",
        ),
        ("TTFT c=1 (ms)", f"{c1['ttft_s'] * 1000:.1f}", f"{c1['prompt_tokens']:.0f} prompt tokens"),
        (
            "decode tok/s c=1",
            f"{c1['decode_tok_s']:.1f}",
            f"{c1['completion_tokens']:.0f} tokens per answer",
        ),
        (
            f"aggregate tok/s c={n}",
            f"{cn['aggregate_tok_s']:.1f}",
            f"wall {cn['wall_s']:.2f} s to the last Finished",
        ),
        (
            f"per-stream tok/s c={n}",
            f"{cn['per_stream_tok_s']:.1f}",
            f"slowest {report['concurrent']['min_per_stream_tok_s']:.1f}",
        ),
        (f"per-stream TTFT c={n} (ms)", f"{cn['per_stream_ttft_s'] * 1000:.1f}", ""),
        (
            f"tokens per answer c={n}",
            f"{cn['completion_tokens']:.0f}",
            f"fewest {report['concurrent']['min_completion_tokens']}",
        ),
        (f"RSS after c={n} (MiB)", f"{memory.get('rss_kib', 0) / 1024:.1f}", "VmRSS"),
        ("peak RSS (MiB)", f"{memory.get('peak_kib', 0) / 1024:.1f}", "VmHWM, reloads included"),
    ]
    lines = ["| metric | median | notes |", "|---|---:|---|"]
    lines += [f"| {name} | {value} | {note} |" for name, value, note in rows]
    lines += [
        "",
        f"{s['model']}: {s['threads']} threads, {s['parallel']} slots of "
        f"{s['n_ctx']} tokens, {rounds} rounds, max_tokens {s['max_tokens']}, "
        f"temperature {s['temperature']}.",
        f"Machine: {m['cpu'] or 'unknown CPU'}, {m['cores']} cores available, "
        f"xllamacpp {m['xllamacpp']}, Python {m['python']}.",
        f"Cores used by other processes: load {_cores(other['load'])}, "
        f"c=1 {_cores(other['c1'])}, c={n} {_cores(other['concurrent'])}.",
    ]
    return "\n".join(lines)


def _cores(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.local_model",
        description=__doc__.split("\n")[0] if __doc__ else None,
    )
    parser.add_argument("--model", type=Path, help="a .gguf file (default: the cached SmolLM2)")
    parser.add_argument(
        "--threads",
        type=int,
        help="llama.cpp threads (default: the client's, the CPUs available up to 8)",
    )
    parser.add_argument("--parallel", type=int, default=4, help="slots (default 4)")
    parser.add_argument(
        "--concurrency", type=int, default=4, help="streams of the concurrent run (default 4)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds per metric (default 5)")
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=MAX_TOKENS,
        help=f"answer tokens per call (default {MAX_TOKENS})",
    )
    parser.add_argument("--json", type=Path, help="also write the results (every run) here")
    args = parser.parse_args(argv)
    if min(args.parallel, args.concurrency, args.rounds, args.max_tokens) < 1 or (
        args.threads is not None and args.threads < 1
    ):
        parser.error(
            "--threads, --parallel, --concurrency, --rounds and --max-tokens must be at least 1"
        )
    require_local_extra()
    opts: dict[str, Any] = {"parallel": args.parallel}
    if args.threads is not None:
        opts["threads"] = args.threads
    model = str(args.model) if args.model else "smollm2"
    client = LocalClient(ModelConfig(provider="local", model=model, provider_opts=opts))
    try:
        measured = trio.run(
            partial(
                run_benchmark,
                client,
                concurrency=args.concurrency,
                rounds=args.rounds,
                max_tokens=args.max_tokens,
            )
        )
    finally:
        close_engines()
    settings = client._settings
    report = {
        "machine": machine(),
        "settings": {
            "model": client.path.name,
            "threads": settings.threads,
            "parallel": settings.parallel,
            "n_ctx": settings.n_ctx,
            "concurrency": args.concurrency,
            "rounds": args.rounds,
            "max_tokens": args.max_tokens,
            "temperature": TEMPERATURE,
        },
        **measured,
    }
    print(table(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
