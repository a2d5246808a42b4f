"""The OpenAI Chat Completions wire types, as plain attrs values.

The request side (`ChatCompletionRequest` and the `ChatMessage` union) is what clients send
to ``POST /v1/chat/completions``, and also what ``models.openai_compat`` sends upstream. The
response side is `ChatCompletion` (one JSON answer), `ChatCompletionChunk` (one SSE event),
`ModelList` and `ErrorEnvelope`. Field order is the order OpenAI writes them.

These classes know nothing about JSON: every rule for reading and writing them (strict types,
tagged unions, which unset fields are omitted and which are written as ``null``) lives in
`trioagent.wire.convert`. The rule of thumb it applies: a field whose default is ``None`` is
omitted when unset, except where OpenAI writes ``null`` (noted on the field).
"""

from __future__ import annotations

import enum
from typing import Any, Final, Literal

import attrs

FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "function_call"]
"""OpenAI's finish reasons; trioagent itself sends only ``stop``, ``length``, ``tool_calls``."""


class Omit(enum.Enum):
    """The type of `OMIT`, a default meaning "leave this key out", where ``None`` means null."""

    OMIT = "omit"


OMIT: Final = Omit.OMIT


# Request: messages and their content parts.


@attrs.frozen(kw_only=True)
class TextPart:
    """A ``{"type": "text"}`` content part."""

    type: Literal["text"] = "text"
    text: str


@attrs.frozen(kw_only=True)
class ImageURL:
    """Where an image part's picture is: an ``https:`` or ``data:`` URL."""

    url: str
    detail: Literal["auto", "low", "high"] | None = None


@attrs.frozen(kw_only=True)
class ImagePart:
    """A ``{"type": "image_url"}`` content part (user messages only)."""

    type: Literal["image_url"] = "image_url"
    image_url: ImageURL


ContentPart = TextPart | ImagePart
"""A user message's content part, tagged on ``type``."""


@attrs.frozen(kw_only=True)
class FunctionCall:
    """The function a tool call names, and its arguments."""

    name: str
    arguments: str
    """A JSON object, as text, exactly as the model wrote it (it may be invalid JSON)."""


@attrs.frozen(kw_only=True)
class ResponseToolCall:
    """A complete tool call: in an answer's message, and in assistant messages sent back."""

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


@attrs.frozen(kw_only=True)
class SystemMessage:
    """Instructions from the client; kept after the agent's own instruction."""

    role: Literal["system"] = "system"
    content: str | tuple[TextPart, ...]
    name: str | None = None


@attrs.frozen(kw_only=True)
class DeveloperMessage:
    """The newer name for a system message; treated as one."""

    role: Literal["developer"] = "developer"
    content: str | tuple[TextPart, ...]
    name: str | None = None


@attrs.frozen(kw_only=True)
class UserMessage:
    """A user's message: text, or text and image parts."""

    role: Literal["user"] = "user"
    content: str | tuple[ContentPart, ...]
    name: str | None = None


@attrs.frozen(kw_only=True)
class AssistantMessage:
    """An assistant message: in a request's history, and as a `Choice`'s answer."""

    role: Literal["assistant"] = "assistant"
    content: str | tuple[TextPart, ...] | None = None
    """Written as ``null`` when unset (an assistant message with only tool calls)."""
    tool_calls: tuple[ResponseToolCall, ...] | None = None
    name: str | None = None


@attrs.frozen(kw_only=True)
class ToolMessage:
    """The result of one tool call, sent back by the client."""

    role: Literal["tool"] = "tool"
    content: str | tuple[TextPart, ...]
    tool_call_id: str


ChatMessage = SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage
"""A request message, tagged on ``role``."""


# Request: tools and options.


@attrs.frozen(kw_only=True)
class FunctionDef:
    """A client tool's function: its name, what it does, and its JSON Schema."""

    name: str
    """Must fully match `trioagent.wire.rules.TOOL_NAME`."""
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


@attrs.frozen(kw_only=True)
class ToolDef:
    """A tool the client offers and runs itself; only function tools exist."""

    type: Literal["function"] = "function"
    function: FunctionDef


@attrs.frozen(kw_only=True)
class FunctionName:
    """The function a named tool choice forces."""

    name: str


