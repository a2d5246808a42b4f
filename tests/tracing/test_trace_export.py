"""Turning tracing on the standard way, in real ``trioagent`` processes: the OTEL_*
variables or ``--otel``, export to a real OTLP/HTTP receiver, and a collector that does
not answer, logged once."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
import trio

from trioagent.cli import parse_command_line
from trioagent.cli._tracing import traces_endpoint, tracing_requested
from trioagent.testing import (
    FakeCollector,
    FakeOpenAI,
    open_server_process,
    text,
    trioagent_command,
    write_test_agent,
)

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def clean_env(**variables: str) -> dict[str, str]:
    """This process's environment without its OTEL_* variables, plus ``variables``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return {**env, **variables}


async def dead_endpoint() -> str:
    """A loopback URL nothing listens on."""
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize(
    ("flag", "env", "on"),
    [
        (False, {}, False),
        (True, {}, True),
        (False, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, True),
        (False, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, True),
        (True, {"OTEL_SDK_DISABLED": "true"}, False),
        (False, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_TRACES_EXPORTER": "none"}, False),
        (False, {"OTEL_TRACES_EXPORTER": "otlp"}, False),
    ],
    ids=["off", "flag", "endpoint", "traces-endpoint", "sdk-disabled", "exporter-none", "no-url"],
)
def test_tracing_is_on_with_the_flag_or_an_endpoint(
    flag: bool, env: dict[str, str], on: bool
) -> None:
    assert tracing_requested(flag, env) is on


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
        {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"},
        {"OTEL_TRACES_EXPORTER": "zipkin"},
    ],
    ids=["grpc", "http-json", "zipkin"],
)
def test_an_exporter_trioagent_lacks_is_refused_by_name(env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="OTEL_"):
        tracing_requested(True, env)


def test_the_endpoint_is_the_exporters() -> None:
    assert traces_endpoint({}) == "http://localhost:4318/v1/traces"
    assert traces_endpoint({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}) == (
        "http://c:4318/v1/traces"
    )
    assert traces_endpoint(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t/x",
        }
    ) == ("http://t/x")


def test_otel_is_a_flag_of_the_commands_that_run_turns() -> None:
    for command in (["run", "a.yaml"], ["serve", "chat", "a.yaml"], ["serve", "api", "a.yaml"]):
        assert parse_command_line([*command, "--otel"]).otel is True
        assert parse_command_line(command).otel is False


async def test_run_exports_its_turn_to_the_endpoint(
    fake: FakeOpenAI, collector: FakeCollector, tmp_path: Path
) -> None:
    fake.enqueue(text("Hello, traced.", usage=(3, 2)))
    agent = write_test_agent(tmp_path, fake.base_url)
    with trio.fail_after(30):
        result = await trio.run_process(
            trioagent_command("run", str(agent), "Hello?"),
            env=clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=collector.url),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().strip() == "Hello, traced."
    # Exported as the process ended: no request around the turn, so it is the root.
    turn = collector.one("invoke_agent root")
    assert turn.parent_span_id == ""
    assert turn.service == "trioagent"
    call = collector.one("chat gpt-test")
    assert call.parent_span_id == turn.span_id
    assert call.attributes["gen_ai.usage.output_tokens"] == 2
    assert collector.one("POST").parent_span_id == call.span_id
    assert b"traces" not in result.stderr


async def test_each_worker_exports_the_spans_of_its_requests(
    fake: FakeOpenAI, collector: FakeCollector, tmp_path: Path
) -> None:
    agent = write_test_agent(tmp_path, fake.base_url)
    env = clean_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
        OTEL_SERVICE_NAME="agents",
        OTEL_BSP_SCHEDULE_DELAY="10",
    )
    names = {"POST /v1/chat/completions", "invoke_agent root", "chat gpt-test", "POST"}
    with trio.fail_after(60):
        async with open_server_process("chat", str(agent), "--workers", "2", env=env) as server:
            async with httpx.AsyncClient(timeout=10) as http:
                response = await http.post(
                    f"{server.url}/chat/completions",
                    json={"model": "root", "messages": [{"role": "user", "content": "hi"}]},
                    headers={"traceparent": TRACEPARENT},
                )
            assert response.status_code == 200
            await collector.wait_for(lambda c: names <= set(c.names()))
    request = collector.one("POST /v1/chat/completions")
    assert request.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert request.parent_span_id == "00f067aa0ba902b7"
    assert {span.service for span in collector.spans} == {"agents"}
    assert collector.one("invoke_agent root").parent_span_id == request.span_id


async def test_a_dead_collector_is_logged_once_and_changes_no_answer(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    fake.enqueue(text("Still here."))
    agent = write_test_agent(tmp_path, fake.base_url)
    env = clean_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=await dead_endpoint(),
        # Every span its own export, at once: several failed exports in one short run,
        # and a queue that overflows meanwhile.
        OTEL_BSP_SCHEDULE_DELAY="1",
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE="1",
        OTEL_BSP_MAX_QUEUE_SIZE="1",
        OTEL_EXPORTER_OTLP_TIMEOUT="0.5",
    )
    with trio.fail_after(30):
        result = await trio.run_process(
            trioagent_command("run", "--otel", str(agent), "Hello?"),
            env=env,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().strip() == "Still here."
    lines = result.stderr.decode().splitlines()
    assert len([line for line in lines if "cannot export traces to" in line]) == 1, lines
    assert not [line for line in lines if "opentelemetry" in line], lines  # the SDK's own


async def test_spans_a_stalled_collector_holds_do_not_hold_the_exit(
    fake: FakeOpenAI, collector: FakeCollector, tmp_path: Path
) -> None:
    from trioagent.cli._tracing import SHUTDOWN_TIMEOUT

    collector.hold = trio.Event()
    fake.enqueue(text("Bye."))
    agent = write_test_agent(tmp_path, fake.base_url)
    env = clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=collector.url, OTEL_EXPORTER_OTLP_TIMEOUT="60")
    started = trio.current_time()
    with trio.fail_after(SHUTDOWN_TIMEOUT + 20):
        result = await trio.run_process(
            trioagent_command("run", str(agent), "Hello?"),
            env=env,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    collector.hold.set()
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().strip() == "Bye."
    assert trio.current_time() - started < SHUTDOWN_TIMEOUT + 15  # not the exporter's 60 s
    assert collector.received == 1
    assert b"could not be exported within" in result.stderr
