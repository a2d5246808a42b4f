"""`serve a2a` over a real socket: the official A2A client (a2a-sdk, on asyncio, in its own
process: tests/clients/a2a_client.py) and raw JSON-RPC over httpx, against the fake upstream.

The card, SendMessage, SendStreamingMessage, GetTask, ListTasks and CancelTask through the
SDK; the 0.3 methods, the JSON-RPC error codes and the HTTP guards through httpx. A task's
turn is the shared turn: a failed or canceled one leaves its context's conversation as it
was, which the upstream's next request shows.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import trio
import trio.testing

from trioagent.cli import build_parser, serve_options, startup_warnings
from trioagent.server.options import CONTEXTS_MAX
from trioagent.server.ratelimit import Rate
from trioagent.testing import (
    FakeOpenAI,
    ServerProcess,
    error,
    hang,
    held,
    open_server_process,
    text,
    write_test_agent,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

CLIENT = Path(__file__).resolve().parent.parent / "clients" / "a2a_client.py"
KEY = "sk-a2a-test"
SLOW = 60
"""Seconds a test that starts the SDK's process may take (its imports are slow)."""


def a2a(**options: Any) -> dict[str, Any]:
    return {"api": "a2a", **options}


def user(text: str, **fields: Any) -> dict[str, Any]:
    """A 1.0 user message."""
    return {"messageId": f"m-{text}", "role": "ROLE_USER", "parts": [{"text": text}], **fields}