@attrs.frozen(kw_only=True)
class NamedToolChoice:
    """``{"type": "function", "function": {"name": ...}}``: the model must call this tool."""

    type: Literal["function"] = "function"
    function: FunctionName


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


@attrs.frozen(kw_only=True)
class StreamOptions:
    """Options of a streamed answer; allowed only with ``stream: true``."""

    include_usage: bool | None = None
    """Send ``usage: null`` on every chunk, then one chunk with the usage and no choices."""


@attrs.frozen(kw_only=True)
class ChatCompletionRequest:
    """The body of ``POST /v1/chat/completions``.

    Unknown fields are ignored. Every optional field is ``None`` when the client did not
    send it (or sent ``null``), and is then left out when this request is written upstream.
    `trioagent.wire.checks.parse_chat_request` checks the ranges the contract sets
    (`trioagent.wire.rules`).
    """

    model: str
    """The agent's name."""
    messages: tuple[ChatMessage, ...]
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | tuple[str, ...] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    parallel_tool_calls: bool | None = None
    n: int | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    response_format: dict[str, Any] | None = None
    """Passed through as sent: ``{"type": "json_object"}`` or ``{"type": "json_schema", ...}``."""
    tools: tuple[ToolDef, ...] | None = None
    tool_choice: ToolChoice | None = None
    user: str | None = None
    metadata: dict[str, Any] | None = None
    store: bool | None = None
    service_tier: str | None = None
    reasoning_effort: str | None = None


# Responses.


@attrs.frozen(kw_only=True)
class CompletionUsage:
    """Token counts, summed over every model call of a turn."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def of(cls, prompt_tokens: int, completion_tokens: int) -> CompletionUsage:
        """Return the usage of these counts, with their total."""
        return cls(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
        )


@attrs.frozen(kw_only=True)
class Choice:
    """The one choice of a non-streamed answer."""

    index: int = 0
    message: AssistantMessage
    finish_reason: FinishReason


@attrs.frozen(kw_only=True)
class ChatCompletion:
    """A non-streamed answer: ``{"object": "chat.completion", ...}``."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    """Unix time, in seconds."""
    model: str
    """The requested agent's name, echoed."""
    choices: tuple[Choice, ...]
    usage: CompletionUsage | None = None


@attrs.frozen(kw_only=True)
class DeltaFunction:
    """A piece of a streamed tool call's function: the name first, then argument text."""

    name: str | None = None
    arguments: str | None = None


@attrs.frozen(kw_only=True)
class DeltaToolCall:
    """A piece of a streamed tool call. ``index`` is always written; the rest when set."""

    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: DeltaFunction | None = None


@attrs.frozen(kw_only=True)
class Delta:
    """What a chunk adds to the answer; every unset field is left out (``{}`` at the end)."""

    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: tuple[DeltaToolCall, ...] | None = None


@attrs.frozen(kw_only=True)
class ChunkChoice:
    """The one choice of a streamed chunk."""

    index: int = 0
    delta: Delta
    finish_reason: FinishReason | None = None
    """Written as ``null`` until the final choice chunk."""


@attrs.frozen(kw_only=True)
class ChatCompletionChunk:
    """One SSE event of a streamed answer: ``{"object": "chat.completion.chunk", ...}``."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: tuple[ChunkChoice, ...]
    usage: CompletionUsage | Literal[Omit.OMIT] | None = OMIT
    """`OMIT` (the key is left out) unless the client asked for ``include_usage``; then
    ``None`` (``null``) on every chunk but the last, which has the usage and no choices."""


@attrs.frozen(kw_only=True)
class Model:
    """One agent, as ``GET /v1/models`` lists it."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "trioagent"


@attrs.frozen(kw_only=True)
class ModelList:
    """The answer of ``GET /v1/models``."""

    object: Literal["list"] = "list"
    data: tuple[Model, ...]


@attrs.frozen(kw_only=True)
class ErrorBody:
    """What went wrong; ``param`` and ``code`` are written as ``null`` when unset."""

    message: str
    type: str
    """``invalid_request_error``, ``authentication_error``, ``server_error``, ..."""
    param: str | None = None
    code: str | None = None


@attrs.frozen(kw_only=True)
class ErrorEnvelope:
    """Every error answer, and the in-band error event of a stream: ``{"error": {...}}``."""

    error: ErrorBody
