"""The OpenAI Agents SDK (``openai-agents``) against a real server, with its default model:
``OpenAIResponsesModel``, which speaks the Responses API (``POST /v1/responses``).

The SDK only runs on asyncio, so each test runs it as an asyncio application would:
``asyncio.run`` in a worker thread, while the server runs in the test's trio loop. The
SDK's client is made inside that loop (its connections belong to it), and every run has
tracing disabled: nothing may leave the machine.
"""

from __future__ import annotations

import asyncio  # noqa: TID251 (the Agents SDK only runs on asyncio; trioagent does not)
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import openai
import pytest
import trio
from agents import (
    Agent,
    ModelSettings,
    OpenAIResponsesModel,
    RunConfig,
    Runner,
    function_tool,
)
from agents.items import ToolCallItem, ToolCallOutputItem
from openai.types.responses import ResponseTextDeltaEvent

from trioagent.testing import FakeOpenAI, text, tool_calls

from .conftest import get_weather

T = TypeVar("T")
Sent = list[tuple[str, Any]]

PARIS = ("call_w", "weather", '{"city": "Paris"}')
"""The scripted upstream's call of the client tool weather."""

PARIS_WEATHER = "sunny, 21 C"

RUN_CONFIG = RunConfig(tracing_disabled=True)
"""Per run rather than ``set_tracing_disabled``: no global state shared with other tests."""


@function_tool
def weather(city: str) -> str:
    """Get the current weather in a city.

    Args:
        city: The city's name, e.g. Paris.
    """
    return get_weather(city)


async def on_asyncio(
    server: Any, main: Callable[[OpenAIResponsesModel], Awaitable[T]]
) -> tuple[T, Sent]:
    """``main(model)`` in ``asyncio.run`` in a worker thread, ``model`` talking to ``server``.

    Returns what ``main`` returned and the requests the SDK sent: (path, JSON body).
    """
    sent: Sent = []

    async def record(request: Any) -> None:
        sent.append((request.url.path, json.loads(request.content or b"null")))

    async def run() -> T:
        http = openai.DefaultAsyncHttpxClient(event_hooks={"request": [record]})
        async with openai.AsyncOpenAI(
            base_url=f"{server.url}/v1",
            api_key="unused",
            max_retries=0,
            timeout=10,
            http_client=http,
        ) as client:
            return await main(OpenAIResponsesModel(model="root", openai_client=client))

    with trio.fail_after(15):
        result = await trio.to_thread.run_sync(lambda: asyncio.run(run()), abandon_on_cancel=True)
    return result, sent


def assistant(model: OpenAIResponsesModel, **kwargs: Any) -> Agent[Any]:
    return Agent(name="Assistant", instructions="Be brief.", model=model, **kwargs)


async def stream_run(agent: Agent[Any], question: str, **kwargs: Any) -> tuple[Any, list[str]]:
    """``Runner.run_streamed``: the finished result and the text deltas on the way."""
    result = Runner.run_streamed(agent, question, run_config=RUN_CONFIG, **kwargs)
    deltas = [
        event.data.delta
        async for event in result.stream_events()
        if event.type == "raw_response_event" and isinstance(event.data, ResponseTextDeltaEvent)
    ]
    return result, deltas


async def test_run_answers(server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Hello from the agent", usage=(7, 3)))

    async def main(model: OpenAIResponsesModel) -> Any:
        agent = assistant(model, model_settings=ModelSettings(temperature=0.5))
        return await Runner.run(agent, "hi", run_config=RUN_CONFIG)

    result, sent = await on_asyncio(server, main)
    assert result.final_output == "Hello from the agent"
    [response] = result.raw_responses
    assert response.response_id == result.last_response_id
    assert response.response_id.startswith("resp_")
    assert (response.usage.input_tokens, response.usage.output_tokens) == (7, 3)
    assert response.usage.total_tokens == 10
    [(path, body)] = sent  # the Responses model, not Chat Completions
    assert path == "/v1/responses"
    assert (body["model"], body["instructions"], body["temperature"]) == ("root", "Be brief.", 0.5)
    upstream = fake.requests[0].json
    assert upstream["temperature"] == 0.5
    assert upstream["messages"][1:] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]


