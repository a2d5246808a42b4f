"""The load generator (`trioagent bench`) against the fake upstream and a real server, and
a smoke run of the benchmark suite (`python -m benchmarks.run --quick`)."""

from __future__ import annotations

import argparse
import io
import json
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from trioagent.bench import (
    BenchConfig,
    BenchError,
    LevelReport,
    Mode,
    add_bench_arguments,
    bench_command,
    endpoint,
    markdown_table,
    measure_level,
    percentile,
    report_json,
    run_bench,
    write_plot,
)
from trioagent.bench.progress import LineProgress
from trioagent.bench.stats import Distribution, RequestResult
from trioagent.testing import FakeOpenAI, error, hang, text

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # benchmarks/ is not installed; `pytest` may not run from ROOT
    sys.path.insert(0, str(ROOT))

from benchmarks.run import open_floor  # noqa: E402


def assert_ordered(dist: Distribution | None) -> None:
    assert dist is not None
    assert 0 <= dist.p50 <= dist.p90 <= dist.p99 <= dist.max
    assert dist.mean <= dist.max


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("p", "expected"),
    [(0, 1.0), (50, 2.5), (90, 3.7), (100, 4.0)],
    ids=["min", "median-between-ranks", "p90-interpolated", "max"],
)
def test_percentile_interpolates_between_ranks(p: float, expected: float) -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], p) == pytest.approx(expected)


def test_distribution_is_in_milliseconds_and_ordered() -> None:
    dist = Distribution.of([0.004, 0.001, 0.003, 0.002, 0.010])
    assert dist is not None
    assert dist.count == 5
    assert dist.p50 == pytest.approx(3.0)
    assert dist.max == pytest.approx(10.0)
    assert_ordered(dist)
    assert Distribution.of([]) is None


def test_level_report_counts_errors_by_reason_and_times_only_successes() -> None:
    results = [
        RequestResult(latency=0.01, tokens=3),
        RequestResult(latency=0.03, tokens=3),
        RequestResult(latency=5.0, error="HTTP 500"),
        RequestResult(latency=0.0, error="ConnectError"),
        RequestResult(latency=0.0, error="HTTP 500"),
    ]
    level = LevelReport.of(4, results, elapsed=2.0)
    assert level.requests == 5
    assert level.errors == {"HTTP 500": 2, "ConnectError": 1}
    assert level.failed == 3
    assert level.throughput == pytest.approx(1.0)
    assert level.latency is not None
    assert level.latency.max == pytest.approx(30.0)
    assert level.tokens_per_s == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("url", "mode", "expected"),
    [
        ("http://127.0.0.1:8083/v1", "chat", "http://127.0.0.1:8083/v1/chat/completions"),
        ("http://127.0.0.1:8083", "stream", "http://127.0.0.1:8083/v1/chat/completions"),
        ("http://h:1/v1/", "api", "http://h:1/api/chat"),
        ("http://h:1/api/chat", "api-stream", "http://h:1/api/chat"),
        ("https://h/prefix/v1", "ws", "wss://h/prefix/v1/ws"),
        ("ws://h:1/v1/ws", "chat", "http://h:1/v1/chat/completions"),
    ],
    ids=["openai-base", "origin", "api-from-base", "api-as-is", "ws-secure-prefix", "chat-from-ws"],
)
def test_endpoint_derives_each_modes_url(url: str, mode: Mode, expected: str) -> None:
    assert endpoint(url, mode) == expected


def test_bad_config_is_refused_with_a_reason() -> None:
    with pytest.raises(BenchError, match="concurrency"):
        BenchConfig(url="http://h/v1", concurrency=(0,))
    with pytest.raises(BenchError, match="cannot benchmark"):
        BenchConfig(url="h:80")


async def test_chat_mode_measures_each_level_after_warmup(fake: FakeOpenAI) -> None:
    config = BenchConfig(url=fake.base_url, mode="chat", concurrency=(1, 4), requests=12, warmup=3)
    report = await run_bench(config, progress=False)

    assert report.model == "fake-model"  # the first id of GET /v1/models
    assert [level.concurrency for level in report.levels] == [1, 4]
    for level in report.levels:
        assert level.requests == 12
        assert level.errors == {}
        assert level.throughput > 0
        assert_ordered(level.latency)
        assert level.ttft is None
        assert level.itl is None
        assert level.tokens == 12  # usage.completion_tokens of one-word answers
    completions = [r for r in fake.requests if r.path.endswith("/chat/completions")]
    assert len(completions) == 2 * (12 + 3)  # warm-up requests are sent, not counted
    assert completions[0].json["messages"] == [{"role": "user", "content": config.message}]


