"""What the fault tests share: the stores they run on, a conversation driver, a raw HTTP
client that can hang up at any byte, and the checks that a failed turn left nothing behind.

The server runs in-process (the ``start_server`` fixture), so its trio tasks and its state
can be inspected: the tasks are the subtree of the task running ``serve_agents``, and its
``ServerState`` is that coroutine's local ``state`` (read, never changed).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import httpx
import trio
import trio.testing

from trioagent.server.app import ApiKind
from trioagent.server.guards import conversation_key
from trioagent.server.state import ServerState
from trioagent.store import StoreURL
from trioagent.testing import FakeOpenAI, text

SETTLE_TIMEOUT = 5.0
"""Seconds a failed turn may take to unwind after its fault: far more than it needs."""


@attrs.frozen
class Flavor:
    """One API on one conversation store."""

    id: str
    api: ApiKind
    options: Callable[[Any, Path], dict[str, Any]]
    """The ``start_server`` options that select the store, given the value of the
    ``needs`` fixture (or None) and the test's tmp_path."""
    needs: str | None = None
    """A fixture the store needs, such as ``redis_server`` (which skips the test where
    redis-server is not installed)."""


LOCAL_FLAVORS = [
    Flavor("chat-memory", "chat", lambda _, tmp: {"conversations_max": 100}),
    Flavor("api-sqlite", "api", lambda _, tmp: {"sessions": str(tmp / "s.db")}),
]
"""Every fault runs on these."""
SHARED_FLAVORS = [
    Flavor(
        "chat-redis",
        "chat",
        lambda redis, tmp: {"store": StoreURL.parse(redis.url), "conversations_max": 100},
        needs="redis_server",
    ),
    Flavor(
        "api-redis",
        "api",
        lambda redis, tmp: {"store": StoreURL.parse(redis.url)},
        needs="redis_server",
    ),
]
"""Stores shared by replicas: a turn's lock and commit are network calls there, which a
fault can cancel half-way."""


def user(content: str) -> dict[str, str]:
    return {"role": "user", "content": content}


def assistant(content: str) -> dict[str, str]:
    return {"role": "assistant", "content": content}


def sse_data(body: bytes | str) -> list[Any]:
    """The ``data:`` payloads of an SSE body, JSON decoded (``[DONE]`` kept as a string)."""
    if isinstance(body, bytes):
        body = body.decode()
    found: list[Any] = []
    for line in body.splitlines():
        if line.startswith("data: "):
            data = line[6:]
            found.append(data if data == "[DONE]" else json.loads(data))
    return found


@attrs.define
class Conversation:
    """One conversation id on one server, and what the server committed for it so far."""

    flavor: Flavor
    url: str
    fake: FakeOpenAI
    id: str = "fault-conversation"
    committed: list[dict[str, Any]] = attrs.Factory(list)
    """The messages the upstream must see before the next user message: the agent's
    instruction, then every committed turn. Empty before the first turn."""

    @property
    def path(self) -> str:
        return "/v1/chat/completions" if self.flavor.api == "chat" else "/api/chat"

    @property
    def key(self) -> str:
        """The store key (no API key, so the ``open`` scope)."""
        return conversation_key(None, self.id)

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=10)

    def request(self, message: str, *, stream: bool) -> tuple[dict[str, str], bytes]:
        """The headers and JSON body of a turn that says ``message``."""
        if self.flavor.api == "chat":
            headers = {"X-Conversation-Id": self.id}
            body: dict[str, Any] = {"model": "root", "messages": [user(message)]}
        else:
            headers, body = {}, {"message": message, "session_id": self.id}
        if stream:
            body["stream"] = True
        return headers, json.dumps(body).encode()

    async def post(
        self, http: httpx.AsyncClient, message: str, *, stream: bool = False
    ) -> httpx.Response:
        headers, body = self.request(message, stream=stream)
        headers["Content-Type"] = "application/json"
        return await http.post(self.path, content=body, headers=headers)

    async def good_turn(self, message: str, answer: str) -> None:
        """A turn that works, and sees exactly the committed conversation plus ``message``."""
        self.fake.enqueue(text(answer))
        async with self.http() as http:
            response = await self.post(http, message)
        assert response.status_code == 200, response.text
        reply = response.json()
        said = (
            reply["choices"][0]["message"]["content"]
            if self.flavor.api == "chat"
            else reply["message"]
        )
        assert said == answer
        sent = self.fake.requests[-1].json["messages"]
        if self.committed:
            assert sent == [*self.committed, user(message)], (
                "the upstream did not get exactly the committed conversation plus the new message"
            )
        else:
            assert sent[0]["role"] == "system"
            assert sent[1:] == [user(message)]
        self.committed = [*sent, assistant(answer)]

    async def stored(self) -> Any:
        """What ``GET /api/sessions/{id}`` shows (serve api), or None (serve chat has no
        read endpoint: `good_turn` checks what reaches the upstream instead)."""
        if self.flavor.api != "api":
            return None
        async with self.http() as http:
            response = await http.get(f"/api/sessions/{self.id}")
        assert response.status_code == 200, response.text
        return response.json()


