"""Faults of the upstream and of the client, against a real server on loopback.

Each test builds a conversation of two good turns, injects one fault into a third turn,
then checks that:

1. the stored conversation is exactly its last committed state (``GET /api/sessions/{id}``
   for serve api; for serve chat, which has no read endpoint, what the next good turn
   sends upstream: the committed turns plus the new message, nothing of the failed turn);
2. nothing is left behind: no task the server did not run before the fault, no request the
   fake upstream is still answering, no process the turn started, no conversation lock;
3. the server is healthy: the next turn on the same conversation works, and the runtime
   pool is back to its idle count.

Every fault runs on serve chat (``X-Conversation-Id``, memory cache) and serve api
(sessions in a SQLite file); those where a store's network calls can be cut half-way (the
client hangs up, the turn times out) also run on Redis. ``faults_support`` lists the stores.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio
import trio.testing

from trioagent.models.retry import DEFAULT_MAX_ATTEMPTS
from trioagent.testing import FakeOpenAI, drop, error, hang, malformed, text, tool_calls

from .faults_support import (
    LOCAL_FLAVORS,
    SHARED_FLAVORS,
    Conversation,
    Flavor,
    RawClient,
    assert_nothing_left,
    processes_with,
    raw_request,
    server_state,
    server_tasks,
    sse_data,
    wait_until,
)

FLAVORS = LOCAL_FLAVORS + SHARED_FLAVORS


def cases(*rows: tuple[Flavor, str, Any, bool | None]) -> list[Any]:
    """``pytest.param(flavor, case, stream)`` per row, with ids like ``api-sqlite-hang-sse``
    (no stream suffix where the case does not depend on it)."""
    return [
        pytest.param(
            flavor,
            case,
            stream,
            id="-".join(
                [flavor.id, name, *([] if stream is None else ["sse" if stream else "json"])]
            ),
        )
        for flavor, name, case, stream in rows
    ]


@pytest.fixture
def store_fixture(flavor: Flavor, request: pytest.FixtureRequest) -> Any:
    """The fixture ``flavor`` needs (pytest-trio resolves it for `open_scene`), or None."""
    return request.getfixturevalue(flavor.needs) if flavor.needs else None


@attrs.define
class Scene:
    """A server with a conversation of two committed turns, and how it looked then."""

    conversation: Conversation
    fake: FakeOpenAI
    baseline: set[trio.lowlevel.Task]
    stored: Any
    idle: int

    async def assert_recovered(self, *, marker: str | None = None) -> None:
        """The three checks of the module docstring."""
        conversation = self.conversation
        await assert_nothing_left(self.baseline, self.fake, marker=marker)
        state = server_state()
        assert state.store is not None
        assert not await state.store.is_taken(conversation.key)
        assert await conversation.stored() == self.stored
        self.fake.default = text("ok")
        await conversation.good_turn("after the fault", "recovered")
        assert state.pool.idle_count("root") == self.idle


OpenScene = Callable[..., Any]


@pytest.fixture
def open_scene(
    start_server: Any, fake: FakeOpenAI, flavor: Flavor, tmp_path: Path, store_fixture: Any
) -> OpenScene:
    """``async with open_scene(**options) as scene:`` serves ``flavor`` with ``options``."""

    @asynccontextmanager
    async def open_(**options: Any) -> AsyncIterator[Scene]:
        settings = flavor.options(store_fixture, tmp_path)
        async with start_server(api=flavor.api, **settings, **options) as server:
            conversation = Conversation(flavor, server.url, fake)
            await conversation.good_turn("first", "first answer")
            await conversation.good_turn("second", "second answer")
            yield Scene(
                conversation,
                fake,
                server_tasks(),
                await conversation.stored(),
                server_state().pool.idle_count("root"),
            )

    return open_


# --- the upstream fails ------------------------------------------------------------------


@attrs.frozen
class UpstreamFault:
    """A scripted upstream failure and what the client must get for it."""

    script: Callable[[FakeOpenAI], None]
    status: int
    """serve chat's status (in-band ``error.code`` when streamed: see ``code``)."""
    code: str
    api_status: int
    """serve api's status (its ``code`` field)."""
    attempts: int = 1
    """Model calls the server makes before it gives up."""
    partial: str = ""
    """Text streamed to the client before the failure."""
    options: dict[str, Any] = attrs.Factory(dict)
    streams: tuple[bool, ...] = (False, True)
    """Run without and with ``stream``."""
    shared_streams: tuple[bool, ...] = ()
    """The streams also run on the shared stores (when the fault reaches the store in a
    way the local stores do not show)."""


