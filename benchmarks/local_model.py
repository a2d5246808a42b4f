"""Speed of the embedded model: time to first token and tokens per second.

    python -m benchmarks.local_model [--runs 3] [--max-tokens 64] [--output FILE]

Each case runs ``--runs`` times through :class:`~trioagent.models.local.LocalClient`, the
way an agent turn does, with a seed so every run decodes its whole prompt (no prompt
cache) and repeats the same answer. Prints a Markdown table of the medians and writes
every run as JSON (default ``benchmarks/results/local_model.json``).

- TTFT: from opening the stream to the first text (prompt decoding included).
- decode tok/s: tokens after the first, over the time after the first text.
- end-to-end tok/s: all answer tokens over the whole call.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import trio

from trioagent.chat import Message, Sampling, ToolSpec
from trioagent.config.schema import ModelConfig, ToolsetConfig
from trioagent.models import TextDelta, UsageReport
from trioagent.models.local import LocalClient, require_local_extra
from trioagent.tools.registry import build_toolset

DEFAULT_OUTPUT = Path("benchmarks/results/local_model.json")
CODER = ("You are an expert software engineer. Read before you edit, keep changes small, "
         "and run the tests.")


async def coder_tools() -> list[ToolSpec]:
    """The tools of ``examples/coder.yaml``: a long prompt, as a coding agent sends."""
    specs: list[ToolSpec] = []
    for kind in ("filesystem", "shell", "think", "todo"):
        async with build_toolset(ToolsetConfig(type=kind), working_dir=Path.cwd()) as toolset:
            specs += toolset.tools()
    return specs


Case = tuple[str, list[Message], list[ToolSpec], bool]


async def cases() -> list[Case]:
    """(name, messages, tools, whether the prompt is already in the model's cache)."""
    coder = [Message.system(CODER), Message.user("Which Python files are in this project?")]
    tools = await coder_tools()
    return [
        ("short question", [Message.user("What is the capital of France?")], [], False),
        ("story", [Message.system("You are a storyteller."),
                   Message.user("Tell me a story about a lighthouse keeper and a whale.")],
         [], False),
        ("coding agent, 15 tools", coder, tools, False),
        ("coding agent, prompt cached", coder, tools, True),
    ]


async def measure(
    client: LocalClient, messages: list[Message], tools: list[ToolSpec], max_tokens: int,
    seed: int | None,
) -> dict[str, Any]:
    """One call: TTFT, token counts and rates. A seed starts from an empty prompt cache;
    without one, the part of the prompt already decoded is reused, as within a turn."""
    sampling = Sampling(max_tokens=max_tokens, temperature=0.7, seed=seed)
    started = time.perf_counter()
    first = last = None
    usage = None
    async with client.stream(messages, tools, sampling) as events:
        async for event in events:
            now = time.perf_counter()
            if isinstance(event, TextDelta):
                first = now if first is None else first
                last = now
            elif isinstance(event, UsageReport):
                usage = event.usage
    ended = time.perf_counter()
    assert usage is not None
    first = ended if first is None else first
    last = first if last is None else last
    decode_time = last - first
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "ttft_s": first - started,
        "total_s": ended - started,
        "decode_tok_s": (usage.completion_tokens - 1) / decode_time if decode_time > 0 else None,
        "end_to_end_tok_s": usage.completion_tokens / (ended - started),
    }


def median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [run[key] for run in runs if run[key] is not None]
    return statistics.median(values) if values else None


async def run_benchmark(runs: int, max_tokens: int) -> dict[str, Any]:
    client = LocalClient(ModelConfig(provider="local", model="smollm2"))
    started = time.perf_counter()
    await measure(client, [Message.user("Hi")], [], 1, seed=0)  # loads the model
    load_s = time.perf_counter() - started
    results: list[dict[str, Any]] = []
    for name, messages, tools, cached in await cases():
        if cached:
            await measure(client, messages, tools, 1, seed=None)  # fill the cache
        measured = [await measure(client, messages, tools, max_tokens,
                                  seed=None if cached else n) for n in range(runs)]
        results.append({
            "case": name,
            "runs": measured,
            "median": {key: median(measured, key) for key in measured[0]},
        })
    return {
        "model": client.path.name,
        "settings": {"n_ctx": client.n_ctx, "n_threads": client.n_threads,
                     "max_tokens": max_tokens, "runs": runs, "temperature": 0.7},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "load_and_first_call_s": load_s,
        "cases": results,
    }


def table(report: dict[str, Any]) -> str:
    def fmt(value: float | None, digits: int) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [
        "| case | prompt tokens | answer tokens | TTFT (s) | decode tok/s | end-to-end tok/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for case in report["cases"]:
        m = case["median"]
        lines.append(
            f"| {case['case']} | {m['prompt_tokens']:.0f} | {m['completion_tokens']:.0f} "
            f"| {fmt(m['ttft_s'], 3)} | {fmt(m['decode_tok_s'], 1)} "
            f"| {fmt(m['end_to_end_tok_s'], 1)} |"
        )
    settings = report["settings"]
    lines.append("")
    lines.append(
        f"{report['model']}, {settings['n_threads']} threads, n_ctx {settings['n_ctx']}, "
        f"median of {settings['runs']} runs, up to {settings['max_tokens']} tokens; "
        f"load + first call {report['load_and_first_call_s']:.2f} s."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.local_model",
                                     description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="runs per case (default 3)")
    parser.add_argument("--max-tokens", type=int, default=64,
                        help="answer tokens per run (default 64)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help=f"where to write the JSON (default {DEFAULT_OUTPUT})")
    args = parser.parse_args(argv)
    require_local_extra()
    report = trio.run(run_benchmark, args.runs, args.max_tokens)
    print(table(report))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
