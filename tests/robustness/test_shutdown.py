"""Graceful shutdown under load, on real ``trioagent serve`` processes.

SIGTERM while 20 turns run (streamed and plain): every running turn ends with 200 and
its whole answer, and is committed (``serve api``'s sessions file holds it); new
connections are refused; the process exits 0 once the turns are done. Turns that cannot
finish within ``--shutdown-grace`` are cancelled when it ends: the client sees a closed
connection or a clean error, nothing is committed, the upstream call is hung up, and the
process exits 0 right after. Each runs on ``serve chat``, on ``serve api`` with a SQLite
file, and on two ``serve api --workers 2`` processes sharing that file.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio

from trioagent.server.guards import conversation_key
from trioagent.store import open_sqlite_store
from trioagent.testing import FakeOpenAI, open_server_process, text, write_test_agent
from trioagent.testing.process import children_of

TURNS = 20
SIGNALLED = "received: finishing running turns"
"""What each serving process logs when SIGTERM reaches it."""


def answer_to(message: str) -> str:
    return f"The whole answer to {message}, sent word by word."


@attrs.define(eq=False, kw_only=True)
class GatedUpstream(FakeOpenAI):
    """Answers each model call with `answer_to` its last message once `gate` is set. A
    message with ``stall`` in it gets its first words at once, then nothing until the
    server hangs up."""

    gate: trio.Event = attrs.Factory(trio.Event)

    async def answer(self, reply: Any, body: dict[str, Any], responder: Any) -> None:
        message = body["messages"][-1]["content"]
        if "stall" in message:
            reply = text(chunks=["The first words ", "and never the rest."], chunk_delay=3600)
        else:
            await self.gate.wait()
            reply = text(answer_to(message), chunk_delay=0.01)
        await super().answer(reply, body, responder)


@pytest.fixture
async def upstream() -> AsyncIterator[GatedUpstream]:
    fake = GatedUpstream()
    async with fake.running():
        yield fake


@attrs.frozen
class Setup:
    api: str
    workers: int = 1

    def args(self, tmp_path: Path) -> list[str]:
        store = (
            ["--conversations-max", "100"]
            if self.api == "chat"
            else ["--sessions", str(tmp_path / "sessions.db")]
        )
        return [*store, "--workers", str(self.workers)]


SETUPS = [Setup("chat"), Setup("api"), Setup("api", workers=2)]
SETUP_IDS = ["serve-chat", "serve-api-sqlite", "serve-api-sqlite-2-workers"]


@attrs.define
class ServerLog:
    """A server's stderr, read to its end (so that the pipe never fills)."""

    text: str = ""
    changed: trio.Event = attrs.Factory(trio.Event)

    async def read(self, stream: trio.abc.ReceiveStream) -> None:
        while data := await stream.receive_some(65536):
            self.text += data.decode(errors="replace")
            self.changed.set()
            self.changed = trio.Event()

    async def wait_for(self, needle: str, count: int = 1) -> None:
        while self.text.count(needle) < count:
            await self.changed.wait()


@attrs.frozen
class Answer:
    """What a client got: the status, the answer's text, and whether it ended properly
    (a 200 JSON body, or a stream's last event); ``error`` when the connection broke."""

    status: int | None
    text: str = ""
    complete: bool = False
    error: str | None = None


