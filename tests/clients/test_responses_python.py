"""The official openai SDK (``openai.AsyncOpenAI`` on trio) against the Responses API of
a real server: ``responses.create``, ``stream``, ``parse``, ``retrieve``, ``delete`` and
``input_items.list``, stored responses continued with ``previous_response_id``, client
function tools, and what is (not) stored when a turn fails."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import openai
import pydantic
import pytest
import trio
from openai.lib._pydantic import to_strict_json_schema

from trioagent.testing import FakeOpenAI, drop, error, hang, held, text, tool_calls

from .conftest import run_tool_call

if TYPE_CHECKING:
    from ..conftest import Server, StartServer

INSTRUCTION = {"role": "system", "content": "You are a helpful test agent."}
"""What the agent's YAML puts first in every model call of ``root``."""

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}
"""The client tool of tests/clients/conftest.py, in the Responses API's (flat) shape."""

PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42"
    "mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@asynccontextmanager
async def sdk(
    server: Server, api_key: str = "unused", **kwargs: Any
) -> AsyncIterator[openai.AsyncOpenAI]:
    """The async SDK on ``server``, validating strictly, without retries unless asked."""
    kwargs.setdefault("timeout", 10)
    async with server.openai(api_key, **kwargs) as client:
        yield client


def sent(fake: FakeOpenAI, call: int) -> list[tuple[str, str]]:
    """(role, content) of the messages model call number ``call`` sent upstream."""
    return [(m["role"], m["content"]) for m in fake.requests[call].json["messages"]]


def plain(response: Any) -> dict[str, Any]:
    """A (parsed) response as JSON, without the ``parsed`` fields the stream helper adds."""
    document: dict[str, Any] = response.model_dump(mode="json")
    for item in document["output"]:
        for part in item.get("content") or ():
            part.pop("parsed", None)
    document.pop("output_parsed", None)
    return document


def named_events(body: str) -> list[tuple[str, dict[str, Any]]]:
    """The ``event:``/``data:`` pairs of a Responses API SSE body, checking the framing."""
    assert body.endswith("\n\n"), body[-40:]
    events = []
    for block in body.split("\n\n")[:-1]:
        if block.startswith(":"):  # a keep-alive comment
            continue
        name_line, data_line = block.split("\n")
        assert name_line.startswith("event: "), block
        assert data_line.startswith("data: "), block
        data = json.loads(data_line[len("data: ") :])
        assert data["type"] == name_line[len("event: ") :]
        events.append((data["type"], data))
    return events


async def stream_events(client: openai.AsyncOpenAI, **params: Any) -> tuple[list[Any], Any]:
    """All events of ``responses.stream(**params)`` and its final response."""
    async with client.responses.stream(**params) as stream:
        events = [event async for event in stream]
        return events, await stream.get_final_response()


async def assert_not_stored(client: openai.AsyncOpenAI, response_id: str) -> None:
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(response_id)
    with pytest.raises(openai.NotFoundError) as caught:
        await client.responses.create(model="root", input="and?", previous_response_id=response_id)
    assert caught.value.param == "previous_response_id"


# 1. responses.create


async def test_string_input_over_an_agent_tool_step(server: Server, fake: FakeOpenAI) -> None:
    fake.enqueue(
        tool_calls(
            [("c1", "think", '{"thought": "plan"}')], content="Let me think.", usage=(10, 5)
        ),
        text("Done thinking.", usage=(20, 4)),
    )
    with trio.fail_after(10):
        async with sdk(server) as client:
            response = await client.responses.create(model="root", input="hi")
    assert response.id.startswith("resp_")
    assert (response.object, response.status, response.model) == ("response", "completed", "root")
    assert response.error is None
    assert response.output_text == "Let me think.\n\nDone thinking."
    # One message item with all the text; the agent's own tool call is not a function_call.
    [message] = response.output
    assert message.type == "message"
    assert message.id == "msg_" + response.id.removeprefix("resp_")
    assert (message.role, message.status) == ("assistant", "completed")
    assert [(p.type, p.text) for p in message.content] == [
        ("output_text", "Let me think.\n\nDone thinking.")
    ]
    assert response.usage is not None
    assert (
        response.usage.input_tokens,
        response.usage.output_tokens,
        response.usage.total_tokens,
    ) == (30, 9, 39)
    assert sent(fake, 0) == [tuple(INSTRUCTION.values()), ("user", "hi")]
    second = fake.requests[1].json["messages"]
    assert second[-2]["tool_calls"][0]["function"]["name"] == "think"
    assert (second[-1]["role"], second[-1]["tool_call_id"]) == ("tool", "c1")


