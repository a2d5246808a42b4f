"""A scripted fake of the OpenAI Chat Completions API, on a real socket.

    async with open_fake_openai() as fake:
        fake.enqueue(text("Hello!"), tool_calls([("call_1", "get_time", "{}")]))
        client = OpenAICompatClient(model="gpt-4o", base_url=fake.base_url)

It serves ``POST /v1/chat/completions`` (streamed, with ``stream_options.include_usage``
honoured, or one ``chat.completion`` JSON) and ``GET /v1/models``, records every request
in ``fake.requests`` and counts clients that hang up mid-answer in ``fake.disconnects``.
"""

from __future__ import annotations

import itertools
import json
import time
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
    400: ("invalid_request_error", None),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}
_DONE = b"data: [DONE]\n\n"
_ids = itertools.count(1)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _event(document: dict[str, Any]) -> bytes:
    return b"data: " + _dumps(document) + b"\n\n"


def error_body(status: int, message: str) -> dict[str, Any]:
    """OpenAI's error envelope for ``status``."""
    kind, code = _ERROR_TYPES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _usage(reply: TextReply | ToolCallsReply) -> dict[str, int]:
    prompt, completion = reply.usage or (10, max(1, len(reply.chunks)))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def stream_events(
    reply: TextReply | ToolCallsReply, model: str, *, include_usage: bool, finished: bool = True
) -> list[bytes]:
    """The SSE events of a streamed answer, ``data: [DONE]`` included, grouped so that
    each item carries one piece of text or arguments (see :func:`group`).

    With ``finished=False`` the events stop after the last piece (for :func:`drop`).
    """
    head = {
        "id": f"chatcmpl-fake{next(_ids)}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
    }
    if include_usage:
        head["usage"] = None
    # Every chunk is this head plus one choice: encode the head once (benchmarks hammer this).
    prefix = b"data: " + _dumps(head)[:-1] + b',"choices":[{"index":0,"delta":'

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return (
            prefix
            + _dumps(delta)
            + b',"logprobs":null,"finish_reason":'
            + _dumps(finish)
            + b"}]}\n\n"
        )

    pieces = [chunk({"content": piece}) for piece in reply.chunks]
    if isinstance(reply, ToolCallsReply):
        for index, call in enumerate(reply.calls):
            pieces.extend(
                group(
                    chunk(
                        {
                            "tool_calls": [
                                {
                                    "index": index,
                                    "id": call.id,
                                    "type": "function",
                                    "function": {"name": call.name, "arguments": ""},
                                }
                            ]
                        }
                    ),
                    [
                        chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                        for piece in call.pieces
                    ],
                )
            )
    tail = b""
    if finished:
        tail = chunk({}, reply.finish_reason)
        if include_usage:
            tail += _event({**head, "choices": [], "usage": _usage(reply)})
        tail += _DONE
    return group(chunk({"role": "assistant", "content": ""}), pieces, tail)


def completion(reply: TextReply | ToolCallsReply, model: str) -> dict[str, Any]:
    """The ``chat.completion`` object of a non-streamed answer."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None, "refusal": None}
    if isinstance(reply, ToolCallsReply):
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in reply.calls
        ]
    elif message["content"] is None:
        message["content"] = ""
    return {
        "id": f"chatcmpl-fake{next(_ids)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish_reason}
        ],
        "usage": _usage(reply),
    }


@attrs.define(eq=False, kw_only=True)
class FakeOpenAI(FakeUpstream):
    """A running fake OpenAI upstream (see :func:`open_fake_openai`)."""

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, what OpenAI clients take as their base URL."""
        return f"http://127.0.0.1:{self.port}/v1"

    async def handle(self, request: HTTPRequest, responder: HTTPResponder) -> None:
        """Answer one HTTP request."""
        self._received_request(request)
        path = request.path.partition("?")[0]
        if path not in ("/v1/chat/completions", "/v1/models"):
            await responder.respond_json(404, error_body(404, f"unknown path {path}"))
            return
        if self.api_key is not None and (
            request.headers.get("authorization") != f"Bearer {self.api_key}"
        ):
            await responder.respond_json(401, error_body(401, "Incorrect API key provided"))
            return
        if path == "/v1/models":
            if request.method != "GET":
                await responder.respond_json(405, error_body(405, "use GET"))
                return
            await responder.respond_json(
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": name, "object": "model", "created": 0, "owned_by": "fake"}
                        for name in self.models
                    ],
                },
            )
            return
        body = request.json
        if request.method != "POST":
            await responder.respond_json(405, error_body(405, "use POST"))
            return
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            await responder.respond_json(
                400, error_body(400, "the body must be a JSON object with messages")
            )
            return
        await self.answer(await self.take_reply(), body, responder)

    async def answer(self, reply: Reply, body: dict[str, Any], responder: HTTPResponder) -> None:
        """Play ``reply`` as the answer to the chat completion request ``body``."""
        model = str(body.get("model", "fake-model"))
        if isinstance(reply, TextReply | ToolCallsReply):
            if body.get("stream"):
                options = body.get("stream_options")
                include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
                await play_stream(
                    responder,
                    stream_events(reply, model, include_usage=include_usage),
                    delay=reply.delay,
                    chunk_delay=reply.chunk_delay,
                )
            else:
                await play_json(responder, completion(reply, model), delay=reply.delay)
        elif isinstance(reply, ErrorReply):
            await play_error(responder, reply, error_body(reply.status, reply.message))
        elif isinstance(reply, MalformedReply):
            events = [
                _event({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "choices": []}),
                b"data: {this is not json\n\n",
                _DONE,
            ]
            await play_stream(responder, events, delay=reply.delay)
        elif isinstance(reply, DropReply):
            partial = stream_events(
                TextReply(chunks=reply.chunks), model, include_usage=False, finished=False
            )
            await play_stream(responder, partial, delay=reply.delay, drop=True)
        else:
            await hang_up(responder)


@asynccontextmanager
async def open_fake_openai(
    *, api_key: str | None = None, default: Reply | None = None
) -> AsyncIterator[FakeOpenAI]:
    """Run a fake OpenAI upstream on ``127.0.0.1`` at a free port for the block.

    Args:
        api_key: when set, every request must carry ``Authorization: Bearer <api_key>``.
        default: the reply when nothing is queued (``text("ok")`` if not given).
    """
    fake = FakeOpenAI(api_key=api_key)
    if default is not None:
        fake.default = default
    async with fake.running():
        yield fake
