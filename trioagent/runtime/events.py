"""What a running turn reports, in order, over its memory channel."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from ..chat import FinishReason, ToolCall, Usage


@attrs.frozen
class AnswerDelta:
    """A piece of the agent's answer. Between the text of two model calls the loop sends
    ``"\\n\\n"`` so streamed and collected answers are the same."""

    text: str


@attrs.frozen
class ToolStarted:
    """An agent tool started."""

    call_id: str
    name: str
    arguments: str


@attrs.frozen
class ToolFinished:
    """An agent tool finished (or failed: ``is_error``)."""

    call_id: str
    name: str
    result: str
    is_error: bool


@attrs.frozen
class UsageUpdate:
    """The turn's usage so far, summed over its model calls."""

    usage: Usage


@attrs.frozen
class TurnFinished:
    """The turn ended; always the last event of a successful turn.

    ``client_tool_calls`` is set when the model called tools the client supplied: the
    turn stops there (``reason == "tool_calls"``) for the client to run them.
    """

    reason: FinishReason
    text: str
    usage: Usage
    client_tool_calls: tuple[ToolCall, ...] = ()


RuntimeEvent = AnswerDelta | ToolStarted | ToolFinished | UsageUpdate | TurnFinished
