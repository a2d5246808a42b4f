"""The A2A protocol 1.0 over JSON-RPC 2.0, as plain attrs values (``serve a2a``).

A2A 1.0 writes its data model as protobuf JSON: camelCase keys, enums by their full names
(``TASK_STATE_COMPLETED``, ``ROLE_USER``), a part's content as one of ``text``, ``raw``,
``url`` or ``data`` with no discriminator, and each stream event wrapped in an object naming
its kind (``{"statusUpdate": {...}}``). Fields are named exactly as the JSON keys, as in the
other wire modules, so that a request problem names the field the client sent
(``message.parts[0].text``). The 0.3 shapes are in `trioagent.wire.a2a_v03`, the agent card
in `trioagent.wire.a2a_card`, the request rules in `trioagent.wire.a2a_checks`.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import attrs

JSONRPC_VERSION: Final = "2.0"

TaskState = Literal[
    "TASK_STATE_SUBMITTED",
    "TASK_STATE_WORKING",
    "TASK_STATE_COMPLETED",
    "TASK_STATE_FAILED",
    "TASK_STATE_CANCELED",
    "TASK_STATE_INPUT_REQUIRED",
    "TASK_STATE_REJECTED",
    "TASK_STATE_AUTH_REQUIRED",
]
"""Where a task is in its life (``TASK_STATE_UNSPECIFIED`` is never sent)."""
TERMINAL_STATES: Final[frozenset[TaskState]] = frozenset(
    {
        "TASK_STATE_COMPLETED",
        "TASK_STATE_FAILED",
        "TASK_STATE_CANCELED",
        "TASK_STATE_REJECTED",
    }
)
"""The states a task never leaves: it takes no more messages and cannot be canceled."""
TaskStateFilter = Literal[
    "TASK_STATE_UNSPECIFIED",
    "TASK_STATE_SUBMITTED",
    "TASK_STATE_WORKING",
    "TASK_STATE_COMPLETED",
    "TASK_STATE_FAILED",
    "TASK_STATE_CANCELED",
    "TASK_STATE_INPUT_REQUIRED",
    "TASK_STATE_REJECTED",
    "TASK_STATE_AUTH_REQUIRED",
]
"""A state to filter tasks by: any `TaskState`, or ``TASK_STATE_UNSPECIFIED`` for all."""
Role = Literal["ROLE_USER", "ROLE_AGENT"]


# JSON-RPC 2.0.


@attrs.frozen(kw_only=True)
class RpcRequest:
    """A JSON-RPC request; its ``params`` are read per method."""

    jsonrpc: str
    """Must be ``"2.0"``."""
    method: str
    id: str | int | None = None
    """Echoed in the response; a request without one is answered with ``null``."""
    params: Any = None
    """An object (by-name parameters); absent means ``{}``."""


@attrs.frozen(kw_only=True)
class RpcResponse:
    """A JSON-RPC success response (also each event of a stream)."""

    jsonrpc: Literal["2.0"] = "2.0"
    id: str | int | None
    """Required, so that it is written even when ``null``."""
    result: Any


@attrs.frozen(kw_only=True)
class RpcError:
    """A JSON-RPC error object."""

    code: int
    message: str
    data: tuple[dict[str, Any], ...] | None = None
    """A2A's error details: ``google.rpc.ErrorInfo`` (the reason) and, for invalid
    params, ``google.rpc.BadRequest`` (the field), each with its ``@type``."""


@attrs.frozen(kw_only=True)
class RpcErrorResponse:
    """A JSON-RPC error response."""

    jsonrpc: Literal["2.0"] = "2.0"
    id: str | int | None
    """The request's id, or ``null`` when it could not be read."""
    error: RpcError


# Messages, tasks, artifacts.


@attrs.frozen(kw_only=True)
class Part:
    """One piece of content: exactly one of ``text``, ``raw``, ``url`` and ``data``."""

    text: str | None = None
    raw: str | None = None
    """File content, base64-encoded."""
    url: str | None = None
    """Where the file's content is."""
    data: Any = None
    """Any JSON value."""
    metadata: dict[str, Any] | None = None
    filename: str | None = None
    mediaType: str | None = None
    """The content's media type, such as ``image/png``."""


@attrs.frozen(kw_only=True)
class Message:
    """One message from the client (``ROLE_USER``) or the agent (``ROLE_AGENT``)."""

    messageId: str
    contextId: str | None = None
    """The conversation it belongs to."""
    taskId: str | None = None
    role: Role
    parts: tuple[Part, ...]
    metadata: dict[str, Any] | None = None
    extensions: tuple[str, ...] | None = None
    referenceTaskIds: tuple[str, ...] | None = None


