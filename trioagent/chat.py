"""Provider-neutral conversation values: what an agent sees and says.

Every class here is a frozen attrs value. Providers translate to and from these; the
servers translate wire types to and from these. This module imports nothing of ours.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls"]


@attrs.frozen
class ToolCall:
    """A model's request to run one tool."""

    id: str
    name: str
    arguments: str
    """The arguments as the model wrote them: a JSON object, as text."""


@attrs.frozen
class Message:
    """One message of a conversation."""

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    """Set on assistant messages that call tools."""
    tool_call_id: str | None = None
    """Set on tool messages: the call this is the result of."""
    images: tuple[str, ...] = ()
    """Image URLs (``https:`` or ``data:``) attached to a user message."""

    @classmethod
    def system(cls, content: str) -> Message:
        return cls("system", content)

    @classmethod
    def user(cls, content: str) -> Message:
        return cls("user", content)

    @classmethod
    def assistant(cls, content: str, tool_calls: tuple[ToolCall, ...] = ()) -> Message:
        return cls("assistant", content, tool_calls=tool_calls)

    @classmethod
    def tool(cls, tool_call_id: str, content: str) -> Message:
        return cls("tool", content, tool_call_id=tool_call_id)


@attrs.frozen
class ToolSpec:
    """A tool offered to the model."""

    name: str
    description: str
    parameters: dict[str, Any] = attrs.field(factory=lambda: {"type": "object", "properties": {}})
    """A JSON Schema object describing the arguments."""


@attrs.frozen
class ToolResult:
    """What a tool returned. Failures are results too, so the model can react."""

    content: str
    is_error: bool = False

    @classmethod
    def error(cls, message: str) -> ToolResult:
        return cls(message, is_error=True)


@attrs.frozen
class Usage:
    """Token counts; adding two sums them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )


@attrs.frozen
class ToolChoice:
    """Which tools the model must use in its reply: ``auto`` (its choice), ``required``
    (at least one tool), or ``tool`` (the tool named ``name``)."""

    mode: Literal["auto", "required", "tool"]
    name: str | None = None


@attrs.frozen(kw_only=True)
class Sampling:
    """Sampling parameters for a model call; ``None`` means the provider's default."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    tool_choice: ToolChoice | None = None
    """Sent only with tools; the agent loop asks for it on the turn's first model call."""

    def override(self, other: Sampling) -> Sampling:
        """Return these settings with every field that ``other`` sets taken from it."""
        changes = {
            field.name: getattr(other, field.name)
            for field in attrs.fields(Sampling)
            if getattr(other, field.name) not in (None, ())
        }
        return attrs.evolve(self, **changes)
