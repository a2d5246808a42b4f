"""WebSocket chat at /v1/ws, with the trio-websocket client over a real socket."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    WebSocketConnection,
    open_websocket_url,
)

from trioagent.testing import FakeOpenAI, error, hang, text, tool_calls


class Client:
    """A test client: send frames as keywords, read frames as dicts."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws

    async def send(self, **frame: Any) -> None:
        await self.ws.send_message(json.dumps(frame))

    async def receive(self) -> dict[str, Any]:
        return json.loads(await self.ws.get_message())

    async def until(self, *types: str) -> list[dict[str, Any]]:
        """Frames up to and including the first of one of ``types``."""
        frames = []
        while not frames or frames[-1]["type"] not in types:
            frames.append(await self.receive())
        return frames

    async def hello(self, **fields: Any) -> dict[str, Any]:
        await self.send(type="hello", **fields)
        ready = await self.receive()
        assert ready["type"] == "ready", ready
        return ready

    async def turn(self, message: str) -> list[dict[str, Any]]:
        await self.send(type="message", text=message)
        return await self.until("done", "error", "cancelled")


def ws_url(server) -> str:
    return server.url.replace("http://", "ws://") + "/v1/ws"


@asynccontextmanager
async def connect(server, headers: list[tuple[str, str]] | None = None) -> AsyncIterator[Client]:
    async with open_websocket_url(ws_url(server), extra_headers=headers or []) as ws:
        yield Client(ws)


def seen(fake: FakeOpenAI, index: int = -1) -> list[tuple[str, str]]:
    return [(m["role"], m.get("content") or "") for m in fake.requests[index].json["messages"][1:]]


@pytest.fixture(params=["chat", "api"])
def api(request) -> str:
    return request.param


def store_options(api: str) -> dict[str, Any]:
    """Options that give the server a shared conversation store."""
    return {"api": api, "conversations_max": 10} if api == "chat" else {"api": api}


async def test_a_turn_streams_every_frame_type(start_server, fake: FakeOpenAI, api: str) -> None:
    fake.enqueue(
        tool_calls([("t1", "think", '{"thought": "plan"}')], usage=(10, 2)),
        text("The answer.", chunks=["The ", "answer."], usage=(20, 3), chunk_delay=0.05),
    )
    with trio.fail_after(10):
        async with start_server(**store_options(api)) as server, connect(server) as client:
            await client.send(type="ping")
            assert await client.receive() == {"type": "pong"}
            ready = await client.hello()
            frames = await client.turn("question")
    assert ready["agent"] == "root"
    assert ready["agents"] == ["root", "helper"]
    assert ready["messages"] == []
    assert len(ready["conversation_id"]) == 32
    assert [f["type"] for f in frames] == [
        "usage",
        "tool_started",
        "tool_finished",
        "delta",
        "delta",
        "usage",
        "done",
    ]
    assert frames[1] == {
        "type": "tool_started",
        "id": "t1",
        "name": "think",
        "arguments": '{"thought": "plan"}',
    }
    assert frames[2]["type"] == "tool_finished"
    assert frames[2]["id"] == "t1"
    assert frames[2]["is_error"] is False
    assert "plan" in frames[2]["result"]
    assert [f["text"] for f in frames if f["type"] == "delta"] == ["The ", "answer."]
    usage = {"prompt_tokens": 30, "completion_tokens": 5, "total_tokens": 35}
    assert frames[-2] == {"type": "usage", "usage": usage}
    assert frames[-1] == {
        "type": "done",
        "text": "The answer.",
        "usage": usage,
        "finish_reason": "stop",
    }


async def test_turns_continue_one_conversation_and_hello_resumes_it(
    start_server, fake: FakeOpenAI, api: str
) -> None:
    fake.enqueue(text("A1"), text("A2"), text("A3"))
    with trio.fail_after(10):
        async with start_server(**store_options(api)) as server:
            async with connect(server) as client:
                conversation = (await client.hello())["conversation_id"]
                await client.turn("Q1")
                await client.turn("Q2")
            assert seen(fake) == [("user", "Q1"), ("assistant", "A1"), ("user", "Q2")]
            async with connect(server) as client:
                ready = await client.hello(conversation_id=conversation, agent="helper")
                await client.turn("Q3")
    assert ready["agent"] == "helper"
    assert [(m["role"], m["content"]) for m in ready["messages"]] == [
        ("user", "Q1"),
        ("assistant", "A1"),
        ("user", "Q2"),
        ("assistant", "A2"),
    ]
    assert fake.requests[-1].json["messages"][0]["content"] == "You help."
    assert seen(fake)[-1] == ("user", "Q3")


