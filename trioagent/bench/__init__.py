"""A load generator for trioagent servers and any OpenAI-compatible endpoint.

    config = BenchConfig(url="http://127.0.0.1:8083/v1", mode="stream", concurrency=(1, 8))
    report = await run_bench(config, progress=False)
    print(markdown_table(report))

`run_bench` runs each concurrency level with that many workers in a trio nursery and
returns a `BenchReport`: per level, latency percentiles, TTFT and inter-token latency for
streams, throughput and errors by reason. `measure_level` runs one level against any
`Target` (an object whose ``connect()`` opens a `Caller`), for endpoints that are not
OpenAI-compatible. ``trioagent bench URL`` is its command line
(`add_bench_arguments`, `bench_command`); ``python -m benchmarks.run`` is the suite that
compares a trioagent server with the upstream it calls.
"""

from .command import DESCRIPTION as DESCRIPTION
from .command import add_bench_arguments as add_bench_arguments
from .command import bench_command as bench_command
from .command import config_from_args as config_from_args
from .config import MODES as MODES
from .config import BenchConfig as BenchConfig
from .config import BenchError as BenchError
from .config import Mode as Mode
from .config import endpoint as endpoint
from .report import markdown_table as markdown_table
from .report import report_data as report_data
from .report import report_json as report_json
from .report import write_plot as write_plot
from .runner import measure_level as measure_level
from .runner import run_bench as run_bench
from .stats import BenchReport as BenchReport
from .stats import Distribution as Distribution
from .stats import LevelReport as LevelReport
from .stats import RequestResult as RequestResult
from .stats import percentile as percentile
from .targets import Caller as Caller
from .targets import Target as Target