async def test_list_input_with_parts_developer_message_and_instructions(
    server: Server, fake: FakeOpenAI
) -> None:
    fake.enqueue(text("Très bien.", usage=(12, 3)))
    with trio.fail_after(10):
        async with sdk(server) as client:
            response = await client.responses.create(
                model="root",
                instructions="Be brief.",
                input=[
                    {"role": "developer", "content": "Answer in French."},
                    {
                        "type": "message",
                        "role": "user",
                        "content": [
                            {"type": "input_text", "text": "How are "},
                            {"type": "input_text", "text": "you?"},
                        ],
                    },
                ],
                temperature=0.5,
                max_output_tokens=50,
                metadata={"trace": "t1"},
            )
    assert (response.status, response.output_text) == ("completed", "Très bien.")
    assert (response.instructions, response.temperature, response.max_output_tokens) == (
        "Be brief.",
        0.5,
        50,
    )
    assert response.metadata == {"trace": "t1"}
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.total_tokens) == (12, 15)
    # The agent's instruction first, then the client's, in their place.
    assert sent(fake, 0) == [
        tuple(INSTRUCTION.values()),
        ("system", "Be brief."),
        ("system", "Answer in French."),
        ("user", "How are you?"),
    ]
    body = fake.requests[0].json
    assert (body["temperature"], body["max_tokens"]) == (0.5, 50)


# 2. responses.stream


async def test_stream_helper_events_in_order_and_final_response_is_stored(
    server: Server, fake: FakeOpenAI
) -> None:
    # Pauses between the pieces, so that each reaches the client as its own event.
    fake.enqueue(
        text(
            "Hello there, Ada", chunks=["Hello", " there", ", Ada"], usage=(7, 3), chunk_delay=0.05
        )
    )
    with trio.fail_after(10):
        async with sdk(server) as client:
            events, final = await stream_events(client, model="root", input="hi")
            retrieved = await client.responses.retrieve(final.id)
    kinds = [e.type for e in events]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 3,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    created = events[0].response
    assert (created.id, created.status, created.output) == (final.id, "in_progress", [])
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert deltas == ["Hello", " there", ", Ada"]
    item_id = "msg_" + final.id.removeprefix("resp_")
    assert {e.item_id for e in events if hasattr(e, "item_id")} == {item_id}
    assert events[7].text == "".join(deltas) == final.output_text == "Hello there, Ada"
    assert events[9].item.status == "completed"
    assert (final.status, final.usage.total_tokens) == ("completed", 10)
    assert plain(events[-1].response) == plain(final)
    assert retrieved.model_dump(mode="json") == plain(final)


# 3. responses.parse


class CityWeather(pydantic.BaseModel):
    city: str
    temperature_c: int
    sunny: bool


async def test_parse_sends_the_schema_and_parses_the_answer(
    server: Server, fake: FakeOpenAI
) -> None:
    fake.enqueue(text('{"city": "Paris", "temperature_c": 21, "sunny": true}'))
    with trio.fail_after(10):
        async with sdk(server) as client:
            response = await client.responses.parse(
                model="root", input="The weather in Paris?", text_format=CityWeather
            )
    assert response.output_parsed == CityWeather(city="Paris", temperature_c=21, sunny=True)
    assert response.text.format.type == "json_schema"
    assert fake.requests[0].json["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "CityWeather",
            "schema": to_strict_json_schema(CityWeather),
            "strict": True,
        },
    }


# 4. previous_response_id


