"""A turn's events as a Responses API stream, each event named and numbered.

``response.created`` and ``response.in_progress`` open the stream. The turn's text goes
out as it comes, in one ``message`` output item (``output_item.added``,
``content_part.added``, ``output_text.delta``...). When the turn finishes, the text item
is closed, each client tool call is sent as a ``function_call`` item with its arguments,
and ``response.completed`` (or ``response.incomplete``) carries the whole response with
its usage. A failure after the stream began ends it with ``response.failed`` and the
error; the agent's own tool calls are never shown (to a client, a ``function_call`` means
"run this").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import wire
from ..runtime import AnswerDelta, TurnFinished
from ..wire import responses as r
from .streaming import cut_short
from .translate_responses import (
    call_item_id,
    finished_object,
    message_item_id,
    response_object,
)
from .turn import TurnFailed

if TYPE_CHECKING:
    from .errors import Problem
    from .turn import TurnEvent


class ResponsesEncoder:
    """Turns a turn's events into Responses API events (an `EventEncoder`)."""

    def __init__(self, response_id: str, request: r.ResponseCreateRequest, created_at: int) -> None:
        self.response_id = response_id
        self.request = request
        self.created_at = created_at
        self._sequence = 0
        self._text: list[str] = []
        self._message_id = message_item_id(response_id)

    def _event(self, event: r.StreamEvent) -> bytes:
        return wire.encode_named_event(event.type, event)

    def _next(self) -> int:
        number = self._sequence
        self._sequence += 1
        return number

    def _response(self, kind: str, response: r.ResponseObject) -> bytes:
        return self._event(
            r.ResponseEvent(type=kind, sequence_number=self._next(), response=response)
        )

    def first(self) -> bytes:
        pending = response_object(self.response_id, self.request, created_at=self.created_at)
        return self._response("response.created", pending) + self._response(
            "response.in_progress", pending
        )

    def event(self, event: TurnEvent) -> bytes | None:
        if isinstance(event, AnswerDelta) and event.text:
            return self._delta(event.text)
        if isinstance(event, TurnFinished):
            return self._finish(event)
        if isinstance(event, TurnFailed):
            return self._failed(event.problem)
        return None

    def end(self) -> bytes:
        return self._failed(cut_short())

    def _delta(self, text: str) -> bytes:
        parts = []
        if not self._text:
            message = r.OutputMessage(id=self._message_id, status="in_progress", content=())
            parts.append(
                self._event(
                    r.ItemEvent(
                        type="response.output_item.added",
                        sequence_number=self._next(),
                        output_index=0,
                        item=message,
                    )
                )
            )
            parts.append(
                self._event(
                    r.ContentPartEvent(
                        type="response.content_part.added",
                        sequence_number=self._next(),
                        item_id=self._message_id,
                        output_index=0,
                        part=r.OutputTextPart(text=""),
                    )
                )
            )
        self._text.append(text)
        parts.append(
            self._event(
                r.TextDeltaEvent(
                    sequence_number=self._next(),
                    item_id=self._message_id,
                    output_index=0,
                    delta=text,
                )
            )
        )
        return b"".join(parts)

    def _finish(self, finished: TurnFinished) -> bytes:
        response = finished_object(self.response_id, self.request, self.created_at, finished)
        parts = []
        # The stored text is the turn's text; the deltas sent were exactly its pieces.
        if finished.text and not self._text:
            parts.append(self._delta(finished.text))
        index = 0
        if self._text:
            message = response.output[0]
            assert isinstance(message, r.OutputMessage)
            text = "".join(self._text)
            parts.append(
                self._event(
                    r.TextDoneEvent(
                        sequence_number=self._next(),
                        item_id=self._message_id,
                        output_index=0,
                        text=text,
                    )
                )
            )
            parts.append(
                self._event(
                    r.ContentPartEvent(
                        type="response.content_part.done",
                        sequence_number=self._next(),
                        item_id=self._message_id,
                        output_index=0,
                        part=r.OutputTextPart(text=text),
                    )
                )
            )
            parts.append(
                self._event(
                    r.ItemEvent(
                        type="response.output_item.done",
                        sequence_number=self._next(),
                        output_index=0,
                        item=message,
                    )
                )
            )
            index = 1
        for i, call in enumerate(finished.client_tool_calls):
            item_id = call_item_id(self.response_id, i)
            added = r.OutputFunctionCall(
                id=item_id, call_id=call.id, name=call.name, arguments="", status="in_progress"
            )
            done = r.OutputFunctionCall(
                id=item_id,
                call_id=call.id,
                name=call.name,
                arguments=call.arguments,
                status="completed",
            )
            parts.append(
                self._event(
                    r.ItemEvent(
                        type="response.output_item.added",
                        sequence_number=self._next(),
                        output_index=index,
                        item=added,
                    )
                )
            )
            parts.append(
                self._event(
                    r.ArgumentsDeltaEvent(
                        sequence_number=self._next(),
                        item_id=item_id,
                        output_index=index,
                        delta=call.arguments,
                    )
                )
            )
            parts.append(
                self._event(
                    r.ArgumentsDoneEvent(
                        sequence_number=self._next(),
                        item_id=item_id,
                        output_index=index,
                        name=call.name,
                        arguments=call.arguments,
                    )
                )
            )
            parts.append(
                self._event(
                    r.ItemEvent(
                        type="response.output_item.done",
                        sequence_number=self._next(),
                        output_index=index,
                        item=done,
                    )
                )
            )
            index += 1
        kind = "response.incomplete" if response.status == "incomplete" else "response.completed"
        parts.append(self._response(kind, response))
        return b"".join(parts)

    def _failed(self, problem: Problem) -> bytes:
        # A response's error.code is a closed enum in OpenAI's API (strict clients such as
        # openai-python reject "upstream_error" or "timeout"): the message says which.
        code = "rate_limit_exceeded" if problem.code == "rate_limit_exceeded" else "server_error"
        failed = response_object(
            self.response_id,
            self.request,
            created_at=self.created_at,
            status="failed",
            error=r.ResponseError(code=code, message=problem.message),
        )
        return self._response("response.failed", failed)
