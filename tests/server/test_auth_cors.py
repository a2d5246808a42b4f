"""Bearer auth and CORS on a real server."""

from __future__ import annotations

import openai
import pytest
import trio

from trioagent.testing import FakeOpenAI, text

USER = [{"role": "user", "content": "hi"}]
ORIGIN = "https://chat.example.com"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer wrong"},
        {"authorization": "Basic c2VjcmV0"},
        {"authorization": "Bearer"},
        {"authorization": "secret"},
    ],
    ids=["none", "wrong", "basic", "empty", "no-scheme"],
)
async def test_requests_without_the_key_get_401_and_run_nothing(
    start_server, fake: FakeOpenAI, headers: dict[str, str]
) -> None:
    with trio.fail_after(10):
        async with (
            start_server(api_keys=("secret",)) as server,
            server.http(headers=headers) as http,
        ):
            for method, path in [
                ("GET", "/v1/models"),
                ("POST", "/v1/chat/completions"),
                ("GET", "/v1/models/"),
                ("GET", "/V1/models"),
                ("GET", "//v1/models"),
                ("GET", "/v1/unknown"),
            ]:
                response = await http.request(
                    method, path, json={"model": "root", "messages": USER}
                )
                assert response.status_code == 401, (method, path)
                assert response.headers["www-authenticate"] == "Bearer"
                assert response.json()["error"]["type"] == "authentication_error"
                assert response.json()["error"]["code"] == "invalid_api_key"
                assert "secret" not in response.text
    assert fake.requests == []


async def test_the_key_opens_v1_and_public_paths_need_none(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("hello"))
    with trio.fail_after(10):
        async with start_server(api_keys=("secret",)) as server:
            async with server.openai(api_key="secret") as client:
                completion = await client.chat.completions.create(model="root", messages=USER)
                models = await client.models.list()
            async with server.openai(api_key="nope") as client:
                with pytest.raises(openai.AuthenticationError):
                    await client.models.list()
            async with server.http(headers={"authorization": "bEaReR secret"}) as http:
                assert (await http.get("/v1/models")).status_code == 200
            async with server.http() as http:
                assert (await http.get("/healthz")).status_code == 200
                assert (await http.get("/openapi.json")).status_code == 200
    assert completion.choices[0].message.content == "hello"
    assert len(models.data) == 2


async def test_cors_preflight_allows_configured_origin_only(start_server) -> None:
    with trio.fail_after(10):
        async with (
            start_server(api_keys=("k",), cors_origins=(ORIGIN,)) as server,
            server.http() as http,
        ):
            allowed = await http.options(
                "/v1/chat/completions",
                headers={
                    "origin": ORIGIN,
                    "access-control-request-method": "POST",
                    "access-control-request-headers": "authorization, content-type",
                },
            )
            other = await http.options(
                "/v1/chat/completions",
                headers={
                    "origin": "https://chat.example.com.evil.io",
                    "access-control-request-method": "POST",
                },
            )
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    allowed_headers = allowed.headers["access-control-allow-headers"].lower()
    for header in ("authorization", "content-type", "x-conversation-id"):
        assert header in allowed_headers
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "access-control-allow-origin" not in other.headers
    assert "origin" in allowed.headers["vary"].lower()


async def test_cors_headers_are_on_errors_too(start_server) -> None:
    with trio.fail_after(10):
        async with (
            start_server(api_keys=("k",), cors_origins=(ORIGIN,)) as server,
            server.http(headers={"origin": ORIGIN}) as http,
        ):
            unauthorized = await http.get("/v1/models")
            authorized = await http.get("/v1/models", headers={"authorization": "Bearer k"})
    for response in (unauthorized, authorized):
        assert response.headers["access-control-allow-origin"] == ORIGIN
        exposed = response.headers["access-control-expose-headers"].lower()
        assert "x-conversation-id" in exposed
    assert unauthorized.status_code == 401
    assert "*" not in unauthorized.headers["access-control-allow-origin"]


async def test_no_cors_headers_without_configured_origins(server) -> None:
    async with server.http(headers={"origin": ORIGIN}) as http:
        response = await http.get("/v1/models")
    assert "access-control-allow-origin" not in response.headers


async def test_rate_limit_on_serve_chat_is_an_openai_429_the_sdk_retries(
    start_server, fake: FakeOpenAI
) -> None:
    from trioagent.server.ratelimit import parse_rate

    fake.enqueue(text("first"), text("after waiting"))
    with trio.fail_after(20):
        async with (
            start_server(rate_limit=parse_rate("1/s")) as server,
            server.http() as http,
            server.openai(max_retries=2) as client,
        ):
            await client.chat.completions.create(model="root", messages=USER)
            limited = await http.post(
                "/v1/chat/completions", json={"model": "root", "messages": USER}
            )
            # The SDK honours Retry-After and gets through on its retry.
            answer = await client.chat.completions.create(model="root", messages=USER)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert limited.json()["error"]["type"] == "rate_limit_error"  # openai-wire.md's table
    assert answer.choices[0].message.content == "after waiting"
    assert len(fake.requests) == 2
