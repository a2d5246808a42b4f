"""A scripted fake of the Anthropic Messages API, on a real socket.

    async with open_fake_anthropic() as fake:
        fake.enqueue(text("Hello!"))
        client = AnthropicClient(model="claude-sonnet-4-5", base_url=fake.base_url)

It serves ``POST /v1/messages`` (streamed as ``event:`` + ``data:`` pairs, or one
``message`` JSON) and ``GET /v1/models``, checks ``x-api-key`` when ``fake.api_key`` is
set and ``anthropic-version`` always, and answers errors in Anthropic's error shape. The
replies are the same as the OpenAI fake's (:mod:`trioagent.testing.replies`).
"""

from __future__ import annotations

import itertools
import json
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import attrs

from ._fake import FakeUpstream, group, hang_up, play_error, play_json, play_stream
from .replies import DropReply as DropReply
from .replies import ErrorReply as ErrorReply
from .replies import HangReply as HangReply
from .replies import MalformedReply as MalformedReply
from .replies import Reply as Reply
from .replies import TextReply as TextReply
from .replies import ToolCallsReply as ToolCallsReply
from .replies import drop as drop
from .replies import error as error
from .replies import hang as hang
from .replies import malformed as malformed
from .replies import text as text
from .replies import tool_calls as tool_calls

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from ._http import HTTPRequest, HTTPResponder

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}
_ids = itertools.count(1)


def _event(kind: str, document: dict[str, Any]) -> bytes:
    return (
        f"event: {kind}\ndata: ".encode()
        + json.dumps({"type": kind, **document}, separators=(",", ":")).encode()
        + b"\n\n"
    )


def error_body(status: int, message: str) -> dict[str, Any]:
    """Anthropic's error shape for ``status``."""
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def _usage(reply: TextReply | ToolCallsReply) -> tuple[int, int]:
    return reply.usage or (10, max(1, len(reply.chunks)))


def _message(reply: TextReply | ToolCallsReply, model: str, *, streamed: bool) -> dict[str, Any]:
    prompt, completion = _usage(reply)
    return {
        "id": f"msg_fake{next(_ids)}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [] if streamed else _content(reply),
        "stop_reason": None if streamed else _STOP_REASONS.get(reply.finish_reason, "end_turn"),
        "stop_sequence": None,
        "usage": {"input_tokens": prompt, "output_tokens": 1 if streamed else completion},
    }


