"""GET /openapi.json: a valid OpenAPI 3.1 document, and the server's real answers match it."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest
import trio
from openapi_checks import fetch_document, media_type, response_validator, validator_at
from openapi_spec_validator import validate as validate_openapi

from trioagent.server.guards import is_public
from trioagent.testing import FakeOpenAI, text

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
    model = validator_at(every, "components", "schemas", "ChatCompletionRequest", "properties",
                         "model")
    assert model.is_valid("helper")
    assert not model.is_valid("gpt-4o")


async def test_chat_completion_matches_the_document(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("hi"))
    with trio.fail_after(10):
        async with start_server(conversations_max=4) as server:
            document = await fetch_document(server)
            async with server.http() as http:
                response = await http.post(
                    "/v1/chat/completions", json={"model": "root", "messages": USER},
                    headers={"X-Conversation-Id": "conv-1"},
                )
    assert response.status_code == 200
    operation = document["paths"]["/v1/chat/completions"]["post"]
    validator = response_validator(document, "/v1/chat/completions", "post", 200,
                                   media_type(response))
    validator.validate(response.json())
    assert response.json()["choices"][0]["message"]["content"] == "hi"
    [header] = [p for p in operation["parameters"] if p["in"] == "header"]
    assert header["name"] == "X-Conversation-Id"
    assert "X-Conversation-Id" in operation["responses"]["200"]["headers"]
    assert re.fullmatch(header["schema"]["pattern"], response.headers["X-Conversation-Id"])


async def test_stream_chunks_match_the_document(server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Hello there", chunks=["Hel", "lo", " there"], usage=(7, 3)))
    body = {"model": "root", "messages": USER, "stream": True,
            "stream_options": {"include_usage": True}}
    with trio.fail_after(10):
        document = await fetch_document(server)
        async with server.http() as http:
            response = await http.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    assert media_type(response) == "text/event-stream"
    content = document["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    event = validator_at(document, "paths", "/v1/chat/completions", "post", "responses", "200",
                         "content", "text/event-stream", "schema")
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
                bad = await http.post("/v1/chat/completions", headers=auth, json={
                    "model": "root", "messages": USER, "temperature": 3,
                })
                health = await http.get("/healthz")
    for path, method, response in (
        ("/v1/models", "get", models),
        ("/v1/models/{model}", "get", model),
        ("/v1/models/{model}", "get", unknown),
        ("/v1/models", "get", no_key),
        ("/v1/chat/completions", "post", bad),
        ("/healthz", "get", health),
    ):
        validator = response_validator(document, path, method, response.status_code,
                                       media_type(response))
        validator.validate(response.json())
    assert (models.status_code, unknown.status_code, no_key.status_code) == (200, 404, 401)
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "temperature"
    assert no_key.headers["WWW-Authenticate"] == "Bearer"


OK_MESSAGES = [
    {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
    {"role": "developer", "content": "Really."},
    {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}},
    ]},
    {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
]
WEATHER = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}

REQUESTS = [
    pytest.param({}, True, id="minimal"),
    pytest.param({"temperature": 2, "top_p": 1, "max_tokens": 1, "max_completion_tokens": 5,
                  "stop": ["a", "b", "c", "d"], "seed": 7, "presence_penalty": -2,
                  "frequency_penalty": 2, "parallel_tool_calls": False, "n": 1},
                 True, id="sampling-at-the-edges"),
    pytest.param({"temperature": None, "stream": None, "stream_options": None, "n": None},
                 True, id="nulls-are-unset"),
    pytest.param({"messages": OK_MESSAGES, "tools": [WEATHER], "tool_choice": "auto"},
                 True, id="every-role-and-client-tools"),
    pytest.param({"user": "u", "metadata": {"a": "b"}, "store": False, "unknown": 1},
                 True, id="ignored-fields"),
    pytest.param({"messages": [{"role": "system", "content": [{"text": "x"}]}, *USER]}, True,
                 id="system-text-part-without-type"),
    pytest.param({"messages": [{"role": "user", "content": [{"text": "x"}]}]}, False,
                 id="user-part-without-type"),
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
    pytest.param({"messages": [{"role": "robot", "content": "x"}, *USER]}, False,
                 id="unknown-role"),
    pytest.param({"messages": [*USER, {"role": "tool", "content": "x"}]}, False,
                 id="tool-message-without-tool_call_id"),
    pytest.param({"tools": [{"type": "function", "function": {"name": "a b"}}]}, False,
                 id="bad-tool-name"),
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
