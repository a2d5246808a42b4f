"""The OpenAI Responses API wire types (``/v1/responses``), as plain attrs values.

The request side is `ResponseCreateRequest` with its `InputItem` union (tagged on
``type``; a message item may leave ``type`` out, as the SDKs' "easy" messages do). The
response side is the `ResponseObject` with its `OutputItem` union, and the stream's
events (`StreamEvent`), each written as ``event: TYPE`` plus ``data: {...}``, as OpenAI
does. Like `trioagent.wire.openai`, these classes know nothing about JSON: the rules live
in `trioagent.wire.convert`.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

# Request: input items and their content parts.


@attrs.frozen(kw_only=True)
class InputText:
    """An ``input_text`` part (also ``output_text`` and ``refusal`` echoed back)."""

    type: Literal["input_text"] = "input_text"
    text: str


@attrs.frozen(kw_only=True)
class OutputText:
    """An ``output_text`` part of an assistant message sent back as input."""

    type: Literal["output_text"] = "output_text"
    text: str
    annotations: tuple[Any, ...] = ()


@attrs.frozen(kw_only=True)
class Refusal:
    """A ``refusal`` part of an assistant message sent back as input."""

    type: Literal["refusal"] = "refusal"
    refusal: str


@attrs.frozen(kw_only=True)
class InputImage:
    """An ``input_image`` part: an ``https:`` or ``data:`` URL (``file_id`` is refused)."""

    type: Literal["input_image"] = "input_image"
    image_url: str | None = None
    file_id: str | None = None
    detail: str | None = None


@attrs.frozen(kw_only=True)
class InputFile:
    """An ``input_file`` part; refused with a 400 (agents read files through tools)."""

    type: Literal["input_file"] = "input_file"


InputPart = InputText | OutputText | Refusal | InputImage | InputFile


@attrs.frozen(kw_only=True)
class MessageItem:
    """A message: ``{"role", "content"}`` (``type: "message"`` optional)."""

    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | tuple[InputPart, ...]
    id: str | None = None
    status: str | None = None


@attrs.frozen(kw_only=True)
class FunctionCallItem:
    """A ``function_call`` the model made (an earlier output, sent back)."""

    type: Literal["function_call"] = "function_call"
    call_id: str
    name: str
    arguments: str
    id: str | None = None
    status: str | None = None


@attrs.frozen(kw_only=True)
class FunctionCallOutputItem:
    """A ``function_call_output``: the client's result of a ``function_call``."""

    type: Literal["function_call_output"] = "function_call_output"
    call_id: str
    output: str | tuple[InputPart, ...]
    id: str | None = None
    status: str | None = None


@attrs.frozen(kw_only=True)
class ReasoningItem:
    """A ``reasoning`` item echoed back from an earlier output; accepted and skipped."""

    type: Literal["reasoning"] = "reasoning"


@attrs.frozen(kw_only=True)
class ItemReference:
    """An ``item_reference``: an output item of a stored response, by its id (the AI SDK
    sends earlier assistant messages so)."""

    type: Literal["item_reference"] = "item_reference"
    id: str


InputItem = MessageItem | FunctionCallItem | FunctionCallOutputItem | ReasoningItem | ItemReference


@attrs.frozen(kw_only=True)
class TextFormat:
    """``text.format``: ``text``, ``json_object``, or ``json_schema`` with its schema."""

    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    schema: dict[str, Any] | None = None
    description: str | None = None
    strict: bool | None = None


@attrs.frozen(kw_only=True)
class TextConfig:
    """``text``: how the answer's text is shaped."""

    format: TextFormat | None = None
    verbosity: str | None = None


@attrs.frozen(kw_only=True)
class NamedFunctionChoice:
    """``tool_choice: {"type": "function", "name": ...}``."""

    type: Literal["function"]
    name: str


ResponseToolChoice = Literal["none", "auto", "required"] | NamedFunctionChoice


@attrs.frozen(kw_only=True)
class ResponseCreateRequest:
    """The body of ``POST /v1/responses``.

    Unknown fields are ignored; ``tools`` are read as plain objects, since their shape
    depends on their ``type`` (see `trioagent.server.translate_responses`).
    """

    model: str
    """The agent's name."""
    input: str | tuple[InputItem, ...]
    instructions: str | None = None
    tools: tuple[dict[str, Any], ...] | None = None
    tool_choice: ResponseToolChoice | None = None
    parallel_tool_calls: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    text: TextConfig | None = None
    previous_response_id: str | None = None
    store: bool | None = None
    metadata: dict[str, str] | None = None
    stream: bool | None = None
    include: tuple[str, ...] | None = None
    reasoning: dict[str, Any] | None = None
    truncation: str | None = None
    user: str | None = None
    service_tier: str | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
    background: bool | None = None
    conversation: Any = None
    prompt: Any = None
    top_logprobs: int | None = None
    max_tool_calls: int | None = None
    stream_options: dict[str, Any] | None = None


# Response: the response object, its output items and usage.


@attrs.frozen(kw_only=True)
class OutputTextPart:
    """An ``output_text`` part of an output message."""

    type: Literal["output_text"] = "output_text"
    text: str
    annotations: tuple[Any, ...] = ()
    logprobs: tuple[Any, ...] = ()


