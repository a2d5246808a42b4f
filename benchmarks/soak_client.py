"""One soak turn as a client sends it, and what its answer means (`Outcome`).

Each answer is sorted into one kind: ``ok`` (with the text the client saw), ``busy``
(409, or its error event in a stream: another turn holds the conversation, or, across
``--workers`` processes, committed first), ``upstream_error`` (the documented failure
of a turn whose model call failed: 502 ``upstream_error`` on ``serve chat``, 500
``Failed to get response: The model provider failed...`` on ``serve api``, or the same as
an error event of a 200 stream), ``disconnected`` (the soak hung up mid-stream on
purpose), or ``unexpected``, with a detail.
"""

from __future__ import annotations

import json
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Literal

import attrs
import httpx

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator

Api = Literal["chat", "api"]
OutcomeKind = Literal["ok", "busy", "upstream_error", "disconnected", "unexpected"]
UPSTREAM_API_ERROR = "Failed to get response: The model provider failed"
"""How ``serve api`` words a failed model call (see server/errors.py)."""
MODEL = "root"


@attrs.frozen
class Outcome:
    """What one request ended with, as the client saw it."""

    kind: OutcomeKind
    text: str = ""
    """The answer of an ``ok`` turn."""
    detail: str = ""
    """Why an ``unexpected`` outcome is one."""


def unexpected(detail: str) -> Outcome:
    return Outcome("unexpected", detail=detail)


@attrs.frozen
class Target:
    """A server under soak: which API, where, and its process id."""

    api: Api
    base_url: str
    """``http://127.0.0.1:PORT``."""
    pids: tuple[int, ...]
    """The server's processes: the server, or the workers of ``--workers N``."""
    workers: int = 1


async def send_turn(
    client: httpx.AsyncClient,
    target: Target,
    conversation_id: str,
    message: str,
    *,
    stream: bool,
    disconnect: bool = False,
) -> Outcome:
    """Send one user ``message`` on ``conversation_id``; with ``disconnect``, hang up as
    soon as the first words of a streamed answer arrive."""
    if target.api == "chat":
        url = f"{target.base_url}/v1/chat/completions"
        headers = {"X-Conversation-Id": conversation_id}
        body: dict[str, Any] = {
            "model": MODEL,
            "stream": stream,
            "messages": [{"role": "user", "content": message}],
        }
    else:
        url, headers = f"{target.base_url}/api/chat", {}
        body = {"message": message, "session_id": conversation_id, "stream": stream}
    try:
        if not stream:
            response = await client.post(url, json=body, headers=headers)
            return json_outcome(target.api, response.status_code, response.content, conversation_id)
        async with client.stream("POST", url, json=body, headers=headers) as response:
            if response.status_code != 200:
                return json_outcome(
                    target.api, response.status_code, await response.aread(), conversation_id
                )
            async with aclosing(sse_data(response.aiter_lines())) as events:
                if target.api == "chat":
                    return await chat_stream_outcome(events, disconnect=disconnect)
                return await api_stream_outcome(events, conversation_id, disconnect=disconnect)
    except httpx.TimeoutException:
        return unexpected("timeout")
    except httpx.HTTPError as exc:
        return unexpected(f"{type(exc).__name__}: {exc}")


def json_outcome(api: Api, status: int, content: bytes, conversation_id: str) -> Outcome:
    """The outcome of an answer with one JSON body."""
    try:
        body = json.loads(content)
        if api == "chat":
            code = body["error"].get("code") if status != 200 else None
            if status == 200:
                return Outcome("ok", body["choices"][0]["message"]["content"])
            if status == 409 and code == "conversation_busy":
                return Outcome("busy")
            if status == 502 and code == "upstream_error":
                return Outcome("upstream_error")
            return unexpected(f"HTTP {status} {code}")
        if status == 200:
            if body["session_id"] != conversation_id:
                return unexpected(f"answer for session {body['session_id']!r}")
            return Outcome("ok", body["message"])
        if status == 409 and body["code"] == 409:
            return Outcome("busy")
        if status == 500 and str(body["error"]).startswith(UPSTREAM_API_ERROR):
            return Outcome("upstream_error")
        return unexpected(f"HTTP {status}: {str(body.get('error'))[:80]}")
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        return unexpected(f"HTTP {status}, an answer not in the API's shape: {content[:80]!r}")


async def sse_data(lines: AsyncIterator[str]) -> AsyncGenerator[str, None]:
    """The ``data:`` payloads of an event stream (comments and blank lines skipped)."""
    async for line in lines:
        if line.startswith("data: "):
            yield line[6:]


async def chat_stream_outcome(events: AsyncIterator[str], *, disconnect: bool) -> Outcome:
    """The outcome of a streamed chat completion: chunks, then ``[DONE]``."""
    pieces: list[str] = []
    finished = done = False
    failure: Outcome | None = None
    try:
        async for data in events:
            if data == "[DONE]":
                done = True
                break
            event = json.loads(data)
            if "error" in event:
                code = event["error"].get("code")
                failure = (
                    Outcome("upstream_error")
                    if code == "upstream_error"
                    else Outcome("busy")
                    if code == "conversation_busy"
                    else unexpected(f"stream error {code}")
                )
                continue
            for choice in event["choices"]:
                content = choice["delta"].get("content")
                if content:
                    pieces.append(content)
                    if disconnect:
                        return Outcome("disconnected")
                finished = finished or choice.get("finish_reason") == "stop"
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return unexpected(f"a chunk not in the API's shape ({type(exc).__name__})")
    if failure is not None:
        return failure
    if disconnect:
        return unexpected("the stream ended before its first words")
    if not (finished and done):
        return unexpected("the stream ended without finish_reason stop and [DONE]")
    return Outcome("ok", "".join(pieces))


async def api_stream_outcome(
    events: AsyncIterator[str], conversation_id: str, *, disconnect: bool
) -> Outcome:
    """The outcome of a streamed ``/api/chat``: ``delta`` events, then ``done`` or
    ``error``."""
    pieces: list[str] = []
    try:
        async for data in events:
            event = json.loads(data)
            if event["type"] == "delta":
                pieces.append(event["delta"])
                if disconnect and event["delta"]:
                    return Outcome("disconnected")
            elif event["type"] == "done":
                if disconnect:
                    return unexpected("the stream ended before its first words")
                if event["session_id"] != conversation_id:
                    return unexpected(f"answer for session {event['session_id']!r}")
                if event["message"] != "".join(pieces):
                    return unexpected("the done event's message is not the deltas joined")
                return Outcome("ok", event["message"])
            elif event["type"] == "error":
                if event["code"] == 500 and str(event["error"]).startswith(UPSTREAM_API_ERROR):
                    return Outcome("upstream_error")
                if event["code"] == 409:
                    return Outcome("busy")
                return unexpected(f"stream error {event['code']}: {str(event['error'])[:80]}")
    except (ValueError, KeyError, TypeError) as exc:
        return unexpected(f"an event not in the API's shape ({type(exc).__name__})")
    return unexpected("the stream ended without a done or error event")