async def test_previous_response_id_over_three_turns(server: Server, fake: FakeOpenAI) -> None:
    fake.enqueue(
        text("Nice to meet you, Ada."),
        text("Noted."),
        text("You are Ada; tea."),
        text("Tea? You never said."),
    )
    with trio.fail_after(10):
        async with sdk(server) as client:
            first = await client.responses.create(model="root", input="I am Ada.")
            second = await client.responses.create(
                model="root", input="I like tea.", previous_response_id=first.id
            )
            third = await client.responses.create(
                model="root",
                input=[{"role": "user", "content": "Who am I?"}],
                previous_response_id=second.id,
            )
            old = await client.responses.retrieve(first.id)
            stored_third = await client.responses.retrieve(third.id)
            # The first response still continues, as it was (a branch).
            branch = await client.responses.create(
                model="root", input="What do I like?", previous_response_id=first.id
            )
    assert len({first.id, second.id, third.id, branch.id}) == 4
    assert (second.previous_response_id, third.previous_response_id) == (first.id, second.id)
    assert third.output_text == "You are Ada; tea."
    assert sent(fake, 2) == [
        tuple(INSTRUCTION.values()),
        ("user", "I am Ada."),
        ("assistant", "Nice to meet you, Ada."),
        ("user", "I like tea."),
        ("assistant", "Noted."),
        ("user", "Who am I?"),
    ]
    assert old.model_dump(mode="json") == first.model_dump(mode="json")
    assert stored_third.model_dump(mode="json") == third.model_dump(mode="json")
    assert sent(fake, 3)[1:] == [
        ("user", "I am Ada."),
        ("assistant", "Nice to meet you, Ada."),
        ("user", "What do I like?"),
    ]


# 5. Client function tools


async def test_function_call_round_trip_with_previous_response_id(
    server: Server, fake: FakeOpenAI
) -> None:
    fake.enqueue(
        tool_calls([("call_w", "get_weather", '{"city": "Paris"}')], usage=(5, 2)),
        text("It is sunny in Paris.", usage=(9, 6)),
    )
    with trio.fail_after(10):
        async with sdk(server) as client:
            first = await client.responses.create(
                model="root", input="Weather in Paris?", tools=[WEATHER]
            )
            [call] = first.output
            assert call.type == "function_call"
            final = await client.responses.create(
                model="root",
                previous_response_id=first.id,
                tools=[WEATHER],
                input=[
                    {
                        "type": "function_call_output",
                        "call_id": call.call_id,
                        "output": run_tool_call(call.name, call.arguments),
                    }
                ],
            )
            listed = await client.responses.input_items.list(final.id)
    assert (call.call_id, call.name, call.arguments, call.status) == (
        "call_w",
        "get_weather",
        '{"city": "Paris"}',
        "completed",
    )
    assert call.id == "fc_" + first.id.removeprefix("resp_") + "_0"
    assert (first.status, first.output_text) == ("completed", "")
    assert [t.name for t in first.tools] == ["get_weather"]
    assert (final.status, final.output_text) == ("completed", "It is sunny in Paris.")
    [item] = listed.data  # only this request's input, as OpenAI lists it
    assert (item.type, item.call_id, item.output, item.status) == (
        "function_call_output",
        "call_w",
        "sunny, 21 C",
        "completed",
    )
    offered = [t["function"]["name"] for t in fake.requests[0].json["tools"]]
    assert "get_weather" in offered
    assert "think" in offered  # the agent's own tools beside the client's
    second = fake.requests[1].json["messages"]
    assert second[-3] == {"role": "user", "content": "Weather in Paris?"}
    assert second[-2]["tool_calls"] == [
        {
            "id": "call_w",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        }
    ]
    assert second[-1] == {"role": "tool", "tool_call_id": "call_w", "content": "sunny, 21 C"}


