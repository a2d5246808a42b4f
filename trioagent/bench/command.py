"""``trioagent bench URL``: the command line of the load generator."""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

import trio

from .config import MODES, BenchConfig, BenchError
from .report import markdown_table, report_json, write_plot
from .runner import run_bench

DESCRIPTION = """\
Measure a server's latency and throughput: send MESSAGE again and again at each
concurrency level and print a Markdown table of latency percentiles, time to first
token (TTFT) and inter-token latency (ITL) for streams, requests and tokens per second.

examples:
  trioagent bench http://127.0.0.1:8083/v1 --concurrency 1,8,32 --requests 500
  trioagent bench http://127.0.0.1:8083/v1 --mode stream --duration 10 --output run.json
  trioagent bench http://127.0.0.1:8083 --mode ws --concurrency 1,16 --plot ws.png
"""


def parse_levels(text: str) -> tuple[int, ...]:
    """``"1,8,32"`` -> ``(1, 8, 32)``.

    Raises:
        argparse.ArgumentTypeError: not a comma-separated list of whole numbers >= 1.
    """
    try:
        levels = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        levels = ()
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError(
            f"invalid concurrency {text!r}: use whole numbers of at least 1, e.g. 1,8,32"
        )
    return levels


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"invalid header {text!r}: use 'Name: value'")
    return name.strip(), value.strip()


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``trioagent bench``'s arguments (URL and every flag) to ``parser``."""
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "url",
        metavar="URL",
        help="the server: http://HOST:PORT/v1 (an OpenAI base URL), "
        "http://HOST:PORT, .../api/chat or ws://HOST:PORT/v1/ws",
    )
    parser.add_argument(
        "--mode",
        choices=MODES,
        default="chat",
        help="chat: Chat Completions; stream: the same streamed; api / "
        "api-stream: POST /api/chat; ws: the WebSocket chat (default: chat)",
    )
    parser.add_argument(
        "-c",
        "--concurrency",
        metavar="N,N,...",
        type=parse_levels,
        default=(1,),
        help="concurrency levels, run in turn (default: 1)",
    )
    amount = parser.add_mutually_exclusive_group()
    amount.add_argument(
        "-n",
        "--requests",
        metavar="N",
        type=int,
        default=100,
        help="requests measured per level (default: 100)",
    )
    amount.add_argument(
        "-d",
        "--duration",
        metavar="SECONDS",
        type=float,
        help="measure each level for this long instead of --requests",
    )
    parser.add_argument(
        "--warmup",
        metavar="N",
        type=int,
        default=10,
        help="requests sent before each level, not counted (default: 10)",
    )
    parser.add_argument(
        "-m",
        "--model",
        metavar="NAME",
        help="the model (chat, stream; default: the first of GET /v1/models) "
        "or agent (api, ws; default: the server's)",
    )
    parser.add_argument("--api-key", metavar="KEY", help="sent as 'Authorization: Bearer KEY'")
    parser.add_argument(
        "-H",
        "--header",
        metavar="'NAME: VALUE'",
        type=_header,
        action="append",
        default=[],
        help="extra HTTP header (repeatable)",
    )
    parser.add_argument(
        "--message",
        metavar="TEXT",
        default=BenchConfig.__attrs_attrs__.message.default,
        help="the user message of every request",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=60.0,
        help="time one request may take before it counts as an error (default: 60)",
    )
    parser.add_argument(
        "-o", "--output", metavar="FILE.json", type=Path, help="also write the report as JSON"
    )
    parser.add_argument(
        "--plot",
        metavar="FILE.png",
        type=Path,
        help="plot latency percentiles per concurrency (needs matplotlib)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """The `BenchConfig` of parsed ``bench`` arguments.

    Raises:
        BenchError: an argument is out of range; the message names it.
    """
    return BenchConfig(
        url=args.url,
        mode=args.mode,
        concurrency=tuple(args.concurrency),
        requests=args.requests,
        duration=args.duration,
        warmup=args.warmup,
        model=args.model,
        api_key=args.api_key,
        message=args.message,
        timeout=args.timeout,
        headers=tuple(args.header),
    )


def bench_command(args: argparse.Namespace) -> int:
    """Run ``trioagent bench`` with parsed arguments; returns the exit status.

    Prints the Markdown table to stdout, progress to stderr, and writes ``--output`` and
    ``--plot`` when given. Exits 0 even when some requests failed (they are in the table),
    and 1 when every request failed.

    Raises:
        BenchError: the arguments are wrong, or no model could be found (print it).
    """
    config = config_from_args(args)
    if args.plot is not None:  # fail before the run, not after it
        try:
            import matplotlib  # noqa: F401
        except ImportError as exc:
            raise BenchError("--plot needs matplotlib: pip install 'trioagent[bench]'") from exc
    report = trio.run(partial(run_bench, config, progress=not args.quiet))
    print(markdown_table(report), flush=True)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report_json(report))
        print(f"wrote {args.output}", file=sys.stderr)
    if args.plot is not None:
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        write_plot(report, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    measured = sum(level.requests for level in report.levels)
    return 1 if measured and report.errors == measured else 0
