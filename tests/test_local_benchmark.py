"""A smoke run of the embedded model's benchmark (`python -m benchmarks.local_model`).

It checks that every metric is measured, never how fast: the numbers depend on the machine.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import trio
from local_model import require_local_model

require_local_model()

ROOT = Path(__file__).resolve().parent.parent


async def test_local_benchmark_measures_every_metric(tmp_path: Path) -> None:
    out = tmp_path / "local.json"
    with trio.fail_after(600):  # a hang guard for a slow, shared machine, not a speed check
        result = await trio.run_process(
            [
                sys.executable,
                "-m",
                "benchmarks.local_model",
                "--rounds",
                "1",
                "--max-tokens",
                "32",
                "--json",
                str(out),
            ],
            cwd=ROOT,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert result.returncode == 0, result.stderr.decode()
    assert "| aggregate tok/s c=4 |" in result.stdout.decode()
    data = json.loads(out.read_text())
    assert data["settings"]["concurrency"] == 4
    assert data["machine"]["cores"] >= 1
    assert data["machine"]["xllamacpp"]
    assert data["load"]["first_s"] > 0
    assert data["load"]["reload_median_s"] > 0
    c1 = data["c1"]["median"]
    assert c1["ttft_s"] > 0
    assert c1["decode_tok_s"] > 0
    assert c1["completion_tokens"] > 0
    [run] = data["concurrent"]["runs"]
    assert run["aggregate_tok_s"] > 0
    assert len(run["streams"]) == 4
    assert all(stream["completion_tokens"] > 0 for stream in run["streams"])
    assert all(stream["decode_tok_s"] > 0 for stream in run["streams"])
    assert data["concurrent"]["median"]["per_stream_tok_s"] > 0
    assert data["memory"]["rss_kib"] > 0
    assert data["memory"]["peak_kib"] >= data["memory"]["rss_kib"]