async def test_function_call_round_trip_stateless(server: Server, fake: FakeOpenAI) -> None:
    """As the Agents SDK does without previous_response_id: the whole input every time,
    the function_call item sent back as the model gave it."""
    fake.enqueue(
        tool_calls([("call_w", "get_weather", '{"city": "Rome"}')]), text("Cloudy in Rome.")
    )
    history: list[Any] = [{"role": "user", "content": "Weather in Rome?"}]
    with trio.fail_after(10):
        async with sdk(server) as client:
            first = await client.responses.create(
                model="root", input=history, tools=[WEATHER], store=False
            )
            for item in first.output:
                history.append(item.model_dump(exclude_none=True))
                if item.type == "function_call":
                    history.append(
                        {
                            "type": "function_call_output",
                            "call_id": item.call_id,
                            "output": run_tool_call(item.name, item.arguments),
                        }
                    )
            final = await client.responses.create(
                model="root", input=history, tools=[WEATHER], store=False
            )
    assert [item.get("type") for item in history] == [None, "function_call", "function_call_output"]
    assert final.output_text == "Cloudy in Rome."
    second = fake.requests[1].json["messages"]
    assert second[0] == INSTRUCTION
    assert second[1] == {"role": "user", "content": "Weather in Rome?"}
    assert second[2]["tool_calls"][0]["id"] == "call_w"
    assert second[3] == {"role": "tool", "tool_call_id": "call_w", "content": "cloudy, 18 C"}
    assert len(second) == 4


async def test_streamed_function_calls(server: Server, fake: FakeOpenAI) -> None:
    fake.enqueue(
        tool_calls(
            [
                ("call_p", "get_weather", '{"city": "Paris"}'),
                ("call_r", "get_weather", '{"city": "Rome"}'),
            ],
            content="Checking.",
        ),
        text("Paris is sunny, Rome is cloudy."),
    )
    with trio.fail_after(10):
        async with sdk(server) as client:
            events, first = await stream_events(
                client, model="root", input="Weather in Paris and Rome?", tools=[WEATHER]
            )
            outputs = [
                {
                    "type": "function_call_output",
                    "call_id": item.call_id,
                    "output": run_tool_call(item.name, item.arguments),
                }
                for item in first.output
                if item.type == "function_call"
            ]
            _, final = await stream_events(
                client, model="root", tools=[WEATHER], previous_response_id=first.id, input=outputs
            )
    assert [e.sequence_number for e in events] == list(range(len(events)))
    calls = [
        (e.type.removeprefix("response."), e.output_index)
        for e in events
        if e.type.startswith("response.output_item") or "arguments" in e.type
    ]
    assert calls == [
        ("output_item.added", 0),
        ("output_item.done", 0),  # the message "Checking."
        ("output_item.added", 1),
        ("function_call_arguments.delta", 1),
        ("function_call_arguments.done", 1),
        ("output_item.done", 1),
        ("output_item.added", 2),
        ("function_call_arguments.delta", 2),
        ("function_call_arguments.done", 2),
        ("output_item.done", 2),
    ]
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert [(e.name, json.loads(e.arguments)) for e in done] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Rome"}),
    ]
    deltas = [e for e in events if e.type == "response.function_call_arguments.delta"]
    assert [e.snapshot for e in deltas] == [e.arguments for e in done]
    assert events[-1].type == "response.completed"
    assert first.output_text == "Checking."
    assert [(i.type, getattr(i, "call_id", None)) for i in first.output] == [
        ("message", None),
        ("function_call", "call_p"),
        ("function_call", "call_r"),
    ]
    assert final.output_text == "Paris is sunny, Rome is cloudy."
    tail = sent(fake, 1)[-3:]
    assert [role for role, _ in tail] == ["assistant", "tool", "tool"]
    assert [content for _, content in tail[1:]] == ["sunny, 21 C", "cloudy, 18 C"]


# 6. Stored responses: retrieve, delete, input items; unknown ids


