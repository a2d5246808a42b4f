"""Wire types <-> chat values: with `translate_responses` (the Responses API), the only
place that knows both. The Chat Completions API, ``/api/chat`` and the WebSocket chat
convert here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..chat import Message, Sampling, ToolCall, ToolChoice, ToolSpec
from ..wire import api as a
from ..wire import openai as w

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..chat import Usage
    from ..runtime.session import Session


def _text(content: str | Sequence[w.ContentPart] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.text for part in content if isinstance(part, w.TextPart))


def message_of(message: w.ChatMessage) -> Message:
    """One request message as a chat value (``developer`` counts as ``system``)."""
    match message:
        case w.SystemMessage() | w.DeveloperMessage():
            return Message.system(_text(message.content))
        case w.UserMessage():
            images: tuple[str, ...] = ()
            if not isinstance(message.content, str):
                images = tuple(
                    part.image_url.url for part in message.content if isinstance(part, w.ImagePart)
                )
            return Message("user", _text(message.content), images=images)
        case w.AssistantMessage():
            calls = tuple(
                ToolCall(call.id, call.function.name, call.function.arguments)
                for call in message.tool_calls or ()
            )
            return Message.assistant(_text(message.content), calls)
        case w.ToolMessage():
            return Message.tool(message.tool_call_id, _text(message.content))
    raise AssertionError(f"unhandled message type {type(message).__name__}")


def messages_of(request: w.ChatCompletionRequest) -> list[Message]:
    return [message_of(message) for message in request.messages]


def sampling_of(request: w.ChatCompletionRequest) -> Sampling:
    """The request's sampling settings; unset ones stay None (the agent's defaults apply)."""
    stop = request.stop
    return Sampling(
        temperature=request.temperature,
        top_p=request.top_p,
        max_tokens=request.max_completion_tokens or request.max_tokens,
        stop=(stop,) if isinstance(stop, str) else tuple(stop or ()),
        seed=request.seed,
        presence_penalty=request.presence_penalty,
        frequency_penalty=request.frequency_penalty,
        parallel_tool_calls=request.parallel_tool_calls,
        response_format=request.response_format,
        tool_choice=tool_choice_of(request.tool_choice),
    )


def tool_choice_of(choice: w.ToolChoice | None) -> ToolChoice | None:
    """A request's ``tool_choice`` for the model; ``"none"`` only hides the client's tools
    (see :func:`client_tools_of`), so the agent's own tools stay at the model's choice."""
    if choice is None or choice == "none":
        return None
    if isinstance(choice, w.NamedToolChoice):
        return ToolChoice("tool", choice.function.name)
    return ToolChoice(choice)


def client_tools_of(request: w.ChatCompletionRequest) -> list[ToolSpec]:
    """The tools the client runs itself; none when ``tool_choice`` is ``"none"``."""
    if request.tool_choice == "none":
        return []
    return [
        ToolSpec(
            tool.function.name,
            tool.function.description or "",
            tool.function.parameters or {"type": "object", "properties": {}},
        )
        for tool in request.tools or ()
    ]


def new_messages(messages: Sequence[Message]) -> list[Message]:
    """The turn's input: the messages after the last assistant message."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "assistant":
            return list(messages[index + 1 :])
    return list(messages)


def extend_conversation(session: Session, messages: Sequence[Message]) -> None:
    """Add a request's messages to a stored conversation (an ``X-Conversation-Id`` hit).

    Clients that resend the whole history and clients that send only the new message both
    work: only the trailing messages after the last assistant message are new. A system
    message the conversation already has is not added twice.
    """
    known_system = {m.content for m in session.messages if m.role == "system"}
    session.messages.extend(
        message
        for message in new_messages(messages)
        if not (message.role == "system" and message.content in known_system)
    )


def tool_call_deltas(calls: Sequence[ToolCall]) -> list[w.DeltaToolCall]:
    """Client tool calls as stream deltas, one entry per call, as OpenAI sends them: the
    only entry for an index carries id, type, name and the arguments (clients such as
    instructor read ``tool_calls[0]`` of a chunk, so one index never appears twice)."""
    return [
        w.DeltaToolCall(
            index=index,
            id=call.id,
            type="function",
            function=w.DeltaFunction(name=call.name, arguments=call.arguments),
        )
        for index, call in enumerate(calls)
    ]


def response_tool_calls(calls: Sequence[ToolCall]) -> tuple[w.ResponseToolCall, ...] | None:
    if not calls:
        return None
    return tuple(
        w.ResponseToolCall(
            id=call.id, function=w.FunctionCall(name=call.name, arguments=call.arguments)
        )
        for call in calls
    )


def add_input(session: Session, messages: Sequence[Message]) -> None:
    """Add a turn's input to the conversation it continues (a ``previous_response_id``):
    every message is new, but a system message the conversation already has (the same
    ``instructions`` sent again) is not added twice."""
    known_system = {m.content for m in session.messages if m.role == "system"}
    session.messages.extend(
        message
        for message in messages
        if not (message.role == "system" and message.content in known_system)
    )


def usage_of(usage: Usage) -> w.CompletionUsage:
    """Token counts as every API but the Responses API writes them."""
    return w.CompletionUsage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
    )


def history_of(session_id: str, session: Session) -> a.SessionHistory:
    """A stored session as ``GET /api/sessions/{id}`` (and the WebSocket chat) shows it."""
    return a.SessionHistory(
        session_id=session_id,
        messages=tuple(
            a.HistoryMessage(
                role=message.role,
                content=message.content,
                tool_calls=tuple(
                    a.HistoryToolCall(id=call.id, name=call.name, arguments=call.arguments)
                    for call in message.tool_calls
                )
                or None,
                tool_call_id=message.tool_call_id,
            )
            for message in session.messages
        ),
        usage=usage_of(session.usage),
    )