async def send_turn(
    http: httpx.AsyncClient, api: str, conversation: str, message: str, *, stream: bool
) -> Answer:
    if api == "chat":
        url, headers = "/v1/chat/completions", {"X-Conversation-Id": conversation}
        body: dict[str, Any] = {
            "model": "root",
            "stream": stream,
            "messages": [{"role": "user", "content": message}],
        }
    else:
        url, headers = "/api/chat", {}
        body = {"message": message, "session_id": conversation, "stream": stream}
    status: int | None = None
    pieces: list[str] = []
    complete = False
    try:
        if not stream:
            response = await http.post(url, json=body, headers=headers)
            if response.status_code != 200:
                return Answer(response.status_code, response.text)
            reply = response.json()
            said = reply["choices"][0]["message"]["content"] if api == "chat" else reply["message"]
            return Answer(200, said, complete=True)
        async with http.stream("POST", url, json=body, headers=headers) as response:
            status = response.status_code
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data == "[DONE]":
                    complete = complete or api == "chat"
                    continue
                event = json.loads(data)
                if "error" in event:
                    return Answer(status, "".join(pieces), error=f"error event: {data}")
                if api == "chat":
                    pieces += [c["delta"].get("content") or "" for c in event["choices"]]
                elif event["type"] == "delta":
                    pieces.append(event["delta"])
                elif event["type"] == "done":
                    complete = event["message"] == "".join(pieces)
            return Answer(status, "".join(pieces), complete=complete)
    except httpx.HTTPError as exc:
        return Answer(status, "".join(pieces), error=f"{type(exc).__name__}: {exc}")


async def assert_refuses_new_connections(base_url: str, within: float = 5.0) -> None:
    """A new connection is refused, or answered 503, soon after SIGTERM (the log line the
    test waited for comes a few scheduler steps before the listener closes)."""
    with trio.move_on_after(within):
        while True:
            async with httpx.AsyncClient(base_url=base_url, timeout=10) as fresh:
                try:
                    response = await fresh.get("/healthz")
                except httpx.ConnectError:
                    return
            if response.status_code == 503:
                return
            await trio.sleep(0.05)
    raise AssertionError(f"new connections were still served {within} s after SIGTERM")


async def stored_messages(sessions: Path, conversation: str) -> list[str] | None:
    """The contents of a conversation in a sessions file, or None when it has none."""
    async with open_sqlite_store(sessions) as store:
        session = await store.get(conversation_key(None, conversation))
    return None if session is None else [m.content for m in session.messages]


def write_agent(tmp_path: Path, upstream: FakeOpenAI) -> Path:
    return write_test_agent(tmp_path, upstream.base_url)


@pytest.mark.parametrize("setup", SETUPS, ids=SETUP_IDS)
async def test_sigterm_lets_running_turns_finish_and_commit(
    setup: Setup, upstream: GatedUpstream, tmp_path: Path
) -> None:
    agent = write_agent(tmp_path, upstream)
    answers: dict[int, Answer] = {}
    with trio.fail_after(90):
        async with (
            open_server_process(
                setup.api, str(agent), "--shutdown-grace", "60s", *setup.args(tmp_path)
            ) as server,
            trio.open_nursery() as nursery,
        ):
            log = ServerLog()
            assert server.process.stderr is not None
            nursery.start_soon(log.read, server.process.stderr)
            limits = httpx.Limits(max_connections=TURNS)
            async with httpx.AsyncClient(
                base_url=server.base_url, timeout=60, limits=limits
            ) as http:

                async def turn(number: int) -> None:
                    answers[number] = await send_turn(
                        http, setup.api, f"c{number}", f"question {number}", stream=number % 2 == 0
                    )

                async with trio.open_nursery() as turns:
                    for number in range(TURNS):
                        turns.start_soon(turn, number)
                    await upstream.wait_requests(TURNS)  # every turn is running
                    server.process.send_signal(signal.SIGTERM)
                    await log.wait_for(SIGNALLED, setup.workers)
                    await assert_refuses_new_connections(server.base_url)
                    upstream.gate.set()
                # The turns are done: no waiting out the 60 s grace, even for the client's
                # pool of kept-alive connections.
                with trio.fail_after(30):
                    status = await server.process.wait()
            nursery.cancel_scope.cancel()
    assert status == 0, log.text
    assert answers == {
        n: Answer(200, answer_to(f"question {n}"), complete=True) for n in range(TURNS)
    }
    if setup.api == "api":
        for number in range(TURNS):
            assert await stored_messages(tmp_path / "sessions.db", f"c{number}") == [
                f"question {number}",
                answer_to(f"question {number}"),
            ]


