"""`serve api` over a real socket: POST /api/chat, sessions, errors, streaming, rate limit."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
import trio

from trioagent.testing import FakeOpenAI, error, hang, text, tool_calls


def api(**options: Any) -> dict[str, Any]:
    return {"api": "api", **options}


async def chat(
    http: httpx.AsyncClient, message: str, session_id: str | None = None, **extra: Any
) -> httpx.Response:
    body: dict[str, Any] = {"message": message, **extra}
    if session_id is not None:
        body["session_id"] = session_id
    return await http.post("/api/chat", json=body)


def seen(fake: FakeOpenAI, index: int = -1) -> list[tuple[str, str]]:
    """(role, content) of what the upstream got, the agent instruction left out."""
    return [(m["role"], m.get("content") or "") for m in fake.requests[index].json["messages"][1:]]


def events(body: str) -> list[dict[str, Any]]:
    """The JSON of each `data:` line of an SSE body."""
    return [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]


def assert_api_error(response: httpx.Response, code: int, starts: str = "") -> str:
    """The error is exactly {"error": str, "code": status}, as JSON, with that status."""
    assert response.status_code == code, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "code"}
    assert body["code"] == code
    assert isinstance(body["error"], str)
    assert body["error"].startswith(starts), body["error"]
    assert "Traceback" not in body["error"]
    assert "<html" not in response.text.lower()
    return str(body["error"])


async def test_chat_answers_with_message_new_session_and_usage(
    start_server, fake: FakeOpenAI
) -> None:
    fake.enqueue(text("Hello there", usage=(12, 3)))
    with trio.fail_after(10):
        async with start_server(**api()) as server, server.http() as http:
            response = await chat(http, "hi")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"message", "session_id", "usage"}
    assert body["message"] == "Hello there"
    assert re.fullmatch(r"[0-9a-f]{32}", body["session_id"])
    assert body["usage"] == {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    assert seen(fake) == [("user", "hi")]
    assert fake.requests[-1].json["messages"][0] == {
        "role": "system",
        "content": "You are a helpful test agent.",
    }


async def test_a_tool_nobody_offered_gets_an_error_result_and_a_real_answer(
    start_server,
    fake: FakeOpenAI,
) -> None:
    fake.enqueue(
        tool_calls([("call_h", "hallucinated", "{}")]), text("No such tool, sorry."), text("Fine.")
    )
    with trio.fail_after(10):
        async with start_server(**api()) as server, server.http() as http:
            first = await chat(http, "hi")
            second = await chat(http, "and now?", session_id=first.json()["session_id"])
    assert first.json()["message"] == "No such tool, sorry."
    assert second.status_code == 200
    # The stored history the next turn sent upstream is whole: the call has its result.
    sent = fake.requests[2].json["messages"]
    calls = [m for m in sent if m.get("tool_calls")]
    assert [c["tool_calls"][0]["id"] for c in calls] == ["call_h"]
    assert any(m.get("tool_call_id") == "call_h" for m in sent)


async def test_second_message_sees_the_first(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Nice to meet you, Ada."), text("Your name is Ada."))
    with trio.fail_after(10):
        async with start_server(**api()) as server, server.http() as http:
            first = (await chat(http, "My name is Ada.")).json()
            second = (await chat(http, "What is my name?", first["session_id"])).json()
    assert second["session_id"] == first["session_id"]
    assert second["message"] == "Your name is Ada."
    assert seen(fake) == [
        ("user", "My name is Ada."),
        ("assistant", "Nice to meet you, Ada."),
        ("user", "What is my name?"),
    ]


async def test_a_client_chosen_session_id_starts_a_session(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("one"), text("two"))
    with trio.fail_after(10):
        async with start_server(**api()) as server, server.http() as http:
            assert (await chat(http, "a", "my-session.1")).json()["session_id"] == "my-session.1"
            await chat(http, "b", "my-session.1")
    assert seen(fake) == [("user", "a"), ("assistant", "one"), ("user", "b")]


async def test_usage_is_summed_over_the_turns_model_calls(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(
        tool_calls([("t1", "think", '{"thought": "hmm"}')], usage=(20, 5)),
        text("done thinking", usage=(30, 4)),
    )
    with trio.fail_after(10):
        async with start_server(**api()) as server, server.http() as http:
            body = (await chat(http, "think first")).json()
            history = (await http.get(f"/api/sessions/{body['session_id']}")).json()
    assert body["message"] == "done thinking"
    assert body["usage"] == {"prompt_tokens": 50, "completion_tokens": 9, "total_tokens": 59}
    roles = [m["role"] for m in history["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant"]
    call = history["messages"][1]["tool_calls"][0]
    assert call == {"id": "t1", "name": "think", "arguments": '{"thought": "hmm"}'}
    assert history["messages"][2]["tool_call_id"] == "t1"
    assert "tool_calls" not in history["messages"][0]


async def test_request_may_pick_another_agent(start_server, fake: FakeOpenAI) -> None:
    with trio.fail_after(10):
        async with start_server(**api()) as server, server.http() as http:
            response = await chat(http, "hi", agent="helper")
    assert response.status_code == 200
    assert fake.requests[-1].json["messages"][0]["content"] == "You help."


async def test_get_returns_history_and_delete_removes_it(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("A1", usage=(5, 1)), text("A2", usage=(7, 1)))
    with trio.fail_after(10):
        async with start_server(**api()) as server, server.http() as http:
            sid = (await chat(http, "Q1")).json()["session_id"]
            await chat(http, "Q2", sid)
            history = await http.get(f"/api/sessions/{sid}")
            deleted = await http.delete(f"/api/sessions/{sid}")
            gone = await http.get(f"/api/sessions/{sid}")
            deleted_again = await http.delete(f"/api/sessions/{sid}")
            fresh = await chat(http, "Q3", sid)
    assert history.status_code == 200
    assert history.json() == {
        "session_id": sid,
        "messages": [
            {"role": "user", "content": "Q1"},
            {"role": "assistant", "content": "A1"},
            {"role": "user", "content": "Q2"},
            {"role": "assistant", "content": "A2"},
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14},
    }
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_api_error(gone, 404, "No session")
    assert_api_error(deleted_again, 404)
    assert fresh.status_code == 200
    assert seen(fake) == [("user", "Q3")]  # a deleted session starts over


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", "JSON"),
        (b"[]", "object"),
        (b"{}", "message"),
        (b'{"message": ""}', "message"),
        (b'{"message": "   "}', "message"),
        (b'{"message": 1}', "message"),
        (b'{"message": "hi", "session_id": 5}', "session_id"),
        (b'{"message": "hi", "session_id": "no spaces allowed"}', "session_id"),
        (b'{"message": "hi", "stream": "yes"}', "stream"),
        (b'{"message": "hi", "agent": "nobody"}', "agent"),
    ],
    ids=[
        "bad-json",
        "not-object",
        "missing-message",
        "empty-message",
        "blank-message",
        "message-type",
        "session-type",
        "session-chars",
        "stream-type",
        "unknown-agent",
    ],
)
async def test_bad_requests_are_400_invalid_request(
    start_server, fake: FakeOpenAI, body: bytes, param: str
) -> None:
    with trio.fail_after(10):
        async with start_server(**api()) as server, server.http() as http:
            response = await http.post(
                "/api/chat", content=body, headers={"Content-Type": "application/json"}
            )
    message = assert_api_error(response, 400, "Invalid request")
    assert param.lower() in message.lower()
    assert fake.requests == []


async def test_other_client_errors_have_the_api_shape(start_server, fake: FakeOpenAI) -> None:
    with trio.fail_after(10):
        async with start_server(**api(max_request_size=1000)) as server, server.http() as http:
            assert_api_error(await http.get("/nowhere"), 404)
            assert_api_error(await http.get("/v1/models"), 404)
            method = await http.get("/api/chat")
            assert_api_error(method, 405)
            assert "POST" in method.headers["allow"]
            big = await http.post("/api/chat", json={"message": "x" * 2000})
            assert_api_error(big, 413)
            form = await http.post(
                "/api/chat",
                content=b"message=hi",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert "application/json" in assert_api_error(form, 415)
    assert fake.requests == []


async def test_auth_guards_every_api_path(start_server, fake: FakeOpenAI) -> None:
    with trio.fail_after(10):
        async with start_server(**api(api_keys=("sk-a",))) as server, server.http() as http:
            for response in (
                await chat(http, "hi"),
                await http.get("/api/sessions/x"),
                await http.delete("/api/sessions/x", headers={"Authorization": "Bearer no"}),
            ):
                assert_api_error(response, 401)
                assert response.headers["www-authenticate"] == "Bearer"
            ok = await http.post(
                "/api/chat", json={"message": "hi"}, headers={"Authorization": "Bearer sk-a"}
            )
            health = await http.get("/healthz")
    assert ok.status_code == 200
    assert health.status_code == 200
    assert len(fake.requests) == 1


async def test_sessions_are_scoped_to_the_api_key(start_server, fake: FakeOpenAI) -> None:
    with trio.fail_after(10):
        async with (
            start_server(**api(api_keys=("sk-a", "sk-b"))) as server,
            server.http(headers={"Authorization": "Bearer sk-a"}) as a,
            server.http(headers={"Authorization": "Bearer sk-b"}) as b,
        ):
            await chat(a, "secret of a", "shared-name")
            assert_api_error(await b.get("/api/sessions/shared-name"), 404)
            await chat(b, "hello from b", "shared-name")
            assert seen(fake) == [("user", "hello from b")]
            history = (await a.get("/api/sessions/shared-name")).json()
    assert history["messages"][0]["content"] == "secret of a"


async def test_upstream_failure_is_500_and_leaves_the_session_unchanged(
    start_server, fake: FakeOpenAI
) -> None:
    fake.enqueue(text("started"), error(400, "the model refused"))
    with trio.fail_after(10):
        async with start_server(**api()) as server, server.http() as http:
            sid = (await chat(http, "start")).json()["session_id"]
            before = (await http.get(f"/api/sessions/{sid}")).json()
            failed = await chat(http, "fails", sid)
            after = (await http.get(f"/api/sessions/{sid}")).json()
    assert_api_error(failed, 500, "Failed to get response: ")
    assert after == before


async def test_timeout_is_504_cancels_upstream_and_leaves_the_session_unchanged(
    start_server, fake: FakeOpenAI
) -> None:
    fake.enqueue(text("started"), hang())
    with trio.fail_after(10):
        async with start_server(**api(request_timeout=0.5)) as server, server.http() as http:
            sid = (await chat(http, "start")).json()["session_id"]
            before = (await http.get(f"/api/sessions/{sid}")).json()
            timed_out = await chat(http, "never answered", sid)
            await fake.wait_disconnects(1)
            after = (await http.get(f"/api/sessions/{sid}")).json()
    assert "request timeout" in assert_api_error(timed_out, 504)
    assert after == before


async def test_one_session_never_runs_two_turns_at_once(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("slow", delay=0.5))
    results: dict[str, httpx.Response] = {}
    with trio.fail_after(10):
        async with start_server(**api()) as server, server.http() as http:

            async def first() -> None:
                results["first"] = await chat(http, "one", "busy")

            async with trio.open_nursery() as nursery:
                nursery.start_soon(first)
                await fake.wait_requests(1)
                results["second"] = await chat(http, "two", "busy")
                results["stream"] = await chat(http, "two", "busy", stream=True)
                results["delete"] = await http.delete("/api/sessions/busy")
                results["other"] = await chat(http, "three", "free")
            history = (await http.get("/api/sessions/busy")).json()
    assert results["first"].status_code == 200
    for key in ("second", "stream", "delete"):
        assert_api_error(results[key], 409)
        assert results[key].headers["retry-after"] == "1"
    assert results["other"].status_code == 200
    assert [m["content"] for m in history["messages"]] == ["one", "slow"]


async def test_concurrent_sessions_stay_apart(start_server, fake: FakeOpenAI) -> None:
    fake.default = text("noted", delay=0.05)
    ids: dict[int, str] = {}
    with trio.fail_after(20):
        async with start_server(**api()) as server, server.http() as http:

            async def converse(n: int) -> None:
                ids[n] = (await chat(http, f"I am number {n}")).json()["session_id"]
                reply = await chat(http, "Who am I?", ids[n])
                assert reply.status_code == 200

            async with trio.open_nursery() as nursery:
                for n in range(8):
                    nursery.start_soon(converse, n)
            histories = {
                n: (await http.get(f"/api/sessions/{sid}")).json() for n, sid in ids.items()
            }
    assert len(set(ids.values())) == 8
    for n, history in histories.items():
        assert [m["content"] for m in history["messages"]] == [
            f"I am number {n}",
            "noted",
            "Who am I?",
            "noted",
        ]
    second_turns = [seen(fake, i) for i in range(len(fake.requests)) if len(seen(fake, i)) > 1]
    assert len(second_turns) == 8
    for messages in second_turns:
        assert messages[1:] == [("assistant", "noted"), ("user", "Who am I?")]


async def test_stream_sends_the_same_text_as_deltas_then_done(
    start_server, fake: FakeOpenAI
) -> None:
    fake.enqueue(
        tool_calls([("t1", "think", '{"thought": "x"}')], content="Let me think.", usage=(3, 2)),
        text("The answer is 42.", chunks=["The ", "answer ", "is 42."], usage=(4, 5)),
    )
    with trio.fail_after(10):
        async with start_server(**api()) as server, server.http() as http:
            response = await chat(http, "question", "s1", stream=True)
            history = (await http.get("/api/sessions/s1")).json()
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    stream = events(response.text)
    deltas = [e["delta"] for e in stream if e["type"] == "delta"]
    done = stream[-1]
    assert all(e["type"] == "delta" for e in stream[:-1])
    assert done == {
        "type": "done",
        "message": "".join(deltas),
        "session_id": "s1",
        "usage": {"prompt_tokens": 7, "completion_tokens": 7, "total_tokens": 14},
    }
    assert done["message"] == "Let me think.\n\nThe answer is 42."
    assert history["messages"][-1]["content"] == "The answer is 42."


async def test_stream_failure_is_an_error_event_and_nothing_is_saved(
    start_server, fake: FakeOpenAI
) -> None:
    fake.enqueue(text("started"), error(400, "nope"))
    with trio.fail_after(10):
        async with start_server(**api()) as server, server.http() as http:
            await chat(http, "start", "s1")
            response = await chat(http, "fails", "s1", stream=True)
            history = (await http.get("/api/sessions/s1")).json()
    assert response.status_code == 200
    last = events(response.text)[-1]
    assert last["type"] == "error"
    assert last["code"] == 500
    assert last["error"].startswith("Failed to get response: ")
    assert [m["content"] for m in history["messages"]] == ["start", "started"]


async def test_disconnect_mid_stream_cancels_upstream_and_saves_nothing(
    start_server, fake: FakeOpenAI
) -> None:
    fake.enqueue(text("started"), text("a b c d e f g", chunk_delay=0.2))
    with trio.fail_after(10):
        async with start_server(**api()) as server, server.http() as http:
            await chat(http, "start", "s1")
            request = http.build_request(
                "POST",
                "/api/chat",
                json={"message": "interrupted", "session_id": "s1", "stream": True},
            )
            response = await http.send(request, stream=True)
            async for line in response.aiter_lines():
                if '"delta"' in line:
                    break
            await response.aclose()
            await fake.wait_disconnects(1)
            history = (await http.get("/api/sessions/s1")).json()
    assert [m["content"] for m in history["messages"]] == ["start", "started"]


async def test_rate_limit_answers_429_then_lets_the_caller_back(
    start_server, fake: FakeOpenAI
) -> None:
    from trioagent.server.ratelimit import parse_rate

    with trio.fail_after(20):
        async with (
            start_server(**api(api_keys=("sk-a", "sk-b"), rate_limit=parse_rate("2/s"))) as server,
            server.http(headers={"Authorization": "Bearer sk-a"}) as a,
            server.http(headers={"Authorization": "Bearer sk-b"}) as b,
        ):
            assert (await chat(a, "1")).status_code == 200
            assert (await chat(a, "2")).status_code == 200
            limited = await chat(a, "3")
            other_key = await chat(b, "4")
            await trio.sleep(float(limited.headers["retry-after"]))
            after = await chat(a, "5")
    assert_api_error(limited, 429)
    assert limited.headers["retry-after"] == "1"
    assert other_key.status_code == 200
    assert after.status_code == 200
    assert [m["content"] for m in (r.json["messages"][-1] for r in fake.requests)] == [
        "1",
        "2",
        "4",
        "5",
    ]  # the refused turn never ran


async def test_rate_limit_without_keys_is_per_client_address(
    start_server, fake: FakeOpenAI
) -> None:
    from trioagent.server.ratelimit import parse_rate

    with trio.fail_after(10):
        async with (
            start_server(**api(rate_limit=parse_rate("1/min"))) as server,
            server.http() as http,
        ):
            assert (await chat(http, "1")).status_code == 200
            limited = await chat(http, "2")
            health = await http.get("/healthz")
    assert_api_error(limited, 429)
    assert int(limited.headers["retry-after"]) == 60
    assert health.status_code == 200  # public paths are not limited


@pytest.mark.parametrize("which", ["api", "chat"])
async def test_a_turn_another_process_runs_is_409_naming_only_the_clients_id(
    start_server, fake: FakeOpenAI, tmp_path, which: str
) -> None:
    """Two servers on one SQLite file: a request for a session whose turn runs in the other
    process gets 409 before anything runs (the turn holds a lease in the file). The 409
    names the id the client sent, never the store's key (which holds a fingerprint of the
    API key)."""
    from trioagent.server.guards import key_scope
    from trioagent.store.open import StoreURL
    from trioagent.testing import held

    release = trio.Event()
    fake.enqueue(text("first"), held(text("second"), release))
    store = StoreURL.parse(f"sqlite:{tmp_path / 'shared.db'}")
    options: dict[str, Any] = {"api": which, "store": store, "api_keys": ("sk-a",)}
    auth = {"Authorization": "Bearer sk-a"}
    sid = "shared-1"

    async def say(http: httpx.AsyncClient, message: str) -> httpx.Response:
        if which == "api":
            return await chat(http, message, sid)
        return await http.post(
            "/v1/chat/completions",
            headers={"X-Conversation-Id": sid},
            json={"model": "root", "messages": [{"role": "user", "content": message}]},
        )

    with trio.fail_after(20):
        async with (
            start_server(**options) as one,
            start_server(**options) as two,
            one.http(headers=auth) as http_one,
            two.http(headers=auth) as http_two,
        ):
            assert (await say(http_one, "hello")).status_code == 200
            async with trio.open_nursery() as nursery:
                slow: list[httpx.Response] = []

                async def running() -> None:
                    slow.append(await say(http_one, "slow"))

                nursery.start_soon(running)
                await fake.wait_requests(2)  # the first server's turn is at the model
                busy = await say(http_two, "fast")
                release.set()
    assert slow[0].status_code == 200
    assert len(fake.requests) == 2  # the refused request ran nothing
    assert busy.status_code == 409
    message = busy.json()["error"] if which == "api" else busy.json()["error"]["message"]
    assert repr(sid) in message
    assert key_scope("sk-a") not in busy.text
    if which == "chat":
        assert busy.json()["error"]["code"] == "conversation_busy"