async def test_run_streamed_text_deltas(server, fake: FakeOpenAI) -> None:
    # Pauses between the pieces, so that each reaches the client as its own event.
    fake.enqueue(
        text("Hello there", chunks=["Hel", "lo", " there"], usage=(7, 3), chunk_delay=0.05)
    )

    async def main(model: OpenAIResponsesModel) -> tuple[Any, list[str]]:
        return await stream_run(assistant(model), "hi")

    (result, deltas), sent = await on_asyncio(server, main)
    assert deltas == ["Hel", "lo", " there"]
    assert result.is_complete
    assert result.final_output == "Hello there"
    [response] = result.raw_responses
    assert response.usage.total_tokens == 10
    [(path, body)] = sent
    assert (path, body["stream"]) == ("/v1/responses", True)
    assert fake.requests[0].json["stream"] is True


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run-streamed"])
@pytest.mark.parametrize("chained", [False, True], ids=["whole-input", "auto-previous-response"])
@pytest.mark.parametrize("before", ["", "Let me check."], ids=["tool-only", "text-first"])
async def test_function_tool_round_trip(
    server, fake: FakeOpenAI, stream: bool, chained: bool, before: str
) -> None:
    # chained: the SDK sends only the function_call_output, with previous_response_id.
    fake.enqueue(
        tool_calls([PARIS], content=before, usage=(10, 5)),
        text("It is sunny in Paris.", usage=(20, 6)),
    )

    async def main(model: OpenAIResponsesModel) -> Any:
        agent = assistant(model, tools=[weather])
        if stream:
            result, _ = await stream_run(
                agent, "Weather in Paris?", auto_previous_response_id=chained
            )
            return result
        return await Runner.run(
            agent, "Weather in Paris?", run_config=RUN_CONFIG, auto_previous_response_id=chained
        )

    result, sent = await on_asyncio(server, main)
    assert result.final_output == "It is sunny in Paris."
    calls = [item.raw_item for item in result.new_items if isinstance(item, ToolCallItem)]
    assert [(c.call_id, c.name, json.loads(c.arguments)) for c in calls] == [
        ("call_w", "weather", {"city": "Paris"})
    ]
    outputs = [item for item in result.new_items if isinstance(item, ToolCallOutputItem)]
    assert [o.output for o in outputs] == [PARIS_WEATHER]
    first, second = result.raw_responses
    assert (first.usage.total_tokens, second.usage.total_tokens) == (15, 26)
    # What the SDK sent back: the tool's result, after the call or the response with it.
    assert [path for path, _ in sent] == ["/v1/responses"] * 2
    answered = sent[1][1]
    assert answered["input"][-1] == {
        "type": "function_call_output",
        "call_id": "call_w",
        "output": PARIS_WEATHER,
    }
    if chained:
        assert answered["previous_response_id"] == first.response_id
        assert len(answered["input"]) == 1
    else:
        assert "previous_response_id" not in answered
        kinds = ["message", "message", "function_call"] if before else ["message", "function_call"]
        assert [item.get("type", "message") for item in answered["input"]] == [
            *kinds,
            "function_call_output",
        ]
    # What the fake upstream received: the whole conversation, the result as a tool message.
    offered = fake.requests[0].json["tools"]
    assert any(t["function"]["name"] == "weather" for t in offered)
    assert len(fake.requests) == 2
    upstream = fake.requests[1].json["messages"]
    assert [m["role"] for m in upstream[1:]] == ["system", "user", "assistant", "tool"]
    assert (upstream[-2]["content"] or "") == before
    assert [c["id"] for c in upstream[-2]["tool_calls"]] == ["call_w"]
    assert upstream[-1] == {"role": "tool", "tool_call_id": "call_w", "content": PARIS_WEATHER}


async def test_previous_response_id_continues_the_conversation(server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Hello, Ada."), text("Your name is Ada."))

    async def main(model: OpenAIResponsesModel) -> tuple[Any, Any]:
        agent = assistant(model)
        first = await Runner.run(agent, "I am Ada.", run_config=RUN_CONFIG)
        second = await Runner.run(
            agent,
            "What is my name?",
            run_config=RUN_CONFIG,
            previous_response_id=first.last_response_id,
        )
        return first, second

    (first, second), sent = await on_asyncio(server, main)
    assert second.final_output == "Your name is Ada."
    assert sent[1][1]["previous_response_id"] == first.last_response_id
    assert sent[1][1]["input"] == [{"role": "user", "content": "What is my name?"}]
    upstream = fake.requests[1].json["messages"]
    assert [(m["role"], m["content"]) for m in upstream[1:]] == [
        ("system", "Be brief."),
        ("user", "I am Ada."),
        ("assistant", "Hello, Ada."),
        ("user", "What is my name?"),
    ]


async def test_previous_response_id_does_not_carry_instructions_over(
    server, fake: FakeOpenAI
) -> None:
    fake.enqueue(text("Hello, Ada."), text("Tu t'appelles Ada."))

    async def main(model: OpenAIResponsesModel) -> Any:
        first = await Runner.run(assistant(model), "I am Ada.", run_config=RUN_CONFIG)
        french = Agent(name="French", instructions="Answer in French.", model=model)
        return await Runner.run(
            french,
            "What is my name?",
            run_config=RUN_CONFIG,
            previous_response_id=first.last_response_id,
        )

    second, _ = await on_asyncio(server, main)
    assert second.final_output == "Tu t'appelles Ada."
    upstream = fake.requests[1].json["messages"][1:]  # after the agent's own instruction
    assert [m["content"] for m in upstream if m["role"] == "system"] == ["Answer in French."]
    assert [(m["role"], m["content"]) for m in upstream if m["role"] != "system"] == [
        ("user", "I am Ada."),
        ("assistant", "Hello, Ada."),
        ("user", "What is my name?"),
    ]
