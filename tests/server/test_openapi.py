"""GET /openapi.json: a valid OpenAPI 3.1 document, and the server's real answers match it."""

from __future__ import annotations

import json
import re
from functools import partial
from typing import Any

import jsonschema
import pytest
import trio
from openapi_checks import (
    check_answer,
    fetch_document,
    media_type,
    response_validator,
    validator_at,
)
from openapi_spec_validator import validate as validate_openapi

from trioagent.server.guards import is_public
from trioagent.testing import FakeOpenAI, drop, hang, text, tool_calls

USER = [{"role": "user", "content": "hi"}]


async def test_document_is_public_and_valid_openapi_31(start_server) -> None:
    with trio.fail_after(10):
        async with start_server(api_keys=("k",)) as server:
            document = await fetch_document(server)
    assert document["openapi"].startswith("3.1.")
    validate_openapi(document)
    bearer = document["components"]["securitySchemes"]["bearerAuth"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")
    for path, operations in document["paths"].items():
        for operation in operations.values():
            expected = [] if is_public(path) else [{"bearerAuth": []}]
            assert operation["security"] == expected, path
    assert "security" not in document  # nothing applies to /healthz, /readyz, /openapi.json


async def test_document_components_are_valid_json_schemas(server) -> None:
    with trio.fail_after(10):
        document = await fetch_document(server)
    for name, schema in document["components"]["schemas"].items():
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:  # pragma: no cover - the message says which
            pytest.fail(f"components.schemas.{name}: {exc.message}")


async def test_model_enum_is_the_exposed_agents(start_server) -> None:
    with trio.fail_after(10):
        async with start_server() as server:
            every = await fetch_document(server)
        async with start_server(agent="helper") as server:
            one = await fetch_document(server)
    assert every["components"]["schemas"]["AgentName"]["enum"] == ["root", "helper"]
    assert one["components"]["schemas"]["AgentName"]["enum"] == ["helper"]
    model = validator_at(
        every, "components", "schemas", "ChatCompletionRequest", "properties", "model"
    )
    assert model.is_valid("helper")
    assert not model.is_valid("gpt-4o")


async def test_chat_completion_matches_the_document(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("hi"))
    with trio.fail_after(10):
        async with start_server(conversations_max=4) as server:
            document = await fetch_document(server)
            async with server.http() as http:
                response = await http.post(
                    "/v1/chat/completions",
                    json={"model": "root", "messages": USER},
                    headers={"X-Conversation-Id": "conv-1"},
                )
    assert response.status_code == 200
    operation = document["paths"]["/v1/chat/completions"]["post"]
    validator = response_validator(
        document, "/v1/chat/completions", "post", 200, media_type(response)
    )
    validator.validate(response.json())
    assert response.json()["choices"][0]["message"]["content"] == "hi"
    [header] = [p for p in operation["parameters"] if p["in"] == "header"]
    assert header["name"] == "X-Conversation-Id"
    assert "X-Conversation-Id" in operation["responses"]["200"]["headers"]
    assert re.fullmatch(header["schema"]["pattern"], response.headers["X-Conversation-Id"])


async def test_stream_chunks_match_the_document(server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Hello there", chunks=["Hel", "lo", " there"], usage=(7, 3)))
    body = {
        "model": "root",
        "messages": USER,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with trio.fail_after(10):
        document = await fetch_document(server)
        async with server.http() as http:
            response = await http.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    assert media_type(response) == "text/event-stream"
    content = document["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    event = validator_at(
        document,
        "paths",
        "/v1/chat/completions",
        "post",
        "responses",
        "200",
        "content",
        "text/event-stream",
        "schema",
    )
    assert content["text/event-stream"]["schema"]["required"] == ["data"]
    chunk = validator_at(document, "components", "schemas", "ChatCompletionChunk")
    events = [line.removeprefix("data: ") for line in response.text.split("\n\n") if line]
    assert events[-1] == "[DONE]"
    for data in events:
        event.validate({"event": "message", "data": data})
    for data in events[:-1]:
        chunk.validate(json.loads(data))


async def test_models_and_errors_match_the_document(start_server) -> None:
    with trio.fail_after(10):
        async with start_server(api_keys=("k",)) as server:
            document = await fetch_document(server)
            auth = {"Authorization": "Bearer k"}
            async with server.http() as http:
                models = await http.get("/v1/models", headers=auth)
                model = await http.get("/v1/models/helper", headers=auth)
                unknown = await http.get("/v1/models/nope", headers=auth)
                no_key = await http.get("/v1/models")
                bad = await http.post(
                    "/v1/chat/completions",
                    headers=auth,
                    json={
                        "model": "root",
                        "messages": USER,
                        "temperature": 3,
                    },
                )
                health = await http.get("/healthz")
    for path, method, response in (
        ("/v1/models", "get", models),
        ("/v1/models/{model}", "get", model),
        ("/v1/models/{model}", "get", unknown),
        ("/v1/models", "get", no_key),
        ("/v1/chat/completions", "post", bad),
        ("/healthz", "get", health),
    ):
        validator = response_validator(
            document, path, method, response.status_code, media_type(response)
        )
        validator.validate(response.json())
    assert (models.status_code, unknown.status_code, no_key.status_code) == (200, 404, 401)
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "temperature"
    assert no_key.headers["WWW-Authenticate"] == "Bearer"


OK_MESSAGES = [
    {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
    {"role": "developer", "content": "Really."},
    {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}},
        ],
    },
    {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
]
WEATHER = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}

REQUESTS = [
    pytest.param({}, True, id="minimal"),
    pytest.param(
        {
            "temperature": 2,
            "top_p": 1,
            "max_tokens": 1,
            "max_completion_tokens": 5,
            "stop": ["a", "b", "c", "d"],
            "seed": 7,
            "presence_penalty": -2,
            "frequency_penalty": 2,
            "parallel_tool_calls": False,
            "n": 1,
        },
        True,
        id="sampling-at-the-edges",
    ),
    pytest.param(
        {"temperature": None, "stream": None, "stream_options": None, "n": None},
        True,
        id="nulls-are-unset",
    ),
    pytest.param(
        {"messages": OK_MESSAGES, "tools": [WEATHER], "tool_choice": "auto"},
        True,
        id="every-role-and-client-tools",
    ),
    pytest.param(
        {"user": "u", "metadata": {"a": "b"}, "store": False, "unknown": 1},
        True,
        id="ignored-fields",
    ),
    pytest.param(
        {"messages": [{"role": "system", "content": [{"text": "x"}]}, *USER]},
        True,
        id="system-text-part-without-type",
    ),
    pytest.param(
        {"messages": [{"role": "user", "content": [{"text": "x"}]}]},
        False,
        id="user-part-without-type",
    ),
    pytest.param({"temperature": 2.5}, False, id="temperature-above-2"),
    pytest.param({"temperature": "1"}, False, id="temperature-as-string"),
    pytest.param({"top_p": 0}, False, id="top_p-zero"),
    pytest.param({"max_tokens": 0}, False, id="max_tokens-zero"),
    pytest.param({"presence_penalty": -2.5}, False, id="penalty-below-minus-2"),
    pytest.param({"stop": ["a", "b", "c", "d", "e"]}, False, id="five-stop-words"),
    pytest.param({"stop": ""}, False, id="empty-stop"),
    pytest.param({"n": 2}, False, id="n-2"),
    pytest.param({"logprobs": True}, False, id="logprobs"),
    pytest.param({"stream_options": {"include_usage": True}}, False, id="stream_options-alone"),
    pytest.param({"messages": []}, False, id="no-messages"),
    pytest.param({"messages": [{"role": "system", "content": "x"}]}, False, id="no-user-message"),
    pytest.param(
        {"messages": [{"role": "robot", "content": "x"}, *USER]}, False, id="unknown-role"
    ),
    pytest.param(
        {"messages": [*USER, {"role": "tool", "content": "x"}]},
        False,
        id="tool-message-without-tool_call_id",
    ),
    pytest.param(
        {"tools": [{"type": "function", "function": {"name": "a b"}}]}, False, id="bad-tool-name"
    ),
    pytest.param({"tool_choice": "sometimes"}, False, id="bad-tool_choice"),
]


@pytest.mark.parametrize(("fields", "accepted"), REQUESTS)
async def test_request_schema_agrees_with_the_server(
    server, fake: FakeOpenAI, fields: dict[str, Any], accepted: bool
) -> None:
    body = {"model": "root", "messages": USER, **fields}
    fake.enqueue(text("ok"))
    with trio.fail_after(10):
        document = await fetch_document(server)
        async with server.http() as http:
            response = await http.post("/v1/chat/completions", json=body)
    schema = validator_at(document, "components", "schemas", "ChatCompletionRequest")
    assert schema.is_valid(body) is accepted
    assert response.status_code == (200 if accepted else 400), response.text


# The Responses API: /v1/responses and the routes of a stored response.

RESPONSES = "/v1/responses"
STORED = "/v1/responses/{response_id}"
INPUT_ITEMS = "/v1/responses/{response_id}/input_items"
WEATHER_FUNCTION = {
    "type": "function",
    "name": "weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def response_events(document: dict[str, Any], body: str) -> list[dict[str, Any]]:
    """The events of a Responses API stream, each checked against the document.

    Every block is a ``: keep-alive`` comment or an ``event:`` line and one ``data:`` line:
    the pair matches the stream's schema, the JSON's ``type`` is the event's name, and the
    JSON matches ``ResponseStreamEvent`` and the component its ``type`` names.
    """
    stream = validator_at(
        document,
        "paths",
        RESPONSES,
        "post",
        "responses",
        "200",
        "content",
        "text/event-stream",
        "schema",
    )
    mapping = document["components"]["schemas"]["ResponseStreamEvent"]["discriminator"]["mapping"]
    assert body.endswith("\n\n")
    events = []
    for block in body.removesuffix("\n\n").split("\n\n"):
        if block == ": keep-alive":
            continue
        name_line, data_line = block.split("\n")
        name = name_line.removeprefix("event: ")
        data = data_line.removeprefix("data: ")
        stream.validate({"event": name, "data": data})
        event = json.loads(data)
        assert event["type"] == name
        validator_at(document, "components", "schemas", "ResponseStreamEvent").validate(event)
        validator_at(document, *mapping[name].removeprefix("#/").split("/")).validate(event)
        events.append(event)
    return events


async def test_responses_and_stored_responses_match_the_document(server, fake: FakeOpenAI) -> None:
    fake.enqueue(tool_calls([("call_1", "weather", '{"city": "Paris"}')]), text("Sunny."))
    first_body = {
        "model": "root",
        "instructions": "Be brief.",
        "tools": [WEATHER_FUNCTION],
        "metadata": {"topic": "weather"},
        "input": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "user", "content": [{"type": "input_text", "text": "Now"}]},
        ],
    }
    with trio.fail_after(10):
        document = await fetch_document(server)
        async with server.http() as http:
            first = await http.post(RESPONSES, json=first_body)
            call = first.json()["output"][0]
            second = await http.post(
                RESPONSES,
                json={
                    "model": "root",
                    "previous_response_id": first.json()["id"],
                    "tools": [WEATHER_FUNCTION],
                    "input": [
                        {
                            "type": "function_call_output",
                            "call_id": call["call_id"],
                            "output": "sunny",
                        }
                    ],
                },
            )
            rid = first.json()["id"]
            answers = [
                (RESPONSES, "post", first),
                (RESPONSES, "post", second),
                (STORED, "get", await http.get(f"/v1/responses/{rid}")),
                (INPUT_ITEMS, "get", await http.get(f"/v1/responses/{rid}/input_items")),
                (
                    INPUT_ITEMS,
                    "get",
                    await http.get(
                        f"/v1/responses/{rid}/input_items", params={"order": "asc", "limit": 1}
                    ),
                ),
                (STORED, "delete", await http.delete(f"/v1/responses/{rid}")),
                (STORED, "get", await http.get(f"/v1/responses/{rid}")),
                (INPUT_ITEMS, "get", await http.get(f"/v1/responses/{rid}/input_items")),
                (STORED, "delete", await http.delete(f"/v1/responses/{rid}")),
            ]
    for path, method, response in answers:
        check_answer(document, path, method, response)
    assert [r.status_code for _, _, r in answers] == [200] * 6 + [404] * 3
    assert call["type"] == "function_call"
    assert second.json()["output"][0]["content"][0]["text"] == "Sunny."
    assert answers[2][2].json() == first.json()
    items = answers[3][2].json()
    assert [item["content"][0]["text"] for item in items["data"]] == ["Now", "Weather in Paris?"]
    assert answers[4][2].json()["has_more"] is True