async def test_stream_mode_measures_ttft_and_inter_token_latency(fake: FakeOpenAI) -> None:
    fake.default = text("one two three four", chunk_delay=0.002)
    report = await run_bench(
        BenchConfig(
            url=fake.base_url, mode="stream", concurrency=(2,), requests=6, model="gpt-test"
        ),
        progress=True,
    )
    (level,) = report.levels
    assert level.requests == 6
    assert level.errors == {}
    assert level.tokens == 6 * 4
    assert_ordered(level.latency)
    assert_ordered(level.ttft)
    assert_ordered(level.itl)
    assert level.itl is not None
    assert level.itl.count == 6 * 3
    assert level.ttft is not None
    assert level.latency is not None
    assert level.ttft.p50 <= level.latency.p50
    assert all(
        r.json["stream"] is True and r.json["model"] == "gpt-test"
        for r in fake.requests
        if r.method == "POST"
    )


@pytest.mark.parametrize("mode", ["chat", "stream"])
async def test_upstream_errors_are_counted_and_the_run_goes_on(
    fake: FakeOpenAI, mode: Mode
) -> None:
    fake.enqueue(error(500), text("fine"), error(429))
    report = await run_bench(
        BenchConfig(url=fake.base_url, mode=mode, concurrency=(1,), requests=5, model="m"),
        progress=False,
    )
    (level,) = report.levels
    assert level.requests == 5
    assert level.errors == {"HTTP 500": 1, "HTTP 429": 1}
    assert level.latency is not None
    assert level.latency.count == 3


@pytest.mark.parametrize("mode", ["chat", "stream", "api", "ws"])
async def test_a_closed_port_is_counted_as_errors(mode: Mode) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    report = await run_bench(
        BenchConfig(url=url, mode=mode, concurrency=(2,), requests=4, model="m", timeout=5),
        progress=False,
    )
    (level,) = report.levels
    assert level.requests == 4
    assert level.failed == 4
    assert level.latency is None
    assert report.errors == 4


async def test_a_request_over_its_timeout_is_an_error(fake: FakeOpenAI) -> None:
    fake.enqueue(hang())
    report = await run_bench(
        BenchConfig(url=fake.base_url, mode="chat", requests=2, model="m", timeout=0.2),
        progress=False,
    )
    (level,) = report.levels
    assert level.requests == 2
    assert level.failed == 1
    assert set(level.errors) <= {"timeout", "ReadTimeout"}


class CountingCaller:
    """Answers every call at once; the third call of all is a failure."""

    def __init__(self, calls: list[int]) -> None:
        self.calls = calls
        self.usable = True

    async def call(self) -> RequestResult:
        self.calls.append(1)
        failed = len(self.calls) == 3
        await trio.lowlevel.checkpoint()
        return RequestResult(latency=0.001, error="HTTP 500" if failed else None, tokens=2)


class CountingTarget:
    def __init__(self) -> None:
        self.calls: list[int] = []
        self.connections: list[int] = []

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[CountingCaller]:
        self.connections.append(1)
        yield CountingCaller(self.calls)


async def test_measure_level_loads_any_target_with_one_connection_per_worker() -> None:
    target = CountingTarget()
    with trio.fail_after(5):
        level = await measure_level(
            target,
            3,
            warmup=2,
            requests=7,
            duration=None,
            request_timeout=5,
            label="custom c=3",
            progress=False,
        )
    assert len(target.connections) == 3
    assert len(target.calls) == 2 + 7  # warm-up requests are sent, not counted
    assert (level.concurrency, level.requests) == (3, 7)
    assert level.errors == {"HTTP 500": 1}  # the third call of all, the first measured
    assert level.tokens == 6 * 2
    assert_ordered(level.latency)


async def test_no_model_and_no_model_list_is_a_bench_error() -> None:
    with pytest.raises(BenchError, match="pass --model"):
        await run_bench(BenchConfig(url=f"http://127.0.0.1:{closed_port()}/v1"), progress=False)


@pytest.mark.parametrize("mode", ["api", "api-stream", "ws"])
async def test_api_and_websocket_modes_against_a_real_server(
    start_server: Any, fake: FakeOpenAI, mode: Mode
) -> None:
    fake.record = False
    # Pieces far enough apart to reach the server in separate reads: the server may merge
    # pieces that arrive together into one delta.
    fake.default = text("Hello from the agent", chunk_delay=0.005)
    async with start_server(api="api") as server:
        report = await run_bench(
            BenchConfig(url=server.url, mode=mode, concurrency=(1, 3), requests=6, warmup=1),
            progress=False,
        )
    for level in report.levels:
        assert level.requests == 6
        assert level.errors == {}
        assert_ordered(level.latency)
        if mode == "api":
            assert level.ttft is None
        else:
            assert_ordered(level.ttft)
            assert_ordered(level.itl)
            assert 6 * 2 <= level.tokens <= 6 * 4


