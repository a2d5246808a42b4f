"""The turn runner on its own: a real agent runtime against the fake upstream."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing

from trioagent.chat import Message, Sampling
from trioagent.config import AgentFile, parse_agent_file
from trioagent.runtime import AnswerDelta, RuntimePool, open_pool, open_team
from trioagent.server.metrics import Metrics
from trioagent.server.turn import TurnRequest, TurnRunner
from trioagent.testing import FakeOpenAI, text

YAML = """\
agents:
  root: {{model: upstream, instruction: Be brief.}}
models:
  upstream: {{provider: openai, model: m, base_url: {base_url}}}
"""


@pytest.fixture
async def pool(fake: FakeOpenAI, tmp_path: Path) -> AsyncIterator[RuntimePool]:
    file: AgentFile = parse_agent_file(YAML.format(base_url=fake.base_url), env={})
    async with (
        open_team(file, working_dir=tmp_path, env={}) as team,
        open_pool(team, max_idle=1) as pool,
    ):
        yield pool


def leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


async def test_a_reader_that_fails_stops_the_turn_as_cancelled_not_failed(
    pool: RuntimePool, fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    """The reader of a turn's events fails while the turn waits to hand it the next one
    (a client gone mid-answer): only the reader's error comes out, and the turn counts as
    cancelled. It must not fail on the closed channel, which the server would log as an
    internal error with a traceback."""
    fake.enqueue(text("hello"))
    metrics = Metrics()
    runner = TurnRunner(pool, None, timeout=30, metrics=metrics)
    request = TurnRequest(
        agent="root", messages=[Message.user("hi")], sampling=Sampling(), client_tools=[]
    )

    async def read_then_fail() -> None:
        async with runner.open_turn(request) as events:
            assert isinstance(await events.receive(), AnswerDelta)
            await trio.testing.wait_all_tasks_blocked()  # the turn waits to send more
            raise LookupError("the reader failed")

    with trio.fail_after(10), pytest.raises(BaseException) as caught:  # noqa: PT011
        await read_then_fail()
    assert [type(leaf) for leaf in leaves(caught.value)] == [LookupError]
    assert [
        record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR
    ] == []
    outcomes = {
        sample.labels["outcome"]: sample.value
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.name == "trioagent_turn_duration_seconds_count"
    }
    assert outcomes == {"cancelled": 1}
