"""``serve a2a``: the A2A protocol over JSON-RPC, 1.0 and 0.3, on the shared turn.

``GET /.well-known/agent-card.json`` describes the agents (one skill each) and where to
call them; ``POST /a2a`` takes one JSON-RPC request. A message starts a task: one turn of
the agent through the server's `TurnRunner`, under the request timeout, committed to its
conversation (the message's ``contextId``, kept in the store as ``X-Conversation-Id``
conversations are) only when it completes. ``SendMessage`` waits for the task to end and
answers with it; ``SendStreamingMessage`` streams it. The task registry keeps the tasks of
this process for ``GetTask``, ``ListTasks`` and ``CancelTask``. The 0.3 methods
(``message/send``, ``message/stream``, ``tasks/get``, ``tasks/cancel``) do the same with
0.3 shapes. Errors: see `trioagent.server.a2a_errors`.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any, Final

import attrs
import trio
from quart import Response, g, request
from werkzeug.exceptions import UnsupportedMediaType

from .. import wire
from ..chat import Sampling
from ..errors import ConversationBusy, RequestError
from ..runtime import TurnFinished
from ..wire import a2a, a2a_v03
from ..wire.a2a_checks import parse_params, parse_rpc_request, request_id_of
from ..wire.body import load_value
from .a2a_card import agent_card
from .a2a_errors import A2AError, rpc_error_response
from .a2a_stream import CANCELED, CLIENT_GONE, TaskBody, TaskEvents
from .a2a_tasks import TaskEntry, TaskRegistry, list_tasks
from .guards import AGENT_CARD_PATH, conversation_key
from .responses import json_response, sse_response
from .translate_a2a import (
    accepts_text,
    new_id,
    now,
    send_request_from_v03,
    task_v03,
    user_message_of,
    with_history,
)
from .turn import TurnRequest

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from quart_trio import QuartTrio

    from .errors import Problem
    from .state import ServerState

RPC_PATH: Final = "/a2a"
MEDIA_TYPES: Final = frozenset({"application/json", "application/a2a+json"})
VERSION_HEADER: Final = "A2A-Version"
_VERSION: Final = re.compile(r"(\d+)\.(\d+)(?:\.\d+)?")
CARD_MAX_AGE: Final = 300
"""Seconds a client may cache the card (it changes only with a restart)."""

PUSH: Final = frozenset(
    {
        "CreateTaskPushNotificationConfig",
        "GetTaskPushNotificationConfig",
        "ListTaskPushNotificationConfigs",
        "DeleteTaskPushNotificationConfig",
        "tasks/pushNotificationConfig/set",
        "tasks/pushNotificationConfig/get",
        "tasks/pushNotificationConfig/list",
        "tasks/pushNotificationConfig/delete",
    }
)
"""Methods of push notifications, which this server does not send."""
NO_PUSH: Final = "This agent sends no push notifications: stream the task, or poll it."
UNSUPPORTED: Final = {
    "SubscribeToTask": "Subscribing to a task is not supported: a task's events go to the "
    "SendStreamingMessage call that started it; poll GetTask to follow it from elsewhere.",
    "tasks/resubscribe": "Resubscribing is not supported: a task's events go to the "
    "message/stream call that started it; poll tasks/get to follow it from elsewhere.",
    "GetExtendedAgentCard": "This agent has no extended card: the public card is all.",
    "agent/getAuthenticatedExtendedCard": "This agent has no extended card: the public card "
    "is all.",
}
"""Methods of A2A that this server answers with UnsupportedOperationError, and why."""


def _result(call: a2a.RpcRequest, result: object) -> Response:
    return json_response(a2a.RpcResponse(id=call.id, result=result))


def _check_version() -> None:
    """Refuse an ``A2A-Version`` this server does not speak (none: any).

    The method names tell 1.0 from 0.3 apart, so a 0.3 client that sends no version and a
    1.0 client that sends ``1.0`` are both served.
    """
    given = request.headers.get(VERSION_HEADER) or request.args.get(VERSION_HEADER)
    if not given:
        return
    found = _VERSION.fullmatch(given.strip())
    major, minor = (int(found[1]), int(found[2])) if found else (-1, -1)
    if not (major == 1 or (major, minor) == (0, 3)):
        raise A2AError(
            "VERSION_NOT_SUPPORTED",
            f"A2A-Version {given!r} is not supported: this server speaks 1.0 and 0.3.",
            version=given,
        )


@attrs.define
class A2AMethods:
    """The JSON-RPC methods of ``serve a2a`` over one server's state and task registry."""

    state: ServerState
    registry: TaskRegistry

    def table(self) -> dict[str, Callable[[a2a.RpcRequest], Awaitable[Response]]]:
        return {
            "SendMessage": self.send_message,
            "SendStreamingMessage": self.send_streaming_message,
            "GetTask": self.get_task,
            "ListTasks": self.list_tasks,
            "CancelTask": self.cancel_task,
            "message/send": self.send_message,
            "message/stream": self.send_streaming_message,
            "tasks/get": self.get_task,
            "tasks/cancel": self.cancel_task,
        }

    async def call(self, call: a2a.RpcRequest) -> Response:
        """Answer one JSON-RPC request.

        Raises:
            A2AError, RequestError: for `rpc_error_response` to answer.
        """
        _check_version()
        method = self.table().get(call.method)
        if method is not None:
            return await method(call)
        if call.method in UNSUPPORTED:
            raise A2AError("UNSUPPORTED_OPERATION", UNSUPPORTED[call.method], method=call.method)
        if call.method in PUSH:
            raise A2AError("PUSH_NOTIFICATION_NOT_SUPPORTED", NO_PUSH, method=call.method)
        raise A2AError(
            "METHOD_NOT_FOUND",
            f"No method {call.method!r}: this server has {', '.join(self.table())}.",
            method=call.method,
        )

    # Messages.

    def _send_request(self, call: a2a.RpcRequest) -> a2a.SendMessageRequest:
        if _is_legacy(call):
            return send_request_from_v03(parse_params(call.params, a2a_v03.MessageSendParams))
        return parse_params(call.params, a2a.SendMessageRequest)

    async def send_message(self, call: a2a.RpcRequest) -> Response:
        """``SendMessage``, ``message/send``: run the task to its end, answer with it."""
        sent = self._send_request(call)
        task, turn = await self._plan(sent)
        entry = self.registry.open(g.key_scope, task, turn.stop)
        entry.working()
        outcome: TurnFinished | Problem | None = None
        try:
            outcome = await self.state.runner.run_to_end(turn)
        finally:
            if outcome is None:  # this request was cancelled: the client went away
                entry.cancel(CLIENT_GONE)
        if isinstance(outcome, TurnFinished):
            entry.complete(outcome.text)
        elif turn.stop.cancelled_caught:  # CancelTask
            entry.cancel(CANCELED)
        else:
            assert outcome is not None
            entry.fail(outcome.message)
        length = sent.configuration.historyLength if sent.configuration else None
        done = with_history(entry.snapshot(), length)
        if _is_legacy(call):
            return _result(call, task_v03(done))
        return _result(call, a2a.SendMessageResponse(task=done))

    async def send_streaming_message(self, call: a2a.RpcRequest) -> Response:
        """``SendStreamingMessage``, ``message/stream``: stream the task as it runs."""
        task, turn = await self._plan(self._send_request(call))
        events = TaskEvents(
            self.registry, g.key_scope, task, turn.stop, rpc_id=call.id, legacy=_is_legacy(call)
        )
        keep_alive = self.state.options.keep_alive_interval
        return sse_response(TaskBody(self.state.runner, turn, events, keep_alive=keep_alive))

    async def _plan(self, sent: a2a.SendMessageRequest) -> tuple[a2a.Task, TurnRequest]:
        """Decide everything that can fail before the task starts: its agent, its input,
        its conversation (busy: refused at once)."""
        configuration = sent.configuration
        if configuration is not None:
            if configuration.taskPushNotificationConfig is not None:
                raise A2AError("PUSH_NOTIFICATION_NOT_SUPPORTED", NO_PUSH)
            if configuration.returnImmediately:
                raise A2AError(
                    "UNSUPPORTED_OPERATION",
                    "A task runs within the request that sends its message: stream it "
                    "(SendStreamingMessage) to see it before it ends.",
                )
            if not accepts_text(configuration.acceptedOutputModes):
                raise A2AError(
                    "CONTENT_TYPE_NOT_SUPPORTED",
                    "The agent answers in text/plain, which acceptedOutputModes leaves out.",
                )
        agent = self._agent_of(sent)
        message = sent.message
        if message.taskId is not None:
            self._refuse_task_message(message)
        chat_message = user_message_of(message)
        context_id = message.contextId or new_id()
        key = None
        if self.state.store is not None:
            key = conversation_key(g.key_scope, context_id)
            if await self.state.store.is_taken(key):
                raise ConversationBusy(context_id, param="message.contextId")
        task_id = new_id()
        task = a2a.Task(
            id=task_id,
            contextId=context_id,
            status=a2a.TaskStatus(state="TASK_STATE_SUBMITTED", timestamp=now()),
            history=(attrs.evolve(message, contextId=context_id, taskId=task_id),),
        )
        turn = TurnRequest(
            agent=agent,
            messages=[chat_message],
            sampling=Sampling(),
            client_tools=[],
            conversation_id=key,
        )
        return task, turn

    def _agent_of(self, sent: a2a.SendMessageRequest) -> str:
        """The agent of the skill the request names in its metadata (or its message's),
        else the default one."""
        for where, metadata in (
            ("metadata", sent.metadata),
            ("message.metadata", sent.message.metadata),
        ):
            skill: Any = (metadata or {}).get("skill")
            if skill is None:
                continue
            if skill not in self.state.agents:
                raise RequestError(
                    f"Invalid value for '{where}.skill': no skill {skill!r}; the agent card "
                    f"lists {', '.join(self.state.agents)}.",
                    param=f"{where}.skill",
                )
            return str(skill)
        return self.state.default_agent

    def _refuse_task_message(self, message: a2a.Message) -> None:
        """A message to an existing task: every task here ends with its one answer, so a
        follow-up goes to the task's conversation instead."""
        task_id = message.taskId or ""
        entry = self._find(task_id)
        context_id = entry.task.contextId
        if message.contextId is not None and message.contextId != context_id:
            raise RequestError(
                f"Invalid value for 'message.contextId': task {task_id!r} belongs to context "
                f"{context_id!r}.",
                param="message.contextId",
            )
        state = entry.task.status.state.removeprefix("TASK_STATE_").lower()
        raise A2AError(
            "UNSUPPORTED_OPERATION",
            f"Task {task_id!r} is {state} and takes no more messages: send the next message "
            f"without a taskId, with contextId {context_id!r}, to go on with its conversation.",
            taskId=task_id,
        )

    # Tasks.

    def _find(self, task_id: str) -> TaskEntry:
        entry = self.registry.find(g.key_scope, task_id)
        if entry is None:
            raise A2AError(
                "TASK_NOT_FOUND",
                f"No task {task_id!r}: it never existed here, or it ended too long ago "
                "(finished tasks are kept per server process, see --tasks-max).",
                taskId=task_id,
            )
        return entry

    async def get_task(self, call: a2a.RpcRequest) -> Response:
        """``GetTask``, ``tasks/get``."""
        if _is_legacy(call):
            query: a2a.GetTaskRequest | a2a_v03.TaskQueryParams = parse_params(
                call.params, a2a_v03.TaskQueryParams
            )
        else:
            query = parse_params(call.params, a2a.GetTaskRequest)
        task = with_history(self._find(query.id).snapshot(), query.historyLength)
        return _result(call, task_v03(task) if _is_legacy(call) else task)

    async def list_tasks(self, call: a2a.RpcRequest) -> Response:
        """``ListTasks``: this API key's tasks, most recently updated first."""
        query = parse_params(call.params, a2a.ListTasksRequest)
        return _result(call, list_tasks(self.registry.entries(g.key_scope), query))

    async def cancel_task(self, call: a2a.RpcRequest) -> Response:
        """``CancelTask``, ``tasks/cancel``: stop a running task's turn, and answer with the
        task once the turn has ended (canceled, having saved nothing)."""
        if _is_legacy(call):
            task_id = parse_params(call.params, a2a_v03.TaskIdParams).id
        else:
            task_id = parse_params(call.params, a2a.CancelTaskRequest).id
        entry = self._find(task_id)
        canceled = False
        if not entry.is_terminal:
            entry.stop.cancel()
            # The turn stops at once; its stream may take until the turn's deadline.
            with trio.move_on_after(self.state.options.request_timeout):
                await entry.ended.wait()
            canceled = entry.task.status.state == "TASK_STATE_CANCELED"
        if entry.is_terminal and not canceled:  # ended before, or before the cancel took
            state = entry.task.status.state.removeprefix("TASK_STATE_").lower()
            raise A2AError(
                "TASK_NOT_CANCELABLE",
                f"Task {task_id!r} has ended ({state}): only a running task can be canceled.",
                taskId=task_id,
            )
        task = entry.snapshot()
        return _result(call, task_v03(task) if _is_legacy(call) else task)


