"""How each mode sends one request and times its answer.

A target hands each worker a `Caller` through ``connect()``, which owns one connection:
an ``httpx.AsyncClient`` limited to one keep-alive connection for the HTTP modes, a
WebSocket for ``ws``. (One client shared by all workers, with a pool of ``concurrency``
connections, costs the load generator more than the fastest server it measures: httpcore's
pool scans every waiting request against every connection each time one is released, so
at 32 workers it sent a third of the requests per second that 32 one-connection clients
did, against the same server.) ``Caller.call()`` never raises for a failed request: it returns a
`RequestResult` whose ``error`` says what went wrong.
"""

from __future__ import annotations

import json
import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol

import attrs
import httpx
import trio_websocket

from .stats import RequestResult, failure

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from contextlib import AbstractAsyncContextManager

    from .config import BenchConfig

MAX_FRAME = 64 * 1024 * 1024
"""The largest WebSocket frame read (a ``ready`` frame carries a whole conversation)."""
CLOSE_TIMEOUT = 2.0


class Caller(Protocol):
    """Sends requests, one at a time, over what ``Target.connect`` opened."""

    usable: bool
    """False once the connection is in an unknown state: the worker reconnects."""

    async def call(self) -> RequestResult: ...


class Target(Protocol):
    """What a benchmark level loads: each worker opens its own connection with ``connect``."""

    def connect(self) -> AbstractAsyncContextManager[Caller]: ...


def reason_of(exc: BaseException) -> str:
    """A short reason for a failure: the exception's type, looking inside groups."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    if isinstance(exc, trio_websocket.ConnectionRejected):
        return f"HTTP {exc.status_code}"
    return type(exc).__name__


class _Outcome(Exception):
    """A stream said how it ended: ``reason`` is None for success."""

    def __init__(self, reason: str | None) -> None:
        super().__init__(reason)
        self.reason = reason


class _Timer:
    """Start, first-token and inter-token times of one request."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.first: float | None = None
        self.last = 0.0
        self.itls: list[float] = []
        self.tokens = 0

    def token(self, now: float) -> None:
        if self.first is None:
            self.first = now
        else:
            self.itls.append(now - self.last)
        self.last = now
        self.tokens += 1

    def result(
        self, reason: str | None, *, streamed: bool, tokens: int | None = None
    ) -> RequestResult:
        latency = time.perf_counter() - self.started
        if reason is not None:
            return failure(latency, reason)
        return RequestResult(
            latency=latency,
            ttft=None if self.first is None or not streamed else self.first - self.started,
            itls=tuple(self.itls),
            tokens=self.tokens if tokens is None else tokens,
        )


def _sse_events(buffer: bytearray, data: bytes) -> list[str]:
    """Add ``data`` to ``buffer``; return the ``data:`` payload of each complete event."""
    buffer += data.replace(b"\r\n", b"\n")
    events = []
    while (end := buffer.find(b"\n\n")) >= 0:
        block = bytes(buffer[:end])
        del buffer[: end + 2]
        lines = [
            line[5:].removeprefix(b" ") for line in block.split(b"\n") if line.startswith(b"data:")
        ]
        if lines:
            events.append(b"\n".join(lines).decode())
    return events


_DONE = ""
"""What an event handler returns when the stream says it is complete."""


def _chat_event(data: str, timer: _Timer, now: float) -> str | None:
    """One event of a Chat Completions stream: None to go on, `_DONE`, or why it failed."""
    if data == "[DONE]":
        return _DONE
    chunk = json.loads(data)
    if "error" in chunk:
        return "stream error"
    for choice in chunk.get("choices") or ():
        if (choice.get("delta") or {}).get("content"):
            timer.token(now)
    return None


def _api_event(data: str, timer: _Timer, now: float) -> str | None:
    """One event of a streamed ``/api/chat`` answer: None to go on, `_DONE`, or why it
    failed."""
    event = json.loads(data)
    kind = event.get("type")
    if kind == "delta" and event.get("delta"):
        timer.token(now)
    elif kind == "done":
        return _DONE
    elif kind == "error":
        return f"stream error {event.get('code', '')}".strip()
    return None


@attrs.define(kw_only=True)
class HTTPTarget:
    """``chat``, ``stream``, ``api`` and ``api-stream``: POST one body again and again."""

    url: str
    body: bytes
    headers: dict[str, str]
    stream: bool
    api: bool
    """``/api/chat`` shapes instead of Chat Completions ones."""
    timeout: float

    @classmethod
    def from_config(cls, config: BenchConfig, url: str, model: str | None) -> HTTPTarget:
        stream = config.mode in ("stream", "api-stream")
        api = config.mode in ("api", "api-stream")
        document: dict[str, Any]
        if api:
            document = {"message": config.message}
            if model is not None:
                document["agent"] = model
        else:
            document = {"model": model, "messages": [{"role": "user", "content": config.message}]}
        if stream:
            document["stream"] = True
        headers = {"content-type": "application/json", **dict(config.headers)}
        if config.api_key:
            headers["authorization"] = f"Bearer {config.api_key}"
        return cls(
            url=url,
            body=json.dumps(document).encode(),
            headers=headers,
            stream=stream,
            api=api,
            timeout=config.timeout,
        )

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[Caller]:
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        ) as client:
            yield HTTPCaller(target=self, client=client)


