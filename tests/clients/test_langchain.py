"""langchain-openai's ChatOpenAI against a real server.

LangChain's sync API runs in a worker thread (the server runs in the test's trio loop).
Its async API needs asyncio (``agenerate`` calls ``asyncio.gather``), so the async tests
run it as an asyncio application would: ``asyncio.run`` in a worker thread.
"""

from __future__ import annotations

import asyncio  # noqa: TID251 (LangChain's async API only runs on asyncio; trioagent does not)
import json
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import openai
import pydantic
import pytest
import trio
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_openai import ChatOpenAI

from trioagent.testing import FakeOpenAI, drop, text, tool_calls

from .conftest import get_weather

T = TypeVar("T")


def chat_model(server: Any, **kwargs: Any) -> ChatOpenAI:
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", 10)
    return ChatOpenAI(base_url=f"{server.url}/v1", api_key="unused", model="root", **kwargs)


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    return await trio.to_thread.run_sync(partial(fn, *args), abandon_on_cancel=True)


def weather(city: str) -> str:
    """Get the current weather in a city.

    Args:
        city: The city's name, e.g. Paris.
    """
    return get_weather(city)


def run_agent(llm: ChatOpenAI, question: str, *, stream: bool = False) -> list[BaseMessage]:
    """A minimal tool-calling agent: call the model, run the tools it asks for, repeat."""
    model = llm.bind_tools([weather])
    messages: list[BaseMessage] = [HumanMessage(question)]
    for _ in range(4):
        if stream:
            ai: Any = None
            for chunk in model.stream(messages):
                ai = chunk if ai is None else ai + chunk
        else:
            ai = model.invoke(messages)
        messages.append(ai)
        if not ai.tool_calls:
            return messages
        for call in ai.tool_calls:
            assert call["name"] == "weather"
            messages.append(ToolMessage(weather(**call["args"]), tool_call_id=call["id"]))
    raise AssertionError("the agent did not finish")