async def test_a_conversation_started_over_http_continues_on_the_socket(
    start_server, fake: FakeOpenAI
) -> None:
    fake.enqueue(text("from http"), text("from ws"), text("api http"), text("api ws"))
    with trio.fail_after(10):
        async with start_server(conversations_max=10) as server, server.http() as http:
            await http.post(
                "/v1/chat/completions",
                headers={"X-Conversation-Id": "c1"},
                json={"model": "root", "messages": [{"role": "user", "content": "over http"}]},
            )
            async with connect(server) as client:
                ready = await client.hello(conversation_id="c1")
                await client.turn("over ws")
        assert len(ready["messages"]) == 2
        assert seen(fake) == [
            ("user", "over http"),
            ("assistant", "from http"),
            ("user", "over ws"),
        ]
        async with start_server(api="api") as server, server.http() as http:
            await http.post("/api/chat", json={"message": "api over http", "session_id": "s1"})
            async with connect(server) as client:
                await client.hello(conversation_id="s1")
                await client.turn("api over ws")
            history = (await http.get("/api/sessions/s1")).json()
    assert [m["content"] for m in history["messages"]] == [
        "api over http",
        "api http",
        "api over ws",
        "api ws",
    ]


async def test_without_a_shared_store_the_socket_keeps_its_own_conversation(
    start_server, fake: FakeOpenAI
) -> None:
    fake.enqueue(text("A1"), text("A2"))
    with trio.fail_after(10):
        async with start_server() as server, connect(server) as client:
            await client.hello()
            await client.turn("Q1")
            await client.turn("Q2")
    assert seen(fake) == [("user", "Q1"), ("assistant", "A1"), ("user", "Q2")]


async def test_cancel_stops_the_turn_and_leaves_the_history_unchanged(
    start_server, fake: FakeOpenAI, api: str
) -> None:
    fake.enqueue(text("A1"), text("a b c d e f g h", chunk_delay=0.2), text("A3"))
    with trio.fail_after(10):
        async with start_server(**store_options(api)) as server, connect(server) as client:
            await client.hello()
            await client.turn("Q1")
            await client.send(type="message", text="long one")
            first = await client.receive()
            assert first["type"] in ("usage", "delta")
            while first["type"] != "delta":
                first = await client.receive()
            await client.send(type="cancel")
            rest = await client.until("cancelled")
            await fake.wait_disconnects(1)  # the upstream call was cancelled
            await client.send(type="cancel")  # nothing runs: ignored
            after = await client.turn("Q3")
    assert all(f["type"] in ("delta", "usage", "cancelled") for f in rest)
    assert after[-1]["type"] == "done"
    assert seen(fake) == [("user", "Q1"), ("assistant", "A1"), ("user", "Q3")]


async def test_a_message_during_a_turn_is_refused_not_interleaved(
    start_server, fake: FakeOpenAI
) -> None:
    fake.enqueue(text("slow answer", delay=0.3), text("next"))
    with trio.fail_after(10):
        async with start_server(api="api") as server, connect(server) as client:
            await client.hello()
            await client.send(type="message", text="first")
            await fake.wait_requests(1)
            await client.send(type="message", text="second")
            await client.send(type="hello")
            frames = await client.until("done")
            after = await client.turn("third")
    errors = [f for f in frames if f["type"] == "error"]
    assert [e["code"] for e in errors] == [409, 409]
    assert frames[-1]["text"] == "slow answer"
    assert after[-1]["text"] == "next"
    assert seen(fake) == [("user", "first"), ("assistant", "slow answer"), ("user", "third")]


