"""A `BenchReport` as a Markdown table, as JSON, and as a plot (matplotlib, optional)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import cattrs.preconf.json

from .config import BenchError

if TYPE_CHECKING:
    from pathlib import Path

    from .stats import BenchReport, Distribution, LevelReport

_converter = cattrs.preconf.json.make_converter()


def report_data(report: BenchReport) -> dict[str, Any]:
    """``report`` as plain JSON data (times in ms, except ``elapsed`` in seconds)."""
    data: dict[str, Any] = _converter.unstructure(report)
    return data


def report_json(report: BenchReport) -> str:
    """``report`` as indented JSON text."""
    return json.dumps(report_data(report), indent=2) + "\n"


def _ms(dist: Distribution | None, field: str) -> str:
    if dist is None:
        return "-"
    value: float = getattr(dist, field)
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _errors(level: LevelReport) -> str:
    if not level.errors:
        return "0"
    return f"{level.failed} (" + ", ".join(f"{why}: {n}" for why, n in level.errors.items()) + ")"


def markdown_table(report: BenchReport) -> str:
    """One row per concurrency level; latencies in ms; TTFT and ITL columns for streams."""
    streams = any(level.ttft is not None for level in report.levels)
    head = [
        "concurrency",
        "requests",
        "errors",
        "req/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "mean ms",
    ]
    if streams:
        head += ["TTFT p50", "TTFT p99", "ITL p50", "ITL p99"]
    head.append("tok/s")
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" for _ in head) + "|"]
    for level in report.levels:
        cells = [
            str(level.concurrency),
            str(level.requests),
            _errors(level),
            f"{level.throughput:.1f}",
        ]
        cells += [_ms(level.latency, field) for field in ("p50", "p90", "p99", "max", "mean")]
        if streams:
            cells += [
                _ms(level.ttft, "p50"),
                _ms(level.ttft, "p99"),
                _ms(level.itl, "p50"),
                _ms(level.itl, "p99"),
            ]
        cells.append(f"{level.tokens_per_s:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    amount = (
        f"{report.duration:g} s" if report.duration is not None else f"{report.requests} requests"
    )
    lines += [
        "",
        f"{report.mode} at {report.url}"
        + (f", model {report.model}" if report.model else "")
        + f"; {amount} per level after {report.warmup} warm-up; latencies of "
        "successful requests, percentiles interpolated.",
    ]
    return "\n".join(lines)


def write_plot(report: BenchReport, path: Path) -> None:
    """Plot latency percentiles (and TTFT for streams) against concurrency, as PNG.

    Raises:
        BenchError: matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise BenchError("--plot needs matplotlib: pip install 'trioagent[bench]'") from exc
    levels = [level for level in report.levels if level.latency is not None]
    x = [level.concurrency for level in levels]
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for field, style in (("p50", "o-"), ("p90", "s-"), ("p99", "^-")):
        axes.plot(
            x, [getattr(level.latency, field) for level in levels], style, label=f"latency {field}"
        )
    ttft = [level for level in levels if level.ttft is not None]
    if ttft:
        for field in ("p50", "p99"):
            axes.plot(
                [level.concurrency for level in ttft],
                [getattr(level.ttft, field) for level in ttft],
                "x--",
                label=f"TTFT {field}",
            )
    axes.set_xscale("log", base=2)
    axes.set_xticks(x, [str(c) for c in x])
    axes.set_xlabel("concurrent requests")
    axes.set_yscale("log")  # 1 ms at c=1 and seconds at c=128 on one chart
    axes.set_ylabel("ms (log scale)")
    axes.set_title(f"{report.mode}: {report.url}")
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