@pytest.mark.parametrize("setup", SETUPS, ids=SETUP_IDS)
async def test_turns_slower_than_the_grace_are_cancelled_and_commit_nothing(
    setup: Setup, upstream: GatedUpstream, tmp_path: Path
) -> None:
    agent = write_agent(tmp_path, upstream)
    upstream.gate.set()
    stalled = 6
    answers: dict[int, Answer] = {}
    with trio.fail_after(90):
        async with (
            open_server_process(
                setup.api, str(agent), "--shutdown-grace", "1s", *setup.args(tmp_path)
            ) as server,
            trio.open_nursery() as nursery,
        ):
            log = ServerLog()
            assert server.process.stderr is not None
            nursery.start_soon(log.read, server.process.stderr)
            async with httpx.AsyncClient(
                base_url=server.base_url, timeout=60, limits=httpx.Limits(max_connections=stalled)
            ) as http:

                async def first_turn(number: int) -> None:
                    first = await send_turn(
                        http, setup.api, f"c{number}", f"first {number}", stream=False
                    )
                    assert first.status == 200, first

                async with trio.open_nursery() as firsts:  # one committed turn on each
                    for number in range(stalled):
                        firsts.start_soon(first_turn, number)

                async def turn(number: int) -> None:
                    answers[number] = await send_turn(
                        http, setup.api, f"c{number}", f"stall {number}", stream=number % 2 == 0
                    )

                async with trio.open_nursery() as turns:
                    for number in range(stalled):
                        turns.start_soon(turn, number)
                    await upstream.wait_requests(2 * stalled)
                    server.process.send_signal(signal.SIGTERM)
                    signalled = trio.current_time()
                    # The grace is 1 s and the turns endless: without the cancellation at
                    # its end, the server would wait for the 5-minute request timeout.
                    with trio.fail_after(30):
                        status = await server.process.wait()
                    stopped_after = trio.current_time() - signalled
            with trio.fail_after(10):
                await upstream.wait_disconnects(stalled)  # every model call was hung up
            nursery.cancel_scope.cancel()
    assert status == 0, log.text
    assert stopped_after >= 1, "the server did not give the turns their grace"
    assert len(answers) == stalled
    for answer in answers.values():
        # A cut connection or a clean error status/event; never a whole answer.
        assert not answer.complete, answer
        assert answer.error is not None or (answer.status or 0) >= 500, answer
        assert "never the rest" not in answer.text
    if setup.api == "api":
        for number in range(stalled):
            assert await stored_messages(tmp_path / "sessions.db", f"c{number}") == [
                f"first {number}",
                answer_to(f"first {number}"),
            ]


async def test_a_worker_lost_while_stopping_makes_the_exit_status_fail(
    upstream: GatedUpstream, tmp_path: Path
) -> None:
    """A worker killed during the grace took its running turns with it: the parent must
    not report a clean stop."""
    agent = write_agent(tmp_path, upstream)
    setup = Setup("api", workers=2)
    with trio.fail_after(90):
        async with (
            open_server_process(
                setup.api, str(agent), "--shutdown-grace", "60s", *setup.args(tmp_path)
            ) as server,
            trio.open_nursery() as nursery,
        ):
            log = ServerLog()
            assert server.process.stderr is not None
            nursery.start_soon(log.read, server.process.stderr)
            workers = children_of(server.process.pid)
            assert len(workers) == 2
            async with (
                httpx.AsyncClient(base_url=server.base_url, timeout=60) as http,
                trio.open_nursery() as turns,
            ):
                turns.start_soon(partial(send_turn, http, "api", "c", "stall", stream=True))
                await upstream.wait_requests(1)  # one worker runs a turn for 60 s more
                server.process.send_signal(signal.SIGTERM)
                await log.wait_for(SIGNALLED, 2)
                for pid in workers:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                status = await server.process.wait()
            nursery.cancel_scope.cancel()
    assert status == 1, log.text
    assert "while stopping" in log.text