async def test_closing_the_socket_mid_turn_cancels_it_and_saves_nothing(
    start_server, fake: FakeOpenAI
) -> None:
    fake.enqueue(text("A1"), hang(), text("A3"))
    with trio.fail_after(10):
        async with start_server(api="api") as server:
            async with connect(server) as client:
                await client.hello(conversation_id="s")
                await client.turn("Q1")
                await client.send(type="message", text="lost")
                await fake.wait_requests(2)
            await fake.wait_disconnects(1)
            async with server.http() as http:
                history = (await http.get("/api/sessions/s")).json()
    assert [m["content"] for m in history["messages"]] == ["Q1", "A1"]


async def test_failed_and_timed_out_turns_are_error_frames(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(error(400, "bad upstream"), hang(), text("fine"))
    with trio.fail_after(10):
        async with (
            start_server(api="api", request_timeout=0.5) as server,
            connect(server) as client,
        ):
            ready = await client.hello()
            failed = await client.turn("one")
            timed_out = await client.turn("two")
            fine = await client.turn("three")
            async with server.http() as http:
                history = (await http.get(f"/api/sessions/{ready['conversation_id']}")).json()
    assert failed[-1]["type"] == "error"
    assert failed[-1]["code"] == 502
    assert timed_out[-1]["type"] == "error"
    assert timed_out[-1]["code"] == 504
    assert fine[-1]["type"] == "done"
    assert [m["content"] for m in history["messages"]] == ["three", "fine"]


@pytest.mark.parametrize(
    ("frame", "says"),
    [
        ("not json", "not valid JSON"),
        ('["type", "message"]', "object"),
        ('{"type": "shout"}', "type"),
        ('{"text": "no type"}', "type"),
        ('{"type": "message", "text": ""}', "text"),
        ('{"type": "message", "text": 5}', "text"),
        ('{"type": "hello", "conversation_id": "no spaces"}', "conversation_id"),
        ('{"type": "hello", "agent": "nobody"}', "nobody"),
    ],
    ids=[
        "not-json",
        "array",
        "unknown-type",
        "no-type",
        "empty-text",
        "text-type",
        "bad-conversation",
        "unknown-agent",
    ],
)
async def test_bad_frames_get_an_error_frame_and_the_socket_lives(
    start_server, fake: FakeOpenAI, frame: str, says: str
) -> None:
    with trio.fail_after(10):
        async with start_server(api="api") as server, connect(server) as client:
            await client.ws.send_message(frame)
            reply = await client.receive()
            await client.hello()
            done = await client.turn("still works")
    assert reply["type"] == "error"
    assert reply["code"] == 400
    assert says in reply["message"]
    assert done[-1]["type"] == "done"


async def test_message_before_hello_binary_and_oversized_frames(
    start_server, fake: FakeOpenAI
) -> None:
    with trio.fail_after(10):
        async with (
            start_server(api="api", max_request_size=1000) as server,
            connect(server) as client,
        ):
            await client.send(type="message", text="too early")
            early = await client.receive()
            await client.ws.send_message(b"\x00binary")
            binary = await client.receive()
            await client.send(type="message", text="x" * 2000)
            big = await client.receive()
    assert early["code"] == 400
    assert "hello" in early["message"]
    assert binary["code"] == 400
    assert "text" in binary["message"]
    assert big["code"] == 413
    assert fake.requests == []


async def test_repeated_bad_frames_close_with_1008(start_server) -> None:
    with trio.fail_after(10):
        async with start_server(api="api") as server, connect(server) as client:
            replies = []

            async def send_junk() -> None:
                for _ in range(20):
                    await client.ws.send_message("junk")
                    replies.append(await client.receive())

            with pytest.raises(ConnectionClosed) as closed:
                await send_junk()
    assert closed.value.reason.code == 1008
    assert len(replies) == 5
    assert all(r["type"] == "error" for r in replies)


async def test_auth_by_header_or_hello_frame(start_server, fake: FakeOpenAI) -> None:
    with trio.fail_after(10):
        async with start_server(api="api", api_keys=("sk-a",)) as server:
            with pytest.raises(ConnectionRejected) as rejected:
                async with connect(server, headers=[("Authorization", "Bearer wrong")]):
                    pass
            assert rejected.value.status_code == 401
            async with connect(server, headers=[("Authorization", "Bearer sk-a")]) as client:
                await client.hello()
                assert (await client.turn("by header"))[-1]["type"] == "done"
            async with connect(server) as client:
                await client.hello(api_key="sk-a")
                assert (await client.turn("by hello"))[-1]["type"] == "done"
            async with connect(server) as client:
                await client.send(type="hello", api_key="wrong")
                refused = await client.receive()
                with pytest.raises(ConnectionClosed) as closed:
                    await client.receive()
    assert refused == {
        "type": "error",
        "code": 401,
        "ends_turn": False,
        "message": refused["message"],
    }
    assert "api_key" in refused["message"]
    assert closed.value.reason.code == 1008
    assert len(fake.requests) == 2


async def test_sessions_on_the_socket_are_scoped_to_the_key(start_server, fake: FakeOpenAI) -> None:
    with trio.fail_after(10):
        async with start_server(api="api", api_keys=("sk-a", "sk-b")) as server:
            async with connect(server) as client:
                await client.hello(api_key="sk-a", conversation_id="shared")
                await client.turn("secret")
            async with connect(server) as client:
                ready = await client.hello(api_key="sk-b", conversation_id="shared")
    assert ready["messages"] == []


async def test_origin_check(start_server) -> None:
    with trio.fail_after(10):
        async with start_server(api="api", cors_origins=("https://ok.example",)) as server:
            host = server.url.removeprefix("http://")
            for origin in ("https://ok.example", f"http://{host}"):
                async with connect(server, headers=[("Origin", origin)]) as client:
                    await client.hello()
            with pytest.raises(ConnectionRejected) as rejected:
                async with connect(server, headers=[("Origin", "https://evil.example")]):
                    pass
    assert rejected.value.status_code == 403


async def test_no_hello_in_time_closes_with_1008(start_server) -> None:
    with trio.fail_after(10):
        async with start_server(api="api", body_timeout=0.3) as server, connect(server) as client:
            with pytest.raises(ConnectionClosed) as closed:
                await client.receive()
    assert closed.value.reason.code == 1008


async def test_server_pings_a_quiet_client_and_drops_a_dead_one(
    start_server, fake: FakeOpenAI
) -> None:
    with trio.fail_after(10):
        async with start_server(api="api", ws_ping_interval=0.2) as server:
            async with connect(server) as alive:
                await alive.hello()
                for _ in range(3):  # answering pings keeps the connection
                    assert await alive.receive() == {"type": "ping"}
                    await alive.send(type="pong")
                assert (await alive.turn("still here"))[-1]["type"] == "done"
            async with connect(server) as dead:
                await dead.hello()
                assert await dead.receive() == {"type": "ping"}
                with pytest.raises(ConnectionClosed) as closed:
                    await dead.receive()
    assert closed.value.reason.code == 1001


async def test_a_hundred_sockets_stream_at_once(start_server, fake: FakeOpenAI) -> None:
    fake.default = text("one two three four five", chunk_delay=0.01)
    fake.record = False
    answers: list[str] = []
    with trio.fail_after(60):
        async with start_server(api="api") as server:

            async def chat(n: int) -> None:
                async with connect(server) as client:
                    await client.hello(conversation_id=f"c{n}")
                    frames = await client.turn(f"hello {n}")
                    assert frames[-1]["type"] == "done", frames[-1]
                    deltas = "".join(f["text"] for f in frames if f["type"] == "delta")
                    assert deltas == frames[-1]["text"]
                    answers.append(deltas)

            async with trio.open_nursery() as nursery:
                for n in range(100):
                    nursery.start_soon(chat, n)
            async with server.http() as http:
                history = (await http.get("/api/sessions/c42")).json()
    assert answers == ["one two three four five"] * 100
    assert [m["content"] for m in history["messages"]] == ["hello 42", "one two three four five"]


async def test_http_routes_still_answer_http_errors(start_server) -> None:
    with trio.fail_after(10):
        async with (
            start_server(api="api") as server,
            httpx.AsyncClient(base_url=server.url) as http,
        ):
            response = await http.get("/v1/ws")
    assert response.status_code in (400, 404, 405, 426)


async def test_rate_limit_applies_to_handshakes_and_messages(
    start_server, fake: FakeOpenAI
) -> None:
    from trioagent.server.ratelimit import parse_rate

    with trio.fail_after(10):
        async with start_server(api="api", rate_limit=parse_rate("2/min")) as server:
            async with connect(server) as client:  # the handshake takes one
                await client.hello()
                done = await client.turn("one")  # the message takes the other
                refused = await client.turn("two")
            with pytest.raises(ConnectionRejected) as rejected:
                async with connect(server):
                    pass
    assert done[-1]["type"] == "done"
    assert refused == [
        {"type": "error", "code": 429, "ends_turn": True, "message": refused[0]["message"]}
    ]
    assert rejected.value.status_code == 429
    assert len(fake.requests) == 1


async def test_shutdown_closes_idle_sockets_at_once_and_busy_ones_after_their_turn(
    start_server, fake: FakeOpenAI
) -> None:
    fake.enqueue(text("last words", delay=0.5))
    with trio.fail_after(10):
        async with (
            start_server(api="api", shutdown_grace=5) as server,
            connect(server) as idle,
            connect(server) as busy,
        ):
            await idle.hello()
            await busy.hello()
            await busy.send(type="message", text="finish this")
            await fake.wait_requests(1)
            server.stopping.set()
            with pytest.raises(ConnectionClosed) as idle_closed:
                await idle.receive()
            frames = await busy.until("done")
            with pytest.raises(ConnectionClosed) as busy_closed:
                await busy.receive()
    assert idle_closed.value.reason.code == 1001
    assert frames[-1]["text"] == "last words"
    assert busy_closed.value.reason.code == 1001


async def test_error_frames_say_whether_they_end_the_turn(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("slow", delay=0.3), error(400))
    with trio.fail_after(10):
        async with start_server(api="api") as server, connect(server) as client:
            await client.send(type="message", text="before hello")
            early = await client.receive()
            for _ in range(8):  # naming an unknown agent is not abuse
                await client.send(type="hello", agent="nobody")
                unknown = await client.receive()
            await client.hello()
            await client.send(type="message", text="first")
            await fake.wait_requests(1)
            await client.send(type="message", text="second")
            frames = await client.until("done")
            failed = await client.turn("third")
    assert early["ends_turn"] is True
    assert unknown == {
        "type": "error",
        "code": 400,
        "ends_turn": False,
        "message": unknown["message"],
    }
    busy = [f for f in frames if f["type"] == "error"]
    assert [(f["code"], f["ends_turn"]) for f in busy] == [(409, False)]
    assert (failed[-1]["code"], failed[-1]["ends_turn"]) == (502, True)


async def test_ready_shows_tool_results_cut_like_tool_finished(
    start_server, fake: FakeOpenAI, tmp_path
) -> None:
    (tmp_path / "big.txt").write_text("x" * 5000)
    fake.enqueue(tool_calls([("t1", "read_file", '{"path": "big.txt"}')]), text("read it"))
    with trio.fail_after(10):
        async with start_server(api="api") as server:
            async with connect(server) as client:
                ready = await client.hello()
                frames = await client.turn("read big.txt")
            async with connect(server) as client:
                again = await client.hello(conversation_id=ready["conversation_id"])
    finished = next(f for f in frames if f["type"] == "tool_finished")
    tool = next(m for m in again["messages"] if m["role"] == "tool")
    assert len(finished["result"]) == 500
    assert tool["content"] == finished["result"]
    assert len(fake.requests[-1].json["messages"][-1]["content"]) >= 5000  # the agent saw all


async def test_frame_size_is_counted_in_bytes(start_server) -> None:
    with trio.fail_after(10):
        async with (
            start_server(api="api", max_request_size=1000) as server,
            connect(server) as client,
        ):
            await client.send(type="ping", pad="é" * 600)  # 600 characters, 1200 bytes
            reply = await client.receive()
    assert reply["code"] == 413
