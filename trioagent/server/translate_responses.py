"""Responses API wire types <-> chat values, and the response objects a turn makes.

Input items become chat messages (``instructions`` are not one: they go with the turn,
and are never stored, so a continuation sees only its own): ``function_call`` items the
tool calls of an assistant message, ``function_call_output`` items tool
messages; ``reasoning`` items are skipped. A finished turn becomes its output items: one
``message`` with all of the turn's text, then one ``function_call`` per client tool call.
Item ids derive from the response id, so the stream and the stored response agree.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any, Final, Literal

from .. import wire
from ..chat import Message, Sampling, ToolCall, ToolChoice, ToolSpec
from ..errors import RequestError
from ..wire import responses as r

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..chat import Usage
    from ..runtime import TurnFinished

RECORD_KEY: Final = "trioagent.response"
"""Where a stored response keeps its object and input items, in ``session.tool_state``."""

IGNORED_TOOL_TYPES: Final = frozenset({"web_search", "web_search_preview", "namespace"})
"""Tools some clients offer on every request that the agent does not pass on to its model,
so that the request still runs: hosted tools, which the agent cannot run (Codex offers
``web_search``), and ``namespace`` groups of function tools (Codex puts its sub-agent tools
in one)."""


def new_response_id() -> str:
    return f"resp_{secrets.token_hex(24)}"


def message_item_id(response_id: str) -> str:
    """The id of a response's ``message`` output item."""
    return f"msg_{response_id.removeprefix('resp_')}"


def call_item_id(response_id: str, index: int) -> str:
    """The id of a response's ``function_call`` output item number ``index``."""
    return f"fc_{response_id.removeprefix('resp_')}_{index}"


def _text(content: str | Sequence[r.InputPart]) -> str:
    if isinstance(content, str):
        return content
    pieces = []
    for part in content:
        if isinstance(part, r.InputText | r.OutputText):
            pieces.append(part.text)
        elif isinstance(part, r.Refusal):
            pieces.append(part.refusal)
    return "".join(pieces)


def _images(content: str | Sequence[r.InputPart]) -> tuple[str, ...]:
    if isinstance(content, str):
        return ()
    return tuple(p.image_url for p in content if isinstance(p, r.InputImage) and p.image_url)


def messages_of(request: r.ResponseCreateRequest) -> list[Message]:
    """The turn's input items as chat messages.

    Raises:
        RequestError: a ``function_call_output`` answers no call of the input or of the
            conversation it continues is not checked here; an item without any text
            where one is needed is refused.
    """
    messages: list[Message] = []
    if isinstance(request.input, str):
        messages.append(Message.user(request.input))
        return messages
    for item in request.input:
        match item:
            case r.MessageItem(role="system" | "developer"):
                messages.append(Message.system(_text(item.content)))
            case r.MessageItem(role="user"):
                messages.append(Message("user", _text(item.content), images=_images(item.content)))
            case r.MessageItem(role="assistant"):
                messages.append(Message.assistant(_text(item.content)))
            case r.FunctionCallItem():
                call = ToolCall(item.call_id, item.name, item.arguments)
                last = messages[-1] if messages else None
                if last is not None and last.role == "assistant":
                    messages[-1] = Message.assistant(last.content, (*last.tool_calls, call))
                else:
                    messages.append(Message.assistant("", (call,)))
            case r.FunctionCallOutputItem():
                messages.append(Message.tool(item.call_id, _text(item.output)))
    return messages


def response_of_item(item_id: str) -> str | None:
    """The id of the response whose output item ``item_id`` is (see `message_item_id`,
    `call_item_id`), or None if it is not one of ours."""
    prefix, _, rest = item_id.partition("_")
    if prefix == "msg" and rest:
        return f"resp_{rest}"
    if prefix == "fc" and "_" in rest:
        return f"resp_{rest.rpartition('_')[0]}"
    return None


def input_item_of(output: dict[str, Any]) -> r.InputItem:
    """A stored output item (its JSON), as the input item it stands for."""
    if output.get("type") == "function_call":
        return r.FunctionCallItem(
            call_id=output["call_id"],
            name=output["name"],
            arguments=output["arguments"],
            id=output.get("id"),
        )
    text = "".join(part.get("text", "") for part in output.get("content", ()))
    return r.MessageItem(role="assistant", content=(r.OutputText(text=text),), id=output.get("id"))


def client_tools_of(request: r.ResponseCreateRequest) -> list[ToolSpec]:
    """The function tools the client runs itself; none when ``tool_choice`` is ``"none"``.

    Raises:
        RequestError: a tool of a type the agent cannot honour (``param`` names it).
    """
    specs: list[ToolSpec] = []
    for i, tool in enumerate(request.tools or ()):
        kind = tool["type"]  # wire.checks made sure of the fields read here
        if kind in IGNORED_TOOL_TYPES:
            continue
        if kind != "function":
            raise RequestError(
                f"Tools of type {kind!r} are not supported: an agent runs its own tools, "
                "and takes client tools of type 'function' only.",
                param=f"tools[{i}].type",
            )
        parameters = tool.get("parameters") or {"type": "object", "properties": {}}
        specs.append(ToolSpec(tool["name"], tool.get("description") or "", parameters))
    return [] if request.tool_choice == "none" else specs