@attrs.define(kw_only=True)
class HTTPCaller:
    """One worker's client: one keep-alive connection to the `HTTPTarget`."""

    target: HTTPTarget
    client: httpx.AsyncClient
    usable: bool = True

    async def call(self) -> RequestResult:
        stream = self.target.stream
        timer = _Timer()
        try:
            if stream:
                return await self._call_stream(timer)
            return await self._call_json(timer)
        except _Outcome as outcome:
            return timer.result(outcome.reason, streamed=stream)
        except (ValueError, LookupError, TypeError, AttributeError):
            return timer.result("bad answer", streamed=stream)
        except Exception as exc:  # httpx errors and anything else: counted, never fatal
            return timer.result(reason_of(exc), streamed=stream)

    async def _call_json(self, timer: _Timer) -> RequestResult:
        target = self.target
        response = await self.client.post(target.url, content=target.body, headers=target.headers)
        if response.status_code != 200:
            return timer.result(f"HTTP {response.status_code}", streamed=False)
        document = response.json()
        if target.api:
            if not isinstance(document["message"], str):
                raise _Outcome("bad answer")
        elif not isinstance(document["choices"][0]["message"], dict):
            raise _Outcome("bad answer")
        usage = document.get("usage") or {}
        return timer.result(None, streamed=False, tokens=int(usage.get("completion_tokens", 0)))

    async def _call_stream(self, timer: _Timer) -> RequestResult:
        target = self.target
        handle: Callable[[str, _Timer, float], str | None] = (
            _api_event if target.api else _chat_event
        )
        outcome: str | None = None
        async with self.client.stream(
            "POST", target.url, content=target.body, headers=target.headers
        ) as response:
            if response.status_code != 200:
                await response.aread()
                return timer.result(f"HTTP {response.status_code}", streamed=True)
            buffer = bytearray()
            # Read to the end of the body even after the last event: a response left
            # unread closes its connection, and keep-alive is part of what we measure.
            async for data in response.aiter_bytes():
                if outcome is not None:
                    continue
                now = time.perf_counter()
                for event in _sse_events(buffer, data):
                    outcome = handle(event, timer, now)
                    if outcome is not None:
                        break
        if outcome is None:
            outcome = "incomplete stream"
        return timer.result(outcome or None, streamed=True)


@attrs.define(kw_only=True)
class WSTarget:
    """``ws``: one WebSocket per worker; each request is a new conversation (a ``hello``,
    not timed) and one ``message``, timed until its ``done``."""

    url: str
    hello: str
    message: str
    headers: list[tuple[bytes, bytes]]
    timeout: float

    @classmethod
    def from_config(cls, config: BenchConfig, url: str, model: str | None) -> WSTarget:
        hello: dict[str, Any] = {"type": "hello"}
        if model is not None:
            hello["agent"] = model
        headers = []
        if config.api_key:
            headers.append((b"Authorization", f"Bearer {config.api_key}".encode()))
        return cls(
            url=url,
            hello=json.dumps(hello),
            message=json.dumps({"type": "message", "text": config.message}),
            headers=headers,
            timeout=config.timeout,
        )

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[Caller]:
        async with trio_websocket.open_websocket_url(
            self.url,
            extra_headers=self.headers,
            max_message_size=MAX_FRAME,
            connect_timeout=self.timeout,
            disconnect_timeout=CLOSE_TIMEOUT,
        ) as ws:
            yield WSCaller(ws=ws, hello=self.hello, message=self.message)


@attrs.define(kw_only=True)
class WSCaller:
    ws: trio_websocket.WebSocketConnection
    hello: str
    message: str
    usable: bool = True

    async def call(self) -> RequestResult:
        try:
            await self._start_conversation()
            timer = _Timer()
            await self.ws.send_message(self.message)
            while True:
                frame = await self._frame()
                kind = frame.get("type")
                if kind == "delta" and frame.get("text"):
                    timer.token(time.perf_counter())
                elif kind == "done":
                    return timer.result(None, streamed=True)
                elif kind == "error":
                    return timer.result(f"error {frame.get('code', '')}".strip(), streamed=True)
                elif kind == "cancelled":
                    return timer.result("cancelled", streamed=True)
        except _Outcome as outcome:
            self.usable = False
            return failure(0.0, outcome.reason or "error")
        except Exception as exc:  # closed connection, bad JSON: counted, then reconnect
            self.usable = False
            return failure(0.0, reason_of(exc))

    async def _start_conversation(self) -> None:
        await self.ws.send_message(self.hello)
        while True:
            frame = await self._frame()
            if frame.get("type") == "ready":
                return
            if frame.get("type") == "error":
                raise _Outcome(f"error {frame.get('code', '')}".strip())

    async def _frame(self) -> dict[str, Any]:
        """The next frame that is not a ping (pings are answered at once)."""
        while True:
            frame = json.loads(await self.ws.get_message())
            if not isinstance(frame, dict):
                raise _Outcome("bad frame")
            if frame.get("type") == "ping":
                await self.ws.send_message('{"type": "pong"}')
                continue
            return frame