def _is_legacy(call: a2a.RpcRequest) -> bool:
    """Whether the call is one of A2A 0.3's (``message/send``, ``tasks/get``, ...)."""
    return "/" in call.method


def register_a2a_routes(app: QuartTrio, state: ServerState) -> None:
    """Add the agent card and the A2A JSON-RPC endpoint for ``state``'s agents to ``app``."""
    options = state.options
    methods = A2AMethods(state, TaskRegistry(options.tasks_max, options.conversation_ttl))

    @app.get(AGENT_CARD_PATH)
    async def card() -> Response:
        # The card names the endpoint as this request reached the server (its Host).
        body = wire.dumps(agent_card(state, f"{request.scheme}://{request.host}{RPC_PATH}"))
        etag = hashlib.sha256(body).hexdigest()[:32]
        headers = {"Cache-Control": f"public, max-age={CARD_MAX_AGE}", "ETag": f'"{etag}"'}
        if request.if_none_match.contains(etag):
            return Response(b"", status=304, headers=headers)
        return Response(body, content_type="application/json", headers=headers)

    @app.post(RPC_PATH)
    async def rpc() -> Response:
        if request.mimetype not in MEDIA_TYPES:
            raise UnsupportedMediaType()
        data = await request.get_data(cache=False, as_text=False)
        assert isinstance(data, bytes)
        body: Any = None
        try:
            body = load_value(data)
            return await methods.call(parse_rpc_request(body))
        except Exception as exc:  # a failed call is a JSON-RPC error (HTTP 200)
            return rpc_error_response(request_id_of(body), exc)