def sampling_of(request: r.ResponseCreateRequest) -> Sampling:
    """The request's sampling settings; unset ones stay None (the agent's defaults apply)."""
    choice = request.tool_choice
    tool_choice = None
    if isinstance(choice, r.NamedFunctionChoice):
        tool_choice = ToolChoice("tool", choice.name)
    elif choice in ("auto", "required"):
        tool_choice = ToolChoice(choice)
    return Sampling(
        temperature=request.temperature,
        top_p=request.top_p,
        max_tokens=request.max_output_tokens,
        parallel_tool_calls=request.parallel_tool_calls,
        response_format=_response_format(request.text),
        tool_choice=tool_choice,
    )


def _response_format(text: r.TextConfig | None) -> dict[str, Any] | None:
    """``text.format`` in the Chat Completions shape the model clients send upstream."""
    shape = text.format if text else None
    if shape is None or shape.type == "text":
        return None
    if shape.type == "json_object":
        return {"type": "json_object"}
    if shape.schema is None:
        raise RequestError("a json_schema format needs its schema", param="text.format.schema")
    schema: dict[str, Any] = {"name": shape.name or "response", "schema": shape.schema}
    if shape.strict is not None:
        schema["strict"] = shape.strict
    if shape.description:
        schema["description"] = shape.description
    return {"type": "json_schema", "json_schema": schema}


def usage_of(usage: Usage) -> r.ResponseUsage:
    return r.ResponseUsage(
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
    )


def output_of(response_id: str, finished: TurnFinished) -> tuple[r.OutputItem, ...]:
    """The output items of a finished turn (see the module docstring)."""
    items: list[r.OutputItem] = []
    status: Literal["completed", "incomplete"] = (
        "incomplete" if finished.reason == "length" else "completed"
    )
    if finished.text:
        items.append(
            r.OutputMessage(
                id=message_item_id(response_id),
                status=status,
                content=(r.OutputTextPart(text=finished.text),),
            )
        )
    items.extend(
        r.OutputFunctionCall(
            id=call_item_id(response_id, i),
            call_id=call.id,
            name=call.name,
            arguments=call.arguments,
            status="completed",
        )
        for i, call in enumerate(finished.client_tool_calls)
    )
    return tuple(items)


def response_object(
    response_id: str,
    request: r.ResponseCreateRequest,
    *,
    created_at: int,
    status: str = "in_progress",
    output: tuple[r.OutputItem, ...] = (),
    usage: Usage | None = None,
    error: r.ResponseError | None = None,
) -> r.ResponseObject:
    """The ``response`` object of ``request``, as it stands."""
    return r.ResponseObject(
        id=response_id,
        created_at=created_at,
        status=status,  # type: ignore[arg-type]
        error=error,
        incomplete_details=(
            r.IncompleteDetails(reason="max_output_tokens") if status == "incomplete" else None
        ),
        instructions=request.instructions,
        max_output_tokens=request.max_output_tokens,
        model=request.model,
        output=output,
        parallel_tool_calls=request.parallel_tool_calls is not False,
        previous_response_id=request.previous_response_id,
        store=request.store is not False,
        temperature=request.temperature,
        text={"format": {"type": "text"}}
        if request.text is None or request.text.format is None
        else {"format": wire.converter.unstructure(request.text.format)},
        tool_choice=wire.converter.unstructure(request.tool_choice or "auto"),
        tools=request.tools or (),
        top_p=request.top_p,
        usage=usage_of(usage) if usage is not None else None,
        user=request.user,
        metadata=dict(request.metadata or {}),
    )


def finished_object(
    response_id: str,
    request: r.ResponseCreateRequest,
    created_at: int,
    finished: TurnFinished,
) -> r.ResponseObject:
    """The ``response`` object of a finished turn: ``completed``, or ``incomplete`` when the
    answer was cut at ``max_output_tokens`` (or the agent's iteration limit)."""
    return response_object(
        response_id,
        request,
        created_at=created_at,
        status="incomplete" if finished.reason == "length" else "completed",
        output=output_of(response_id, finished),
        usage=finished.usage,
    )


def input_records(response_id: str, request: r.ResponseCreateRequest) -> list[dict[str, Any]]:
    """The request's input items as ``GET .../input_items`` lists them, each with an id."""
    if isinstance(request.input, str):
        items: list[Any] = [r.MessageItem(role="user", content=(r.InputText(text=request.input),))]
    else:
        items = [
            item
            for item in request.input
            if not isinstance(item, r.ReasoningItem | r.ItemReference)
        ]
    records = []
    for i, item in enumerate(items):
        record = wire.converter.unstructure(item)
        record.setdefault("id", None)
        if record["id"] is None:
            record["id"] = f"in_{response_id.removeprefix('resp_')}_{i}"
        if isinstance(item, r.MessageItem) and isinstance(item.content, str):
            kind = "output_text" if item.role == "assistant" else "input_text"
            record["content"] = [{"type": kind, "text": item.content}]
        # The fields the SDKs require of a listed item (openai-python validates them):
        # annotations on output_text, detail on input_image, a status on every item.
        for part in record.get("content") or ():
            if part["type"] == "output_text":
                part.setdefault("annotations", [])
            elif part["type"] == "input_image" and part.get("detail") is None:
                part["detail"] = "auto"
        if record.get("status") is None:
            record["status"] = "completed"
        records.append(record)
    return records


def now() -> int:
    return int(time.time())
