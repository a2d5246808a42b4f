"""X-Conversation-Id: the server-side history, its bounds, and the failure-safety rule."""

from __future__ import annotations

import httpx
import openai
import pytest
import trio

from trioagent.testing import FakeOpenAI, error, hang, text, tool_calls

HEADER = "X-Conversation-Id"


def user(content: str) -> dict[str, str]:
    return {"role": "user", "content": content}


def contents(fake: FakeOpenAI, index: int = -1) -> list[tuple[str, str]]:
    """(role, content) of the messages the upstream got, the agent instruction left out."""
    return [(m["role"], m.get("content") or "") for m in fake.requests[index].json["messages"][1:]]


async def ask(http: httpx.AsyncClient, cid: str, content: str, **extra: object) -> httpx.Response:
    return await http.post(
        "/v1/chat/completions",
        headers={HEADER: cid},
        json={"model": "root", "messages": [user(content)], **extra},
    )


async def test_stored_history_plus_new_message_is_what_the_agent_sees(
    start_server, fake: FakeOpenAI
) -> None:
    fake.enqueue(text("first answer"), text("second answer"))
    with trio.fail_after(10):
        async with start_server(conversations_max=10) as server, server.http() as http:
            first = await ask(http, "conv-1", "first")
            second = await ask(http, "conv-1", "second")
    assert first.headers[HEADER] == "conv-1"
    assert second.json()["choices"][0]["message"]["content"] == "second answer"
    assert contents(fake) == [("user", "first"), ("assistant", "first answer"), ("user", "second")]


async def test_client_resending_whole_history_is_not_duplicated(
    start_server, fake: FakeOpenAI
) -> None:
    fake.enqueue(text("A1"), text("A2"))
    with trio.fail_after(10):
        async with start_server(conversations_max=10) as server, server.openai() as client:
            await client.chat.completions.create(
                model="root",
                messages=[{"role": "system", "content": "sys"}, user("Q1")],
                extra_headers={HEADER: "c"},
            )
            await client.chat.completions.create(
                model="root",
                extra_headers={HEADER: "c"},
                messages=[
                    {"role": "system", "content": "sys"},
                    user("Q1"),
                    {"role": "assistant", "content": "A1"},
                    user("Q2"),
                ],
            )
    assert contents(fake) == [
        ("system", "sys"),
        ("user", "Q1"),
        ("assistant", "A1"),
        ("user", "Q2"),
    ]


async def test_cache_off_ignores_the_header(server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("one"), text("two"))
    with trio.fail_after(10):
        async with server.http() as http:
            await ask(http, "c", "first")
            response = await ask(http, "c", "second")
    assert HEADER.lower() not in response.headers
    assert contents(fake) == [("user", "second")]


async def test_bad_conversation_id_is_400(start_server) -> None:
    with trio.fail_after(10):
        async with start_server(conversations_max=10) as server, server.http() as http:
            response = await ask(http, "bad id!", "x")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "X-Conversation-Id"


async def test_conversations_are_scoped_to_the_api_key(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("for alice"), text("for bob"))
    with trio.fail_after(10):
        async with start_server(conversations_max=10, api_keys=("alice", "bob")) as server:
            async with server.http(headers={"authorization": "Bearer alice"}) as alice:
                await ask(alice, "shared", "alice secret")
            async with server.http(headers={"authorization": "Bearer bob"}) as bob:
                await ask(bob, "shared", "bob question")
    assert contents(fake) == [("user", "bob question")]


async def test_lru_evicts_past_conversations_max(start_server, fake: FakeOpenAI) -> None:
    fake.default = text("ok")
    with trio.fail_after(10):
        async with start_server(conversations_max=2) as server, server.http() as http:
            for cid in ("a", "b", "c"):
                await ask(http, cid, f"hello {cid}")
            await ask(http, "a", "again")  # "a" was evicted: a fresh conversation
            assert contents(fake) == [("user", "again")]
            await ask(http, "c", "again")  # "c" is still there
            assert contents(fake) == [("user", "hello c"), ("assistant", "ok"), ("user", "again")]


