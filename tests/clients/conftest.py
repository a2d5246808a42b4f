"""Fixtures for the client tests: the official openai SDK, sync or async, on a real server.

Every SDK client validates responses strictly (``_strict_response_validation=True``), so a
field of the wrong shape fails the test instead of being let through.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Literal

import openai
import pytest
import trio

USER = [{"role": "user", "content": "hi"}]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def get_weather(city: str) -> str:
    """The client-side implementation of WEATHER_TOOL."""
    return {"Paris": "sunny, 21 C", "Rome": "cloudy, 18 C"}.get(city, "unknown")


def run_tool_call(name: str, arguments: str) -> str:
    """Run one client tool call as an agent framework would."""
    assert name == "get_weather"
    return get_weather(**json.loads(arguments))


def sse_events(body: str) -> list[str]:
    """The ``data:`` payloads of an SSE body, checking the framing on the way."""
    assert body.endswith("\n\n"), body[-40:]
    events = []
    for block in body.split("\n\n")[:-1]:
        assert not block.startswith("event:"), block
        if block.startswith(":"):  # a keep-alive comment
            continue
        assert block.startswith("data: "), block
        assert "\n" not in block, block  # one data line per event
        events.append(block[len("data: ") :])
    return events


Flavor = Literal["sync", "async"]


class Sdk:
    """One openai SDK client driven from a trio test.

    ``await sdk.call(lambda c: c.models.list())`` runs the call on the client: in a worker
    thread for the sync ``openai.OpenAI`` (the server runs in the test's trio loop), awaited
    for ``openai.AsyncOpenAI`` (httpx2 + anyio run on trio).
    """

    def __init__(self, flavor: Flavor, client: openai.OpenAI | openai.AsyncOpenAI) -> None:
        self.flavor = flavor
        self.client: Any = client

    @property
    def is_async(self) -> bool:
        return self.flavor == "async"

    async def call(self, op: Callable[[Any], Any]) -> Any:
        if self.is_async:
            result: Awaitable[Any] = op(self.client)
            return await result
        return await trio.to_thread.run_sync(op, self.client, abandon_on_cancel=True)

    async def stream(self, **params: Any) -> list[Any]:
        """All chunks of ``chat.completions.create(stream=True, **params)``."""
        if self.is_async:
            stream = await self.client.chat.completions.create(stream=True, **params)
            async with stream:
                return [chunk async for chunk in stream]

        def read() -> list[Any]:
            with self.client.chat.completions.create(stream=True, **params) as stream:
                return list(stream)

        return await trio.to_thread.run_sync(read, abandon_on_cancel=True)


Connect = Callable[..., AbstractAsyncContextManager[Sdk]]


@pytest.fixture(params=["sync", "async"])
def flavor(request: pytest.FixtureRequest) -> Flavor:
    flavor: Flavor = request.param
    return flavor


@pytest.fixture
def connect(flavor: Flavor) -> Connect:
    """``async with connect(server, api_key=..., max_retries=...) as sdk:``.

    ``max_retries`` defaults to 0 so a wrong retry shows as a second upstream request only
    where a test asks for the SDK's default (2).
    """

    @asynccontextmanager
    async def open_sdk(server: Any, api_key: str = "unused", **kwargs: Any) -> AsyncIterator[Sdk]:
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 10)
        options = dict(
            base_url=f"{server.url}/v1", api_key=api_key, _strict_response_validation=True, **kwargs
        )
        if flavor == "async":
            async with openai.AsyncOpenAI(**options) as client:
                yield Sdk(flavor, client)
        else:
            with openai.OpenAI(**options) as client:
                yield Sdk(flavor, client)

    return open_sdk