async def test_input_items_pages_in_both_orders(server: Server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Four."))
    with trio.fail_after(10):
        async with sdk(server) as client:
            response = await client.responses.create(
                model="root",
                input=[
                    {"role": "developer", "content": "Count."},
                    {"role": "user", "content": "One."},
                    {"role": "assistant", "content": "Two."},
                    {
                        "role": "user",
                        "content": [
                            {"type": "input_text", "text": "Three?"},
                            {"type": "input_image", "image_url": PIXEL},
                        ],
                    },
                ],
            )
            newest_first = await client.responses.input_items.list(response.id)
            page = await client.responses.input_items.list(response.id, order="asc", limit=3)
            rest = await client.responses.input_items.list(
                response.id, order="asc", limit=3, after=page.last_id
            )
            walked = [
                item
                async for item in client.responses.input_items.list(
                    response.id, order="asc", limit=1
                )
            ]

    def texts(items: Any) -> list[tuple[str, str]]:
        return [
            (i.role, "".join(p.text for p in i.content if p.type != "input_image")) for i in items
        ]

    everything = [
        ("developer", "Count."),
        ("user", "One."),
        ("assistant", "Two."),
        ("user", "Three?"),
    ]
    assert texts(newest_first.data) == everything[::-1]
    assert not newest_first.has_more
    assert (texts(page.data), page.has_more) == (everything[:3], True)
    assert (page.first_id, page.last_id) == (page.data[0].id, page.data[2].id)
    assert (texts(rest.data), rest.has_more) == (everything[3:], False)
    assert texts(walked) == everything  # the SDK's paginator follows `after`
    assert len({i.id for i in walked}) == 4
    assert [[p.type for p in i.content] for i in walked] == [
        ["input_text"],
        ["input_text"],
        ["output_text"],
        ["input_text", "input_image"],
    ]
    image = walked[3].content[1]
    assert (image.image_url, image.detail) == (PIXEL, "auto")
    assert fake.requests[0].json["messages"][-1]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": PIXEL},
    }


