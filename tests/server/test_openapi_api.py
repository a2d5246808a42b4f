"""GET /openapi.json under ``serve api``: a valid OpenAPI 3.1 document that real answers match."""

from __future__ import annotations

import json
import re
import sqlite3
from functools import partial
from typing import Any

import httpx
import jsonschema
import pytest
import trio
from openapi_checks import Document, check_answer, fetch_document, validator_at
from openapi_spec_validator import validate as validate_openapi

from trioagent import __version__, wire
from trioagent.server.guards import is_public
from trioagent.server.openapi_api import NOT_BLANK_PATTERN, api_openapi_document
from trioagent.server.ratelimit import parse_rate
from trioagent.testing import FakeOpenAI, error, hang, text, tool_calls

CHAT = "/api/chat"
SESSION = "/api/sessions/{session_id}"
AUTH = {"Authorization": "Bearer k"}


def api(**options: Any) -> dict[str, Any]:
    return {"api": "api", **options}


def schema(document: Document, name: str) -> jsonschema.Draft202012Validator:
    return validator_at(document, "components", "schemas", name)


def stream_events(document: Document, body: str) -> list[dict[str, Any]]:
    """The events of an SSE body, each checked against the document; keep-alives left out.

    Every block is either a ``: keep-alive`` comment or one ``data:`` line whose JSON is a
    ``StreamEvent`` and, by its ``type``, the schema that type names.
    """
    members = {"delta": "StreamDelta", "done": "StreamDone", "error": "StreamError"}
    mapping = document["components"]["schemas"]["StreamEvent"]["discriminator"]["mapping"]
    assert mapping == {tag: f"#/components/schemas/{name}" for tag, name in members.items()}
    assert body.endswith("\n\n")
    events = []
    for block in body.removesuffix("\n\n").split("\n\n"):
        if block == ": keep-alive":
            continue
        assert block.startswith("data: "), block
        assert "\n" not in block, block  # one line per event
        event = json.loads(block.removeprefix("data: "))
        schema(document, "StreamEvent").validate(event)
        schema(document, members[event["type"]]).validate(event)
        events.append(event)
    return events


def assert_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == status