def _storm(retry_after: float | None) -> Callable[[FakeOpenAI], None]:
    def script(fake: FakeOpenAI) -> None:
        fake.default = error(429, "slow down", retry_after=retry_after)  # every call, until reset

    return script


# The documented statuses (openai-wire.md, serve-api.md): the provider failed after our own
# retries -> 502 upstream_error (serve api: 500 "Failed to get response"); the request
# timeout -> 504. Neither may be retried by an SDK, since the turn may have run tools.
UPSTREAM_FAULTS = {
    "reset-mid-stream": UpstreamFault(
        lambda fake: fake.enqueue(drop("partial")),
        502,
        "upstream_error",
        500,
        partial="partial",
        shared_streams=(False, True),
    ),
    "hang": UpstreamFault(
        lambda fake: fake.enqueue(hang()),
        504,
        "timeout",
        504,
        options={"request_timeout": 1.0},
        shared_streams=(False,),
    ),
    "malformed-sse": UpstreamFault(
        lambda fake: fake.enqueue(malformed()), 502, "upstream_error", 500
    ),
    "429-storm-retry-after": UpstreamFault(
        _storm(0.1), 502, "upstream_error", 500, attempts=DEFAULT_MAX_ATTEMPTS
    ),
    # Backoff waits a second or more, the same for every API and stream: once per API.
    "429-storm-backoff": UpstreamFault(
        _storm(None), 502, "upstream_error", 500, attempts=DEFAULT_MAX_ATTEMPTS, streams=(False,)
    ),
}
UPSTREAM_CASES = cases(
    *(
        (flavor, name, fault, stream)
        for flavor in FLAVORS
        for name, fault in UPSTREAM_FAULTS.items()
        for stream in (fault.streams if flavor in LOCAL_FLAVORS else fault.shared_streams)
    )
)


def assert_failed_as_documented(
    response: httpx.Response, fault: UpstreamFault, flavor: Flavor, *, stream: bool
) -> None:
    if not stream:
        if flavor.api == "chat":
            assert response.status_code == fault.status, response.text
            assert response.json()["error"]["code"] == fault.code
            assert response.headers["x-should-retry"] == "false"
        else:
            assert response.status_code == fault.api_status, response.text
            assert response.json()["code"] == fault.api_status
        return
    assert response.status_code == 200
    events = sse_data(response.content)
    if flavor.api == "chat":
        assert events[-1] == "[DONE]"
        *chunks, failure = events[:-1]
        assert failure["error"]["code"] == fault.code, failure
        assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
        assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == fault.partial
        assert all(c["choices"][0]["finish_reason"] is None for c in chunks)
    else:
        *deltas, failure = events
        assert failure["type"] == "error", failure
        assert failure["code"] == fault.api_status, failure
        assert "".join(d["delta"] for d in deltas) == fault.partial


@pytest.mark.parametrize(("flavor", "fault", "stream"), UPSTREAM_CASES)
async def test_upstream_fault_keeps_the_conversation_and_leaves_nothing_behind(
    open_scene: OpenScene,
    fake: FakeOpenAI,
    flavor: Flavor,
    fault: UpstreamFault,
    stream: bool,
) -> None:
    with trio.fail_after(20):
        async with open_scene(**fault.options) as scene:
            conversation = scene.conversation
            calls = len(fake.requests)
            fault.script(fake)
            async with conversation.http() as http:
                response = await conversation.post(http, "doomed", stream=stream)
            assert_failed_as_documented(response, fault, flavor, stream=stream)
            assert len(fake.requests) - calls == fault.attempts
            await scene.assert_recovered()