async def test_retrieve_and_delete(server: Server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Kept."))
    with trio.fail_after(10):
        async with sdk(server) as client:
            response = await client.responses.create(model="root", input="hi")
            retrieved = await client.responses.retrieve(response.id)
            raw = await client.responses.with_raw_response.delete(response.id)
            for lookup in (
                client.responses.retrieve,
                client.responses.delete,
                client.responses.input_items.list,
            ):
                with pytest.raises(openai.NotFoundError) as caught:
                    await lookup(response.id)
                assert (caught.value.status_code, caught.value.code) == (404, "not_found")
    assert retrieved.model_dump(mode="json") == response.model_dump(mode="json")
    assert raw.status_code == 200
    assert raw.http_response.json() == {
        "id": response.id,
        "object": "response.deleted",
        "deleted": True,
    }


@pytest.mark.parametrize(
    "response_id",
    ["resp_0123456789abcdef", "nonsense", "resp_"],
    ids=["unknown", "not-an-id", "empty-suffix"],
)
async def test_unknown_ids_are_not_found(
    server: Server, fake: FakeOpenAI, response_id: str
) -> None:
    with trio.fail_after(10):
        async with sdk(server) as client:
            for lookup in (
                client.responses.retrieve,
                client.responses.delete,
                client.responses.input_items.list,
            ):
                with pytest.raises(openai.NotFoundError) as caught:
                    await lookup(response_id)
                assert (caught.value.type, caught.value.code) == (
                    "invalid_request_error",
                    "not_found",
                )
            for stream in (False, True):
                with pytest.raises(openai.NotFoundError) as continued:
                    await client.responses.create(
                        model="root", input="hi", stream=stream, previous_response_id=response_id
                    )
                error_ = continued.value
                assert (error_.code, error_.param) == (
                    "previous_response_not_found",
                    "previous_response_id",
                )
                assert response_id in error_.message
    assert fake.requests == []


async def test_unknown_model_is_model_not_found(server: Server, fake: FakeOpenAI) -> None:
    with trio.fail_after(10):
        async with sdk(server) as client:
            for stream in (False, True):
                with pytest.raises(openai.NotFoundError) as caught:
                    await client.responses.create(model="gpt-4o", input="hi", stream=stream)
                error_ = caught.value
                assert (error_.status_code, error_.type, error_.code, error_.param) == (
                    404,
                    "invalid_request_error",
                    "model_not_found",
                    "model",
                )
    assert fake.requests == []


# 7. store: false


async def test_store_false_answers_but_keeps_nothing(server: Server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Forgotten at once."), text("Streamed, forgotten."))
    with trio.fail_after(10):
        async with sdk(server) as client:
            response = await client.responses.create(model="root", input="hi", store=False)
            _, streamed = await stream_events(client, model="root", input="hi", store=False)
            for response_id in (response.id, streamed.id):
                await assert_not_stored(client, response_id)
    assert (response.status, response.store, response.output_text) == (
        "completed",
        False,
        "Forgotten at once.",
    )
    assert (streamed.store, streamed.output_text) == (False, "Streamed, forgotten.")
    assert len(fake.requests) == 2


# 8. Failures: nothing is stored, the last good response still continues


async def good_then(client: openai.AsyncOpenAI) -> str:
    """Make the last good response, which the failed turn tries to continue."""
    good = await client.responses.create(model="root", input="I am Ada.")
    assert good.output_text == "Hello Ada."
    return good.id


async def still_continues(client: openai.AsyncOpenAI, fake: FakeOpenAI, good_id: str) -> None:
    """The failed turn left the good response as it was: continuing it works, and the
    model sees no trace of the failed input."""
    fake.enqueue(text("You are Ada."))
    after = await client.responses.create(
        model="root", input="Who am I?", previous_response_id=good_id
    )
    assert after.output_text == "You are Ada."
    assert sent(fake, len(fake.requests) - 1)[1:] == [
        ("user", "I am Ada."),
        ("assistant", "Hello Ada."),
        ("user", "Who am I?"),
    ]


async def test_upstream_error_is_502_not_retried_and_stores_nothing(
    server: Server, fake: FakeOpenAI
) -> None:
    # Three attempts: our own retry policy; retry_after=0 makes its waits zero.
    fake.enqueue(text("Hello Ada."), *[error(500, "upstream detail", retry_after=0)] * 3)
    with trio.fail_after(10):
        async with sdk(server, max_retries=2) as client:  # the SDK's default
            good_id = await good_then(client)
            with pytest.raises(openai.InternalServerError) as caught:
                await client.responses.create(
                    model="root", input="Fail.", previous_response_id=good_id
                )
            assert len(fake.requests) == 4  # the SDK sent it once (a retry: 3 more)
            fake.enqueue(*[error(500, retry_after=0)] * 3)
            events, body = await raw_stream(
                server, {"model": "root", "input": "Fail.", "previous_response_id": good_id}
            )
            await assert_not_stored(client, events[0][1]["response"]["id"])
            await still_continues(client, fake, good_id)
    error_ = caught.value
    assert (error_.status_code, error_.type, error_.code) == (502, "server_error", "upstream_error")
    assert error_.response.headers["x-should-retry"] == "false"
    assert "upstream detail" not in error_.message
    assert [kind for kind, _ in events] == [
        "response.created",
        "response.in_progress",
        "response.failed",
    ]
    failed = events[-1][1]
    assert failed["sequence_number"] == 2
    assert failed["response"]["status"] == "failed"
    # error.code is OpenAI's closed enum; the message says what failed.
    assert failed["response"]["error"]["code"] == "server_error"
    assert failed["response"]["error"]["message"].startswith("The model provider failed")
    assert "data: [DONE]" not in body


async def raw_stream(
    server: Server, request: dict[str, Any], **headers: str
) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    """POST a streamed request with httpx; its named events and raw body."""
    async with server.http() as http:
        response = await http.post(
            "/v1/responses", json={**request, "stream": True}, headers=headers
        )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    return named_events(response.text), response.text


async def test_mid_stream_failure_ends_with_response_failed(
    server: Server, fake: FakeOpenAI
) -> None:
    fake.enqueue(text("Hello Ada."), drop("partial answer"), drop("partial answer"))
    with trio.fail_after(10):
        async with sdk(server) as client:
            good_id = await good_then(client)
            request = {"model": "root", "input": "Fail.", "previous_response_id": good_id}
            events, _ = await raw_stream(server, request)
            async with client.responses.stream(**request) as stream:
                seen = [event async for event in stream]
            for response_id in {events[0][1]["response"]["id"], seen[0].response.id}:
                await assert_not_stored(client, response_id)
            await still_continues(client, fake, good_id)
    kinds = [kind for kind, _ in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert "response.output_text.delta" in kinds
    assert kinds[-1] == "response.failed"
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    failed = events[-1][1]["response"]
    assert (failed["status"], failed["error"]["code"]) == ("failed", "server_error")
    assert failed["error"]["message"].startswith("The model provider failed")
    assert failed["id"] == events[0][1]["response"]["id"]
    # The SDK's helper hands over the failure as an event, with the error.
    assert seen[-1].type == "response.failed"
    assert seen[-1].response.error.code == "server_error"
    assert seen[-1].response.error.message == failed["error"]["message"]
    assert (
        "".join(e.delta for e in seen if e.type == "response.output_text.delta") == "partial answer"
    )


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
async def test_turn_timeout_stores_nothing(
    start_server: StartServer, fake: FakeOpenAI, streamed: bool
) -> None:
    fake.enqueue(text("Hello Ada."), hang())
    with trio.fail_after(10):
        async with (
            start_server(request_timeout=0.5) as server,
            sdk(server, max_retries=2) as client,
        ):
            good_id = await good_then(client)
            request = {"model": "root", "input": "Hang.", "previous_response_id": good_id}
            if streamed:
                events, _ = await raw_stream(server, request)
                assert [kind for kind, _ in events] == [
                    "response.created",
                    "response.in_progress",
                    "response.failed",
                ]
                failed = events[-1][1]["response"]
                assert (failed["status"], failed["error"]["code"]) == ("failed", "server_error")
                assert "request timeout" in failed["error"]["message"]
                await assert_not_stored(client, failed["id"])
            else:
                with pytest.raises(openai.InternalServerError) as caught:
                    await client.responses.create(**request)
                assert (caught.value.status_code, caught.value.code) == (504, "timeout")
                assert caught.value.response.headers["x-should-retry"] == "false"
            await fake.wait_disconnects(1)  # the server cancelled its upstream call
            assert len(fake.requests) == 2
            await still_continues(client, fake, good_id)


async def test_client_gone_mid_stream_stores_nothing(server: Server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Hello Ada."), hang())
    with trio.fail_after(10):
        async with sdk(server) as client:
            good_id = await good_then(client)
            async with client.responses.stream(
                model="root", input="Wait.", previous_response_id=good_id
            ) as stream:
                created = await stream.__anext__()
                await fake.wait_requests(2)  # the fake holds the answer
            await fake.wait_disconnects(1)  # the server cancelled its upstream call
            assert created.type == "response.created"
            await assert_not_stored(client, created.response.id)
            await still_continues(client, fake, good_id)


# 9. One turn at a time on a response


async def test_second_continuation_at_once_is_conflict(server: Server, fake: FakeOpenAI) -> None:
    release = trio.Event()
    fake.enqueue(text("Hello Ada."), held(text("First branch."), release), text("Later."))
    results: dict[str, Any] = {}
    with trio.fail_after(10):
        async with sdk(server, max_retries=0) as client:
            good_id = await good_then(client)

            async def first() -> None:
                results["first"] = await client.responses.create(
                    model="root", input="One.", previous_response_id=good_id
                )

            async with trio.open_nursery() as nursery:
                nursery.start_soon(first)
                await fake.wait_requests(2)
                for stream in (False, True):
                    with pytest.raises(openai.ConflictError) as caught:
                        await client.responses.create(
                            model="root", input="Two.", previous_response_id=good_id, stream=stream
                        )
                    error_ = caught.value
                    assert (error_.status_code, error_.type, error_.code, error_.param) == (
                        409,
                        "conflict_error",
                        "conversation_busy",
                        "previous_response_id",
                    )
                    assert error_.response.headers["retry-after"] == "1"
                    assert good_id in error_.message
                release.set()
            later = await client.responses.create(
                model="root", input="Three.", previous_response_id=good_id
            )
    assert results["first"].output_text == "First branch."
    assert later.output_text == "Later."
    assert len(fake.requests) == 3
    assert sent(fake, 2)[-1] == ("user", "Three.")


# 10. Responses belong to the API key that made them


async def test_a_response_is_scoped_to_its_api_key(
    start_server: StartServer, fake: FakeOpenAI
) -> None:
    fake.enqueue(text("For A only."), text("A again."))
    with trio.fail_after(10):
        async with (
            start_server(api_keys=("key-a", "key-b")) as server,
            sdk(server, api_key="key-a") as a,
            sdk(server, api_key="key-b") as b,
        ):
            response = await a.responses.create(model="root", input="hi")
            for lookup in (b.responses.retrieve, b.responses.delete, b.responses.input_items.list):
                with pytest.raises(openai.NotFoundError):
                    await lookup(response.id)
            with pytest.raises(openai.NotFoundError) as continued:
                await b.responses.create(model="root", input="hi", previous_response_id=response.id)
            kept = await a.responses.retrieve(response.id)
            again = await a.responses.create(
                model="root", input="more", previous_response_id=response.id
            )
    assert continued.value.param == "previous_response_id"
    assert kept.output_text == "For A only."
    assert again.output_text == "A again."
    assert len(fake.requests) == 2


# 11. Bad input: 400 naming the param, before any model call


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}, "tools[0].type"),
        (
            {
                "input": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "input_text", "text": "Read this:"},
                            {"type": "input_file", "file_id": "file-1"},
                        ],
                    }
                ]
            },
            "input[0].content[1]",
        ),
        ({"input": []}, "input"),
        ({"temperature": 3}, "temperature"),
        (
            {
                "input": [
                    {"role": "user", "content": "hi"},
                    {
                        "type": "computer_call_output",
                        "call_id": "c1",
                        "output": {"type": "computer_screenshot", "image_url": "x"},
                    },
                ]
            },
            "input[1]",
        ),
    ],
    ids=["file-search-tool", "input-file", "empty-input", "temperature", "unknown-item-type"],
)
async def test_bad_input_is_bad_request_naming_the_param(
    server: Server, fake: FakeOpenAI, params: dict[str, Any], param: str
) -> None:
    request = {"model": "root", "input": "hi", **params}
    with trio.fail_after(10):
        async with sdk(server) as client:
            for stream in (False, True):
                with pytest.raises(openai.BadRequestError) as caught:
                    await client.responses.create(**request, stream=stream)
                error_ = caught.value
                assert (error_.status_code, error_.type) == (400, "invalid_request_error")
                assert error_.param is not None
                assert error_.param.startswith(param), error_.param
                assert "Traceback" not in error_.message
    assert fake.requests == []