async def test_document_is_public_and_valid_openapi_31(start_server) -> None:
    with trio.fail_after(10):
        async with start_server(**api(api_keys=("k",))) as server:
            document = await fetch_document(server)
            async with server.http() as http:
                guarded = await http.get("/api/sessions/x")
    assert guarded.status_code == 401  # the key is required elsewhere
    assert document["openapi"].startswith("3.1.")
    validate_openapi(document)
    assert document["info"]["version"] == __version__
    assert document["info"]["title"] == "trioagent serve api"
    bearer = document["components"]["securitySchemes"]["bearerAuth"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")
    assert "security" not in document  # nothing applies to /healthz, /readyz, /openapi.json
    operations = {
        (path, method): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    }
    assert set(operations) == {
        (CHAT, "post"),
        (SESSION, "get"),
        (SESSION, "delete"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
    }
    for (path, _), operation in operations.items():
        expected = [] if is_public(path) else [{"bearerAuth": []}]
        assert operation["security"] == expected, path
    for name, component in document["components"]["schemas"].items():
        try:
            jsonschema.Draft202012Validator.check_schema(component)
        except jsonschema.SchemaError as exc:  # pragma: no cover - the message says which
            pytest.fail(f"components.schemas.{name}: {exc.message}")


async def test_agent_enum_is_the_served_agents(start_server, fake: FakeOpenAI) -> None:
    fake.default = text("ok")
    with trio.fail_after(10):
        async with start_server(**api()) as server:
            every = await fetch_document(server)
        async with start_server(**api(agent="helper")) as server:
            one = await fetch_document(server)
            async with server.http() as http:
                helper = await http.post(CHAT, json={"message": "hi", "agent": "helper"})
                root = await http.post(CHAT, json={"message": "hi", "agent": "root"})
    assert every["components"]["schemas"]["AgentName"]["enum"] == ["root", "helper"]
    assert one["components"]["schemas"]["AgentName"]["enum"] == ["helper"]
    request = schema(one, "ChatRequest")
    assert request.is_valid({"message": "hi", "agent": "helper"})
    assert helper.status_code == 200
    assert not request.is_valid({"message": "hi", "agent": "root"})
    assert_error(root, 400)


def test_session_id_is_the_wire_rule() -> None:
    document = api_openapi_document(["root"])
    assert document["components"]["schemas"]["SessionId"]["pattern"] == (
        f"^{wire.SESSION_ID.pattern}$"
    )


def test_not_blank_is_what_str_strip_keeps() -> None:
    """``message`` must not strip to nothing: the pattern is Python's whitespace exactly."""
    pattern = re.compile(NOT_BLANK_PATTERN)
    wrong = [
        hex(code)
        for code in range(0x110000)
        if (pattern.search(chr(code)) is None) != chr(code).isspace()
    ]
    assert wrong == []


SESSION_128 = "a" * 128
LEFT_OUT = object()
"""A field value meaning: the body does not have this key."""

REQUESTS = [
    pytest.param({}, True, id="minimal"),
    pytest.param(
        {"session_id": "s-1.a:b_C", "stream": False, "agent": "helper"}, True, id="every-field"
    ),
    pytest.param({"stream": True}, True, id="stream"),
    pytest.param({"session_id": None, "agent": None}, True, id="nulls-are-unset"),
    pytest.param({"unknown": 1, "model": "gpt-4o", "messages": []}, True, id="unknown-fields"),
    pytest.param({"session_id": SESSION_128}, True, id="session_id-of-128"),
    pytest.param({"message": "\u200b"}, True, id="zero-width-space-is-not-blank"),
    pytest.param({"message": " hi \n"}, True, id="padded-message"),
    pytest.param({"stream": None}, False, id="stream-null"),
    pytest.param({"stream": "yes"}, False, id="stream-string"),
    pytest.param({"stream": 1}, False, id="stream-integer"),
    pytest.param({"message": LEFT_OUT}, False, id="message-missing"),
    pytest.param({"message": None}, False, id="message-null"),
    pytest.param({"message": 1}, False, id="message-integer"),
    pytest.param({"message": ""}, False, id="message-empty"),
    pytest.param({"message": " \t\n"}, False, id="message-blank"),
    pytest.param({"message": "\u00a0\u3000\x1c"}, False, id="message-unicode-blank"),
    pytest.param({"session_id": ""}, False, id="session_id-empty"),
    pytest.param({"session_id": SESSION_128 + "a"}, False, id="session_id-of-129"),
    pytest.param({"session_id": "a b"}, False, id="session_id-with-space"),
    pytest.param({"session_id": 5}, False, id="session_id-integer"),
    pytest.param({"agent": "nobody"}, False, id="agent-unknown"),
    pytest.param({"agent": 1}, False, id="agent-integer"),
]


@pytest.mark.parametrize(("fields", "accepted"), REQUESTS)
async def test_request_schema_agrees_with_the_server(
    start_server, fake: FakeOpenAI, fields: dict[str, Any], accepted: bool
) -> None:
    body = {
        key: value for key, value in {"message": "hi", **fields}.items() if value is not LEFT_OUT
    }
    fake.default = text("ok")
    with trio.fail_after(10):
        async with start_server(**api()) as server:
            document = await fetch_document(server)
            async with server.http() as http:
                response = await http.post(CHAT, json=body)
    assert schema(document, "ChatRequest").is_valid(body) is accepted
    assert response.status_code == (200 if accepted else 400), response.text
    check_answer(document, CHAT, "post", response)


async def test_every_documented_field_is_accepted(start_server, fake: FakeOpenAI) -> None:
    samples = {"message": "hi", "session_id": "s1", "stream": False, "agent": "helper"}
    fake.default = text("ok")
    with trio.fail_after(10):
        async with start_server(**api()) as server:
            document = await fetch_document(server)
            request = document["components"]["schemas"]["ChatRequest"]
            assert set(request["properties"]) == set(samples)
            assert request["required"] == ["message"]
            async with server.http() as http:
                for name, value in samples.items():
                    body = {"message": "hi", name: value}
                    assert schema(document, "ChatRequest").is_valid(body)
                    response = await http.post(CHAT, json=body)
                    assert response.status_code == 200, (name, response.text)


async def test_chat_answer_matches_the_document(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Hello there", usage=(12, 3)), text("Again"))
    with trio.fail_after(10):
        async with start_server(**api()) as server:
            document = await fetch_document(server)
            async with server.http() as http:
                new = await http.post(CHAT, json={"message": "hi"})
                again = await http.post(CHAT, json={"message": "hi", "session_id": "chosen"})
    for response in (new, again):
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        check_answer(document, CHAT, "post", response)
    assert new.json()["usage"] == {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    assert again.json()["session_id"] == "chosen"


async def test_stream_events_match_the_document(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Hello there", chunks=["Hel", "lo", " there"], usage=(7, 3), delay=0.3))
    with trio.fail_after(10):
        async with start_server(**api(keep_alive_interval=0.05)) as server:
            document = await fetch_document(server)
            async with server.http() as http:
                response = await http.post(
                    CHAT, json={"message": "hi", "stream": True, "session_id": "s1"}
                )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    check_answer(document, CHAT, "post", response)
    assert ": keep-alive\n\n" in response.text  # the agent was busy for 0.3 s
    assert "[DONE]" not in response.text
    events = stream_events(document, response.text)
    *deltas, done = events
    assert deltas
    assert all(event["type"] == "delta" for event in deltas)
    assert done == {
        "type": "done",
        "message": "Hello there",
        "session_id": "s1",
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
    }
    assert "".join(event["delta"] for event in deltas) == done["message"]


async def test_stream_error_event_matches_the_document(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(error(400, "nope"))
    with trio.fail_after(10):
        async with start_server(**api()) as server:
            document = await fetch_document(server)
            async with server.http() as http:
                response = await http.post(CHAT, json={"message": "hi", "stream": True})
    assert response.status_code == 200
    check_answer(document, CHAT, "post", response)
    [failed] = stream_events(document, response.text)
    assert failed["type"] == "error"
    assert failed["code"] == 500


async def test_client_errors_match_the_document(start_server, fake: FakeOpenAI) -> None:
    with trio.fail_after(10):
        async with start_server(**api(api_keys=("k",), max_request_size=1000)) as server:
            document = await fetch_document(server)
            async with server.http(headers=AUTH) as http, server.http() as anonymous:
                answers = [
                    (
                        CHAT,
                        "post",
                        400,
                        await http.post(
                            CHAT, content=b"{not json", headers={"Content-Type": "application/json"}
                        ),
                    ),
                    (CHAT, "post", 400, await http.post(CHAT, json={"message": " "})),
                    (CHAT, "post", 401, await anonymous.post(CHAT, json={"message": "hi"})),
                    (SESSION, "get", 401, await anonymous.get("/api/sessions/x")),
                    (
                        SESSION,
                        "delete",
                        401,
                        await http.delete(
                            "/api/sessions/x", headers={"Authorization": "Bearer no"}
                        ),
                    ),
                    (SESSION, "get", 404, await http.get("/api/sessions/nobody")),
                    (SESSION, "get", 404, await http.get("/api/sessions/not%20an%20id")),
                    (SESSION, "delete", 404, await http.delete("/api/sessions/nobody")),
                    (CHAT, "post", 413, await http.post(CHAT, json={"message": "x" * 2000})),
                    (
                        CHAT,
                        "post",
                        415,
                        await http.post(
                            CHAT,
                            content=b"message=hi",
                            headers={"Content-Type": "application/x-www-form-urlencoded"},
                        ),
                    ),
                ]
    for path, method, status, response in answers:
        assert_error(response, status)
        check_answer(document, path, method, response)
    assert fake.requests == []


async def test_slow_body_is_408_as_documented(start_server) -> None:
    async def slow_body():
        yield b'{"message": '
        await trio.sleep(1)
        yield b'"hi"}'

    with trio.fail_after(10):
        async with start_server(**api(body_timeout=0.3)) as server:
            document = await fetch_document(server)
            async with server.http() as http:
                response = await http.post(
                    CHAT, content=slow_body(), headers={"Content-Type": "application/json"}
                )
    assert_error(response, 408)
    check_answer(document, CHAT, "post", response)


async def test_busy_session_is_409_as_documented(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(hang())
    with trio.fail_after(10):
        async with start_server(**api()) as server:
            document = await fetch_document(server)
            async with server.http() as http, trio.open_nursery() as nursery:
                nursery.start_soon(
                    partial(http.post, CHAT, json={"message": "one", "session_id": "busy"})
                )
                await fake.wait_requests(1)
                answers = [
                    (CHAT, await http.post(CHAT, json={"message": "two", "session_id": "busy"})),
                    (
                        CHAT,
                        await http.post(
                            CHAT, json={"message": "two", "session_id": "busy", "stream": True}
                        ),
                    ),
                    (SESSION, await http.delete("/api/sessions/busy")),
                ]
                nursery.cancel_scope.cancel()  # hang up on the hanging turn
    for path, response in answers:
        assert_error(response, 409)
        check_answer(document, path, response.request.method.lower(), response)
        assert response.headers["retry-after"] == "1"


async def test_rate_limited_is_429_as_documented(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("ok"))
    with trio.fail_after(10):
        async with start_server(**api(rate_limit=parse_rate("1/min"))) as server:
            document = await fetch_document(server)
            async with server.http() as http:
                first = await http.post(CHAT, json={"message": "hi", "session_id": "s1"})
                answers = [
                    (CHAT, "post", await http.post(CHAT, json={"message": "hi"})),
                    (SESSION, "get", await http.get("/api/sessions/s1")),
                    (SESSION, "delete", await http.delete("/api/sessions/s1")),
                ]
    assert first.status_code == 200
    for path, method, response in answers:
        assert_error(response, 429)
        check_answer(document, path, method, response)


async def test_upstream_failure_is_500_as_documented(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(error(400, "the model refused"))
    with trio.fail_after(10):
        async with start_server(**api()) as server:
            document = await fetch_document(server)
            async with server.http() as http:
                response = await http.post(CHAT, json={"message": "hi"})
    assert_error(response, 500)
    check_answer(document, CHAT, "post", response)
    assert response.headers["x-should-retry"] == "false"


async def test_damaged_session_is_503_as_documented(
    start_server, fake: FakeOpenAI, tmp_path
) -> None:
    sessions = tmp_path / "sessions.db"

    def damage() -> None:
        with sqlite3.connect(sessions) as connection:
            connection.execute("UPDATE sessions SET data = 'not a session'")
        connection.close()

    fake.enqueue(text("ok"))
    with trio.fail_after(10):
        async with start_server(**api(sessions=str(sessions))) as server:
            document = await fetch_document(server)
            async with server.http() as http:
                stored = await http.post(CHAT, json={"message": "hi", "session_id": "s1"})
                await trio.to_thread.run_sync(damage)
                answers = [
                    (SESSION, "get", await http.get("/api/sessions/s1")),
                    (
                        CHAT,
                        "post",
                        await http.post(CHAT, json={"message": "again", "session_id": "s1"}),
                    ),
                ]
    assert stored.status_code == 200
    for path, method, response in answers:
        assert_error(response, 503)
        check_answer(document, path, method, response)


async def test_timeout_is_504_as_documented(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(hang())
    with trio.fail_after(10):
        async with start_server(**api(request_timeout=0.5)) as server:
            document = await fetch_document(server)
            async with server.http() as http:
                response = await http.post(CHAT, json={"message": "hi"})
    assert_error(response, 504)
    check_answer(document, CHAT, "post", response)


async def test_history_and_delete_match_the_document(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(tool_calls([("t1", "think", '{"thought": "hmm"}')]), text("done"))
    with trio.fail_after(10):
        async with start_server(**api()) as server:
            document = await fetch_document(server)
            async with server.http() as http:
                await http.post(CHAT, json={"message": "think", "session_id": "s1"})
                history = await http.get("/api/sessions/s1")
                deleted = await http.delete("/api/sessions/s1")
                health = await http.get("/healthz")
    assert history.status_code == 200
    check_answer(document, SESSION, "get", history)
    messages = history.json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[1]["tool_calls"] == [
        {"id": "t1", "name": "think", "arguments": '{"thought": "hmm"}'}
    ]
    assert messages[2]["tool_call_id"] == "t1"
    assert deleted.status_code == 204
    check_answer(document, SESSION, "delete", deleted)
    assert health.status_code == 200
    check_answer(document, "/healthz", "get", health)