async def test_websocket_error_frames_are_counted_on_a_live_connection(
    start_server: Any, fake: FakeOpenAI
) -> None:
    fake.enqueue(text("first"), error(400), text("third"))
    async with start_server() as server:
        report = await run_bench(
            BenchConfig(url=f"{server.url}/v1", mode="ws", concurrency=(1,), requests=3),
            progress=False,
        )
    (level,) = report.levels
    assert level.requests == 3
    assert level.failed == 1
    (reason,) = level.errors
    assert reason.startswith("error ")


async def test_report_renders_as_markdown_and_json(fake: FakeOpenAI) -> None:
    fake.default = text("a b c", chunk_delay=0.001)
    fake.enqueue(error(503))
    report = await run_bench(
        BenchConfig(url=fake.base_url, mode="stream", concurrency=(1, 2), requests=4, model="m"),
        progress=False,
    )
    table = markdown_table(report)
    lines = table.splitlines()
    assert lines[0].startswith("| concurrency | requests | errors | req/s | p50 ms")
    assert "TTFT p50" in lines[0]
    assert "ITL p99" in lines[0]
    assert lines[2].startswith("| 1 | 4 | 1 (HTTP 503: 1) |")
    assert lines[3].startswith("| 2 | 4 | 0 |")

    data = json.loads(report_json(report))
    assert data["mode"] == "stream"
    assert [level["concurrency"] for level in data["levels"]] == [1, 2]
    assert data["levels"][0]["errors"] == {"HTTP 503": 1}
    assert set(data["levels"][1]["latency"]) == {"count", "mean", "p50", "p90", "p99", "max"}
    assert data["levels"][1]["ttft"]["p50"] <= data["levels"][1]["latency"]["p50"]


