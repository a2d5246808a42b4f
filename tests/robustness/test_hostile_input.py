"""Hostile input against a real server on loopback: each gets a clear 4xx in the API's own
error shape (or, where hypercorn decides, its documented answer), and the server stays
healthy: ``/healthz`` answers and a normal turn works afterwards.

Requests that httpx would refuse or normalise (dot segments, declared lengths it never
sends, pipelining, HTTP/1.0) go over raw trio sockets.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from trioagent.testing import FakeOpenAI

PATH = {"chat": "/v1/chat/completions", "api": "/api/chat"}
"""The turn route of each API."""
USER = [{"role": "user", "content": "hi"}]
KEY = "sk-robust"


def turn_body(api: str, content: str = "hi") -> dict[str, Any]:
    """A valid turn request of ``api``."""
    if api == "chat":
        return {"model": "root", "messages": [{"role": "user", "content": content}]}
    return {"message": content}


def turn_json(api: str, content: str = "hi", extra: str = "") -> bytes:
    """A turn request as JSON text; ``content`` and ``extra`` are spliced in verbatim."""
    if api == "chat":
        head = f'{{"model": "root", "messages": [{{"role": "user", "content": "{content}"}}]'
    else:
        head = f'{{"message": "{content}"'
    return f"{head}{extra}}}".encode()


def assert_error(
    api: str,
    status: int,
    response: RawResponse | httpx.Response,
    code: str | None = None,
    says: str = "",
) -> None:
    """``response`` is ``status`` with exactly the API's error body: OpenAI's
    ``{"error": {"message", "type", "param", "code"}}`` or the simple ``{"error", "code"}``."""
    assert response.status_code == status, response.content[:300]
    assert response.headers["content-type"] == "application/json"
    body = json.loads(response.content)
    if api == "chat":
        error = body["error"]
        assert set(body) == {"error"}
        assert set(error) == {"message", "type", "param", "code"}
        assert error["type"] == (
            "authentication_error" if status == 401 else "invalid_request_error"
        )
        if code is not None:
            assert error["code"] == code, error
        message = error["message"]
    else:
        assert set(body) == {"error", "code"}
        assert body["code"] == status
        message = body["error"]
    assert says in message, message
    assert "Traceback" not in message


async def assert_healthy(server, api: str = "chat") -> None:
    """``/healthz`` answers and a normal turn of ``api`` works."""
    async with server.http(headers={"Authorization": f"Bearer {KEY}"}) as http:
        health = await http.get("/healthz")
        turn = await http.post(PATH[api], json=turn_body(api))
    assert health.json() == {"status": "ok"}
    assert turn.status_code == 200, turn.text
    answer = turn.json()
    assert (
        answer["choices"][0]["message"]["content"] if api == "chat" else answer["message"]
    ) == "ok"


# A raw HTTP/1.1 client: send any bytes, read responses one by one.


@attrs.frozen
class RawResponse:
    status_code: int
    headers: dict[str, str]
    """Names in lower case."""
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


@attrs.define
class RawConnection:
    """One TCP connection to the server; the server may close it at any point."""

    stream: trio.SocketStream
    buffer: bytearray = attrs.Factory(bytearray)
    closed: bool = False
    """Whether the server closed (or reset) the connection."""

    async def send(self, data: bytes) -> None:
        """Send ``data``; a server that already closed the connection is not an error."""
        try:
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.closed = True

    async def _fill(self) -> bool:
        try:
            data = await self.stream.receive_some(65536)
        except trio.BrokenResourceError:
            data = b""
        if not data:
            self.closed = True
        self.buffer += data
        return bool(data)

    async def response(self) -> RawResponse | None:
        """The next response (its body by ``Content-Length``); None if the server closes
        the connection first."""
        while b"\r\n\r\n" not in self.buffer:
            if not await self._fill():
                return None
        head, _, rest = bytes(self.buffer).partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        self.buffer[:] = rest
        while len(self.buffer) < length:
            if not await self._fill():
                return None
        content = bytes(self.buffer[:length])
        del self.buffer[:length]
        return RawResponse(int(status_line.split()[1]), headers, content)

    async def wait_closed(self) -> None:
        """Wait until the server closes the connection (nothing more may come)."""
        while await self._fill():
            pass


def _port(server) -> int:
    return int(server.url.rsplit(":", 1)[1])


async def open_raw(server) -> RawConnection:
    return RawConnection(await trio.open_tcp_stream("127.0.0.1", _port(server)))


def request_head(method: str, target: str, *headers: str, version: str = "HTTP/1.1") -> bytes:
    lines = [f"{method} {target} {version}", "Host: 127.0.0.1", *headers, "", ""]
    return "\r\n".join(lines).encode("latin-1")


# Bodies.


BAD_BODIES = {
    "nested-arrays": (lambda api: b"[" * 100_000 + b"]" * 100_000, "nested deeper than 64"),
    "nested-objects": (
        lambda api: b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        "nested deeper than 64",
    ),
    "unclosed-nesting": (lambda api: b"[" * 100_000, "nested deeper than 64"),
    "invalid-utf8": (
        lambda api: turn_json(api, "caf\\u00e9").replace(b"\\u00e9", b"\xe9\xff"),
        "not valid UTF-8",
    ),
    "array": (
        lambda api: b"[" + json.dumps(turn_body(api)).encode() + b"]",
        "must be a JSON object, not an array",
    ),
    "string": (lambda api: b'"hello"', "must be a JSON object, not a string"),
    "number": (lambda api: b"42", "must be a JSON object, not an integer"),
    "null": (lambda api: b"null", "must be a JSON object, not null"),
    "empty": (lambda api: b"", "empty"),
    "whitespace": (lambda api: b" \r\n\t ", "empty"),
    "duplicate-key": (
        lambda api: turn_json(api, extra=', "stream": false, "stream": true'),
        '"stream" twice',
    ),
    "duplicate-nested-key": (
        lambda api: turn_json(api, extra=', "metadata": {"a": 1, "b": 2, "a": 3}'),
        '"a" twice',
    ),
    "nan": (lambda api: turn_json(api, extra=', "temperature": NaN'), "NaN"),
    "infinity": (lambda api: turn_json(api, extra=', "temperature": Infinity'), "Infinity"),
    "minus-infinity": (lambda api: turn_json(api, extra=', "seed": -Infinity'), "-Infinity"),
    "1e999": (lambda api: turn_json(api, extra=', "temperature": 1e999'), "too large"),
    "-1e999": (lambda api: turn_json(api, extra=', "temperature": -1e999'), "too large"),
    "huge-integer": (
        lambda api: turn_json(api, extra=', "seed": ' + "9" * 5000),
        "too many digits",
    ),
    "lone-high-surrogate": (lambda api: turn_json(api, "x\\ud800"), "lone UTF-16 surrogate"),
    "lone-low-surrogate": (lambda api: turn_json(api, "\\udc00x"), "lone UTF-16 surrogate"),
    "surrogate-in-key": (
        lambda api: turn_json(api, extra=', "\\ud800": 1'),
        "lone UTF-16 surrogate",
    ),
    "trailing-garbage": (lambda api: turn_json(api) + b" {}", "not valid JSON"),
}


@pytest.mark.parametrize("api", ["chat", "api"])
@pytest.mark.parametrize("case", list(BAD_BODIES), ids=list(BAD_BODIES))
async def test_malformed_json_is_400_in_the_apis_shape(
    start_server, fake: FakeOpenAI, api: str, case: str
) -> None:
    make, says = BAD_BODIES[case]
    with trio.fail_after(10):
        # A conversation id, so a turn would be stored: text that cannot be stored must
        # never get that far.
        options = {"conversations_max": 4} if api == "chat" else {}
        async with start_server(api=api, **options) as server:
            async with server.http() as http:
                response = await http.post(
                    PATH[api],
                    content=make(api),
                    headers={"content-type": "application/json", "X-Conversation-Id": "c1"},
                )
            assert_error(api, 400, response, "invalid_json", says)
            assert fake.requests == []
            await assert_healthy(server, api)


async def test_a_surrogate_pair_is_one_character_not_a_lone_surrogate(
    start_server, fake: FakeOpenAI
) -> None:
    with trio.fail_after(10):
        async with start_server(api="api") as server, server.http() as http:
            response = await http.post(
                PATH["api"],
                content=turn_json("api", "\\ud83d\\ude00"),
                headers={"content-type": "application/json"},
            )
    assert response.status_code == 200, response.text
    assert fake.requests[-1].json["messages"][-1]["content"] == "\U0001f600"


@pytest.mark.parametrize("api", ["chat", "api"])
@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "multipart/form-data; boundary=xyz",
        None,
        "application/x-www-form-urlencoded",
        "application/jsonx",
        "text/json",
    ],
    ids=["text-plain", "multipart", "none", "form", "jsonx", "text-json"],
)
async def test_a_body_that_is_not_application_json_is_415(
    start_server, fake: FakeOpenAI, api: str, content_type: str | None
) -> None:
    body = turn_json(api)
    if content_type and content_type.startswith("multipart"):
        body = (
            b'--xyz\r\nContent-Disposition: form-data; name="body"\r\n\r\n'
            + body
            + b"\r\n--xyz--\r\n"
        )
    with trio.fail_after(10):
        async with start_server(api=api) as server:
            # Raw, so that "no Content-Type" really sends none.
            connection = await open_raw(server)
            headers = [f"Content-Length: {len(body)}"]
            if content_type is not None:
                headers.append(f"Content-Type: {content_type}")
            await connection.send(request_head("POST", PATH[api], *headers) + body)
            response = await connection.response()
            assert response is not None
            assert_error(api, 415, response, "unsupported_media_type")
            assert fake.requests == []
            await assert_healthy(server, api)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/json;charset=UTF-8",
    ],
    ids=["charset", "case", "no-space"],
)
async def test_application_json_with_parameters_or_in_capitals_is_accepted(
    server, fake: FakeOpenAI, content_type: str
) -> None:
    with trio.fail_after(10):
        async with server.http() as http:
            response = await http.post(
                PATH["chat"], content=turn_json("chat"), headers={"content-type": content_type}
            )
    assert response.status_code == 200, response.text


# Size and time.


@pytest.mark.parametrize("api", ["chat", "api"])
async def test_900_kib_of_content_works_and_past_the_limit_is_413(
    start_server, fake: FakeOpenAI, api: str
) -> None:
    big = "x" * (900 * 1024)
    with trio.fail_after(20):
        async with start_server(api=api) as server, server.http() as http:
            fits = await http.post(PATH[api], json=turn_body(api, big))
            too_big = await http.post(PATH[api], json=turn_body(api, big + "x" * 150 * 1024))
            await assert_healthy(server, api)
    assert fits.status_code == 200, fits.text[:300]
    assert fake.requests[0].json["messages"][-1]["content"] == big
    assert_error(api, 413, too_big, "request_too_large")
    assert len(fake.requests) == 2  # the 413 never reached the model


@pytest.mark.parametrize("api", ["chat", "api"])
async def test_a_declared_oversize_body_is_413_before_it_arrives(
    start_server, fake: FakeOpenAI, api: str
) -> None:
    """Content-Length says 10 MiB and the bytes trickle in: the answer comes from the
    declared length (the default 60 s body timeout would give 408 instead)."""
    with trio.fail_after(10):
        async with start_server(api=api) as server:
            connection = await open_raw(server)
            await connection.send(
                request_head(
                    "POST",
                    PATH[api],
                    "Content-Type: application/json",
                    f"Content-Length: {10 * 1024 * 1024}",
                )
                + b'{"mess'
            )
            async with trio.open_nursery() as nursery:

                async def trickle() -> None:
                    while not connection.closed:
                        await connection.send(b" ")
                        await trio.sleep(0.05)

                nursery.start_soon(trickle)
                response = await connection.response()
                nursery.cancel_scope.cancel()
            assert response is not None
            assert_error(api, 413, response, "request_too_large")
            await connection.wait_closed()  # the rest of the body is not waited for
            await assert_healthy(server, api)
    assert len(fake.requests) == 1


@pytest.mark.parametrize("api", ["chat", "api"])
async def test_a_chunked_body_is_413_as_soon_as_it_passes_the_limit(
    start_server, fake: FakeOpenAI, api: str
) -> None:
    limit = 64 * 1024
    piece = b"x" * 8192
    with trio.fail_after(10):
        async with start_server(api=api, max_request_size=limit) as server:
            connection = await open_raw(server)
            await connection.send(
                request_head(
                    "POST",
                    PATH[api],
                    "Content-Type: application/json",
                    "Transfer-Encoding: chunked",
                )
            )
            sent = 0
            answers: list[RawResponse | None] = []
            async with trio.open_nursery() as nursery:

                async def read() -> None:
                    answers.append(await connection.response())

                nursery.start_soon(read)
                # The body never ends: a 413 can only come from the bytes seen so far.
                while not answers and not connection.closed and sent < 64 * limit:
                    await connection.send(b"%x\r\n%s\r\n" % (len(piece), piece))
                    sent += len(piece)
                    await trio.sleep(0.005)
            [response] = answers
            assert response is not None
            assert_error(api, 413, response, "request_too_large")
            assert limit < sent < 64 * limit
            await assert_healthy(server, api)


@pytest.mark.parametrize("api", ["chat", "api"])
async def test_a_body_that_never_finishes_is_408(start_server, fake: FakeOpenAI, api: str) -> None:
    with trio.fail_after(10):
        async with start_server(api=api, body_timeout=0.3) as server:
            connection = await open_raw(server)
            await connection.send(
                request_head(
                    "POST",
                    PATH[api],
                    "Content-Type: application/json",
                    "Content-Length: 500",
                )
                + turn_json(api)[:20]
            )
            response = await connection.response()
            assert response is not None
            assert_error(api, 408, response, "request_timeout")
            await assert_healthy(server, api)
    assert len(fake.requests) == 1


# The HTTP layer: header limits are hypercorn's (h11_max_incomplete_size, 64 KiB).


@pytest.mark.parametrize(
    ("headers", "within_limits"),
    [
        ([f"X-Many-{i}: v" for i in range(2000)], True),
        ([f"X-Many-{i}: v" for i in range(20_000)], False),
        (["X-Huge: " + "a" * 256 * 1024], False),
    ],
    ids=["2000-headers", "20000-headers", "256-KiB-header"],
)
async def test_header_floods_are_refused_by_hypercorn_and_the_server_lives_on(
    server, headers: list[str], within_limits: bool
) -> None:
    with trio.fail_after(10):
        connection = await open_raw(server)
        await connection.send(request_head("GET", "/healthz", *headers))
        response = await connection.response()
        if within_limits:
            assert response is not None
            assert response.status_code == 200
        else:
            # hypercorn answers 431 and closes; it may close before the answer is read.
            assert response is None or response.status_code == 431
            await connection.wait_closed()
        await assert_healthy(server)


@pytest.mark.parametrize(
    "data",
    [
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(64),
        b"GET /healthz\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\n\r\n",
        request_head("POST", "/v1/chat/completions", "Content-Length: 2", "Content-Length: 3"),
        request_head("POST", "/v1/chat/completions", "Content-Length: -1"),
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n",
    ],
    ids=["tls-hello", "http-0.9", "no-host", "two-lengths", "negative-length", "space-in-name"],
)
async def test_requests_that_are_not_http_are_400_and_closed(server, data: bytes) -> None:
    with trio.fail_after(10):
        connection = await open_raw(server)
        await connection.send(data)
        response = await connection.response()
        assert response is not None
        assert response.status_code == 400
        await connection.wait_closed()
        await assert_healthy(server)


@pytest.mark.parametrize(
    ("target", "status", "code"),
    [
        ("/v1/../v1/models", 404, "not_found"),
        ("/v1/%2e%2e/v1/models", 404, "not_found"),
        ("/v1/%2E%2E/v1/models", 404, "not_found"),
        ("/v1/./models", 404, "not_found"),
        ("/v1/models%00", 404, "not_found"),
        ("/v1/models/root%00", 404, "model_not_found"),
        ("/%00", 404, "not_found"),
        ("/V1/models", 404, "not_found"),
        ("/v1//models", 404, "not_found"),
        ("/" + "a" * 16_000, 404, "not_found"),
        ("/v1/models/" + "r" * 16_000, 404, "model_not_found"),
    ],
    ids=[
        "dot-dot",
        "encoded-dots",
        "encoded-dots-upper",
        "dot",
        "nul",
        "nul-in-model",
        "root-nul",
        "upper-case",
        "inner-double-slash",
        "long-path",
        "long-model",
    ],
)
async def test_path_tricks_are_404(start_server, target: str, status: int, code: str) -> None:
    with trio.fail_after(10):
        async with start_server(api_keys=(KEY,)) as server:
            connection = await open_raw(server)
            await connection.send(request_head("GET", target, f"Authorization: Bearer {KEY}"))
            response = await connection.response()
            assert response is not None
            assert_error("chat", status, response, code)
            await assert_healthy(server)


@pytest.mark.parametrize(
    "target",
    [
        "/v1/models/",
        "//v1/models",
        "///v1/models",
        "/healthz/../v1/models",
        "//openapi.json/../v1/models",
        "/openapi.json/%2e%2e/v1/models",
    ],
)
async def test_no_path_reaches_a_protected_handler_without_the_key(
    start_server, target: str
) -> None:
    """Leading slashes collapse (werkzeug) and a trailing one is allowed (``strict_slashes``
    is off), so these name ``/v1/models`` or nothing: never a public path."""
    with trio.fail_after(10):
        async with start_server(api_keys=(KEY,)) as server:
            connection = await open_raw(server)
            await connection.send(request_head("GET", target))
            response = await connection.response()
            assert response is not None
            assert_error("chat", 401, response, "invalid_api_key")
            assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("target", ["/static/../v1/models", "/static/%2e%2e/v1/models"])
async def test_dot_segments_under_the_public_static_path_are_404(start_server, target: str) -> None:
    with trio.fail_after(10):
        async with start_server(api_keys=(KEY,)) as server:
            connection = await open_raw(server)
            await connection.send(request_head("GET", target))
            response = await connection.response()
            assert response is not None
            assert_error("chat", 404, response, "not_found")


@pytest.mark.parametrize(
    ("api", "method", "target", "allow"),
    [
        ("chat", "FOO", "/v1/models", "GET, HEAD"),
        ("chat", "TRACE", "/v1/models", "GET, HEAD"),
        ("chat", "PATCH", "/v1/chat/completions", "POST"),
        ("chat", "PUT", "/healthz", "GET, HEAD"),
        ("api", "PUT", "/api/chat", "POST"),
        ("api", "BREW", "/api/sessions/s1", "DELETE, GET, HEAD"),
    ],
    ids=["chat-FOO", "chat-TRACE", "chat-PATCH", "chat-PUT-healthz", "api-PUT", "api-BREW"],
)
async def test_unknown_and_wrong_methods_are_405_with_allow(
    start_server, api: str, method: str, target: str, allow: str
) -> None:
    with trio.fail_after(10):
        async with start_server(api=api) as server:
            connection = await open_raw(server)
            await connection.send(request_head(method, target, "Content-Length: 0"))
            response = await connection.response()
            assert response is not None
            assert_error(api, 405, response, "method_not_allowed")
            assert sorted(response.headers["allow"].split(", ")) == allow.split(", ")
            await assert_healthy(server, api)


async def test_http_1_0_requests_are_answered_and_closed(server, fake: FakeOpenAI) -> None:
    body = turn_json("chat")
    with trio.fail_after(10):
        for data in (
            request_head("GET", "/healthz", version="HTTP/1.0"),
            request_head(
                "POST",
                PATH["chat"],
                "Content-Type: application/json",
                f"Content-Length: {len(body)}",
                version="HTTP/1.0",
            )
            + body,
        ):
            connection = await open_raw(server)
            await connection.send(data)
            response = await connection.response()
            assert response is not None
            assert response.status_code == 200, response.content
            await connection.wait_closed()  # HTTP/1.0 without keep-alive: one request
    assert response.json()["choices"][0]["message"]["content"] == "ok"


async def test_pipelined_requests_are_answered_in_order(server, fake: FakeOpenAI) -> None:
    body = turn_json("chat")
    with trio.fail_after(10):
        connection = await open_raw(server)
        await connection.send(
            request_head(
                "POST",
                PATH["chat"],
                "Content-Type: application/json",
                f"Content-Length: {len(body)}",
            )
            + body
            + request_head("GET", "/healthz")
            + request_head("GET", "/v1/nothing")
            + request_head(
                "POST", PATH["chat"], "Content-Type: text/plain", f"Content-Length: {len(body)}"
            )
            + body
            + request_head("GET", "/v1/models")
        )
        responses = [await connection.response() for _ in range(5)]
        assert None not in responses
        completion, health, missing, wrong_type, models = responses  # type: ignore[misc]
        assert completion.status_code == 200
        assert completion.json()["choices"][0]["message"]["content"] == "ok"
        assert health.json() == {"status": "ok"}
        assert_error("chat", 404, missing, "not_found")
        assert_error("chat", 415, wrong_type, "unsupported_media_type")
        assert [m["id"] for m in models.json()["data"]] == ["root", "helper"]
        # Still open for more.
        await connection.send(request_head("GET", "/healthz"))
        again = await connection.response()
        assert again is not None
        assert again.status_code == 200
    assert len(fake.requests) == 1


# WebSocket.


def _ws_url(server) -> str:
    return server.url.replace("http://", "ws://") + "/v1/ws"


async def _next_frame(ws) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await ws.get_message())
    return frame


async def test_a_websocket_frame_past_four_times_the_limit_closes_with_1009(
    start_server, fake: FakeOpenAI
) -> None:
    with trio.fail_after(10):
        async with start_server(max_request_size=1000) as server:
            async with open_websocket_url(_ws_url(server)) as ws:
                await ws.send_message(json.dumps({"type": "hello"}))
                assert (await _next_frame(ws))["type"] == "ready"
                await ws.send_message(json.dumps({"type": "message", "text": "x" * 5000}))
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.get_message()
            assert closed.value.reason.code == 1009
            assert fake.requests == []
            await assert_healthy(server)


@pytest.mark.parametrize("api", ["chat", "api"])
async def test_bad_websocket_frames_get_error_frames_and_the_socket_lives(
    start_server, fake: FakeOpenAI, api: str
) -> None:
    bad: list[tuple[str | bytes, int, str]] = [
        (b"\x00\x01binary", 400, "text frames, not binary"),
        ("{not json", 400, "not valid JSON"),
        ('{"type": "shout"}', 400, "type"),
        ('{"type": "message", "text": "x\\ud800"}', 400, "lone UTF-16 surrogate"),
    ]
    with trio.fail_after(10):
        async with start_server(api=api, max_request_size=1000) as server:
            async with open_websocket_url(_ws_url(server)) as ws:
                await ws.send_message(json.dumps({"type": "hello"}))
                assert (await _next_frame(ws))["type"] == "ready"
                errors = []
                for frame, _, _ in [*bad, ("x" * 2000, 413, "")]:
                    await ws.send_message(frame)
                    errors.append(await _next_frame(ws))
                await ws.send_message(json.dumps({"type": "message", "text": "hi"}))
                frames = [await _next_frame(ws)]
                while frames[-1]["type"] not in ("done", "error"):
                    frames.append(await _next_frame(ws))
            await assert_healthy(server, api)
    for error, (_, code, says) in zip(
        errors, [*bad, ("", 413, "larger than the server's --max-request-size")], strict=True
    ):
        assert error["type"] == "error"
        assert error["code"] == code
        assert error["ends_turn"] is False
        assert says in error["message"]
    assert frames[-1]["type"] == "done"
    assert frames[-1]["text"] == "ok"