@attrs.define
class RawClient:
    """An HTTP/1.1 client on a bare socket, to hang up at any byte of a request."""

    stream: trio.SocketStream
    received: bytearray = attrs.Factory(bytearray)

    @classmethod
    async def connect(cls, url: str, *, receive_buffer: int | None = None) -> RawClient:
        """Connect to ``url``'s host and port; ``receive_buffer`` shrinks SO_RCVBUF (set
        before connecting, so the window the kernel advertises is small from the start)."""
        host, port = httpx.URL(url).host, httpx.URL(url).port
        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        try:
            await sock.connect((host, port))
        except BaseException:
            sock.close()
            raise
        return cls(trio.SocketStream(sock))

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def read_until(self, marker: bytes) -> None:
        """Read until ``marker`` was received (an AssertionError if the server closes)."""
        while marker not in self.received:
            data = await self.stream.receive_some(65536)
            assert data, f"the server closed before {marker!r}; got {bytes(self.received)!r}"
            self.received += data

    async def read_body(self) -> bytes:
        """Read to the end of a chunked response; return its body, decoded."""
        await self.read_until(b"\r\n\r\n")
        await self.read_until(b"\r\n0\r\n\r\n")
        rest = bytes(self.received).partition(b"\r\n\r\n")[2]
        body = bytearray()
        while True:
            size, _, rest = rest.partition(b"\r\n")
            length = int(size, 16)
            if not length:
                return bytes(body)
            body += rest[:length]
            rest = rest[length + 2 :]

    async def aclose(self) -> None:
        await self.stream.aclose()


def raw_request(path: str, headers: dict[str, str], body: bytes) -> tuple[bytes, bytes]:
    """The head (with ``Content-Length``) and body of a JSON POST."""
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), body


# --- the server's insides ---------------------------------------------------------------


def _descendants(task: trio.lowlevel.Task) -> list[trio.lowlevel.Task]:
    found = [task]
    for nursery in task.child_nurseries:
        for child in nursery.child_tasks:
            found.extend(_descendants(child))
    return found


def _server_task() -> trio.lowlevel.Task:
    tasks = [
        t
        for t in _descendants(trio.lowlevel.current_root_task())
        if t.name == "trioagent.server.app.serve_agents"
    ]
    assert len(tasks) == 1, f"expected one running server, found {len(tasks)}"
    return tasks[0]


def server_tasks() -> set[trio.lowlevel.Task]:
    """Every task of the running server (hypercorn's, the routes', the turns')."""
    return set(_descendants(_server_task()))


def server_state() -> ServerState:
    """The running server's state: its store, pool and runner."""
    frame = _server_task().coro.cr_frame  # type: ignore[attr-defined]
    state = frame.f_locals["state"]
    assert isinstance(state, ServerState)
    return state


def task_names(tasks: set[trio.lowlevel.Task]) -> list[str]:
    """Each task's name and where it waits (innermost frame), sorted."""
    names = []
    for task in tasks:
        frames = [f"{frame.f_code.co_name}:{lineno}" for frame, lineno in task.iter_await_frames()]
        names.append(f"{task.name} at {' > '.join(frames)}")
    return sorted(names)


def processes_with(marker: str) -> list[int]:
    """Pids of live processes whose command line holds ``marker`` (zombies have none)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as file:
                cmdline = file.read()
        except OSError:
            continue
        if marker.encode() in cmdline:
            pids.append(int(entry))
    return pids


async def wait_until(
    condition: Callable[[], bool], what: str, within: float = SETTLE_TIMEOUT
) -> None:
    """Poll ``condition`` (after letting every task run) until it holds, or fail."""
    with trio.move_on_after(within):
        while True:
            await trio.testing.wait_all_tasks_blocked(0.02)
            if condition():
                return
            await trio.sleep(0.02)
    raise AssertionError(f"still not true after {within} s: {what}")


async def assert_nothing_left(
    baseline: set[trio.lowlevel.Task], fake: FakeOpenAI, *, marker: str | None = None
) -> None:
    """Wait (bounded) until the server runs no task it did not run at ``baseline``, the fake
    answers no request, and no process of ``marker`` lives; fail with what is left."""

    def clean() -> bool:
        return (
            not server_tasks() - baseline
            and fake.in_flight == 0
            and not (marker and processes_with(marker))
        )

    try:
        await wait_until(clean, "the failed turn left nothing behind")
    except AssertionError:
        left = task_names(server_tasks() - baseline)
        raise AssertionError(
            f"left behind: tasks {left}, upstream requests in flight {fake.in_flight}, "
            f"processes {processes_with(marker) if marker else []}"
        ) from None
