"""A model call to an upstream behind an HTTP proxy (``HTTP_PROXY``): the h11 client does
not speak proxies, so such calls go through httpx, which does; the others never do."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from trioagent.models import OpenAICompatClient, TextDelta
from trioagent.testing import FakeOpenAI, text
from trioagent.testing._http import HTTPRequest, HTTPResponder, HTTPServer, open_http_server

from .support import FAST, collect


@pytest.fixture
async def proxy() -> AsyncIterator[tuple[HTTPServer, list[str]]]:
    """A forward proxy on loopback that records each request target it relays."""
    targets: list[str] = []

    async def relay(request: HTTPRequest, responder: HTTPResponder) -> None:
        targets.append(request.path)  # the absolute-form target a proxy is sent
        hop = {"host", "connection", "proxy-connection", "content-length"}
        async with httpx.AsyncClient(trust_env=False) as client:
            answer = await client.request(
                request.method,
                request.path,
                content=request.body,
                headers={k: v for k, v in request.headers.items() if k not in hop},
            )
        await responder.respond(
            answer.status_code, answer.content, content_type=answer.headers["content-type"]
        )

    async with open_http_server(relay) as server:
        yield server, targets


async def test_a_call_goes_through_the_proxy_the_environment_names(
    fake: FakeOpenAI, proxy: tuple[HTTPServer, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, targets = proxy
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.port}")
    fake.enqueue(text("through the proxy"))
    client = OpenAICompatClient(model="m", base_url=fake.base_url, api_key="sk-test", retry=FAST)
    try:
        events = await collect(client)
    finally:
        await client.aclose()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "through the proxy"
    assert targets == [f"{fake.base_url}/chat/completions"]
    assert len(fake.requests) == 1


async def test_without_a_proxy_the_call_goes_straight_to_the_upstream(
    fake: FakeOpenAI, proxy: tuple[HTTPServer, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, targets = proxy
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.port}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    fake.enqueue(text("direct"))
    client = OpenAICompatClient(model="m", base_url=fake.base_url, api_key="sk-test", retry=FAST)
    try:
        await collect(client)
    finally:
        await client.aclose()
    assert targets == []
    assert len(fake.requests) == 1