async def test_invoke(server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Hello from the agent", usage=(7, 3)))
    llm = chat_model(server, temperature=0.5)
    with trio.fail_after(10):
        answer = await in_thread(llm.invoke, [SystemMessage("Be brief."), HumanMessage("hi")])
    assert isinstance(answer, AIMessage)
    assert answer.content == "Hello from the agent"
    assert answer.response_metadata["finish_reason"] == "stop"
    assert answer.response_metadata["model_name"] == "root"
    assert answer.usage_metadata is not None
    assert (answer.usage_metadata["input_tokens"], answer.usage_metadata["output_tokens"]) == (7, 3)
    sent = fake.requests[0].json
    assert sent["temperature"] == 0.5
    assert [m["role"] for m in sent["messages"]] == ["system", "system", "user"]


async def test_stream_chunks_concatenate_to_the_answer_with_usage(server, fake: FakeOpenAI) -> None:
    fake.enqueue(
        text("Streaming works fine", chunks=["Stream", "ing works", " fine"], usage=(9, 4))
    )
    llm = chat_model(server, stream_usage=True)
    with trio.fail_after(10):
        chunks = await in_thread(lambda: list(llm.stream("hi")))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert "".join(str(c.content) for c in chunks) == "Streaming works fine"
    whole = chunks[0]
    for chunk in chunks[1:]:
        whole += chunk
    assert whole.content == "Streaming works fine"
    assert whole.response_metadata["finish_reason"] == "stop"
    assert whole.usage_metadata is not None
    assert whole.usage_metadata["total_tokens"] == 13
    assert fake.requests[0].json["stream_options"] == {"include_usage": True}


async def test_tool_calling_agent(server, fake: FakeOpenAI) -> None:
    fake.enqueue(
        tool_calls([("call_1", "weather", '{"city": "Paris"}')]), text("It is sunny in Paris.")
    )
    with trio.fail_after(10):
        messages = await in_thread(run_agent, chat_model(server), "Weather in Paris?")
    assert [type(m).__name__ for m in messages] == [
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
    ]
    assert messages[1].tool_calls == [  # type: ignore[attr-defined]
        {"name": "weather", "args": {"city": "Paris"}, "id": "call_1", "type": "tool_call"}
    ]
    assert messages[-1].content == "It is sunny in Paris."
    tools = fake.requests[0].json["tools"]
    assert any(t["function"]["name"] == "weather" for t in tools)
    sent = fake.requests[1].json["messages"]
    assert sent[-1] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"}


async def test_streaming_tool_calling_agent_with_parallel_calls(server, fake: FakeOpenAI) -> None:
    fake.enqueue(
        tool_calls(
            [("call_p", "weather", '{"city": "Paris"}'), ("call_r", "weather", '{"city": "Rome"}')]
        ),
        text("Sunny in Paris, cloudy in Rome."),
    )
    with trio.fail_after(10):
        messages = await in_thread(
            partial(run_agent, stream=True), chat_model(server), "Paris and Rome?"
        )
    ai = messages[1]
    assert isinstance(ai, AIMessageChunk)
    assert [(c["id"], c["args"]) for c in ai.tool_calls] == [
        ("call_p", {"city": "Paris"}),
        ("call_r", {"city": "Rome"}),
    ]
    assert ai.invalid_tool_calls == []
    assert ai.response_metadata["finish_reason"] == "tool_calls"
    assert messages[-1].content == "Sunny in Paris, cloudy in Rome."
    sent = fake.requests[1].json["messages"]
    assert [m.get("tool_call_id") for m in sent[-2:]] == ["call_p", "call_r"]


class Forecast(pydantic.BaseModel):
    """A weather forecast."""

    city: str
    celsius: int


async def test_structured_output_by_function_calling(server, fake: FakeOpenAI) -> None:
    fake.enqueue(tool_calls([("call_f", "Forecast", '{"city": "Paris", "celsius": 21}')]))
    llm = chat_model(server).with_structured_output(Forecast, method="function_calling")
    with trio.fail_after(10):
        forecast = await in_thread(llm.invoke, "Forecast for Paris?")
    assert forecast == Forecast(city="Paris", celsius=21)
    sent = fake.requests[0].json
    assert any(t["function"]["name"] == "Forecast" for t in sent["tools"])
    # Without the forced call a real model may answer in text, and LangChain returns None.
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "Forecast"}}


async def test_structured_output_by_json_schema(server, fake: FakeOpenAI) -> None:
    fake.enqueue(text('{"city": "Rome", "celsius": 18}'))
    llm = chat_model(server).with_structured_output(Forecast, method="json_schema")
    with trio.fail_after(10):
        forecast = await in_thread(llm.invoke, "Forecast for Rome?")
    assert forecast == Forecast(city="Rome", celsius=18)
    assert fake.requests[0].json["response_format"]["type"] == "json_schema"


async def test_upstream_failure_mid_stream_raises(server, fake: FakeOpenAI) -> None:
    fake.enqueue(drop("partial"))
    llm = chat_model(server)
    with trio.fail_after(10), pytest.raises(openai.APIError, match="model provider"):
        await in_thread(lambda: list(llm.stream("hi")))


async def test_ainvoke_and_astream_on_asyncio(server, fake: FakeOpenAI) -> None:
    fake.enqueue(
        text("async answer"),
        text("async stream", chunks=["async", " stream"]),
        tool_calls([("call_a", "weather", '{"city": "Rome"}')]),
    )
    llm = chat_model(server, stream_usage=True)

    async def main() -> tuple[Any, list[Any], Any]:
        answer = await llm.ainvoke("hi")
        chunks = [chunk async for chunk in llm.astream("hi")]
        called = await llm.bind_tools([weather]).ainvoke("Rome?")
        return answer, chunks, called

    with trio.fail_after(10):
        answer, chunks, called = await in_thread(lambda: asyncio.run(main()))
    assert answer.content == "async answer"
    assert "".join(str(c.content) for c in chunks) == "async stream"
    assert [c.usage_metadata for c in chunks if c.usage_metadata]
    assert called.tool_calls[0]["args"] == {"city": "Rome"}
    offered = json.loads(fake.requests[2].body)["tools"]
    assert any(t["function"]["name"] == "weather" for t in offered)
