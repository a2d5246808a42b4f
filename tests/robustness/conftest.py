"""Fixtures of the robustness tests.

``threaded_servers`` runs a fake upstream, a ``serve chat`` and a ``serve api`` server in a
background thread with its own ``trio.run``, for synchronous clients (schemathesis) that
cannot live inside a trio test.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import attrs
import pytest
import trio

from trioagent.config import parse_agent_file
from trioagent.server.app import serve_agents
from trioagent.server.options import ServeOptions
from trioagent.testing import open_fake_openai, text

SIMPLE_AGENTS_YAML = """\
agents:
  root:
    model: upstream
    instruction: You are a helpful test agent.
    toolsets:
      - type: think
  helper:
    model: upstream
    instruction: You help.
models:
  upstream:
    provider: openai
    model: gpt-test
    base_url: {base_url}
"""
"""Two agents on the fake upstream, with no tool that touches the machine."""
SIMPLE_AGENTS = ("root", "helper")
"""The agents of `SIMPLE_AGENTS_YAML`, in file order."""


@attrs.frozen
class ThreadedServers:
    """Base URLs (``http://127.0.0.1:PORT``) of the servers of `threaded_servers`."""

    chat_url: str
    api_url: str


@pytest.fixture(scope="module")
def threaded_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServers]:
    """A fake upstream that always answers ``ok``, with ``serve chat`` (conversation cache
    on) and ``serve api`` (sessions in memory) in front of it, served from a thread.

    Teardown sets the servers' shutdown trigger from this thread and joins the thread; an
    error inside it fails the test that owns the fixture.
    """
    working_dir = tmp_path_factory.mktemp("threaded-servers")
    started: queue.Queue[tuple[trio.lowlevel.TrioToken, trio.Event, str, str] | BaseException]
    started = queue.Queue()
    failure: list[BaseException] = []

    async def serve_both(working_dir: Path) -> None:
        stop = trio.Event()
        async with open_fake_openai() as fake:
            fake.record = False  # thousands of requests: keep none
            fake.default = text("ok")
            file = parse_agent_file(
                SIMPLE_AGENTS_YAML.format(base_url=fake.base_url), source="agent.yaml", env={}
            )
            options = ServeOptions(
                host="127.0.0.1",
                port=0,
                working_dir=working_dir,
                sessions=":memory:",
                conversations_max=16,
                shutdown_grace=1,
            )
            async with trio.open_nursery() as nursery:
                urls = [
                    await nursery.start(
                        partial(
                            serve_agents, file, options, api, env={}, shutdown_trigger=stop.wait
                        )
                    )
                    for api in ("chat", "api")
                ]
                started.put((trio.lowlevel.current_trio_token(), stop, *urls))

    def run() -> None:
        try:
            trio.run(serve_both, working_dir)
        except BaseException as exc:  # reported to the test thread
            failure.append(exc)
            started.put(exc)

    thread = threading.Thread(target=run, name="threaded-servers", daemon=True)
    thread.start()
    ready = started.get(timeout=60)
    if isinstance(ready, BaseException):
        thread.join(timeout=10)
        raise ready
    token, stop, chat_url, api_url = ready
    try:
        yield ThreadedServers(chat_url=chat_url, api_url=api_url)
    finally:
        token.run_sync_soon(stop.set)
        thread.join(timeout=30)
        assert not thread.is_alive(), "the servers did not stop"
    if failure:
        raise failure[0]