@attrs.frozen(kw_only=True)
class TaskStatus:
    """A task's state, with an optional message saying why, at a time."""

    state: TaskState
    message: Message | None = None
    timestamp: str | None = None
    """ISO 8601 in UTC, e.g. ``2026-12-07T17:30:00.000Z``."""


@attrs.frozen(kw_only=True)
class Artifact:
    """A task's output."""

    artifactId: str
    name: str | None = None
    description: str | None = None
    parts: tuple[Part, ...]
    metadata: dict[str, Any] | None = None
    extensions: tuple[str, ...] | None = None


@attrs.frozen(kw_only=True)
class Task:
    """One unit of work: here, one agent turn answering one message."""

    id: str
    contextId: str
    status: TaskStatus
    artifacts: tuple[Artifact, ...] | None = None
    history: tuple[Message, ...] | None = None
    metadata: dict[str, Any] | None = None


@attrs.frozen(kw_only=True)
class TaskStatusUpdateEvent:
    """A task changed state."""

    taskId: str
    contextId: str
    status: TaskStatus
    metadata: dict[str, Any] | None = None


@attrs.frozen(kw_only=True)
class TaskArtifactUpdateEvent:
    """A piece of a task's artifact: a new one, or more of one (``append``)."""

    taskId: str
    contextId: str
    artifact: Artifact
    append: bool | None = None
    lastChunk: bool | None = None
    metadata: dict[str, Any] | None = None


@attrs.frozen(kw_only=True)
class StreamResponse:
    """One event of a stream: exactly one of its fields is set."""

    task: Task | None = None
    message: Message | None = None
    statusUpdate: TaskStatusUpdateEvent | None = None
    artifactUpdate: TaskArtifactUpdateEvent | None = None


StreamEvent = Task | TaskStatusUpdateEvent | TaskArtifactUpdateEvent
"""What a task's stream carries (wrapped in a `StreamResponse` for 1.0 clients)."""


# Requests and responses of the methods.


@attrs.frozen(kw_only=True)
class SendMessageConfiguration:
    """How the client wants a message handled."""

    acceptedOutputModes: tuple[str, ...] | None = None
    """Media types the client takes; the agent answers ``text/plain``."""
    taskPushNotificationConfig: dict[str, Any] | None = None
    """Refused: this server sends no push notifications."""
    historyLength: int | None = None
    """At most this many messages of the task's history in the answer."""
    returnImmediately: bool | None = None
    """Refused when true: a task runs within its request (stream it instead)."""


@attrs.frozen(kw_only=True)
class SendMessageRequest:
    """The params of ``SendMessage`` and ``SendStreamingMessage``."""

    tenant: str | None = None
    message: Message
    configuration: SendMessageConfiguration | None = None
    metadata: dict[str, Any] | None = None
    """``{"skill": NAME}`` runs the agent of that skill (see the card) instead of the
    default one."""


@attrs.frozen(kw_only=True)
class SendMessageResponse:
    """The result of ``SendMessage``: the task (this server always makes one)."""

    task: Task | None = None
    message: Message | None = None


@attrs.frozen(kw_only=True)
class GetTaskRequest:
    """The params of ``GetTask``."""

    tenant: str | None = None
    id: str
    historyLength: int | None = None


@attrs.frozen(kw_only=True)
class CancelTaskRequest:
    """The params of ``CancelTask``."""

    tenant: str | None = None
    id: str
    metadata: dict[str, Any] | None = None


@attrs.frozen(kw_only=True)
class ListTasksRequest:
    """The params of ``ListTasks``: filters and a page."""

    tenant: str | None = None
    contextId: str | None = None
    status: TaskStateFilter | None = None
    """Only tasks in this state (``TASK_STATE_UNSPECIFIED``: any)."""
    pageSize: int | None = None
    """1 to 100; 50 when unset."""
    pageToken: str | None = None
    historyLength: int | None = None
    statusTimestampAfter: str | None = None
    """ISO 8601: only tasks whose status changed at or after it."""
    includeArtifacts: bool | None = None


@attrs.frozen(kw_only=True)
class ListTasksResponse:
    """The result of ``ListTasks``: one page, most recently updated first."""

    tasks: tuple[Task, ...]
    nextPageToken: str
    """Empty on the last page."""
    pageSize: int
    totalSize: int
