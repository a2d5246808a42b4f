"""The SSE body of a streamed chat completion: it owns the turn's nursery.

Quart iterates a body as ``async with body as it: async for chunk in it: send(chunk)``,
in the request task that quart-trio cancels when the client goes away. ``TurnBody``
enters the turn (``TurnRunner.open_turn``) in ``__aenter__`` and leaves it in
``__aexit__``, so the producer, the upstream call and the tools never outlive the
response. ``__anext__`` only reads events and encodes them; no ``yield`` sits inside a
cancel scope.
"""

from __future__ import annotations

import time
import uuid
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Protocol

import trio
from quart.wrappers.response import ResponseBody

from .. import wire
from ..errors import TurnTimeout
from ..runtime import AnswerDelta, TurnFinished
from ..wire import openai as w
from .errors import Problem, error_envelope, problem_of
from .translate import tool_call_deltas, usage_of
from .turn import TurnFailed

if TYPE_CHECKING:
    from .turn import TurnEvent, TurnRequest, TurnRunner


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def cut_short() -> Problem:
    """Why a stream ends without its last event: the turn ran past the request timeout
    while the client was not reading, so the producer could not deliver it. The client
    must still see an error, not a stream that merely stops."""
    return problem_of(
        TurnTimeout(
            "The turn ran past the server's request timeout while this stream was not being "
            "read, so its end could not be sent."
        )
    )


class EventEncoder(Protocol):
    """How one API writes a turn's events on a stream."""

    def first(self) -> bytes | None:
        """What to send as soon as the stream opens (None: nothing)."""
        ...

    def event(self, event: TurnEvent) -> bytes | None:
        """The bytes for one event (None: the API does not show it).

        `TurnFinished` and `TurnFailed` are the last events; their bytes end the stream.
        """
        ...

    def end(self) -> bytes:
        """The last bytes when the turn ended without a last event (it could not send it)."""
        ...


class ChunkEncoder:
    """Turns events into ``chat.completion.chunk`` SSE events sharing one id and time."""

    def __init__(self, model: str, *, include_usage: bool) -> None:
        self.id = completion_id()
        self.created = int(time.time())
        self.model = model
        self.include_usage = include_usage
        # OpenAI writes "usage": null on every chunk when usage was asked for.
        self._usage: w.Omit | None = None if include_usage else w.OMIT
        self._text = wire.text_events(lambda text: self._chunk_of(w.Delta(content=text)))

    def chunk(self, delta: w.Delta, finish_reason: w.FinishReason | None = None) -> bytes:
        return wire.encode_event(self._chunk_of(delta, finish_reason))

    def _chunk_of(
        self, delta: w.Delta, finish_reason: w.FinishReason | None = None
    ) -> w.ChatCompletionChunk:
        return w.ChatCompletionChunk(
            id=self.id,
            created=self.created,
            model=self.model,
            choices=(w.ChunkChoice(delta=delta, finish_reason=finish_reason),),
            usage=self._usage,
        )

    def first(self) -> bytes:
        return self.chunk(w.Delta(role="assistant", content=""))

    def event(self, event: TurnEvent) -> bytes | None:
        """The bytes for one event, or None for events a chat client does not see."""
        if isinstance(event, AnswerDelta):
            return self._text(event.text)
        if isinstance(event, TurnFinished):
            return self.finish(event)
        if isinstance(event, TurnFailed):
            return wire.encode_error(error_envelope(event.problem)) + wire.DONE
        return None

    def end(self) -> bytes:
        return wire.encode_error(error_envelope(cut_short())) + wire.DONE

    def finish(self, event: TurnFinished) -> bytes:
        parts = []
        if event.client_tool_calls:
            parts.append(
                self.chunk(w.Delta(tool_calls=tuple(tool_call_deltas(event.client_tool_calls))))
            )
        parts.append(self.chunk(w.Delta(), event.reason))
        if self.include_usage:
            parts.append(
                wire.encode_event(
                    w.ChatCompletionChunk(
                        id=self.id,
                        created=self.created,
                        model=self.model,
                        choices=(),
                        usage=usage_of(event.usage),
                    )
                )
            )
        parts.append(wire.DONE)
        return b"".join(parts)


class TurnBody(ResponseBody):
    """A streamed turn as a quart response body."""

    def __init__(
        self,
        runner: TurnRunner,
        request: TurnRequest,
        encoder: EventEncoder,
        *,
        keep_alive: float,
    ) -> None:
        self._runner = runner
        self._request = request
        self._encoder = encoder
        self._keep_alive = keep_alive
        self._stack = AsyncExitStack()
        self._events: trio.MemoryReceiveChannel[TurnEvent] | None = None
        self._started = False
        self._done = False

    async def __aenter__(self) -> TurnBody:
        self._events = await self._stack.enter_async_context(self._runner.open_turn(self._request))
        self._stack.enter_context(self._runner.metrics.open_stream())  # cannot fail
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    def __aiter__(self) -> TurnBody:
        return self

    async def __anext__(self) -> bytes:
        assert self._events is not None
        if not self._started:
            self._started = True
            first = self._encoder.first()
            if first is not None:
                return first
        while not self._done:
            with trio.move_on_after(self._keep_alive) as waiting:
                try:
                    event = await self._events.receive()
                except trio.EndOfChannel:
                    # The producer ended without a last word (it could not deliver it).
                    self._done = True
                    return self._encoder.end()
            if waiting.cancelled_caught:
                return wire.KEEP_ALIVE
            data = self._encoder.event(event)
            if isinstance(event, TurnFinished | TurnFailed):
                self._done = True
            if data is not None:
                return data
        raise StopAsyncIteration