def _content(reply: TextReply | ToolCallsReply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.text:
        blocks.append({"type": "text", "text": reply.text})
    if isinstance(reply, ToolCallsReply):
        blocks.extend(
            {
                "type": "tool_use",
                "id": call.id,
                "name": call.name,
                "input": json.loads(call.arguments or "{}"),
            }
            for call in reply.calls
        )
    return blocks


def stream_events(
    reply: TextReply | ToolCallsReply, model: str, *, finished: bool = True
) -> list[bytes]:
    """The stream events of an answer, from ``message_start`` to ``message_stop``,
    grouped so that each item carries one piece of text or arguments (see :func:`group`).

    With ``finished=False`` the events stop after the last piece (for :func:`drop`).
    """
    head = _event("message_start", {"message": _message(reply, model, streamed=True)}) + _event(
        "ping", {}
    )
    pieces: list[bytes] = []
    index = 0
    if reply.chunks:
        pieces.extend(
            group(
                _event(
                    "content_block_start",
                    {"index": index, "content_block": {"type": "text", "text": ""}},
                ),
                [
                    _event(
                        "content_block_delta",
                        {"index": index, "delta": {"type": "text_delta", "text": piece}},
                    )
                    for piece in reply.chunks
                ],
                _event("content_block_stop", {"index": index}) if finished else b"",
            )
        )
        index += 1
    if isinstance(reply, ToolCallsReply):
        for call in reply.calls:
            pieces.extend(
                group(
                    _event(
                        "content_block_start",
                        {
                            "index": index,
                            "content_block": {
                                "type": "tool_use",
                                "id": call.id,
                                "name": call.name,
                                "input": {},
                            },
                        },
                    ),
                    [
                        _event(
                            "content_block_delta",
                            {
                                "index": index,
                                "delta": {"type": "input_json_delta", "partial_json": piece},
                            },
                        )
                        for piece in call.pieces
                    ],
                    _event("content_block_stop", {"index": index}),
                )
            )
            index += 1
    tail = b""
    if finished:
        tail = _event(
            "message_delta",
            {
                "delta": {
                    "stop_reason": _STOP_REASONS.get(reply.finish_reason, "end_turn"),
                    "stop_sequence": None,
                },
                "usage": {"output_tokens": _usage(reply)[1]},
            },
        ) + _event("message_stop", {})
    return group(head, pieces, tail)


@attrs.define(eq=False, kw_only=True)
class FakeAnthropic(FakeUpstream):
    """A running fake Anthropic upstream (see :func:`open_fake_anthropic`)."""

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``, what Anthropic clients take as their base URL."""
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, request: HTTPRequest, responder: HTTPResponder) -> None:
        """Answer one HTTP request."""
        self._received_request(request)
        path = request.path.partition("?")[0]
        if path not in ("/v1/messages", "/v1/models"):
            await responder.respond_json(404, error_body(404, f"unknown path {path}"))
            return
        if self.api_key is not None and request.headers.get("x-api-key") != self.api_key:
            await responder.respond_json(401, error_body(401, "invalid x-api-key"))
            return
        if path == "/v1/models":
            await responder.respond_json(
                200,
                {
                    "data": [
                        {
                            "type": "model",
                            "id": name,
                            "display_name": name,
                            "created_at": "2025-01-01T00:00:00Z",
                        }
                        for name in self.models
                    ],
                    "has_more": False,
                    "first_id": None,
                    "last_id": None,
                },
            )
            return
        if request.method != "POST":
            await responder.respond_json(405, error_body(405, "use POST"))
            return
        if "anthropic-version" not in request.headers:
            await responder.respond_json(
                400, error_body(400, "anthropic-version: header is required")
            )
            return
        body = request.json
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("messages"), list)
            or (not isinstance(body.get("max_tokens"), int))
        ):
            await responder.respond_json(
                400, error_body(400, "the body must have messages and max_tokens")
            )
            return
        await self.answer(await self.take_reply(), body, responder)

    async def answer(self, reply: Reply, body: dict[str, Any], responder: HTTPResponder) -> None:
        """Play ``reply`` as the answer to the Messages request ``body``."""
        model = str(body.get("model", "fake-model"))
        if isinstance(reply, TextReply | ToolCallsReply):
            if body.get("stream"):
                await play_stream(
                    responder,
                    stream_events(reply, model),
                    delay=reply.delay,
                    chunk_delay=reply.chunk_delay,
                )
            else:
                await play_json(
                    responder, _message(reply, model, streamed=False), delay=reply.delay
                )
        elif isinstance(reply, ErrorReply):
            await play_error(responder, reply, error_body(reply.status, reply.message))
        elif isinstance(reply, MalformedReply):
            events = [
                _event(
                    "message_start",
                    {"message": _message(TextReply(chunks=()), model, streamed=True)},
                ),
                b"event: content_block_delta\ndata: {this is not json\n\n",
            ]
            await play_stream(responder, events, delay=reply.delay)
        elif isinstance(reply, DropReply):
            events = stream_events(TextReply(chunks=reply.chunks), model, finished=False)
            await play_stream(responder, events, delay=reply.delay, drop=True)
        else:
            await hang_up(responder)


@asynccontextmanager
async def open_fake_anthropic(
    *, api_key: str | None = None, default: Reply | None = None
) -> AsyncIterator[FakeAnthropic]:
    """Run a fake Anthropic upstream on ``127.0.0.1`` at a free port for the block.

    Args:
        api_key: when set, every request must carry ``x-api-key: <api_key>``.
        default: the reply when nothing is queued (``text("ok")`` if not given).
    """
    fake = FakeAnthropic(api_key=api_key)
    if default is not None:
        fake.default = default
    async with fake.running():
        yield fake