async def test_response_stream_matches_the_document(server, fake: FakeOpenAI) -> None:
    fake.enqueue(tool_calls([("call_1", "weather", '{"city": "Paris"}')], content="Let me check."))
    body = {"model": "root", "input": "Weather?", "tools": [WEATHER_FUNCTION], "stream": True}
    with trio.fail_after(10):
        document = await fetch_document(server)
        async with server.http() as http:
            response = await http.post(RESPONSES, json=body)
    assert response.status_code == 200
    check_answer(document, RESPONSES, "post", response)
    events = response_events(document, response.text)
    assert [event["type"] for event in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [event["sequence_number"] for event in events] == list(range(len(events)))
    validator_at(document, "components", "schemas", "Response").validate(events[-1]["response"])


async def test_failed_response_stream_matches_the_document(server, fake: FakeOpenAI) -> None:
    fake.enqueue(drop("Hal"))
    with trio.fail_after(10):
        document = await fetch_document(server)
        async with server.http() as http:
            response = await http.post(
                RESPONSES, json={"model": "root", "input": "hi", "stream": True}
            )
    check_answer(document, RESPONSES, "post", response)
    events = response_events(document, response.text)
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["error"]["code"] == "server_error"


async def test_response_errors_match_the_document(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("stored"), hang())
    auth = {"Authorization": "Bearer k"}
    with trio.fail_after(10):
        async with start_server(api_keys=("k",)) as server:
            document = await fetch_document(server)
            async with server.http(headers=auth) as http, trio.open_nursery() as nursery:
                stored = await http.post(RESPONSES, json={"model": "root", "input": "hi"})
                rid = stored.json()["id"]
                continued = {"model": "root", "input": "more", "previous_response_id": rid}
                nursery.start_soon(partial(http.post, RESPONSES, json=continued))
                await fake.wait_requests(2)
                answers = [
                    (409, RESPONSES, "post", await http.post(RESPONSES, json=continued)),
                    (
                        409,
                        RESPONSES,
                        "post",
                        await http.post(RESPONSES, json={**continued, "stream": True}),
                    ),
                    (
                        404,
                        RESPONSES,
                        "post",
                        await http.post(
                            RESPONSES, json={**continued, "previous_response_id": "resp_nope"}
                        ),
                    ),
                    (
                        404,
                        RESPONSES,
                        "post",
                        await http.post(RESPONSES, json={"model": "gpt-4o", "input": "hi"}),
                    ),
                    (
                        400,
                        RESPONSES,
                        "post",
                        await http.post(RESPONSES, json={"model": "root", "input": []}),
                    ),
                    (
                        415,
                        RESPONSES,
                        "post",
                        await http.post(
                            RESPONSES, content=b"{}", headers={"Content-Type": "text/plain"}
                        ),
                    ),
                    (
                        400,
                        INPUT_ITEMS,
                        "get",
                        await http.get(f"/v1/responses/{rid}/input_items", params={"limit": 0}),
                    ),
                    (
                        400,
                        INPUT_ITEMS,
                        "get",
                        await http.get(
                            f"/v1/responses/{rid}/input_items", params={"after": "nope"}
                        ),
                    ),
                    (404, STORED, "get", await http.get("/v1/responses/not-an-id")),
                ]
                nursery.cancel_scope.cancel()  # hang up on the hanging turn
            async with server.http() as http:
                answers += [
                    (401, RESPONSES, "post", await http.post(RESPONSES, json=continued)),
                    (401, STORED, "get", await http.get(f"/v1/responses/{rid}")),
                    (401, STORED, "delete", await http.delete(f"/v1/responses/{rid}")),
                    (401, INPUT_ITEMS, "get", await http.get(f"/v1/responses/{rid}/input_items")),
                ]
    for status, path, method, response in answers:
        assert response.status_code == status, response.text
        check_answer(document, path, method, response)
    assert answers[0][3].json()["error"]["param"] == "previous_response_id"
    assert answers[0][3].headers["retry-after"] == "1"


ITEMS = [
    {"role": "system", "content": "Be brief."},
    {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "!"}]},
    {
        "role": "user",
        "content": [
            {"type": "input_text", "text": "Weather?"},
            {"type": "input_image", "image_url": "https://x.test/a.png"},
        ],
    },
    {
        "role": "assistant",
        "content": [
            {"type": "output_text", "text": "Let me see.", "annotations": []},
            {"type": "refusal", "refusal": "no"},
        ],
    },
    {"type": "reasoning", "id": "rs_1", "summary": []},
    {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{}"},
    {
        "type": "function_call_output",
        "call_id": "c1",
        "output": [{"type": "input_text", "text": "sunny"}],
    },
]

