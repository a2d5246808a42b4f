"""The A2A protocol 0.3 shapes, as 0.3 clients (docker-agent's a2a-go, for one) send and read
them on the JSON-RPC methods ``message/send``, ``message/stream``, ``tasks/get`` and
``tasks/cancel``.

Unlike 1.0 (`trioagent.wire.a2a`), 0.3 tells objects apart by a ``kind`` field (``task``,
``message``, ``status-update``, ``artifact-update``; parts: ``text``, ``file``, ``data``),
writes states and roles in lower case (``completed``, ``input-required``, ``agent``), and
marks the last event of a stream with ``final``. The server works on 1.0 values and
converts at the edge (`trioagent.server.translate_a2a`).
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

TaskState = Literal[
    "submitted",
    "working",
    "input-required",
    "completed",
    "canceled",
    "failed",
    "rejected",
    "auth-required",
    "unknown",
]


@attrs.frozen(kw_only=True)
class TextPart:
    """Text."""

    kind: Literal["text"] = "text"
    text: str
    metadata: dict[str, Any] | None = None


@attrs.frozen(kw_only=True)
class FileContent:
    """A file: its content (base64 ``bytes``) or where it is (``uri``)."""

    bytes: str | None = None
    uri: str | None = None
    mimeType: str | None = None
    name: str | None = None


@attrs.frozen(kw_only=True)
class FilePart:
    """A file, by content or by URI."""

    kind: Literal["file"] = "file"
    file: FileContent
    metadata: dict[str, Any] | None = None


@attrs.frozen(kw_only=True)
class DataPart:
    """A JSON object."""

    kind: Literal["data"] = "data"
    data: dict[str, Any]
    metadata: dict[str, Any] | None = None


Part = TextPart | FilePart | DataPart
"""A part, tagged on ``kind``."""


@attrs.frozen(kw_only=True)
class Message:
    """One message from the client (``user``) or the agent (``agent``)."""

    kind: Literal["message"] = "message"
    messageId: str
    role: Literal["user", "agent"]
    parts: tuple[Part, ...]
    contextId: str | None = None
    taskId: str | None = None
    metadata: dict[str, Any] | None = None
    extensions: tuple[str, ...] | None = None
    referenceTaskIds: tuple[str, ...] | None = None


@attrs.frozen(kw_only=True)
class TaskStatus:
    """A task's state, with an optional message saying why, at a time."""

    state: TaskState
    message: Message | None = None
    timestamp: str | None = None


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
    """One unit of work (here, one agent turn answering one message)."""

    kind: Literal["task"] = "task"
    id: str
    contextId: str
    status: TaskStatus
    artifacts: tuple[Artifact, ...] | None = None
    history: tuple[Message, ...] | None = None
    metadata: dict[str, Any] | None = None


@attrs.frozen(kw_only=True)
class TaskStatusUpdateEvent:
    """A task changed state."""

    kind: Literal["status-update"] = "status-update"
    taskId: str
    contextId: str
    status: TaskStatus
    final: bool
    """True on the last event of the stream."""
    metadata: dict[str, Any] | None = None


@attrs.frozen(kw_only=True)
class TaskArtifactUpdateEvent:
    """A piece of a task's artifact: a new one, or more of one (``append``)."""

    kind: Literal["artifact-update"] = "artifact-update"
    taskId: str
    contextId: str
    artifact: Artifact
    append: bool | None = None
    lastChunk: bool | None = None
    metadata: dict[str, Any] | None = None


StreamEvent = Task | TaskStatusUpdateEvent | TaskArtifactUpdateEvent
"""What a 0.3 task's stream carries, unwrapped."""


@attrs.frozen(kw_only=True)
class MessageSendConfiguration:
    """How the client wants a message handled."""

    acceptedOutputModes: tuple[str, ...] | None = None
    blocking: bool | None = None
    """False asks for an answer before the task ends: refused, as 1.0's
    ``returnImmediately``."""
    historyLength: int | None = None
    pushNotificationConfig: dict[str, Any] | None = None


@attrs.frozen(kw_only=True)
class MessageSendParams:
    """The params of ``message/send`` and ``message/stream``."""

    message: Message
    configuration: MessageSendConfiguration | None = None
    metadata: dict[str, Any] | None = None


@attrs.frozen(kw_only=True)
class TaskQueryParams:
    """The params of ``tasks/get``."""

    id: str
    historyLength: int | None = None
    metadata: dict[str, Any] | None = None


@attrs.frozen(kw_only=True)
class TaskIdParams:
    """The params of ``tasks/cancel``."""

    id: str
    metadata: dict[str, Any] | None = None
