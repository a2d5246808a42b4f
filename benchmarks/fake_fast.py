"""A fast fake OpenAI upstream for benchmarks, run as its own process.

    python -m benchmarks.fake_fast [--words 16] [--chunk-delay 0] [--impl fast|testing]
                                   [--long-words 200 --long-chunk-delay 0.05]

It prints ``fake upstream: listening on http://127.0.0.1:PORT/v1`` on stderr and serves
until killed. Every chat completion answers the same text of ``--words`` words: one JSON
``chat.completion``, or with ``"stream": true`` one SSE chunk per word (usage included
when ``stream_options.include_usage`` asks for it), ``--chunk-delay`` seconds apart.
With ``--long-words``, a second port answers ``--long-words`` words paced by
``--long-chunk-delay``, announced as ``long answers on URL`` on the same line.

``--impl fast`` (the default) is a raw trio socket server that speaks just enough
HTTP/1.1: keep-alive, requests with a ``content-length``, chunked responses, answers
encoded once. It exists because the benchmark's baseline must be cheaper than what it
measures: ``--impl testing`` runs the scripted ``trioagent.testing`` fake instead (h11,
its reply queue and request log), for comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from typing import Any

import trio

from trioagent.testing import open_fake_openai, text
from trioagent.testing.replies import split_words

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
WORDS = (
    "The quick brown fox jumps over the lazy dog while a patient benchmark counts "
    "every word that the fake upstream streams back to the agent server under test"
).split()


def reply_text(words: int) -> str:
    """``words`` words of filler text."""
    return " ".join(WORDS[i % len(WORDS)] for i in range(words)) + "."


def _dumps(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _head(status: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _json_response(document: Any, status: str = "200 OK") -> bytes:
    body = _dumps(document)
    return (
        _head(status, [("content-type", "application/json"), ("content-length", str(len(body)))])
        + body
    )


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


SSE_HEAD = _head(
    "200 OK",
    [
        ("content-type", "text/event-stream"),
        ("cache-control", "no-cache"),
        ("transfer-encoding", "chunked"),
    ],
)
END = b"0\r\n\r\n"


class Answers:
    """Every response, encoded once per model name (the request's ``model`` is echoed)."""

    def __init__(self, content: str) -> None:
        self.content = content
        self.pieces = split_words(content)
        self._json: dict[str, bytes] = {}
        self._stream: dict[tuple[str, bool], list[bytes]] = {}

    def usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": 10,
            "completion_tokens": len(self.pieces),
            "total_tokens": 10 + len(self.pieces),
        }

    def json(self, model: str) -> bytes:
        if model not in self._json:
            self._json[model] = _json_response(
                {
                    "id": "chatcmpl-fast",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "system_fingerprint": None,
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "logprobs": None,
                            "message": {
                                "role": "assistant",
                                "content": self.content,
                                "refusal": None,
                            },
                        }
                    ],
                    "usage": self.usage(),
                }
            )
        return self._json[model]

    def stream(self, model: str, include_usage: bool) -> list[bytes]:
        """The HTTP chunks of a streamed answer; the first carries the head, the last the
        end of the body, so only the gaps between words are left to pause in."""
        key = (model, include_usage)
        if key not in self._stream:
            head: dict[str, Any] = {
                "id": "chatcmpl-fast",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "system_fingerprint": None,
            }

            def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
                return (
                    b"data: "
                    + _dumps(
                        {
                            **head,
                            "choices": [
                                {
                                    "index": 0,
                                    "delta": delta,
                                    "logprobs": None,
                                    "finish_reason": finish,
                                }
                            ],
                        }
                    )
                    + b"\n\n"
                )

            events = [event({"content": piece}) for piece in self.pieces] or [b""]
            events[0] = event({"role": "assistant", "content": ""}) + events[0]
            tail = event({}, "stop")
            if include_usage:
                tail += (
                    b"data: " + _dumps({**head, "choices": [], "usage": self.usage()}) + (b"\n\n")
                )
            events[-1] += tail + b"data: [DONE]\n\n"
            chunks = [_chunk(data) for data in events]
            chunks[0] = SSE_HEAD + chunks[0]
            chunks[-1] += END
            self._stream[key] = chunks
        return self._stream[key]


class BadRequest(Exception):
    pass


