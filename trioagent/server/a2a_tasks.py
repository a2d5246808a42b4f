"""The tasks of ``serve a2a``: running ones (to cancel them), finished ones (to get and list
them), in this process's memory.

A task is one agent turn answering one message, and it lives as long as the request that
runs it: the stream of ``SendStreamingMessage``, or the wait of ``SendMessage``. While it
runs, its entry holds the turn's `TurnRequest.stop` scope, which ``CancelTask`` cancels.
When it ends (completed, failed, canceled), the entry moves to the finished tasks: at most
``max_finished`` of them, each forgotten ``ttl`` seconds after it ended. Every task belongs
to the API key that made it; another key neither sees nor cancels it. The conversations the
tasks continue (their ``contextId``) live in the server's store, not here.
"""

from __future__ import annotations

import base64
import binascii
import collections
import json
from typing import TYPE_CHECKING, Final

import attrs
import trio

from ..errors import RequestError
from ..wire import a2a
from ..wire.a2a_checks import parse_timestamp
from .guards import conversation_key
from .translate_a2a import agent_message, answer_artifact, now, with_history

if TYPE_CHECKING:
    from datetime import datetime

PAGE_SIZE: Final = 50
"""The tasks of a ``ListTasks`` page that names no ``pageSize``."""


@attrs.define(eq=False)
class TaskEntry:
    """One task: its latest state, its answer so far, and how to stop it."""

    key: str
    """Its registry key: the task id, scoped to the caller's API key."""
    task: a2a.Task
    """Its latest state (without the answer while it is still being streamed)."""
    stop: trio.CancelScope
    """The turn's stop scope (`TurnRequest.stop`)."""
    registry: TaskRegistry
    ended: trio.Event = attrs.Factory(trio.Event)
    """Set once the task reached a terminal state."""
    ended_at: float = 0.0
    _pieces: list[str] = attrs.Factory(list)

    @property
    def is_terminal(self) -> bool:
        return self.task.status.state in a2a.TERMINAL_STATES

    def snapshot(self) -> a2a.Task:
        """The task as a client sees it now, with the answer streamed so far."""
        if not self._pieces or self.task.artifacts is not None:
            return self.task
        return attrs.evolve(self.task, artifacts=(answer_artifact("".join(self._pieces)),))

    def working(self) -> a2a.TaskStatusUpdateEvent:
        """The turn started."""
        return self._status("TASK_STATE_WORKING")

    def append(self, text: str) -> a2a.TaskArtifactUpdateEvent:
        """A piece of the answer arrived."""
        first = not self._pieces
        self._pieces.append(text)
        return self._artifact_update(text, append=not first, last=False)

    def complete(self, text: str) -> list[a2a.StreamEvent]:
        """The turn answered ``text`` (and its conversation is committed)."""
        if self.is_terminal:
            return [self._status("TASK_STATE_COMPLETED")]
        # The answer's last piece, or all of it when nothing was streamed.
        streamed = bool(self._pieces)
        closing = self._artifact_update("" if streamed else text, append=streamed, last=True)
        answer = agent_message(text, context_id=self.task.contextId, task_id=self.task.id)
        self.task = attrs.evolve(
            self.task,
            artifacts=(answer_artifact(text),),
            history=(*(self.task.history or ()), answer),
        )
        return [closing, self._status("TASK_STATE_COMPLETED")]

    def fail(self, reason: str) -> a2a.TaskStatusUpdateEvent:
        """The turn failed; nothing was committed."""
        return self._status("TASK_STATE_FAILED", reason)

    def cancel(self, reason: str) -> a2a.TaskStatusUpdateEvent:
        """The turn was stopped before it ended; nothing was committed."""
        return self._status("TASK_STATE_CANCELED", reason)

    def _artifact_update(
        self, text: str, *, append: bool, last: bool
    ) -> a2a.TaskArtifactUpdateEvent:
        return a2a.TaskArtifactUpdateEvent(
            taskId=self.task.id,
            contextId=self.task.contextId,
            artifact=answer_artifact(text),
            append=append or None,
            lastChunk=last or None,
        )

    def _status(self, state: a2a.TaskState, reason: str | None = None) -> a2a.TaskStatusUpdateEvent:
        task = self.task
        if self.is_terminal:  # a task never leaves a terminal state
            return a2a.TaskStatusUpdateEvent(
                taskId=task.id, contextId=task.contextId, status=task.status
            )
        message = (
            agent_message(reason, context_id=task.contextId, task_id=task.id) if reason else None
        )
        status = a2a.TaskStatus(state=state, message=message, timestamp=now())
        if state in a2a.TERMINAL_STATES:
            task = self.snapshot()  # the answer streamed so far becomes its artifact
        self.task = attrs.evolve(task, status=status)
        if self.is_terminal:
            self.registry.retire(self)
        return a2a.TaskStatusUpdateEvent(taskId=task.id, contextId=task.contextId, status=status)