@attrs.frozen(kw_only=True)
class OutputMessage:
    """The assistant's text, as one ``message`` output item."""

    type: Literal["message"] = "message"
    id: str
    status: Literal["in_progress", "completed", "incomplete"]
    role: Literal["assistant"] = "assistant"
    content: tuple[OutputTextPart, ...]


@attrs.frozen(kw_only=True)
class OutputFunctionCall:
    """A call of a client tool: the client runs it and sends a ``function_call_output``."""

    type: Literal["function_call"] = "function_call"
    id: str
    call_id: str
    name: str
    arguments: str
    status: Literal["in_progress", "completed", "incomplete"]


OutputItem = OutputMessage | OutputFunctionCall


@attrs.frozen(kw_only=True)
class InputTokensDetails:
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    """Required by openai-python 3.x's strict validation, as OpenAI now sends it."""


@attrs.frozen(kw_only=True)
class OutputTokensDetails:
    reasoning_tokens: int = 0


@attrs.frozen(kw_only=True)
class ResponseUsage:
    """Token counts, summed over every model call of the turn."""

    input_tokens: int
    input_tokens_details: InputTokensDetails = InputTokensDetails()
    output_tokens: int
    output_tokens_details: OutputTokensDetails = OutputTokensDetails()
    total_tokens: int


@attrs.frozen(kw_only=True)
class ResponseError:
    """Why a response failed: ``code`` and ``message``."""

    code: str
    message: str


@attrs.frozen(kw_only=True)
class IncompleteDetails:
    reason: Literal["max_output_tokens", "content_filter"]


@attrs.frozen(kw_only=True)
class ResponseObject:
    """A ``response`` object: what ``POST /v1/responses`` answers and ``GET`` returns.

    ``error``, ``incomplete_details``, ``previous_response_id`` and the sampling fields are
    written as ``null`` when unset, as OpenAI writes them.
    """

    id: str
    object: Literal["response"] = "response"
    created_at: int
    status: Literal["completed", "failed", "in_progress", "incomplete", "cancelled"]
    error: ResponseError | None = None
    incomplete_details: IncompleteDetails | None = None
    instructions: str | None = None
    max_output_tokens: int | None = None
    model: str
    output: tuple[OutputItem, ...] = ()
    parallel_tool_calls: bool = True
    previous_response_id: str | None = None
    reasoning: dict[str, Any] = attrs.Factory(lambda: {"effort": None, "summary": None})
    store: bool = True
    temperature: float | None = None
    text: dict[str, Any] = attrs.Factory(lambda: {"format": {"type": "text"}})
    tool_choice: Any = "auto"
    tools: tuple[dict[str, Any], ...] = ()
    top_p: float | None = None
    truncation: str = "disabled"
    usage: ResponseUsage | None = None
    user: str | None = None
    metadata: dict[str, str] = attrs.Factory(dict)


@attrs.frozen(kw_only=True)
class DeletedResponse:
    """The answer of ``DELETE /v1/responses/{id}``."""

    id: str
    object: Literal["response.deleted"] = "response.deleted"
    deleted: bool = True


@attrs.frozen(kw_only=True)
class InputItemList:
    """The answer of ``GET /v1/responses/{id}/input_items``: a page of input items."""

    object: Literal["list"] = "list"
    data: tuple[dict[str, Any], ...]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False


# The stream's events.


@attrs.frozen(kw_only=True)
class ResponseEvent:
    """``response.created`` / ``in_progress`` / ``completed`` / ``failed`` / ``incomplete``."""

    type: str
    sequence_number: int
    response: ResponseObject


@attrs.frozen(kw_only=True)
class ItemEvent:
    """``response.output_item.added`` / ``.done``."""

    type: str
    sequence_number: int
    output_index: int
    item: OutputItem


@attrs.frozen(kw_only=True)
class ContentPartEvent:
    """``response.content_part.added`` / ``.done``."""

    type: str
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int = 0
    part: OutputTextPart


@attrs.frozen(kw_only=True)
class TextDeltaEvent:
    """``response.output_text.delta``."""

    type: Literal["response.output_text.delta"] = "response.output_text.delta"
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int = 0
    delta: str
    logprobs: tuple[Any, ...] = ()


@attrs.frozen(kw_only=True)
class TextDoneEvent:
    """``response.output_text.done``."""

    type: Literal["response.output_text.done"] = "response.output_text.done"
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int = 0
    text: str
    logprobs: tuple[Any, ...] = ()


@attrs.frozen(kw_only=True)
class ArgumentsDeltaEvent:
    """``response.function_call_arguments.delta``."""

    type: Literal["response.function_call_arguments.delta"] = (
        "response.function_call_arguments.delta"
    )
    sequence_number: int
    item_id: str
    output_index: int
    delta: str


@attrs.frozen(kw_only=True)
class ArgumentsDoneEvent:
    """``response.function_call_arguments.done``."""

    type: Literal["response.function_call_arguments.done"] = "response.function_call_arguments.done"
    sequence_number: int
    item_id: str
    output_index: int
    name: str
    arguments: str


StreamEvent = (
    ResponseEvent
    | ItemEvent
    | ContentPartEvent
    | TextDeltaEvent
    | TextDoneEvent
    | ArgumentsDeltaEvent
    | ArgumentsDoneEvent
)