async def call(
    http: httpx.AsyncClient, method: str, params: Any = None, *, rpc_id: Any = 1, **kwargs: Any
) -> dict[str, Any]:
    """One JSON-RPC call; its response (HTTP 200, JSON)."""
    body = {"jsonrpc": "2.0", "id": rpc_id, "method": method}
    if params is not None:
        body["params"] = params
    response = await http.post("/a2a", json=body, **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    answer: dict[str, Any] = response.json()
    assert answer["jsonrpc"] == "2.0"
    return answer


def events(body: str) -> list[dict[str, Any]]:
    """The JSON-RPC responses of an SSE body, one per ``data:`` line."""
    return [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]


def upstream_saw(fake: FakeOpenAI, index: int = -1) -> list[tuple[str, str]]:
    """(role, content) of what the upstream got, the agent's instruction left out."""
    return [(m["role"], m.get("content") or "") for m in fake.requests[index].json["messages"][1:]]


def sdk_command(url: str, scenario: str, api_key: str | None = None) -> list[str]:
    return [sys.executable, str(CLIENT), url, scenario, *([api_key] if api_key else [])]


async def run_sdk(url: str, scenario: str, api_key: str | None = None) -> list[dict[str, Any]]:
    """Run a scenario of the SDK client to its end; the JSON objects it printed."""
    done = await trio.run_process(
        sdk_command(url, scenario, api_key), capture_stdout=True, capture_stderr=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    results = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert results, done.stderr.decode()
    assert "error" not in results[-1], results[-1]
    return results


class Lines:
    """The JSON lines a process prints, read one at a time."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self.stream = stream
        self.buffer = b""

    async def next(self) -> dict[str, Any] | None:
        while b"\n" not in self.buffer:
            data = await self.stream.receive_some()
            if not data:
                return None
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        result: dict[str, Any] = json.loads(line)
        return result


@asynccontextmanager
async def sdk_process(url: str, scenario: str) -> AsyncIterator[trio.Process]:
    async with trio.open_nursery() as nursery:
        process: trio.Process = await nursery.start(
            partial(
                trio.run_process,
                sdk_command(url, scenario),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                check=False,
            )
        )
        yield process


# The card.


async def test_card_describes_the_agents_and_the_endpoint(start_server) -> None:
    with trio.fail_after(10):
        async with start_server(**a2a()) as server, server.http() as http:
            response = await http.get("/.well-known/agent-card.json")
            again = await http.get(
                "/.well-known/agent-card.json",
                headers={"If-None-Match": response.headers["ETag"]},
            )
    assert response.status_code == 200
    card = response.json()
    endpoint = f"{server.url}/a2a"
    assert card["name"] == "agent"  # the agent file's name
    assert card["description"] == "The main agent"
    assert card["version"]
    assert card["capabilities"] == {
        "streaming": True,
        "pushNotifications": False,
        "extendedAgentCard": False,
    }
    assert card["supportedInterfaces"] == [
        {"url": endpoint, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
        {"url": endpoint, "protocolBinding": "JSONRPC", "protocolVersion": "0.3"},
    ]
    assert [s["id"] for s in card["skills"]] == ["root", "helper"]  # one per agent
    assert card["skills"][0]["description"] == "The main agent"
    assert "default" in card["skills"][0]["tags"]
    assert "text/plain" in card["defaultInputModes"]
    assert card["defaultOutputModes"] == ["text/plain"]
    # What a 0.3 client reads.
    assert (card["url"], card["preferredTransport"]) == (endpoint, "JSONRPC")
    assert card["protocolVersion"].startswith("0.3")
    assert "securitySchemes" not in card
    assert "security" not in card
    assert again.status_code == 304


async def test_with_a_key_the_card_names_the_scheme_and_calls_need_it(start_server) -> None:
    with trio.fail_after(SLOW):
        async with start_server(**a2a(api_keys=(KEY,))) as server, server.http() as http:
            card = (await http.get("/.well-known/agent-card.json")).json()  # public
            refused = await http.post(
                "/a2a", json={"jsonrpc": "2.0", "id": 1, "method": "ListTasks"}
            )
            parsed = await run_sdk(server.url, "card")
    assert card["securitySchemes"]["bearer"]["httpAuthSecurityScheme"] == {"scheme": "Bearer"}
    assert card["securityRequirements"] == [{"schemes": {"bearer": {"list": []}}}]
    assert card["securitySchemes"]["bearer"]["type"] == "http"  # 0.3
    assert card["security"] == [{"bearer": []}]  # 0.3
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    body = refused.json()
    assert body["id"] is None
    assert body["error"]["code"] == -32600
    assert body["error"]["data"]["code"] == "invalid_api_key"
    # The SDK reads the scheme as a 1.0 security scheme.
    [sdk_card] = parsed
    assert sdk_card["securitySchemes"]["bearer"]["httpAuthSecurityScheme"]["scheme"].lower() == (
        "bearer"
    )
    assert sdk_card["securityRequirements"] == [{"schemes": {"bearer": {}}}]
    assert sdk_card["skills"][0]["id"] == "root"


# The SDK client: send, continue, get, list, stream, cancel.


async def test_sdk_sends_continues_a_context_gets_and_lists(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Hi there"), text("Again, hi"))
    with trio.fail_after(SLOW):
        async with start_server(**a2a(api_keys=(KEY,))) as server:
            first, second, got, listed = await run_sdk(server.url, "send", KEY)
    task = first["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert [a["parts"] for a in task["artifacts"]] == [[{"text": "Hi there"}]]
    assert [m["role"] for m in task["history"]] == ["ROLE_USER", "ROLE_AGENT"]
    assert task["history"][1]["parts"] == [{"text": "Hi there"}]
    # The second message continues the context: the upstream saw the whole conversation.
    assert second["task"]["contextId"] == task["contextId"]
    assert second["task"]["artifacts"][0]["parts"] == [{"text": "Again, hi"}]
    assert upstream_saw(fake) == [
        ("user", "Hello"),
        ("assistant", "Hi there"),
        ("user", "Again"),
    ]
    assert got["id"] == task["id"]
    assert got["status"]["state"] == "TASK_STATE_COMPLETED"
    assert got["artifacts"] == task["artifacts"]
    assert [t["id"] for t in listed["tasks"]] == [second["task"]["id"], task["id"]]  # newest first
    assert listed["totalSize"] == 2
    assert "artifacts" not in listed["tasks"][0]  # unless includeArtifacts


async def test_sdk_streams_the_task_to_a_final_status(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Streamed answer", chunks=["Stre", "amed ", "answer"], chunk_delay=0.01))
    with trio.fail_after(SLOW):
        async with start_server(**a2a()) as server:
            streamed = await run_sdk(server.url, "stream")
    kinds = [next(iter(event)) for event in streamed]
    assert kinds[:2] == ["task", "statusUpdate"]
    assert set(kinds[2:-1]) == {"artifactUpdate"}
    assert kinds[-1] == "statusUpdate"
    assert streamed[0]["task"]["status"]["state"] == "TASK_STATE_SUBMITTED"
    assert streamed[1]["statusUpdate"]["status"]["state"] == "TASK_STATE_WORKING"
    assert streamed[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
    updates = [event["artifactUpdate"] for event in streamed[2:-1]]
    assert "".join(p["text"] for u in updates for p in u["artifact"]["parts"]) == "Streamed answer"
    assert len(updates) > 2  # piece by piece, as the upstream streamed it
    assert not updates[0].get("append")
    assert all(u["append"] for u in updates[1:])
    assert updates[-1]["lastChunk"]
    task_id = streamed[0]["task"]["id"]
    assert {e[next(iter(e))].get("taskId", task_id) for e in streamed} == {task_id}


async def test_sdk_cancels_a_running_task_and_nothing_is_saved(
    start_server, fake: FakeOpenAI
) -> None:
    fake.enqueue(hang())
    with trio.fail_after(SLOW):
        async with start_server(**a2a()) as server, server.http() as http:
            async with sdk_process(server.url, "cancel") as process:
                assert process.stdout is not None
                assert process.stdin is not None
                lines = Lines(process.stdout)
                first = await lines.next()
                assert first is not None
                await fake.wait_requests(1)  # the turn is waiting on the upstream
                await process.stdin.send_all(b"go\n")
                printed = []
                while (line := await lines.next()) is not None:
                    printed.append(line)
            await fake.wait_disconnect()  # the upstream call was cancelled
            context = first["task"]["contextId"]
            fake.enqueue(text("Fresh"))
            after = await call(http, "SendMessage", {"message": user("Next", contextId=context)})
    canceled = printed[0]
    assert canceled["id"] == first["task"]["id"]
    assert canceled["status"]["state"] == "TASK_STATE_CANCELED"
    assert printed[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_CANCELED"
    assert after["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert upstream_saw(fake) == [("user", "Next")]  # the canceled turn left nothing


# The turn's guarantees, through raw JSON-RPC.


async def test_a_failed_turn_is_a_failed_task_and_saves_nothing(
    start_server, fake: FakeOpenAI
) -> None:
    fake.enqueue(error(400, "no such thing"), text("Fine"))
    with trio.fail_after(10):
        async with start_server(**a2a()) as server, server.http() as http:
            failed = await call(http, "SendMessage", {"message": user("Boom", contextId="ctx-1")})
            task = failed["result"]["task"]
            got = await call(http, "GetTask", {"id": task["id"]})
            await call(http, "SendMessage", {"message": user("Next", contextId="ctx-1")})
    assert task["status"]["state"] == "TASK_STATE_FAILED"
    reason = task["status"]["message"]
    assert reason["role"] == "ROLE_AGENT"
    assert "model provider" in reason["parts"][0]["text"]
    assert "artifacts" not in task
    assert got["result"]["status"]["state"] == "TASK_STATE_FAILED"
    assert upstream_saw(fake) == [("user", "Next")]


async def test_a_busy_context_is_refused_at_once(start_server, fake: FakeOpenAI) -> None:
    release = trio.Event()
    fake.enqueue(held(text("First"), release))
    with trio.fail_after(10):
        async with start_server(**a2a()) as server, server.http() as http:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    call, http, "SendMessage", {"message": user("One", contextId="busy")}
                )
                await fake.wait_requests(1)
                busy = await call(
                    http, "SendMessage", {"message": user("Two", contextId="busy")}, rpc_id=7
                )
                release.set()
    assert busy["id"] == 7
    assert busy["error"]["code"] == -32000
    assert "busy" in busy["error"]["message"]
    [info] = busy["error"]["data"]
    assert info["reason"] == "CONVERSATION_BUSY"
    assert info["metadata"]["status"] == "409"


async def test_the_request_timeout_fails_the_task(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(hang())
    with trio.fail_after(10):
        async with start_server(**a2a(request_timeout=0.5)) as server, server.http() as http:
            answer = await call(http, "SendMessage", {"message": user("Slow")})
    status = answer["result"]["task"]["status"]
    assert status["state"] == "TASK_STATE_FAILED"
    assert "request timeout" in status["message"]["parts"][0]["text"]


async def test_a_canceled_non_streaming_task_answers_canceled(
    start_server, fake: FakeOpenAI
) -> None:
    fake.enqueue(hang())
    with trio.fail_after(10):
        async with start_server(**a2a()) as server, server.http() as http:
            sent: dict[str, Any] = {}

            async def send() -> None:
                sent.update(await call(http, "SendMessage", {"message": user("Wait")}))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(send)
                await fake.wait_requests(1)
                listed = await call(http, "ListTasks", {"status": "TASK_STATE_WORKING"})
                [running] = listed["result"]["tasks"]
                canceled = await call(http, "CancelTask", {"id": running["id"]})
            again = await call(http, "CancelTask", {"id": running["id"]})
    assert canceled["result"]["status"]["state"] == "TASK_STATE_CANCELED"
    assert sent["result"]["task"]["status"]["state"] == "TASK_STATE_CANCELED"
    assert again["error"]["code"] == -32002  # TaskNotCancelable: it has ended


# A2A 0.3, as docker-agent's client speaks it.


def user_v03(text: str, **fields: Any) -> dict[str, Any]:
    return {
        "kind": "message",
        "messageId": f"m-{text}",
        "role": "user",
        "parts": [{"kind": "text", "text": text}],
        **fields,
    }


async def test_the_0_3_methods_answer_in_0_3_shapes(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Old school"), text("Streamed", chunks=["Stream", "ed"], chunk_delay=0.01))
    with trio.fail_after(10):
        async with start_server(**a2a()) as server, server.http() as http:
            sent = await call(http, "message/send", {"message": user_v03("Hi")})
            task = sent["result"]
            streamed = await http.post(
                "/a2a",
                json={
                    "jsonrpc": "2.0",
                    "id": "s",
                    "method": "message/stream",
                    "params": {"message": user_v03("More", contextId=task["contextId"])},
                },
            )
            got = await call(http, "tasks/get", {"id": task["id"], "historyLength": 1})
            cancel = await call(http, "tasks/cancel", {"id": task["id"]})
            pdf = await call(
                http,
                "message/send",
                {
                    "message": {
                        **user_v03("See"),
                        "parts": [
                            {
                                "kind": "file",
                                "file": {"uri": "https://x/a.pdf", "mimeType": "application/pdf"},
                            }
                        ],
                    }
                },
            )
    assert task["kind"] == "task"
    assert task["status"]["state"] == "completed"
    assert task["artifacts"][0]["parts"] == [{"kind": "text", "text": "Old school"}]
    assert [m["role"] for m in task["history"]] == ["user", "agent"]
    assert streamed.headers["content-type"] == "text/event-stream"
    results = [event["result"] for event in events(streamed.text)]
    assert all(event["id"] == "s" for event in events(streamed.text))
    assert [r["kind"] for r in results][:2] == ["task", "status-update"]
    assert results[1]["status"]["state"] == "working"
    assert results[1]["final"] is False
    assert results[-1]["kind"] == "status-update"
    assert results[-1]["status"]["state"] == "completed"
    assert results[-1]["final"] is True
    pieces = [
        p["text"] for r in results if r["kind"] == "artifact-update" for p in r["artifact"]["parts"]
    ]
    assert "".join(pieces) == "Streamed"
    assert upstream_saw(fake) == [("user", "Hi"), ("assistant", "Old school"), ("user", "More")]
    assert got["result"]["kind"] == "task"
    assert [m["role"] for m in got["result"]["history"]] == ["agent"]  # historyLength 1
    assert cancel["error"]["code"] == -32002
    assert pdf["error"]["code"] == -32005


# Malformed JSON-RPC and A2A's errors.


@pytest.mark.parametrize(
    ("body", "headers", "code", "rpc_id"),
    [
        (b"{not json", {}, -32700, None),
        (b"[]", {}, -32600, None),
        (b'"hello"', {}, -32600, None),
        (b'{"jsonrpc": "1.0", "id": 1, "method": "GetTask"}', {}, -32600, 1),
        (b'{"jsonrpc": "2.0", "id": 2}', {}, -32600, 2),
        (b'{"jsonrpc": "2.0", "id": true, "method": "GetTask"}', {}, -32600, None),
        (b'{"jsonrpc": "2.0", "id": 3, "method": "Nope"}', {}, -32601, 3),
        (b'{"jsonrpc": "2.0", "id": 4, "method": "GetTask", "params": [1]}', {}, -32602, 4),
        (b'{"jsonrpc": "2.0", "id": 5, "method": "GetTask", "params": {}}', {}, -32602, 5),
        (
            b'{"jsonrpc": "2.0", "id": 6, "method": "SendMessage", "params": '
            b'{"message": {"role": "ROLE_USER", "parts": [{"text": "hi"}]}}}',
            {},
            -32602,
            6,
        ),
        (
            b'{"jsonrpc": "2.0", "id": 7, "method": "SendMessage", "params": {"message": '
            b'{"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "a", "url": "b"}]}}}',
            {},
            -32602,
            7,
        ),
        (
            b'{"jsonrpc": "2.0", "id": "t", "method": "GetTask", "params": {"id": "x"}}',
            {},
            -32001,
            "t",
        ),
        (
            b'{"jsonrpc": "2.0", "id": 8, "method": "tasks/cancel", "params": {"id": "x"}}',
            {},
            -32001,
            8,
        ),
        (
            b'{"jsonrpc": "2.0", "id": 9, "method": "SubscribeToTask", "params": {"id": "x"}}',
            {},
            -32004,
            9,
        ),
        (
            b'{"jsonrpc": "2.0", "id": 10, "method": "CreateTaskPushNotificationConfig"}',
            {},
            -32003,
            10,
        ),
        (
            b'{"jsonrpc": "2.0", "id": 11, "method": "SendMessage", "params": {"message": '
            b'{"messageId": "m", "role": "ROLE_USER", "parts": [{"url": "https://x/a.pdf", '
            b'"mediaType": "application/pdf"}]}}}',
            {},
            -32005,
            11,
        ),
        (
            b'{"jsonrpc": "2.0", "id": 12, "method": "SendMessage", "params": {"message": '
            b'{"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "a"}]}, '
            b'"configuration": {"returnImmediately": true}}}',
            {},
            -32004,
            12,
        ),
        (
            b'{"jsonrpc": "2.0", "id": 13, "method": "ListTasks"}',
            {"A2A-Version": "0.5"},
            -32009,
            13,
        ),
    ],
    ids=[
        "not-json",
        "batch",
        "not-an-object",
        "wrong-version",
        "no-method",
        "boolean-id",
        "unknown-method",
        "params-array",
        "missing-task-id",
        "missing-message-id",
        "two-contents-in-a-part",
        "unknown-task",
        "unknown-task-0.3",
        "subscribe",
        "push-notifications",
        "pdf-file",
        "return-immediately",
        "a2a-version",
    ],
)
async def test_malformed_or_refused_calls_get_their_json_rpc_code(
    start_server, body: bytes, headers: dict[str, str], code: int, rpc_id: Any
) -> None:
    with trio.fail_after(10):
        async with start_server(**a2a()) as server, server.http() as http:
            response = await http.post(
                "/a2a", content=body, headers={"Content-Type": "application/json", **headers}
            )
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == {"jsonrpc", "id", "error"}
    assert answer["id"] == rpc_id
    assert answer["error"]["code"] == code
    assert answer["error"]["message"]
    info = answer["error"]["data"][0]
    assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert info["reason"]
    if code == -32602:
        violation = answer["error"]["data"][1]
        assert violation["@type"] == "type.googleapis.com/google.rpc.BadRequest"
        assert violation["fieldViolations"][0]["field"]


async def test_a_message_to_an_ended_task_goes_to_its_context_instead(
    start_server, fake: FakeOpenAI
) -> None:
    with trio.fail_after(10):
        async with start_server(**a2a()) as server, server.http() as http:
            done = (await call(http, "SendMessage", {"message": user("Hi")}))["result"]["task"]
            follow = await call(http, "SendMessage", {"message": user("More", taskId=done["id"])})
            other = await call(
                http,
                "SendMessage",
                {"message": user("More", taskId=done["id"], contextId="elsewhere")},
            )
    assert follow["error"]["code"] == -32004
    assert done["contextId"] in follow["error"]["message"]
    assert other["error"]["code"] == -32602


async def test_a_skill_picks_the_agent(start_server, fake: FakeOpenAI) -> None:
    with trio.fail_after(10):
        async with start_server(**a2a()) as server, server.http() as http:
            await call(
                http, "SendMessage", {"message": user("Hi"), "metadata": {"skill": "helper"}}
            )
            unknown = await call(
                http, "SendMessage", {"message": user("Hi"), "metadata": {"skill": "nobody"}}
            )
    assert fake.requests[0].json["messages"][0]["content"].startswith("You help.")
    assert unknown["error"]["code"] == -32602
    assert unknown["error"]["data"][1]["fieldViolations"][0]["field"] == "metadata.skill"


async def test_list_tasks_pages_newest_first(start_server, fake: FakeOpenAI) -> None:
    with trio.fail_after(10):
        async with start_server(**a2a()) as server, server.http() as http:
            ids = [
                (await call(http, "SendMessage", {"message": user(f"n{i}")}))["result"]["task"][
                    "id"
                ]
                for i in range(3)
            ]
            first = (await call(http, "ListTasks", {"pageSize": 2}))["result"]
            rest = (
                await call(http, "ListTasks", {"pageSize": 2, "pageToken": first["nextPageToken"]})
            )["result"]
            bad = await call(http, "ListTasks", {"pageSize": 101})
    assert [t["id"] for t in first["tasks"] + rest["tasks"]] == ids[::-1]
    assert (first["totalSize"], first["pageSize"]) == (3, 2)
    assert rest["nextPageToken"] == ""
    assert bad["error"]["code"] == -32602


async def test_tasks_belong_to_their_api_key(start_server, fake: FakeOpenAI) -> None:
    other = "sk-other"
    with trio.fail_after(10):
        async with start_server(**a2a(api_keys=(KEY, other))) as server, server.http() as http:
            mine = {"Authorization": f"Bearer {KEY}"}
            theirs = {"Authorization": f"Bearer {other}"}
            sent = await call(http, "SendMessage", {"message": user("Hi")}, headers=mine)
            task_id = sent["result"]["task"]["id"]
            hidden = await call(http, "GetTask", {"id": task_id}, headers=theirs)
            listed = await call(http, "ListTasks", {}, headers=theirs)
    assert hidden["error"]["code"] == -32001
    assert listed["result"]["tasks"] == []


# The HTTP guards of every server.


async def test_guards_body_limit_rate_limit_health_and_metrics(
    start_server, fake: FakeOpenAI
) -> None:
    with trio.fail_after(10):
        options = a2a(max_request_size=1024, rate_limit=Rate(2, 60))
        async with start_server(**options) as server, server.http() as http:
            health = await http.get("/healthz")
            large = await http.post(
                "/a2a",
                json={
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "SendMessage",
                    "params": {"x": "a" * 2000},
                },
            )
            await call(http, "ListTasks", {})
            metrics = await http.get("/metrics")
            limited = await http.post(
                "/a2a", json={"jsonrpc": "2.0", "id": 2, "method": "ListTasks"}
            )
            page = await http.get("/")
    assert health.json() == {"status": "ok"}
    assert large.status_code == 413
    assert large.json()["error"]["data"]["code"] == "request_too_large"
    assert large.json()["id"] is None
    assert 'route="/a2a"' in metrics.text
    assert limited.status_code == 429
    assert limited.headers["Retry-After"]
    assert limited.json()["error"]["data"]["code"] == "rate_limit_exceeded"
    assert page.status_code == 404  # no chat page on an A2A server


async def test_a_stream_ends_with_the_failure_and_saves_nothing(
    start_server, fake: FakeOpenAI
) -> None:
    fake.enqueue(error(400, "no such thing"))
    with trio.fail_after(10):
        async with start_server(**a2a()) as server, server.http() as http:
            body = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "SendStreamingMessage",
                "params": {"message": user("Boom", contextId="ctx-f")},
            }
            streamed = await http.post("/a2a", json=body)
            await call(http, "SendMessage", {"message": user("Next", contextId="ctx-f")})
    results = [event["result"] for event in events(streamed.text)]
    last = results[-1]["statusUpdate"]["status"]
    assert last["state"] == "TASK_STATE_FAILED"
    assert "model provider" in last["message"]["parts"][0]["text"]
    assert upstream_saw(fake) == [("user", "Next")]


async def test_a_client_that_leaves_the_stream_cancels_its_task(
    start_server, fake: FakeOpenAI
) -> None:
    fake.enqueue(hang())
    with trio.fail_after(10):
        async with start_server(**a2a()) as server, server.http() as http:
            body = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "SendStreamingMessage",
                "params": {"message": user("Leave", contextId="ctx-l")},
            }
            async with http.stream("POST", "/a2a", json=body) as streamed:
                lines = streamed.aiter_lines()
                first = json.loads((await anext(lines))[6:])
                await fake.wait_requests(1)
            await fake.wait_disconnect()  # leaving cancelled the turn's upstream call
            await trio.testing.wait_all_tasks_blocked()  # the server is done with the stream
            got = await call(http, "GetTask", {"id": first["result"]["task"]["id"]})
            await call(http, "SendMessage", {"message": user("Back", contextId="ctx-l")})
    status = got["result"]["status"]
    assert status["state"] == "TASK_STATE_CANCELED"
    assert "the client went away" in status["message"]["parts"][0]["text"]
    assert upstream_saw(fake) == [("user", "Back")]


async def test_parts_reach_the_agent_as_text_json_and_images(
    start_server, fake: FakeOpenAI
) -> None:
    parts = [
        {"text": "Look:"},
        {"data": {"size": 3}},
        {"raw": "bm90ZXM=", "mediaType": "text/plain", "filename": "notes.txt"},
        {"url": "https://example.com/cat.png", "mediaType": "image/png"},
    ]
    with trio.fail_after(10):
        async with start_server(**a2a()) as server, server.http() as http:
            await call(http, "SendMessage", {"message": {**user("x"), "parts": parts}})
    content = fake.requests[-1].json["messages"][-1]["content"]
    texts = [p["text"] for p in content if p["type"] == "text"]
    images = [p["image_url"]["url"] for p in content if p["type"] == "image_url"]
    assert texts == ['Look:\n{"size": 3}\nnotes']
    assert images == ["https://example.com/cat.png"]


# The command.


async def test_trioagent_serve_a2a_prints_the_card_url_serves_and_stops_on_sigterm(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    fake.enqueue(text("From the command"))
    agent = write_test_agent(tmp_path, fake.base_url)
    with trio.fail_after(SLOW):
        async with open_server_process("a2a", str(agent)) as server, server_http(server) as http:
            card = (await http.get("/.well-known/agent-card.json")).json()
            answer = await call(http, "SendMessage", {"message": user("Hi")})
            server.process.send_signal(signal.SIGTERM)
            assert await server.process.wait() == 0
    assert server.url == f"{server.base_url}/a2a"
    assert f"card: {server.base_url}/.well-known/agent-card.json" in server.startup_line
    assert "trioagent serve a2a: listening on" in server.startup_line
    assert card["supportedInterfaces"][0]["url"] == server.url
    assert answer["result"]["task"]["artifacts"][0]["parts"] == [{"text": "From the command"}]


def server_http(server: ServerProcess) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.base_url, timeout=10)


async def test_the_sdk_as_a_0_3_client(start_server, fake: FakeOpenAI) -> None:
    """The SDK's compat transport speaks 0.3 (message/send, message/stream, tasks/get,
    tasks/cancel) and validates the 0.3 answers with its 0.3 models."""
    fake.enqueue(text("Old hello"), text("Old again", chunks=["Old ", "again"], chunk_delay=0.01))
    with trio.fail_after(SLOW):
        async with start_server(**a2a()) as server:
            done = await trio.run_process(
                sdk_command(server.url, "legacy"), capture_stdout=True, check=False
            )
    assert done.returncode == 0
    printed = [json.loads(line) for line in done.stdout.decode().splitlines()]
    sent, *streamed, got, cancel = printed
    assert sent["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert sent["task"]["artifacts"][0]["parts"][0]["text"] == "Old hello"
    assert streamed[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
    pieces = [e["artifactUpdate"]["artifact"]["parts"][0]["text"] for e in streamed[2:-1]]
    assert "".join(pieces) == "Old again"
    assert got["id"] == sent["task"]["id"]
    assert cancel["error"] == "TaskNotCancelableError"
    assert upstream_saw(fake)[:2] == [("user", "Hello"), ("assistant", "Old hello")]


def test_serve_a2a_flags_keep_contexts_and_run_one_worker() -> None:
    parser = build_parser()
    default = serve_options(parser.parse_args(["serve", "a2a", "a.yaml"]), {})
    assert default.cache_size(default.store_for("a2a"), "a2a") == CONTEXTS_MAX
    assert (default.tasks_max, default.workers) == (1000, 1)
    args = parser.parse_args(
        [
            "serve",
            "a2a",
            "a.yaml",
            "--store",
            "sqlite:c.db",
            "--conversations-max",
            "7",
            "--conversation-ttl",
            "1h",
            "--tasks-max",
            "5",
        ]
    )
    options = serve_options(args, {})
    assert options.cache_size(options.store_for("a2a"), "a2a") == 7
    assert (options.conversation_ttl, options.tasks_max) == (3600, 5)
    assert options.workers == 1  # tasks are per process, even on a shared store
    assert startup_warnings("a2a", options) == []
    many = serve_options(parser.parse_args(["serve", "a2a", "a.yaml", "--workers", "2"]), {})
    [warning] = startup_warnings("a2a", many)
    assert "each worker keeps its own tasks" in warning