@pytest.mark.parametrize("flavor", LOCAL_FLAVORS, ids=[f.id for f in LOCAL_FLAVORS])
async def test_slow_reader_cannot_hold_the_turn_past_the_request_timeout(
    open_scene: OpenScene,
    fake: FakeOpenAI,
    flavor: Flavor,
) -> None:
    """An SSE client that never reads while the upstream streams a long answer: the
    server's writes block (hypercorn shields them), yet the turn ends at the request
    timeout and frees the conversation lock, the runtime and the upstream request."""
    timeout = 1.0
    with trio.fail_after(20):
        async with open_scene(request_timeout=timeout) as scene:
            conversation = scene.conversation
            store = server_state().store
            assert store is not None
            # 2 MiB of answer, far more than the socket buffers between us hold with a
            # 4 KiB receive buffer (the server gets about 20 KiB out): if it all fit, the
            # turn would commit, and the good turn below would see it upstream and fail.
            fake.enqueue(text(chunks=["x" * 16384] * 128))
            client = await RawClient.connect(conversation.url, receive_buffer=4096)
            try:
                head, body = raw_request(
                    conversation.path, *conversation.request("flood", stream=True)
                )
                await client.send(head + body)
                await wait_until(lambda: store.is_busy(conversation.key), "the turn started")
                await wait_until(
                    lambda: not any("TurnRunner." in t.name for t in server_tasks()),
                    "the turn's task ended",
                    within=timeout + 3,
                )
                assert not await store.is_taken(conversation.key)
                await wait_until(lambda: fake.in_flight == 0, "the upstream call was closed")
                assert await conversation.stored() == scene.stored
                # The slow client is still connected and still not reading.
                await conversation.good_turn("after the flood", "recovered")
                assert server_state().pool.idle_count("root") == scene.idle
                # When it reads at last, the stream ends with an error, not as if complete.
                events = sse_data(await client.read_body())
            finally:
                await client.aclose()
            await assert_nothing_left(scene.baseline, fake)
    if flavor.api == "chat":
        *chunks, failure, done = events
        assert done == "[DONE]"
        assert failure["error"]["code"] == "timeout", failure
        assert all(c["choices"][0]["finish_reason"] is None for c in chunks)
    else:
        *deltas, failure = events
        assert {d["type"] for d in deltas} == {"delta"}
        assert failure["type"] == "error", failure
        assert failure["code"] == 504, failure


# --- the client hangs up -----------------------------------------------------------------


@pytest.mark.parametrize("stream", [pytest.param(False, id="json"), pytest.param(True, id="sse")])
@pytest.mark.parametrize("flavor", LOCAL_FLAVORS, ids=[f.id for f in LOCAL_FLAVORS])
async def test_a_client_closing_its_idle_connection_frees_it_at_once(
    open_scene: OpenScene,
    fake: FakeOpenAI,
    stream: bool,
) -> None:
    """Regression: hypercorn kept a kept-alive connection that its client had closed (its
    socket in CLOSE_WAIT, two tasks) for the whole keep-alive timeout, 75 s."""
    with trio.fail_after(10):
        async with open_scene() as scene:
            conversation = scene.conversation
            async with conversation.http() as http:
                fake.enqueue(text("third answer"))
                response = await conversation.post(http, "third", stream=stream)
                assert response.status_code == 200
                assert "third answer" in response.text
                await trio.testing.wait_all_tasks_blocked(0.05)  # the connection idles
            await assert_nothing_left(scene.baseline, fake)