async def test_bench_command_prints_the_table_and_writes_json(
    fake: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    add_bench_arguments(parser)
    output = tmp_path / "out" / "run.json"
    args = parser.parse_args(
        [
            fake.base_url,
            "--mode",
            "chat",
            "-c",
            "1,2",
            "-n",
            "5",
            "--warmup",
            "1",
            "-q",
            "--output",
            str(output),
        ]
    )
    status = await trio.to_thread.run_sync(bench_command, args)
    assert status == 0
    assert "| concurrency |" in capsys.readouterr().out
    data = json.loads(output.read_text())
    assert [level["requests"] for level in data["levels"]] == [5, 5]


async def test_bench_command_fails_when_every_request_fails(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_bench_arguments(parser)
    args = parser.parse_args(
        [f"http://127.0.0.1:{closed_port()}", "-n", "2", "--warmup", "0", "-q", "--model", "m"]
    )
    assert await trio.to_thread.run_sync(bench_command, args) == 1


async def test_plot_writes_a_png(fake: FakeOpenAI, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    report = await run_bench(
        BenchConfig(url=fake.base_url, mode="stream", concurrency=(1, 2), requests=3, model="m"),
        progress=False,
    )
    path = tmp_path / "latency.png"
    write_plot(report, path)
    assert path.read_bytes().startswith(b"\x89PNG")


def test_line_progress_counts_requests_and_errors_without_tqdm() -> None:
    out = io.StringIO()
    progress = LineProgress("chat c=2", 3, out)
    for ok in (True, False, True):
        progress.update(ok)
    progress.close()
    assert out.getvalue().endswith("\rchat c=2 3/3 requests, 1 errors\n")


def test_concurrency_levels_must_be_positive_numbers() -> None:
    parser = argparse.ArgumentParser()
    add_bench_arguments(parser)
    assert parser.parse_args(["http://h/v1", "-c", "1,8,32"]).concurrency == (1, 8, 32)
    with pytest.raises(SystemExit):
        parser.parse_args(["http://h/v1", "-c", "0,8"])


async def test_benchmark_suite_quick_run_succeeds(tmp_path: Path) -> None:
    result = await trio.run_process(
        [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--quick",
            "--quiet",
            "--output-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert "Latency added over the upstream" in result.stdout.decode()
    data = json.loads((tmp_path / "latest.json").read_text())
    assert data["machine"]["cpus"]
    assert {row["path"] for row in data["comparison"]} == {
        "stack floor: chat",
        "stack floor: stream",
        "serve chat: chat",
        "serve chat: stream",
        "serve chat: ws",
        "serve api: api",
        "serve api: api-stream",
    }
    assert all(row["errors"] == 0 for row in data["comparison"])
    floor = {row["path"]: row for row in data["comparison"] if row["concurrency"] == 1}
    assert floor["stack floor: chat"]["baseline"] == "direct chat"
    assert floor["stack floor: stream"]["baseline"] == "direct stream"
    assert floor["stack floor: stream"]["ttft_p50"] is not None
    assert all(
        level["requests"] == 12
        for name, report in data["reports"].items()
        if name.startswith("stack floor")
        for level in report["levels"]
    )
    streams = data["long_streams"]
    for name in ("direct", "floor", "served"):  # the floor relays the same long answers
        [level] = streams[name]["levels"]
        assert (level["requests"], level["errors"]) == (4, {}), name
        assert level["itl"] is not None, name
    assert data["memory"]["errors"] == 0
    tracing = data["tracing"]  # serve chat with tracing off and on, side by side
    assert [(row["mode"], row["concurrency"]) for row in tracing["rows"]] == [
        ("chat", 1),
        ("chat", 8),
        ("stream", 1),
        ("stream", 8),
    ]
    for row in tracing["rows"]:
        for side in ("off", "on"):
            [level] = row[side]["levels"]
            assert (level["requests"], level["errors"]) == (12, {}), (row["mode"], side)
    assert tracing["spans"] == 4 * tracing["turns"] > 0  # every turn's spans arrived
    report = (tmp_path / "latest.md").read_text()
    assert report.startswith("## Latency")
    assert "| stack floor | 4 x 10 |" in report
    assert "## Tracing" in report


def sse_data(body: bytes) -> list[Any]:
    """The ``data:`` payloads of the complete events of an SSE body, JSON-decoded but for
    ``[DONE]``."""
    payloads = [
        line[len(b"data: ") :]
        for event in body.split(b"\n\n")[:-1]
        for line in event.splitlines()
        if line.startswith(b"data: ")
    ]
    return [p.decode() if p == b"[DONE]" else json.loads(p) for p in payloads]


def contents(chunks: list[Any]) -> list[str]:
    return [
        chunk["choices"][0]["delta"]["content"]
        for chunk in chunks
        if isinstance(chunk, dict)
        and chunk["choices"]
        and chunk["choices"][0]["delta"].get("content")
    ]


@pytest.mark.parametrize("workers", [1, 2], ids=["one-process", "two-workers"])
async def test_stack_floor_answers_with_the_upstreams_text_and_relays_its_stream(
    fake: FakeOpenAI, workers: int
) -> None:
    fake.enqueue(text("Hello from the floor", usage=(7, 4)), text("one two three"))
    question = {"model": "root", "messages": [{"role": "user", "content": "Hi"}]}
    with trio.fail_after(60):
        async with (
            open_floor(fake.base_url, workers=workers) as url,
            httpx.AsyncClient(base_url=url, timeout=10) as client,
        ):
            models = await client.get("/models")
            answer = await client.post("/chat/completions", json=question)
            streamed = await client.post("/chat/completions", json={**question, "stream": True})

    assert models.json()["data"][0]["id"] == "root"
    assert answer.status_code == 200
    document = answer.json()
    assert document["object"] == "chat.completion"
    assert document["model"] == "root"
    assert document["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hello from the floor",
    }
    assert document["choices"][0]["finish_reason"] == "stop"
    assert document["usage"] == {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}

    assert streamed.status_code == 200
    assert streamed.headers["content-type"].startswith("text/event-stream")
    chunks = sse_data(streamed.content)
    assert contents(chunks) == ["one ", "two ", "three"]
    assert chunks[-1] == "[DONE]"
    # Relayed as the upstream wrote them: its model name, its usage chunk.
    assert all(chunk["model"] == "m" for chunk in chunks[:-1])
    assert chunks[-2]["usage"]["completion_tokens"] == 3

    # Sent on as trioagent sends it: to model m, streamed, with usage.
    sent = [r.json for r in fake.requests if r.method == "POST"]
    assert len(sent) == 2
    assert all(
        body["model"] == "m"
        and body["stream"] is True
        and body["stream_options"] == {"include_usage": True}
        and body["messages"] == question["messages"]
        for body in sent
    )


async def test_stack_floor_relays_each_chunk_before_the_upstream_ends(fake: FakeOpenAI) -> None:
    # The second piece comes a minute after the first: only a relay that passes each
    # chunk on as it arrives delivers the first one within the test's time limit.
    fake.enqueue(text(chunks=["first ", "second"], chunk_delay=60))
    question = {"model": "root", "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    with trio.fail_after(30):
        async with (
            open_floor(fake.base_url) as url,
            httpx.AsyncClient(base_url=url, timeout=10) as client,
            client.stream("POST", "/chat/completions", json=question) as response,
        ):
            body = b""
            async for data in response.aiter_bytes():
                body += data
                if contents(sse_data(body)):
                    break
            assert contents(sse_data(body)) == ["first "]
            assert fake.in_flight == 1  # the upstream is still answering
