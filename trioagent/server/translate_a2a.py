"""A2A values <-> chat values, and A2A 1.0 <-> 0.3: the only place that knows both.

The server works on A2A 1.0 values (`trioagent.wire.a2a`); a 0.3 call's message is turned
into 1.0 when it arrives and its answers into 0.3 when they leave.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import attrs

from ..chat import Message as ChatMessage
from ..wire import a2a, a2a_v03
from .a2a_errors import A2AError

if TYPE_CHECKING:
    from collections.abc import Sequence

TEXT_MODES = frozenset({"text/plain", "text/*", "*/*"})
"""Accepted output modes that take the agent's answer (plain text)."""
ANSWER_ARTIFACT = "answer"
"""The id and name of the artifact that holds a task's answer."""
BASE64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")


def new_id() -> str:
    return str(uuid.uuid4())


def now() -> str:
    """The time as A2A writes it: ISO 8601 in UTC, to the millisecond."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def accepts_text(modes: Sequence[str] | None) -> bool:
    """Whether a client that accepts ``modes`` (none: anything) takes a text answer."""
    return not modes or any(mode.split(";")[0].strip().lower() in TEXT_MODES for mode in modes)


def _decoded(raw: str, where: str) -> bytes:
    # Protobuf JSON writes bytes in base64, standard or URL-safe, padded or not.
    if BASE64.fullmatch(raw):
        try:
            return base64.urlsafe_b64decode(raw.replace("+", "-").replace("/", "_") + "==")
        except (binascii.Error, ValueError):
            pass
    raise A2AError("INVALID_PARAMS", f"'{where}.raw' is not base64.", field=where)


def user_message_of(message: a2a.Message) -> ChatMessage:
    """A client's message as the agent reads it: text parts, then JSON data as text, joined
    by new lines; images (``image/*`` by URL or content) as the message's images; text
    files (``text/*`` content) as text.

    Raises:
        A2AError: ``CONTENT_TYPE_NOT_SUPPORTED`` for any other file; ``INVALID_PARAMS`` for
            content that is not base64 or not UTF-8 text.
    """
    texts: list[str] = []
    images: list[str] = []
    for i, part in enumerate(message.parts):
        where = f"message.parts[{i}]"
        media = (part.mediaType or "").split(";")[0].strip().lower()
        if part.text is not None:
            texts.append(part.text)
        elif part.data is not None:
            texts.append(json.dumps(part.data, ensure_ascii=False))
        elif media.startswith("image/") and part.url is not None:
            images.append(part.url)
        elif media.startswith("image/") and part.raw is not None:
            content = base64.b64encode(_decoded(part.raw, where)).decode()
            images.append(f"data:{media};base64,{content}")
        elif media.startswith("text/") and part.raw is not None:
            try:
                texts.append(_decoded(part.raw, where).decode("utf-8"))
            except UnicodeDecodeError:
                raise A2AError(
                    "INVALID_PARAMS", f"'{where}.raw' is not UTF-8 text.", field=where
                ) from None
        else:
            raise A2AError(
                "CONTENT_TYPE_NOT_SUPPORTED",
                f"'{where}' is a file of type {media or 'unknown'!r}: the agent reads text, "
                "JSON data, text files and images. Send the file's text instead.",
                field=where,
            )
    return ChatMessage("user", "\n".join(texts), images=tuple(images))


def agent_message(text: str, *, context_id: str, task_id: str) -> a2a.Message:
    """A message of the agent in a task (its answer, or why the task ended)."""
    return a2a.Message(
        messageId=new_id(),
        contextId=context_id,
        taskId=task_id,
        role="ROLE_AGENT",
        parts=(a2a.Part(text=text),),
    )


def answer_artifact(text: str) -> a2a.Artifact:
    return a2a.Artifact(
        artifactId=ANSWER_ARTIFACT, name=ANSWER_ARTIFACT, parts=(a2a.Part(text=text),)
    )


def with_history(task: a2a.Task, length: int | None) -> a2a.Task:
    """``task`` with at most the last ``length`` messages of its history (None: all)."""
    if length is None or task.history is None:
        return task
    return attrs.evolve(
        task, history=task.history[len(task.history) - length :] if length else None
    )


# A2A 0.3 -> 1.0 (what a 0.3 client sends).


def _part_from_v03(part: a2a_v03.Part) -> a2a.Part:
    match part:
        case a2a_v03.TextPart():
            return a2a.Part(text=part.text, metadata=part.metadata)
        case a2a_v03.DataPart():
            return a2a.Part(data=part.data, metadata=part.metadata)
        case a2a_v03.FilePart():
            file = part.file
            return a2a.Part(
                raw=file.bytes,
                url=file.uri,
                filename=file.name,
                mediaType=file.mimeType,
                metadata=part.metadata,
            )
    raise AssertionError(f"unhandled part {type(part).__name__}")


def message_from_v03(message: a2a_v03.Message) -> a2a.Message:
    return a2a.Message(
        messageId=message.messageId,
        contextId=message.contextId,
        taskId=message.taskId,
        role="ROLE_USER" if message.role == "user" else "ROLE_AGENT",
        parts=tuple(_part_from_v03(part) for part in message.parts),
        metadata=message.metadata,
        extensions=message.extensions,
        referenceTaskIds=message.referenceTaskIds,
    )


def send_request_from_v03(params: a2a_v03.MessageSendParams) -> a2a.SendMessageRequest:
    """The 1.0 request of a 0.3 ``message/send`` (``blocking: false`` is
    ``returnImmediately: true``)."""
    configuration = params.configuration
    return a2a.SendMessageRequest(
        message=message_from_v03(params.message),
        metadata=params.metadata,
        configuration=None
        if configuration is None
        else a2a.SendMessageConfiguration(
            acceptedOutputModes=configuration.acceptedOutputModes,
            taskPushNotificationConfig=configuration.pushNotificationConfig,
            historyLength=configuration.historyLength,
            returnImmediately=None
            if configuration.blocking is None
            else not configuration.blocking,
        ),
    )


# A2A 1.0 -> 0.3 (what a 0.3 client reads).


def _state_v03(state: a2a.TaskState) -> a2a_v03.TaskState:
    # TASK_STATE_INPUT_REQUIRED -> input-required: the one spelling rule of every state.
    return state.removeprefix("TASK_STATE_").lower().replace("_", "-")  # type: ignore[return-value]


def _part_v03(part: a2a.Part) -> a2a_v03.Part:
    if part.text is not None:
        return a2a_v03.TextPart(text=part.text, metadata=part.metadata)
    if part.raw is not None or part.url is not None:
        file = a2a_v03.FileContent(
            bytes=part.raw, uri=part.url, mimeType=part.mediaType, name=part.filename
        )
        return a2a_v03.FilePart(file=file, metadata=part.metadata)
    data = part.data if isinstance(part.data, dict) else {"value": part.data}
    return a2a_v03.DataPart(data=data, metadata=part.metadata)


def message_v03(message: a2a.Message) -> a2a_v03.Message:
    return a2a_v03.Message(
        messageId=message.messageId,
        role="user" if message.role == "ROLE_USER" else "agent",
        parts=tuple(_part_v03(part) for part in message.parts),
        contextId=message.contextId,
        taskId=message.taskId,
        metadata=message.metadata,
        extensions=message.extensions,
        referenceTaskIds=message.referenceTaskIds,
    )


def _status_v03(status: a2a.TaskStatus) -> a2a_v03.TaskStatus:
    return a2a_v03.TaskStatus(
        state=_state_v03(status.state),
        message=None if status.message is None else message_v03(status.message),
        timestamp=status.timestamp,
    )


def _artifact_v03(artifact: a2a.Artifact) -> a2a_v03.Artifact:
    return a2a_v03.Artifact(
        artifactId=artifact.artifactId,
        name=artifact.name,
        description=artifact.description,
        parts=tuple(_part_v03(part) for part in artifact.parts),
        metadata=artifact.metadata,
        extensions=artifact.extensions,
    )


def task_v03(task: a2a.Task) -> a2a_v03.Task:
    return a2a_v03.Task(
        id=task.id,
        contextId=task.contextId,
        status=_status_v03(task.status),
        artifacts=None if task.artifacts is None else tuple(map(_artifact_v03, task.artifacts)),
        history=None if task.history is None else tuple(map(message_v03, task.history)),
        metadata=task.metadata,
    )


def event_v03(event: a2a.StreamEvent) -> a2a_v03.StreamEvent:
    """A stream event as a 0.3 client reads it; a status update to a terminal state is the
    ``final`` one."""
    match event:
        case a2a.Task():
            return task_v03(event)
        case a2a.TaskStatusUpdateEvent():
            return a2a_v03.TaskStatusUpdateEvent(
                taskId=event.taskId,
                contextId=event.contextId,
                status=_status_v03(event.status),
                final=event.status.state in a2a.TERMINAL_STATES,
                metadata=event.metadata,
            )
        case a2a.TaskArtifactUpdateEvent():
            return a2a_v03.TaskArtifactUpdateEvent(
                taskId=event.taskId,
                contextId=event.contextId,
                artifact=_artifact_v03(event.artifact),
                append=event.append,
                lastChunk=event.lastChunk,
                metadata=event.metadata,
            )
    raise AssertionError(f"unhandled event {type(event).__name__}")


def event_v1(event: a2a.StreamEvent) -> a2a.StreamResponse:
    """A stream event as a 1.0 client reads it: wrapped, by kind."""
    match event:
        case a2a.Task():
            return a2a.StreamResponse(task=event)
        case a2a.TaskStatusUpdateEvent():
            return a2a.StreamResponse(statusUpdate=event)
        case a2a.TaskArtifactUpdateEvent():
            return a2a.StreamResponse(artifactUpdate=event)
    raise AssertionError(f"unhandled event {type(event).__name__}")
