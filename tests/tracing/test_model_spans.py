"""Model calls of either protocol are traced alike, and tracing off makes no span."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from trioagent import tracing
from trioagent.chat import Message, Sampling, ToolCall, Usage
from trioagent.config import ModelConfig, parse_agent_file
from trioagent.runtime import Session, TurnFinished, open_pool, open_team, run_turn
from trioagent.testing import FakeAnthropic, FakeOpenAI, text

from .conftest import Traces

YAML = """\
agents:
  root:
    model: upstream
    instruction: Be brief.
models:
  upstream:
    provider: {provider}
    model: {model}
    base_url: {base_url}
    max_tokens: 64
    token_key: UPSTREAM_KEY
"""


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_both_protocols_trace_the_call_and_send_its_context_upstream(
    provider: str,
    fake: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
    tmp_path: Path,
    traces: Traces,
) -> None:
    upstream = fake if provider == "openai" else fake_anthropic
    model = "gpt-test" if provider == "openai" else "claude-test"
    upstream.enqueue(text("Hi there", usage=(7, 2)))
    file = parse_agent_file(
        YAML.format(provider=provider, model=model, base_url=upstream.base_url), env={}
    )
    send, receive = trio.open_memory_channel[object](10)
    with trio.fail_after(10):
        async with (
            open_team(file, working_dir=tmp_path, env={"UPSTREAM_KEY": "sk-ant-test"}) as team,
            open_pool(team, max_idle=1) as pool,
            pool.borrow("root") as runtime,
        ):
            await run_turn(runtime, Session.from_messages([Message.user("hello")]), send)  # type: ignore[arg-type]
        collector = await traces.flush()
    events = [event async for event in receive]
    assert isinstance(events[-1], TurnFinished)

    turn = collector.one("invoke_agent root")  # the root: no request around it
    assert turn.parent_span_id == ""
    assert turn.attributes["gen_ai.provider.name"] == provider
    call = collector.one(f"chat {model}")
    assert call.parent_span_id == turn.span_id
    assert call.attributes["gen_ai.provider.name"] == provider
    assert call.attributes["gen_ai.request.max_tokens"] == 64
    assert call.attributes["gen_ai.usage.input_tokens"] == 7
    assert call.attributes["gen_ai.usage.output_tokens"] == 2
    attempt = collector.one("POST")
    assert attempt.parent_span_id == call.span_id
    traceparent = upstream.requests[0].headers["traceparent"]
    assert traceparent.split("-")[1:3] == [attempt.trace_id, attempt.span_id]


def test_tracing_off_hands_out_shared_spans_that_do_nothing() -> None:
    assert not tracing.enabled()
    model = ModelConfig(provider="openai", model="m")
    call = ToolCall("c1", "think", "{}")
    spans = [
        tracing.server_span({"type": "http", "method": "GET", "path": "/"}, request_id="r"),
        tracing.agent_span("root", description="", model=model),
        tracing.chat_span(model, Sampling(), [Message.user("hi")]),
        tracing.tool_span(call),
        tracing.client_span("POST", "http://127.0.0.1:9/v1/chat/completions"),
    ]
    assert [type(span) for span in spans] == [
        tracing.ServerSpan,
        tracing.AgentSpan,
        tracing.ChatSpan,
        tracing.ToolSpan,
        tracing.ClientSpan,
    ]
    assert spans[1] is tracing.agent_span("helper", description="", model=model)
    assert dict(tracing.client_span("POST", "http://127.0.0.1:9/").headers()) == {}
    with spans[2] as span:
        span.received()
        span.finished("stop", Usage(1, 1), "hi", [call])


@pytest.mark.parametrize(
    ("value", "captured"),
    [
        ("", False),
        ("false", False),
        ("NO_CONTENT", False),
        ("EVENT_ONLY", False),
        ("true", True),
        ("True", True),
        ("SPAN_ONLY", True),
        ("span_and_event", True),
    ],
)
def test_content_capture_follows_the_genai_variable(value: str, captured: bool) -> None:
    env = {tracing.CAPTURE_CONTENT_VARIABLE: value}
    assert tracing.content_capture_requested(env) is captured
