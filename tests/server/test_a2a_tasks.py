"""The task registry of ``serve a2a``: bounded, expiring, scoped to the API key."""

from __future__ import annotations

import trio
import trio.testing

from trioagent.server.a2a_tasks import TaskRegistry
from trioagent.wire import a2a


def task(task_id: str) -> a2a.Task:
    return a2a.Task(id=task_id, contextId="c", status=a2a.TaskStatus(state="TASK_STATE_SUBMITTED"))


async def test_finished_tasks_are_bounded_oldest_first() -> None:
    registry = TaskRegistry(max_finished=2, ttl=60)
    entries = [registry.open(None, task(f"t{i}"), trio.CancelScope()) for i in range(3)]
    for entry in entries:
        entry.complete("done")
    assert registry.find(None, "t0") is None
    assert [e.task.id for e in registry.entries(None)] == ["t1", "t2"]


async def test_running_tasks_stay_until_they_end(mock_clock: trio.testing.MockClock) -> None:
    registry = TaskRegistry(max_finished=0, ttl=1)
    entry = registry.open(None, task("t"), trio.CancelScope())
    mock_clock.jump(10)
    assert registry.find(None, "t") is entry
    entry.fail("it broke")
    assert entry.ended.is_set()
    assert registry.find(None, "t") is None  # max_finished 0 keeps none


async def test_finished_tasks_expire_after_the_ttl(mock_clock: trio.testing.MockClock) -> None:
    registry = TaskRegistry(max_finished=10, ttl=30)
    first = registry.open(None, task("old"), trio.CancelScope())
    first.cancel("stopped")
    mock_clock.jump(20)
    registry.open(None, task("new"), trio.CancelScope()).complete("done")
    mock_clock.jump(15)
    assert registry.find(None, "old") is None
    assert registry.find(None, "new") is not None


async def test_a_task_belongs_to_its_api_key() -> None:
    registry = TaskRegistry(max_finished=10, ttl=30)
    registry.open("key-a", task("t"), trio.CancelScope())
    assert registry.find("key-b", "t") is None
    assert registry.find(None, "t") is None
    assert registry.entries("key-b") == []
    assert registry.find("key-a", "t") is not None


async def test_a_streamed_answer_is_the_artifact_and_the_last_message() -> None:
    registry = TaskRegistry(max_finished=10, ttl=30)
    entry = registry.open(None, task("t"), trio.CancelScope())
    first, second = entry.append("Hel"), entry.append("lo")
    assert entry.snapshot().artifacts is not None  # GetTask sees the answer so far
    closing, completed = entry.complete("Hello")
    assert (first.append, second.append) == (None, True)
    assert isinstance(closing, a2a.TaskArtifactUpdateEvent)
    assert (closing.lastChunk, closing.artifact.parts) == (True, (a2a.Part(text=""),))
    assert isinstance(completed, a2a.TaskStatusUpdateEvent)
    assert completed.status.state == "TASK_STATE_COMPLETED"
    done = entry.snapshot()
    assert done.artifacts is not None
    assert done.artifacts[0].parts == (a2a.Part(text="Hello"),)
    assert done.history is not None
    assert done.history[-1].parts == (a2a.Part(text="Hello"),)
