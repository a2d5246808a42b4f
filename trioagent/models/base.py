"""The model client protocol and the events a model call streams."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import attrs

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence
    from contextlib import AbstractAsyncContextManager

    from ..chat import FinishReason, Message, Sampling, ToolSpec, Usage


@attrs.frozen
class TextDelta:
    """A piece of the assistant's text."""

    text: str


@attrs.frozen
class ToolCallDelta:
    """A piece of a tool call. The first piece of call ``index`` carries its id and name;
    ``arguments`` pieces concatenate to the JSON arguments."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@attrs.frozen
class UsageReport:
    """Token usage of this model call (sent once, near the end)."""

    usage: Usage


@attrs.frozen
class Finished:
    """The model call ended normally; always the last event."""

    reason: FinishReason


ModelEvent = TextDelta | ToolCallDelta | UsageReport | Finished


class ModelStream(Protocol):
    """The events of one model call, in batches or one by one."""

    async def receive_batch(self) -> list[ModelEvent]:
        """The events that arrived together (one network read's), in order, at least one;
        an empty list once the call ended."""
        ...

    def __aiter__(self) -> AsyncIterator[ModelEvent]:
        """The events one by one."""
        ...


class ModelClient(Protocol):
    """A model provider. One client per configured model; safe to share between turns."""

    @property
    def model(self) -> str:
        """The provider's model id, for logs and errors."""
        ...

    def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], sampling: Sampling
    ) -> AbstractAsyncContextManager[ModelStream]:
        """Start one model call; the stream yields its events, ending with ``Finished``.

        Raises:
            ModelError: a subclass saying how the provider failed; raised from the
                ``async with`` or from reading the stream.
        """
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def coalesce(events: list[ModelEvent]) -> list[ModelEvent]:
    """Merge neighbouring text pieces (and argument pieces of one tool call) that arrived
    in one network read.

    Every event costs a trip through the turn's channels and the client's stream; text
    that arrived together loses nothing by travelling together. Pieces that arrive
    apart, as a model writes them, stay apart.
    """
    if len(events) < 2:
        return events
    merged: list[ModelEvent] = []
    texts: list[str] = []  # the run of text pieces being merged
    for event in events:
        if isinstance(event, TextDelta):
            texts.append(event.text)
            continue
        if texts:
            merged.append(TextDelta("".join(texts)))
            texts = []
        last = merged[-1] if merged else None
        if (
            isinstance(event, ToolCallDelta)
            and isinstance(last, ToolCallDelta)
            and event.index == last.index
            and event.id is None
            and event.name is None
        ):
            merged[-1] = attrs.evolve(last, arguments=last.arguments + event.arguments)
        else:
            merged.append(event)
    if texts:
        merged.append(TextDelta("".join(texts)))
    return merged