async def _read_request(
    stream: trio.SocketStream, buffer: bytearray
) -> tuple[bytes, bytes, bytes] | None:
    """(method, target, body) of the next request; None when the client closed."""
    while (end := buffer.find(b"\r\n\r\n")) < 0:
        if len(buffer) > MAX_HEAD:
            raise BadRequest("head too large")
        data = await stream.receive_some(65536)
        if not data:
            return None
        buffer += data
    head = bytes(buffer[:end])
    del buffer[: end + 4]
    request_line, *lines = head.split(b"\r\n")
    method, target, _ = request_line.split(b" ", 2)
    length = 0
    for line in lines:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            raise BadRequest("chunked requests are not supported")
    if length > MAX_BODY:
        raise BadRequest("body too large")
    while len(buffer) < length:
        data = await stream.receive_some(65536)
        if not data:
            return None
        buffer += data
    body = bytes(buffer[:length])
    del buffer[:length]
    return method, target, body


async def _serve_connection(
    answers: Answers, chunk_delay: float, stream: trio.SocketStream
) -> None:
    buffer = bytearray()
    try:
        while True:
            try:
                request = await _read_request(stream, buffer)
            except (BadRequest, ValueError):
                await stream.send_all(_json_response({"error": "bad request"}, "400 Bad Request"))
                return
            if request is None:
                return
            method, target, body = request
            path = target.partition(b"?")[0]
            if path == b"/v1/models" and method == b"GET":
                await stream.send_all(
                    _json_response(
                        {
                            "object": "list",
                            "data": [
                                {
                                    "id": "fake-model",
                                    "object": "model",
                                    "created": 0,
                                    "owned_by": "fake",
                                }
                            ],
                        }
                    )
                )
            elif path == b"/v1/chat/completions" and method == b"POST":
                document = json.loads(body)
                model = str(document.get("model", "fake-model"))
                if not document.get("stream"):
                    await stream.send_all(answers.json(model))
                    continue
                options = document.get("stream_options") or {}
                chunks = answers.stream(model, bool(options.get("include_usage")))
                if not chunk_delay:
                    await stream.send_all(b"".join(chunks))
                    continue
                for number, data in enumerate(chunks):
                    if number:
                        await trio.sleep(chunk_delay)
                    await stream.send_all(data)
            else:
                await stream.send_all(
                    _json_response(
                        {"error": {"message": "not found", "type": "invalid_request_error"}},
                        "404 Not Found",
                    )
                )
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


async def serve_fast(
    words: int, chunk_delay: float, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve the fast fake on 127.0.0.1 at a free port; ``started`` gets its base URL."""
    answers = Answers(reply_text(words))
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            partial(
                trio.serve_tcp,
                partial(_serve_connection, answers, chunk_delay),
                0,
                host="127.0.0.1",
            )
        )
        port = listeners[0].socket.getsockname()[1]
        task_status.started(f"http://127.0.0.1:{port}/v1")


async def serve_testing(
    words: int, chunk_delay: float, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve ``trioagent.testing``'s scripted fake with the same answer."""
    async with open_fake_openai(default=text(reply_text(words), chunk_delay=chunk_delay)) as fake:
        fake.record = False
        task_status.started(fake.base_url)
        await trio.sleep_forever()


async def _main(args: argparse.Namespace) -> None:
    serve = serve_fast if args.impl == "fast" else serve_testing
    async with trio.open_nursery() as nursery:
        url = await nursery.start(partial(serve, args.words, args.chunk_delay))
        line = f"fake upstream: listening on {url}"
        if args.long_words:
            long_url = await nursery.start(partial(serve, args.long_words, args.long_chunk_delay))
            line += f" (long answers on {long_url})"
        print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.fake_fast",
        description=__doc__.split("\n")[0] if __doc__ else None,
    )
    parser.add_argument("--impl", choices=("fast", "testing"), default="fast")
    parser.add_argument("--words", type=int, default=16, help="words per answer (default 16)")
    parser.add_argument(
        "--chunk-delay",
        type=float,
        default=0.0,
        help="seconds between two streamed words (default 0)",
    )
    parser.add_argument(
        "--long-words",
        type=int,
        default=0,
        help="also serve answers of this many words on a second port",
    )
    parser.add_argument(
        "--long-chunk-delay",
        type=float,
        default=0.0,
        help="seconds between two words of the long answers (default 0)",
    )
    args = parser.parse_args(argv)
    try:
        trio.run(_main, args)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