async def test_concurrent_requests_on_one_id_get_409(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("slow", delay=0.5), text("later"))
    results: dict[str, httpx.Response] = {}
    with trio.fail_after(10):
        async with start_server(conversations_max=10) as server, server.http() as http:

            async def first() -> None:
                results["first"] = await ask(http, "busy", "one")

            async with trio.open_nursery() as nursery:
                nursery.start_soon(first)
                await fake.wait_requests(1)
                results["second"] = await ask(http, "busy", "two")
                results["stream"] = await ask(http, "busy", "two", stream=True)
                results["other"] = await ask(http, "free", "three")
            results["after"] = await ask(http, "busy", "four")
    assert results["first"].status_code == 200
    for key in ("second", "stream"):
        assert results[key].status_code == 409
        assert results[key].json()["error"]["code"] == "conversation_busy"
        assert results[key].headers["retry-after"] == "1"
    assert results["other"].status_code == 200
    assert results["after"].status_code == 200


# The failure-safety matrix: after each failure, the stored conversation is as before.


async def _assert_history_unchanged(http: httpx.AsyncClient, fake: FakeOpenAI) -> None:
    fake.enqueue(text("recovered"))
    response = await ask(http, "safe", "follow-up")
    assert response.status_code == 200, response.text
    assert contents(fake) == [("user", "start"), ("assistant", "started"), ("user", "follow-up")]


async def test_timeout_leaves_conversation_unchanged(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("started"), hang())
    with trio.fail_after(10):
        async with (
            start_server(conversations_max=10, request_timeout=0.5) as server,
            server.http() as http,
        ):
            await ask(http, "safe", "start")
            response = await ask(http, "safe", "never answered")
            assert response.status_code == 504
            assert response.json()["error"]["code"] == "timeout"
            assert response.headers["x-should-retry"] == "false"
            await fake.wait_disconnects(1)  # the upstream call was cancelled
            await _assert_history_unchanged(http, fake)


async def test_stream_timeout_is_in_band_and_leaves_conversation_unchanged(
    start_server, fake: FakeOpenAI
) -> None:
    fake.enqueue(text("started"), text("very slow answer", chunk_delay=5))
    with trio.fail_after(10):
        async with (
            start_server(conversations_max=10, request_timeout=0.5) as server,
            server.http() as http,
        ):
            await ask(http, "safe", "start")
            response = await ask(http, "safe", "slow", stream=True)
            assert response.status_code == 200
            assert '"code":"timeout"' in response.text
            assert response.text.endswith("data: [DONE]\n\n")
            await _assert_history_unchanged(http, fake)


async def test_upstream_error_leaves_conversation_unchanged(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("started"), error(400))
    with trio.fail_after(10):
        async with start_server(conversations_max=10) as server, server.http() as http:
            await ask(http, "safe", "start")
            assert (await ask(http, "safe", "fails")).status_code == 502
            await _assert_history_unchanged(http, fake)


async def test_failure_after_tool_steps_leaves_conversation_unchanged(
    start_server, fake: FakeOpenAI
) -> None:
    fake.enqueue(
        text("started"),
        tool_calls([("t1", "read_file", '{"path": "../../etc/passwd"}')]),
        error(400),
    )
    with trio.fail_after(10):
        async with start_server(conversations_max=10) as server, server.http() as http:
            await ask(http, "safe", "start")
            assert (await ask(http, "safe", "read it")).status_code == 502
            tool_result = fake.requests[-1].json["messages"][-1]
            assert tool_result["role"] == "tool"
            assert "outside" in tool_result["content"]
            await _assert_history_unchanged(http, fake)


async def test_disconnect_mid_stream_cancels_upstream_and_leaves_conversation_unchanged(
    start_server, fake: FakeOpenAI
) -> None:
    fake.enqueue(text("started"), text("a b c d e f g", chunk_delay=0.2))
    with trio.fail_after(10):
        async with start_server(conversations_max=10) as server, server.http() as http:
            await ask(http, "safe", "start")
            request = http.build_request(
                "POST",
                "/v1/chat/completions",
                headers={HEADER: "safe"},
                json={"model": "root", "messages": [user("interrupted")], "stream": True},
            )
            response = await http.send(request, stream=True)
            async for line in response.aiter_lines():
                if '"content":"a' in line:
                    break
            await response.aclose()
            await fake.wait_disconnects(1)
            await _assert_history_unchanged(http, fake)


async def test_sdk_does_not_retry_a_failed_turn(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(error(400), text("should not be reached"))
    with trio.fail_after(10):
        async with start_server() as server, server.openai(max_retries=2) as client:
            with pytest.raises(openai.APIStatusError) as caught:
                await client.chat.completions.create(model="root", messages=[user("x")])
    assert caught.value.status_code == 502
    assert len(fake.requests) == 1
