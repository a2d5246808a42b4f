"""A task's turn as an A2A event stream (``SendStreamingMessage``, ``message/stream``).

Each SSE event is one JSON-RPC response carrying a stream event: the task (submitted), its
status (working), pieces of its answer artifact as the turn writes them, and a last status
update in a terminal state: completed, failed with the reason, or canceled. `TaskBody`
records the task in the registry when quart enters the body (so that a body never entered
leaves no running task behind) and, leaving it, marks a task that did not end as canceled:
the client went away (or the server shut down), and the turn, cancelled with the body,
committed nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from .. import wire
from ..runtime import AnswerDelta, TurnFinished
from ..wire import a2a
from .streaming import TurnBody, cut_short
from .translate_a2a import answer_artifact, event_v03, event_v1
from .turn import TurnCancelled, TurnFailed

if TYPE_CHECKING:
    from collections.abc import Callable

    import trio

    from .a2a_tasks import TaskEntry, TaskRegistry
    from .turn import TurnEvent, TurnRequest, TurnRunner

CANCELED = "The task was canceled; its turn stopped and nothing was saved."
CLIENT_GONE = (
    "The request that ran the task ended before the task did (the client went away, or the "
    "server shut down); its turn stopped and nothing was saved."
)


class TaskEvents:
    """Writes a task's events for one JSON-RPC call (an `EventEncoder`), and records each
    change in the task's registry entry."""

    def __init__(
        self,
        registry: TaskRegistry,
        scope: str | None,
        task: a2a.Task,
        stop: trio.CancelScope,
        *,
        rpc_id: str | int | None,
        legacy: bool,
    ) -> None:
        self._registry = registry
        self._scope = scope
        self._task = task
        self._stop = stop
        self._rpc_id = rpc_id
        self._legacy = legacy
        self._entry: TaskEntry | None = None
        self._more_text: Callable[[str], bytes] | None = None
        """Writes a later piece of the answer (`wire.text_events`), made at the second."""

    def open(self) -> None:
        """Record the task as running."""
        self._entry = self._registry.open(self._scope, self._task, self._stop)

    def close(self) -> None:
        """Mark the task canceled if it has not ended (its stream is gone)."""
        if self._entry is not None and not self._entry.is_terminal:
            self._entry.cancel(CLIENT_GONE)

    def _write(self, *events: a2a.StreamEvent) -> bytes:
        return b"".join(wire.encode_event(self._response(event)) for event in events)

    def _response(self, event: a2a.StreamEvent) -> a2a.RpcResponse:
        convert = event_v03 if self._legacy else event_v1
        return a2a.RpcResponse(id=self._rpc_id, result=convert(event))

    def _piece(self, update: a2a.TaskArtifactUpdateEvent, text: str) -> bytes:
        """A piece of the answer; the pieces after the first differ only in their text, so
        they are written from a template of one."""
        if not update.append:
            return self._write(update)
        if self._more_text is None:
            self._more_text = wire.text_events(
                lambda text: self._response(attrs.evolve(update, artifact=answer_artifact(text)))
            )
        return self._more_text(text)

    @property
    def entry(self) -> TaskEntry:
        assert self._entry is not None, "the task is recorded when the body is entered"
        return self._entry

    def first(self) -> bytes:
        return self._write(self.entry.snapshot(), self.entry.working())

    def event(self, event: TurnEvent) -> bytes | None:
        entry = self.entry
        if entry.is_terminal:
            return None
        match event:
            case AnswerDelta() if event.text:
                return self._piece(entry.append(event.text), event.text)
            case TurnFinished():
                return self._write(*entry.complete(event.text))
            case TurnFailed():
                return self._write(entry.fail(event.problem.message))
            case TurnCancelled():
                return self._write(entry.cancel(CANCELED))
        return None

    def end(self) -> bytes:
        if self.entry.is_terminal:  # a cancelled turn ends without a last event
            return b""
        return self._write(self.entry.fail(cut_short().message))


class TaskBody(TurnBody):
    """A task's stream as a quart response body (see the module docstring)."""

    def __init__(
        self,
        runner: TurnRunner,
        request: TurnRequest,
        events: TaskEvents,
        *,
        keep_alive: float,
    ) -> None:
        super().__init__(runner, request, events, keep_alive=keep_alive)
        self._task_events = events

    async def __aenter__(self) -> TaskBody:
        self._task_events.open()
        try:
            await super().__aenter__()
        except BaseException:
            self._task_events.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await super().__aexit__(*exc_info)
        finally:
            self._task_events.close()