async def test_an_item_reference_stands_for_the_stored_output_item(
    server: Server, fake: FakeOpenAI
) -> None:
    fake.enqueue(text("Paris is in France."), text("About two million."))
    with trio.fail_after(10):
        async with sdk(server) as client:
            first = await client.responses.create(model="root", input="Where is Paris?")
            message_id = first.output[0].id
            second = await client.responses.create(
                model="root",
                input=[
                    {"role": "user", "content": "Where is Paris?"},
                    {"type": "item_reference", "id": message_id},
                    {"role": "user", "content": "How many people live there?"},
                ],
            )
            with pytest.raises(openai.BadRequestError) as caught:
                await client.responses.create(
                    model="root",
                    input=[
                        {"type": "item_reference", "id": "msg_0123abcd"},
                        {"role": "user", "content": "hi"},
                    ],
                )
    assert second.output_text == "About two million."
    assert sent(fake, 1)[1:] == [
        ("user", "Where is Paris?"),
        ("assistant", "Paris is in France."),
        ("user", "How many people live there?"),
    ]
    assert caught.value.body["param"] == "input[0].id"  # type: ignore[index]
    assert len(fake.requests) == 2


async def test_instructions_go_with_their_request_and_are_not_carried_over(
    server: Server, fake: FakeOpenAI
) -> None:
    fake.enqueue(text("Hello, Ada."), text("Tu t'appelles Ada."))
    with trio.fail_after(10):
        async with sdk(server) as client:
            first = await client.responses.create(
                model="root", instructions="Be brief.", input="I am Ada."
            )
            await client.responses.create(
                model="root",
                instructions="Answer in French.",
                input="What is my name?",
                previous_response_id=first.id,
            )
    assert sent(fake, 1) == [
        tuple(INSTRUCTION.values()),
        ("system", "Answer in French."),
        ("user", "I am Ada."),
        ("assistant", "Hello, Ada."),
        ("user", "What is my name?"),
    ]