@attrs.define
class TaskRegistry:
    """The tasks of one server process (see the module docstring)."""

    max_finished: int
    """Finished tasks kept; 0 keeps none (a task is found only while it runs)."""
    ttl: float
    """Seconds a finished task is kept."""
    _running: dict[str, TaskEntry] = attrs.Factory(dict)
    _finished: collections.OrderedDict[str, TaskEntry] = attrs.Factory(collections.OrderedDict)

    def open(self, scope: str | None, task: a2a.Task, stop: trio.CancelScope) -> TaskEntry:
        """Record ``task`` as running for the API key ``scope``, stopped by ``stop``."""
        entry = TaskEntry(conversation_key(scope, task.id), task, stop, self)
        self._running[entry.key] = entry
        return entry

    def retire(self, entry: TaskEntry) -> None:
        """Move an entry that reached a terminal state to the finished tasks."""
        if self._running.pop(entry.key, None) is None:
            return
        entry.ended_at = trio.current_time()
        if self.max_finished:
            self._finished[entry.key] = entry
            while len(self._finished) > self.max_finished:
                self._finished.popitem(last=False)
        entry.ended.set()

    def find(self, scope: str | None, task_id: str) -> TaskEntry | None:
        """The task ``task_id`` of the API key ``scope``, running or finished."""
        self._expire()
        key = conversation_key(scope, task_id)
        return self._running.get(key) or self._finished.get(key)

    def entries(self, scope: str | None) -> list[TaskEntry]:
        """Every task of the API key ``scope``."""
        self._expire()
        prefix = conversation_key(scope, "")
        return [
            entry
            for entry in (*self._running.values(), *self._finished.values())
            if entry.key.startswith(prefix)
        ]

    def _expire(self) -> None:
        oldest = trio.current_time() - self.ttl
        while self._finished and next(iter(self._finished.values())).ended_at < oldest:
            self._finished.popitem(last=False)


def _cursor(task: a2a.Task) -> tuple[str, str]:
    return (task.status.timestamp or "", task.id)


def _page_token(task: a2a.Task) -> str:
    return base64.urlsafe_b64encode(json.dumps(_cursor(task)).encode()).decode()


def _after_token(token: str) -> tuple[str, str]:
    try:
        time, task_id = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error, TypeError):
        raise RequestError(
            "Invalid value for 'pageToken': expected a nextPageToken of an earlier ListTasks.",
            param="pageToken",
        ) from None
    return str(time), str(task_id)


def list_tasks(entries: list[TaskEntry], request: a2a.ListTasksRequest) -> a2a.ListTasksResponse:
    """One page of ``entries``' tasks as ``request`` filters them, most recently updated
    first (ties by id).

    Raises:
        RequestError: the page token is not one this server gave.
    """
    after: datetime | None = None
    if request.statusTimestampAfter is not None:
        after = parse_timestamp(request.statusTimestampAfter, "statusTimestampAfter")
    tasks = []
    for entry in entries:
        task = entry.snapshot()
        if request.contextId is not None and task.contextId != request.contextId:
            continue
        if request.status not in (None, "TASK_STATE_UNSPECIFIED", task.status.state):
            continue
        if after is not None and (
            task.status.timestamp is None
            or parse_timestamp(task.status.timestamp, "status.timestamp") < after
        ):
            continue
        tasks.append(task)
    tasks.sort(key=lambda task: task.id)
    tasks.sort(key=lambda task: task.status.timestamp or "", reverse=True)
    total = len(tasks)
    if request.pageToken:
        time, task_id = _after_token(request.pageToken)
        tasks = [
            task
            for task in tasks
            if (task.status.timestamp or "") < time
            or ((task.status.timestamp or "") == time and task.id > task_id)
        ]
    size = request.pageSize or PAGE_SIZE
    page = tasks[:size]
    if not request.includeArtifacts:
        page = [attrs.evolve(task, artifacts=None) for task in page]
    page = [with_history(task, request.historyLength) for task in page]
    return a2a.ListTasksResponse(
        tasks=tuple(page),
        nextPageToken=_page_token(page[-1]) if len(tasks) > size else "",
        pageSize=size,
        totalSize=total,
    )
