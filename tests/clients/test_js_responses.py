"""The Vercel AI SDK's Responses model (``@ai-sdk/openai``, ``createOpenAI().responses()``)
on a real server, driving ``POST /v1/responses``.

As in test_js.py (whose ``node`` fixture and ``run_js`` these tests share), each test
scripts the fake upstream, runs one scenario of ``js/ai-sdk-responses.mjs`` and checks the
JSON it prints; its stderr must stay empty (no ``AI SDK Warning``).
"""

from __future__ import annotations

from typing import Any

import pytest

from trioagent.testing import FakeOpenAI, text, tool_calls

from .test_js import PARIS, PARIS_WEATHER, check_tool_steps, check_usage, node, run_js

__all__ = ["node"]  # test_js.py's fixture (node, with npm ci from the lock file), used here

SCRIPT = "ai-sdk-responses.mjs"


async def test_generate_text(node: str, server: Any, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Hello there", usage=(7, 3)))
    result = await run_js(node, SCRIPT, "generate", server)
    assert result["text"] == "Hello there"
    assert result["finishReason"] == "stop"
    assert result["warnings"] == []
    assert len(result["steps"]) == 1
    assert result["responseId"].startswith("resp_")
    check_usage(result["usage"], 7, 3)
    sent = result["sent"]  # the Responses API, with the settings as its fields
    assert (sent["model"], sent["temperature"], sent["top_p"], sent["max_output_tokens"]) == (
        "root",
        0.25,
        0.5,
        77,
    )
    upstream = fake.requests[0].json
    assert upstream["messages"][1:] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]
    assert (upstream["temperature"], upstream["top_p"], upstream["max_tokens"]) == (0.25, 0.5, 77)


async def test_stream_text(node: str, server: Any, fake: FakeOpenAI) -> None:
    # Pauses between the pieces, so that each reaches the client as its own event.
    fake.enqueue(
        text("Hello there", chunks=["Hel", "lo", " there"], usage=(7, 3), chunk_delay=0.05)
    )
    result = await run_js(node, SCRIPT, "stream", server)
    assert result["errors"] == []
    assert result["deltas"] == ["Hel", "lo", " there"]
    assert result["text"] == "Hello there"
    assert result["finishReason"] == "stop"
    assert result["warnings"] == []
    check_usage(result["usage"], 7, 3)
    check_usage(result["totalUsage"], 7, 3)
    types = [p["type"] for p in result["parts"]]
    assert "error" not in types
    assert types[-1] == "finish"
    assert fake.requests[0].json["stream"] is True


@pytest.mark.parametrize(
    ("scenario", "before"),
    [
        ("tools", ""),
        ("tools_stream", ""),
        ("tools", "Let me check."),  # step 2 sends the text as an item_reference (store on)
        ("tools_stream", "Let me check."),
        ("tools_unstored", "Let me check."),
    ],
    ids=[
        "generate",
        "stream",
        "generate-text-first",
        "stream-text-first",
        "generate-text-first-unstored",
    ],
)
async def test_runs_a_client_tool_over_steps(
    node: str, server: Any, fake: FakeOpenAI, scenario: str, before: str
) -> None:
    fake.enqueue(
        tool_calls([PARIS], content=before, usage=(10, 5)),
        text("It is sunny in Paris.", usage=(20, 6)),
    )
    result = await run_js(node, SCRIPT, scenario, server)
    check_tool_steps(result, scenario, before)
    second = result["steps"][1]
    # The SDK sent the whole conversation back, ending with the call and its output.
    answered = second["sent"]["input"]
    assert "previous_response_id" not in second["sent"]
    assert answered[-2]["type"] == "function_call"
    assert answered[-1]["type"] == "function_call_output"
    assert answered[-1]["call_id"] == answered[-2]["call_id"] == "call_w"
    assert PARIS_WEATHER in answered[-1]["output"]
    # The fake upstream got the call and its result as a tool message.
    offered = [t["function"]["name"] for t in fake.requests[0].json["tools"]]
    assert "get_weather" in offered
    assert len(fake.requests) == 2
    upstream = fake.requests[1].json["messages"]
    assert [m["role"] for m in upstream[1:]] == ["user", "assistant", "tool"]
    assert (upstream[-2]["content"] or "") == before
    assert [call["id"] for call in upstream[-2]["tool_calls"]] == ["call_w"]
    assert upstream[-1]["tool_call_id"] == "call_w"
    assert PARIS_WEATHER in upstream[-1]["content"]


async def test_previous_response_id_continues(node: str, server: Any, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Hello, Ada."), text("Your name is Ada."))
    result = await run_js(node, SCRIPT, "continue", server)
    first, second = result["first"], result["second"]
    assert second["text"] == "Your name is Ada."
    assert second["sent"]["previous_response_id"] == first["responseId"]
    assert second["responseId"] != first["responseId"]
    upstream = fake.requests[1].json["messages"]
    assert [(m["role"], m["content"]) for m in upstream[1:]] == [
        ("user", "I am Ada."),
        ("assistant", "Hello, Ada."),
        ("user", "What is my name?"),
    ]


async def test_unknown_model_is_an_api_call_error(node: str, server: Any, fake: FakeOpenAI) -> None:
    result = await run_js(node, SCRIPT, "not_found", server)
    assert result["isAPICallError"] is True
    assert result["status"] == 404
    assert result["isRetryable"] is False
    assert fake.requests == []