@attrs.define
class Hangup:
    """What a disconnect stage needs: the scene, a raw client, the request bytes."""

    scene: Scene
    client: RawClient
    head: bytes
    body: bytes
    marker: str | None = None
    """A command-line marker of a process the turn starts (see `processes_with`)."""

    @property
    def fake(self) -> FakeOpenAI:
        return self.scene.fake

    def text_marker(self, content: str) -> bytes:
        """The bytes of a streamed delta carrying ``content``."""
        key = "content" if self.scene.conversation.flavor.api == "chat" else "delta"
        return f'"{key}":{json.dumps(content)}'.encode()

    async def send_request(self) -> None:
        await self.client.send(self.head + self.body)


async def before_body_complete(h: Hangup) -> None:
    await h.client.send(h.head + h.body[: len(h.body) // 2])
    # Hang up only once the route is reading the body.
    await wait_until(
        lambda: any("handle_request" in t.name for t in server_tasks()),
        "the server handles the request",
    )


async def right_after_request(h: Hangup) -> None:
    await h.send_request()


async def during_model_call(h: Hangup) -> None:
    calls = len(h.fake.requests)
    await h.send_request()
    await h.fake.wait_requests(calls + 1)


async def after_response_headers(h: Hangup) -> None:
    await h.send_request()
    await h.client.read_until(b"\r\n\r\n")
    assert h.client.received.startswith(b"HTTP/1.1 200"), bytes(h.client.received)


async def mid_stream(h: Hangup) -> None:
    h.fake.enqueue(text(chunks=["Hello", " world"], chunk_delay=30))
    await h.send_request()
    await h.client.read_until(h.text_marker("Hello"))


async def while_tool_runs(h: Hangup) -> None:
    h.marker = f"30.{secrets.randbelow(10**6):06d}"
    h.fake.enqueue(tool_calls([("call_1", "shell", json.dumps({"cmd": f"sleep {h.marker}"}))]))
    await h.send_request()
    await wait_until(lambda: bool(processes_with(h.marker or "")), "the tool runs")


async def before_final_chunk(h: Hangup) -> None:
    # All the text at once, then the upstream pauses before its finish chunk: the client
    # has the whole answer but not the end of the stream when it hangs up.
    h.fake.enqueue(text(chunks=["Hello world", ""], chunk_delay=30))
    await h.send_request()
    await h.client.read_until(h.text_marker("Hello world"))


Stage = Callable[[Hangup], Awaitable[None]]
BOTH, SSE_ONLY, ANY = (False, True), (True,), (None,)
HANGUPS: list[tuple[str, Stage, tuple[bool | None, ...]]] = [
    ("before-body-complete", before_body_complete, ANY),
    ("right-after-request", right_after_request, BOTH),
    ("during-model-call", during_model_call, BOTH),
    ("after-response-headers", after_response_headers, SSE_ONLY),
    ("mid-stream", mid_stream, SSE_ONLY),
    ("while-tool-runs", while_tool_runs, BOTH),
    ("before-final-chunk", before_final_chunk, SSE_ONLY),
]


@pytest.mark.parametrize(
    ("flavor", "stage", "stream"),
    cases(
        *(
            (flavor, name, stage, stream)
            for flavor in FLAVORS
            for name, stage, streams in HANGUPS
            for stream in streams
        )
    ),
)
async def test_client_hangup_keeps_the_conversation_and_leaves_nothing_behind(
    open_scene: OpenScene,
    fake: FakeOpenAI,
    stage: Stage,
    stream: bool | None,
) -> None:
    with trio.fail_after(20):
        async with open_scene() as scene:
            conversation = scene.conversation
            fake.default = hang()  # a model call nothing scripted never answers
            head, body = raw_request(
                conversation.path, *conversation.request("interrupted", stream=bool(stream))
            )
            client = await RawClient.connect(conversation.url)
            hangup = Hangup(scene, client, head, body)
            try:
                await stage(hangup)
            finally:
                await client.aclose()
            await scene.assert_recovered(marker=hangup.marker)
