"""The agent loop against the real OpenAI-compatible client and the fake upstream."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing

from trioagent.chat import Message, Sampling
from trioagent.config import AgentFile, parse_agent_file
from trioagent.runtime import (
    AnswerDelta,
    RuntimePool,
    Session,
    ToolFinished,
    ToolStarted,
    TurnFinished,
    UsageUpdate,
    open_pool,
    open_team,
    run_turn,
)
from trioagent.store import MemoryStore
from trioagent.testing import FakeOpenAI, text, tool_calls

YAML = """\
agents:
  root:
    model: upstream
    instruction: Root agent.
    max_iterations: 3
    sub_agents: [researcher]
    toolsets:
      - type: shell
      - type: think
      - type: todo
  researcher:
    model: upstream
    description: Finds things out.
    instruction: Research agent.
models:
  upstream:
    provider: openai
    model: gpt-test
    base_url: {base_url}
"""


@pytest.fixture
async def pool(fake: FakeOpenAI, tmp_path: Path) -> AsyncIterator[RuntimePool]:
    file: AgentFile = parse_agent_file(YAML.format(base_url=fake.base_url), env={})
    async with (
        open_team(file, working_dir=tmp_path, env={}) as team,
        open_pool(team, max_idle=2) as pool,
    ):
        yield pool


async def run(pool: RuntimePool, session: Session, **kwargs: object) -> list[object]:
    events: list[object] = []
    send, receive = trio.open_memory_channel[object](0)
    async with pool.borrow("root") as runtime, trio.open_nursery() as nursery:
        nursery.start_soon(lambda: run_turn(runtime, session, send, **kwargs))  # type: ignore[arg-type]
        async with receive:
            async for event in receive:
                events.append(event)
    return events


async def wait_for_file(path: Path) -> None:
    """Poll for a file another process writes (no event to wait on across processes)."""
    for _ in range(500):
        if path.exists() and path.read_text().strip():
            return
        await trio.sleep(0.01)
    raise AssertionError(f"{path} was never written")


def start(text_: str = "go") -> Session:
    return Session.from_messages([Message.user(text_)])


async def test_multi_step_tool_use(pool: RuntimePool, fake: FakeOpenAI) -> None:
    fake.enqueue(
        tool_calls([("c1", "shell", '{"cmd": "echo hello-from-shell"}')], usage=(10, 2)),
        tool_calls([("c2", "think", '{"thought": "it worked"}')], usage=(20, 2)),
        text("All done.", usage=(30, 3)),
    )
    session = start()
    with trio.fail_after(10):
        events = await run(pool, session)
    finished = events[-1]
    assert isinstance(finished, TurnFinished)
    assert finished.reason == "stop"
    assert finished.text == "All done."
    assert (finished.usage.prompt_tokens, finished.usage.completion_tokens) == (60, 7)
    assert [type(e) for e in events if isinstance(e, ToolStarted | ToolFinished)] == [
        ToolStarted,
        ToolFinished,
        ToolStarted,
        ToolFinished,
    ]
    shell_done = next(e for e in events if isinstance(e, ToolFinished))
    assert "hello-from-shell" in shell_done.result
    usage_updates = [e.usage.total_tokens for e in events if isinstance(e, UsageUpdate)]
    assert usage_updates == [12, 34, 67]
    roles = [m.role for m in session.messages]
    assert roles == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert session.usage.total_tokens == 67
    # Each model call carried the instruction and the growing history.
    assert fake.requests[2].json["messages"][0] == {"role": "system", "content": "Root agent."}
    assert len(fake.requests[2].json["messages"]) == 6


async def test_parallel_tool_calls_run_concurrently_and_results_keep_call_order(
    pool: RuntimePool, fake: FakeOpenAI, tmp_path: Path
) -> None:
    # Each command waits for the other's file: they can only finish if both run at once.
    a, b = tmp_path / "a", tmp_path / "b"
    fake.enqueue(
        tool_calls(
            [
                (
                    "slow",
                    "shell",
                    f'{{"cmd": "touch {a}; while [ ! -e {b} ]; do sleep 0.01; done; echo first"}}',
                ),
                (
                    "fast",
                    "shell",
                    f'{{"cmd": "touch {b}; while [ ! -e {a} ]; do sleep 0.01; done; echo second"}}',
                ),
            ]
        ),
        text("both ran"),
    )
    session = start()
    with trio.fail_after(10):
        events = await run(pool, session)
    assert isinstance(events[-1], TurnFinished)
    tool_messages = [m for m in session.messages if m.role == "tool"]
    assert [m.tool_call_id for m in tool_messages] == ["slow", "fast"]
    assert "first" in tool_messages[0].content
    assert "second" in tool_messages[1].content


async def test_max_iterations_stops_with_length(pool: RuntimePool, fake: FakeOpenAI) -> None:
    for i in range(3):
        fake.enqueue(tool_calls([(f"c{i}", "think", '{"thought": "more"}')]))
    session = start()
    with trio.fail_after(10):
        events = await run(pool, session)
    finished = events[-1]
    assert isinstance(finished, TurnFinished)
    assert finished.reason == "length"
    assert len(fake.requests) == 3


async def test_text_of_two_model_calls_is_joined_by_a_blank_line(
    pool: RuntimePool, fake: FakeOpenAI
) -> None:
    fake.enqueue(
        tool_calls([("c1", "think", '{"thought": "x"}')], content="First."), text("Second.")
    )
    with trio.fail_after(10):
        events = await run(pool, start())
    streamed = "".join(e.text for e in events if isinstance(e, AnswerDelta))
    assert streamed == "First.\n\nSecond."
    assert isinstance(events[-1], TurnFinished)
    assert events[-1].text == streamed


async def test_sampling_reaches_every_model_call(pool: RuntimePool, fake: FakeOpenAI) -> None:
    fake.enqueue(tool_calls([("c1", "think", '{"thought": "x"}')]), text("ok"))
    with trio.fail_after(10):
        await run(pool, start(), sampling=Sampling(temperature=0.1, seed=7))
    for request in fake.requests:
        assert request.json["temperature"] == 0.1
        assert request.json["seed"] == 7


async def test_transfer_task_runs_the_sub_agent_and_sums_its_usage(
    pool: RuntimePool, fake: FakeOpenAI
) -> None:
    fake.enqueue(
        tool_calls(
            [
                (
                    "t1",
                    "transfer_task",
                    '{"agent": "researcher", "task": "find x", "expected_output": "x"}',
                )
            ],
            usage=(10, 1),
        ),
        text("x is 42", usage=(5, 2)),  # the researcher's answer
        text("The answer is 42.", usage=(20, 3)),
    )
    session = start()
    with trio.fail_after(10):
        events = await run(pool, session)
    finished = events[-1]
    assert isinstance(finished, TurnFinished)
    assert finished.text == "The answer is 42."
    assert finished.usage.total_tokens == 41
    assert fake.requests[1].json["messages"][0] == {"role": "system", "content": "Research agent."}
    assert "x is 42" in session.messages[-2].content


async def test_cancellation_mid_tool_kills_it_and_leaves_the_stored_session_unchanged(
    pool: RuntimePool, fake: FakeOpenAI, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    store = MemoryStore(max_items=10, ttl=600)
    async with store.turn("c") as turn:
        turn.session.messages.append(Message.user("earlier"))
        turn.commit()
    fake.enqueue(tool_calls([("c1", "shell", f'{{"cmd": "echo $$ > {pid_file}; sleep 30"}}')]))
    with trio.fail_after(10):
        with trio.move_on_after(5) as scope:
            async with store.turn("c") as turn:
                turn.session.messages.append(Message.user("run something long"))
                send, receive = trio.open_memory_channel[object](0)
                async with pool.borrow("root") as runtime, trio.open_nursery() as nursery:
                    nursery.start_soon(
                        lambda: run_turn(runtime, turn.session, send)  # type: ignore[arg-type]
                    )
                    async for event in receive:
                        if isinstance(event, ToolStarted):
                            await wait_for_file(pid_file)
                            scope.cancel()
                turn.commit()  # never reached
    assert scope.cancelled_caught
    stored = await store.get("c")
    assert stored is not None
    assert [m.content for m in stored.messages] == ["earlier"]
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_todo_state_belongs_to_the_session(pool: RuntimePool, fake: FakeOpenAI) -> None:
    fake.enqueue(
        tool_calls([("c1", "create_todo", '{"description": "write tests"}')]),
        text("ok"),
        tool_calls([("c2", "list_todos", "{}")]),
        text("ok"),
    )
    first, second = start(), start()
    with trio.fail_after(10):
        await run(pool, first)
        await run(pool, second)
    assert "write tests" in str(first.tool_state)
    assert "write tests" not in str(second.tool_state)
    listed = next(m.content for m in second.messages if m.role == "tool")
    assert "write tests" not in listed


async def test_pool_keeps_at_most_max_idle_runtimes(pool: RuntimePool) -> None:
    release = trio.Event()
    borrowed: list[object] = []

    async def borrow() -> None:
        async with pool.borrow("root") as runtime:
            borrowed.append(runtime)
            await release.wait()

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for _ in range(5):
                nursery.start_soon(borrow)
            await trio.testing.wait_all_tasks_blocked()
            assert len({id(r) for r in borrowed}) == 5
            assert pool.idle_count("root") == 0
            release.set()
    assert pool.idle_count("root") == 2
    async with pool.borrow("root") as again:
        assert again in borrowed  # an idle runtime is reused
    assert pool.idle_count("root") == 2


async def test_a_failed_turn_does_not_return_its_runtime_to_the_pool(pool: RuntimePool) -> None:
    async def fail() -> None:
        async with pool.borrow("root"):
            raise RuntimeError("turn failed")

    with pytest.raises(RuntimeError):
        await fail()
    assert pool.idle_count("root") == 0


async def test_a_call_of_a_tool_nobody_offered_gets_an_error_result_and_the_loop_goes_on(
    pool: RuntimePool,
    fake: FakeOpenAI,
) -> None:
    from trioagent.chat import ToolSpec

    weather = ToolSpec("get_weather", "The weather in a city.")
    fake.enqueue(
        tool_calls([("c1", "search_web", '{"q": "x"}'), ("c2", "think", '{"thought": "t"}')]),
        text("Sorry, I cannot search the web."),
    )
    session = start()
    with trio.fail_after(10):
        events = await run(pool, session, client_tools=[weather])
    finished = events[-1]
    assert isinstance(finished, TurnFinished)
    assert (finished.reason, finished.client_tool_calls) == ("stop", ())
    assert finished.text == "Sorry, I cannot search the web."
    failed = next(e for e in events if isinstance(e, ToolFinished) and e.name == "search_web")
    assert failed.is_error
    results = {m.tool_call_id: m.content for m in session.messages if m.role == "tool"}
    assert results["c1"].startswith("unknown tool 'search_web'; the tools you can call are:")
    assert "get_weather" in results["c1"]  # the client's tools are callable too
    assert "shell" in results["c1"]
    # Every call of the assistant message has its result: the history stays valid.
    assert set(results) == {"c1", "c2"}
    assert fake.requests[1].json["messages"][-2]["tool_call_id"] == "c1"