RESPONSE_REQUESTS = [
    pytest.param({}, True, id="minimal"),
    pytest.param(
        {"temperature": 2, "top_p": 1, "max_output_tokens": 1, "parallel_tool_calls": False},
        True,
        id="sampling-at-the-edges",
    ),
    pytest.param(
        {
            "temperature": None,
            "stream": None,
            "stream_options": None,
            "tools": None,
            "text": None,
            "store": None,
            "previous_response_id": None,
            "conversation": None,
            "background": None,
            "top_logprobs": None,
        },
        True,
        id="nulls-are-unset",
    ),
    pytest.param(
        {"input": ITEMS, "tools": [WEATHER_FUNCTION], "tool_choice": "auto"},
        True,
        id="every-item-type",
    ),
    pytest.param(
        {"input": [{"type": "function_call_output", "call_id": "c", "output": "x"}]},
        True,
        id="only-a-function_call_output",
    ),
    pytest.param(
        {
            "user": "u",
            "include": ["reasoning.encrypted_content"],
            "reasoning": {"effort": "low"},
            "truncation": "auto",
            "service_tier": "auto",
            "prompt_cache_key": "k",
            "safety_identifier": "s",
            "max_tool_calls": 3,
            "metadata": {"a": "b"},
            "store": False,
            "background": False,
            "top_logprobs": 0,
            "unknown": 1,
        },
        True,
        id="ignored-fields",
    ),
    pytest.param(
        {"tools": [{"type": "web_search"}, WEATHER_FUNCTION]}, True, id="hosted-tools-are-left-out"
    ),
    pytest.param(
        {
            "text": {
                "format": {
                    "type": "json_schema",
                    "name": "x",
                    "strict": True,
                    "schema": {"type": "object"},
                }
            }
        },
        True,
        id="json_schema",
    ),
    pytest.param(
        {"stream": True, "stream_options": {"include_obfuscation": False}},
        True,
        id="stream_options-with-stream",
    ),
    pytest.param({"temperature": 2.5}, False, id="temperature-above-2"),
    pytest.param({"top_p": 0}, False, id="top_p-zero"),
    pytest.param({"max_output_tokens": 0}, False, id="max_output_tokens-zero"),
    pytest.param({"input": ""}, False, id="empty-input-string"),
    pytest.param({"input": []}, False, id="empty-input-array"),
    pytest.param({"input": [{"role": "system", "content": "x"}]}, False, id="no-user-message"),
    pytest.param({"input": [{"role": "robot", "content": "x"}]}, False, id="unknown-role"),
    pytest.param({"input": [{"content": "x"}]}, False, id="item-without-type-or-role"),
    pytest.param(
        {"input": [{"type": "web_search_call", "id": "ws_1"}]}, False, id="unknown-item-type"
    ),
    pytest.param(
        {"input": [{"role": "user", "content": [{"type": "input_file"}]}]}, False, id="input_file"
    ),
    pytest.param(
        {
            "input": [
                {
                    "type": "function_call_output",
                    "call_id": "c",
                    "output": [{"type": "input_file", "file_id": "f"}],
                }
            ]
        },
        False,
        id="input_file-in-a-function_call_output",
    ),
    pytest.param(
        {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
        False,
        id="image-without-url",
    ),
    pytest.param({"metadata": {"a": 1}}, False, id="metadata-not-a-string"),
    pytest.param({"tools": [{"type": "function", "name": "a b"}]}, False, id="bad-tool-name"),
    pytest.param({"tools": [{"type": "custom", "name": "x"}]}, False, id="custom-tool"),
    pytest.param({"background": True}, False, id="background"),
    pytest.param({"conversation": "conv_1"}, False, id="conversation"),
    pytest.param({"prompt": {"id": "pmpt_1"}}, False, id="prompt"),
    pytest.param({"top_logprobs": 2}, False, id="top_logprobs"),
    pytest.param({"stream_options": {}}, False, id="stream_options-alone"),
    pytest.param(
        {"text": {"format": {"type": "json_schema", "name": "x"}}},
        False,
        id="json_schema-without-schema",
    ),
    pytest.param({"tool_choice": "sometimes"}, False, id="bad-tool_choice"),
    pytest.param({"stream": "yes"}, False, id="stream-as-string"),
]


@pytest.mark.parametrize(("fields", "accepted"), RESPONSE_REQUESTS)
async def test_response_request_schema_agrees_with_the_server(
    server, fields: dict[str, Any], accepted: bool
) -> None:
    body = {"model": "root", "input": "hi", **fields}
    with trio.fail_after(10):
        document = await fetch_document(server)
        async with server.http() as http:
            response = await http.post(RESPONSES, json=body)
    schema = validator_at(document, "components", "schemas", "ResponseCreateRequest")
    assert schema.is_valid(body) is accepted
    assert response.status_code == (200 if accepted else 400), response.text


@pytest.mark.parametrize("limit", ["²", "9" * 5000], ids=["superscript-two", "5000-digits"])
async def test_input_items_limit_that_is_not_a_number_is_400(
    server, fake: FakeOpenAI, limit: str
) -> None:
    with trio.fail_after(10):
        document = await fetch_document(server)
        async with server.http() as http:
            stored = await http.post(RESPONSES, json={"model": "root", "input": "hi"})
            response = await http.get(
                f"/v1/responses/{stored.json()['id']}/input_items", params={"limit": limit}
            )
    assert response.status_code == 400, response.text
    check_answer(document, INPUT_ITEMS, "get", response)
