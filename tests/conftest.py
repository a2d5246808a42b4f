"""Fixtures shared by the tests: the fake upstreams (``fake``, ``fake_anthropic``), an agent
file pointing at the OpenAI one, a real server, and a real redis-server."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import httpx
import openai
import pytest
import trio

from trioagent.config import AgentFile, parse_agent_file
from trioagent.server.app import ApiKind, serve_agents
from trioagent.server.options import ServeOptions
from trioagent.testing import FakeAnthropic, FakeOpenAI, open_fake_anthropic, open_fake_openai
from trioagent.testing.redis import RedisServer, open_redis_server, redis_available

AGENT_YAML = """\
agents:
  root:
    model: upstream
    description: The main agent
    instruction: You are a helpful test agent.
    toolsets:
      - type: think
      - type: shell
      - type: filesystem
  helper:
    model: upstream
    instruction: You help.
models:
  upstream:
    provider: openai
    model: gpt-test
    base_url: {base_url}
"""


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    """The fake OpenAI upstream, scripted with ``fake.enqueue(...)``; it checks no key."""
    async with open_fake_openai() as fake:
        yield fake


@pytest.fixture
async def fake_anthropic() -> AsyncIterator[FakeAnthropic]:
    """The fake Anthropic upstream; every request must carry ``x-api-key: sk-ant-test``."""
    async with open_fake_anthropic(api_key="sk-ant-test") as fake:
        yield fake


@pytest.fixture
def agent_file(fake: FakeOpenAI) -> AgentFile:
    return parse_agent_file(AGENT_YAML.format(base_url=fake.base_url), source="agent.yaml", env={})


@attrs.frozen
class Server:
    url: str
    """The base URL, e.g. http://127.0.0.1:PORT (no /v1)."""
    stopping: trio.Event = attrs.field(factory=trio.Event)
    """Set it to begin the server's shutdown, as SIGTERM does."""

    def openai(self, api_key: str = "unused", **kwargs: Any) -> openai.AsyncOpenAI:
        kwargs.setdefault("max_retries", 0)
        return openai.AsyncOpenAI(
            base_url=f"{self.url}/v1",
            api_key=api_key,
            _strict_response_validation=True,
            **kwargs,
        )

    def http(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=10, **kwargs)


StartServer = Callable[..., AbstractAsyncContextManager[Server]]


@pytest.fixture
def start_server(agent_file: AgentFile, tmp_path: Path) -> StartServer:
    """``async with start_server(**options) as server:`` serves on port 0.

    ``api="api"`` serves the simple chat API (sessions in memory unless ``sessions`` is set).
    """

    @asynccontextmanager
    async def start(
        file: AgentFile | None = None, api: ApiKind = "chat", **options: Any
    ) -> AsyncIterator[Server]:
        options.setdefault("working_dir", tmp_path)
        options.setdefault("sessions", ":memory:")
        serve_options = ServeOptions(host="127.0.0.1", port=0, **options)
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            url = await nursery.start(
                partial(
                    serve_agents,
                    file or agent_file,
                    serve_options,
                    api,
                    env={},
                    shutdown_trigger=stop.wait,
                )
            )
            try:
                yield Server(url, stop)
            finally:
                stop.set()

    return start


@pytest.fixture
async def server(start_server: StartServer) -> AsyncIterator[Server]:
    async with start_server() as server:
        yield server


StartRedis = Callable[[], AbstractAsyncContextManager[RedisServer]]


@pytest.fixture
def start_redis(tmp_path: Path) -> StartRedis:
    """``async with start_redis() as server:`` a real ``redis-server`` on a free loopback
    port, its data in a temporary directory.

    Skipped when Debian's redis-server is not installed, unless TRIOAGENT_REQUIRE_REDIS=1
    (as .ci/run sets) makes that a failure.
    """

    @asynccontextmanager
    async def start() -> AsyncIterator[RedisServer]:
        if not redis_available():
            if os.environ.get("TRIOAGENT_REQUIRE_REDIS") == "1":
                pytest.fail("redis-server is not installed (TRIOAGENT_REQUIRE_REDIS=1)")
            pytest.skip("redis-server is not installed (apt-get install redis-server)")
        directory = tmp_path / "redis"
        directory.mkdir()
        async with open_redis_server(directory) as server:
            yield server

    return start


@pytest.fixture
async def redis_server(start_redis: StartRedis) -> AsyncIterator[RedisServer]:
    """A real ``redis-server`` (see `start_redis`)."""
    async with start_redis() as server:
        yield server
