"""Several trioagent processes on one real Redis: shared conversations, never interleaved.

Each replica is a real `trioagent serve` process with ``--store redis://...``; the model
is the fake upstream, in this test's process.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import coredis
import httpx
import pytest
import trio

from trioagent.testing import (
    FakeOpenAI,
    ServerProcess,
    hang,
    held,
    open_server_process,
    text,
    write_test_agent,
)
from trioagent.testing.redis import RedisServer

Replica = Callable[..., AbstractAsyncContextManager[ServerProcess]]


@pytest.fixture
def replica(fake: FakeOpenAI, redis_server: RedisServer, tmp_path: Path) -> Replica:
    """``async with replica(*flags) as server:`` a serve chat process on the shared Redis."""
    agent = write_test_agent(tmp_path, fake.base_url)

    def start(*flags: str, api: str = "chat") -> AbstractAsyncContextManager[ServerProcess]:
        return open_server_process(api, str(agent), "--store", redis_server.url, *flags)

    return start


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20) as client:
        yield client


def history(fake: FakeOpenAI, index: int = -1) -> list[tuple[str, str]]:
    """The conversation the upstream saw in request ``index``, without the instruction."""
    return [(m["role"], m["content"]) for m in fake.requests[index].json["messages"][1:]]


async def say(
    http: httpx.AsyncClient,
    server: ServerProcess,
    content: str,
    conversation: str = "conv-1",
    **extra: Any,
) -> httpx.Response:
    return await http.post(
        f"{server.base_url}/v1/chat/completions",
        headers={"X-Conversation-Id": conversation},
        json={"model": "root", "messages": [{"role": "user", "content": content}], **extra},
    )


async def test_conversation_alternates_between_replicas(
    replica: Replica, fake: FakeOpenAI, http: httpx.AsyncClient
) -> None:
    with trio.fail_after(60):
        async with replica() as one, replica() as two:
            assert "conversations: redis://127.0.0.1:" in one.startup_line
            expected: list[tuple[str, str]] = []
            for turn, server in enumerate([one, two, one, two, two, one]):
                fake.enqueue(text(f"answer {turn}"))
                stream = turn % 2 == 1
                response = await say(http, server, f"question {turn}", stream=stream)
                assert response.status_code == 200, response.text
                expected.append(("user", f"question {turn}"))
                assert history(fake) == expected
                expected.append(("assistant", f"answer {turn}"))


async def test_concurrent_turns_on_one_id_across_replicas_never_interleave(
    replica: Replica, fake: FakeOpenAI, http: httpx.AsyncClient
) -> None:
    with trio.fail_after(60):
        async with replica() as one, replica() as two:
            fake.enqueue(text("first answer"))
            assert (await say(http, one, "first")).status_code == 200
            # The first turn to reach the model keeps its lock until another turn has been
            # refused: a 409 however the machine schedules the eight requests.
            refused = trio.Event()
            fake.enqueue(
                held(text("answer 0", delay=0.3), refused),
                *[text(f"answer {n}", delay=0.3) for n in range(1, 8)],
            )
            statuses: dict[int, int] = {}

            async def ask(n: int) -> None:
                response = await say(http, (one, two)[n % 2], f"question {n}")
                statuses[n] = response.status_code
                if response.status_code == 409:
                    refused.set()

            async with trio.open_nursery() as nursery:
                for n in range(8):
                    nursery.start_soon(ask, n)
            assert set(statuses.values()) <= {200, 409}
            assert 409 in statuses.values()
            won = sorted(n for n, status in statuses.items() if status == 200)
            assert won

            fake.enqueue(text("last answer"))
            assert (await say(http, two, "last")).status_code == 200
    seen = history(fake)
    assert seen[:2] == [("user", "first"), ("assistant", "first answer")]
    assert seen[-1] == ("user", "last")
    middle = seen[2:-1]  # each winner's question right before its answer, nothing else
    assert len(middle) == 2 * len(won)
    questions = [content for role, content in middle[::2]]
    assert sorted(questions) == sorted(f"question {n}" for n in won)
    assert all(role == "assistant" for role, _ in middle[1::2])


async def test_replica_killed_mid_turn_leaves_last_commit_and_lock_frees_on_expiry(
    replica: Replica, fake: FakeOpenAI, http: httpx.AsyncClient, redis_server: RedisServer
) -> None:
    # The lock lives 66 s: it outlives the test's checks however slow the machine, and
    # the test then shortens it (PEXPIRE) to stand for that time going by.
    flags = ("--request-timeout", "60s")
    redis: coredis.Redis[bytes] = coredis.Redis.from_url(redis_server.url)
    with trio.fail_after(60):
        async with replica(*flags) as doomed, replica(*flags) as survivor, redis:
            fake.enqueue(text("committed"), hang())
            assert (await say(http, doomed, "kept")).status_code == 200

            async with trio.open_nursery() as nursery:

                async def doomed_turn() -> None:
                    with pytest.raises(httpx.HTTPError):  # its server dies under it
                        await say(http, doomed, "lost with the replica")

                nursery.start_soon(doomed_turn)
                await fake.wait_requests(2)  # the turn holds the lock, waiting on the model
                doomed.process.send_signal(signal.SIGKILL)
            await doomed.process.wait()

            busy = await say(http, survivor, "too soon")
            assert busy.status_code == 409
            assert busy.json()["error"]["code"] == "conversation_busy"

            [lock] = await redis.keys("trioagent:lock:*")  # the dead replica's
            assert 0 < await redis.pttl(lock) <= 66_000
            await redis.pexpire(lock, 50)  # its time runs out: Redis frees it on its clock

            fake.enqueue(text("after the expiry"))
            while True:  # until Redis has expired it (bounded by the fail_after)
                response = await say(http, survivor, "again")
                if response.status_code != 409:
                    break
                await trio.sleep(0.01)
            assert response.status_code == 200, response.text
    assert history(fake) == [("user", "kept"), ("assistant", "committed"), ("user", "again")]


async def test_redis_outage_answers_503_then_recovers_with_history_intact(
    replica: Replica, fake: FakeOpenAI, http: httpx.AsyncClient, redis_server: RedisServer
) -> None:
    with trio.fail_after(60):
        async with replica() as server:
            fake.enqueue(text("before"))
            assert (await say(http, server, "one")).status_code == 200
            await redis_server.stop()
            for stream in (False, True):
                response = await say(http, server, "during the outage", stream=stream)
                assert response.status_code == 503
                assert response.headers["Retry-After"] == "1"
                assert response.json()["error"]["type"] == "server_error"
                assert "127.0.0.1" not in response.text  # the store's address is not shown
            assert len(fake.requests) == 1  # no turn ran without its conversation
            await redis_server.start()
            fake.enqueue(text("after"))
            response = await say(http, server, "two")
            assert response.status_code == 200, response.text
    assert history(fake) == [("user", "one"), ("assistant", "before"), ("user", "two")]


async def test_workers_share_conversations_through_redis(
    replica: Replica, fake: FakeOpenAI, http: httpx.AsyncClient
) -> None:
    with trio.fail_after(90):
        async with replica("--workers", "2") as server:
            assert "2 workers" in server.startup_line
            expected: list[tuple[str, str]] = []
            for turn in range(8):
                fake.enqueue(text(f"answer {turn}"))
                async with httpx.AsyncClient(timeout=20) as fresh:  # a new connection each
                    response = await say(fresh, server, f"question {turn}")
                assert response.status_code == 200, response.text
                expected.append(("user", f"question {turn}"))
                assert history(fake) == expected
                expected.append(("assistant", f"answer {turn}"))
            server.process.send_signal(signal.SIGTERM)
            assert await server.process.wait() == 0


async def test_serve_api_sessions_live_in_redis_across_server_restarts(
    replica: Replica, fake: FakeOpenAI, http: httpx.AsyncClient
) -> None:
    with trio.fail_after(60):
        fake.enqueue(text("Hello Ada."), text("You are Ada."))
        async with replica(api="api") as server:
            assert "sessions: redis://127.0.0.1:" in server.startup_line
            first = (await http.post(server.url, json={"message": "I am Ada."})).json()
        async with replica(api="api") as server:
            reply = await http.post(
                server.url, json={"message": "Who am I?", "session_id": first["session_id"]}
            )
            assert reply.status_code == 200
            session = (
                await http.get(f"{server.base_url}/api/sessions/{first['session_id']}")
            ).json()
    assert [m["content"] for m in session["messages"]] == [
        "I am Ada.",
        "Hello Ada.",
        "Who am I?",
        "You are Ada.",
    ]
