"""The model client protocol and the events a model call streams."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import attrs

if TYPE_CHECKING:
    from collections.abc import Sequence
    from contextlib import AbstractAsyncContextManager

    import trio

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


class ModelClient(Protocol):
    """A model provider. One client per configured model; safe to share between turns."""

    @property
    def model(self) -> str:
        """The provider's model id, for logs and errors."""
        ...

    def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], sampling: Sampling
    ) -> AbstractAsyncContextManager[trio.abc.ReceiveChannel[ModelEvent]]:
        """Start one model call; the channel yields its events, ending with ``Finished``.

        Raises:
            ModelError: a subclass saying how the provider failed; raised from the
                ``async with`` or from iterating the channel.
        """
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
