"""The stream events of the Responses API in the OpenAPI document of ``serve chat``: their
names, in the order they come, and their schemas (`trioagent.server.responses_stream` sends
them)."""

from __future__ import annotations

from typing import Final

from .openapi_parts import COUNT, EMPTY_ARRAY, STRING, Schema, object_of, ref, tagged

STREAM_EVENTS: Final = {
    "response.created": "ResponseCreatedEvent",
    "response.in_progress": "ResponseInProgressEvent",
    "response.output_item.added": "ResponseOutputItemAddedEvent",
    "response.content_part.added": "ResponseContentPartAddedEvent",
    "response.output_text.delta": "ResponseTextDeltaEvent",
    "response.output_text.done": "ResponseTextDoneEvent",
    "response.content_part.done": "ResponseContentPartDoneEvent",
    "response.function_call_arguments.delta": "ResponseFunctionCallArgumentsDeltaEvent",
    "response.function_call_arguments.done": "ResponseFunctionCallArgumentsDoneEvent",
    "response.output_item.done": "ResponseOutputItemDoneEvent",
    "response.completed": "ResponseCompletedEvent",
    "response.incomplete": "ResponseIncompleteEvent",
    "response.failed": "ResponseFailedEvent",
}
"""Each stream event's name (its ``type``) and its component, in the order they come."""


def _event(kind: str, description: str, **properties: Schema) -> Schema:
    return object_of(
        {"type": {"const": kind}, "sequence_number": COUNT, **properties},
        ("type", "sequence_number", *properties),
        description=description,
    )


def _with_status(status: str, **more: Schema) -> Schema:
    """The ``Response`` schema for a response in ``status``."""
    return {"allOf": [ref("Response"), object_of({"status": {"const": status}, **more})]}


def event_schemas() -> dict[str, Schema]:
    """The ``ResponseStreamEvent`` union and one schema per event."""
    text_part = {"item_id": STRING, "output_index": COUNT, "content_index": {"const": 0}}
    arguments = {"item_id": STRING, "output_index": COUNT}
    item_events = {
        f"response.output_item.{when}": _event(
            f"response.output_item.{when}",
            description,
            output_index=COUNT,
            item=ref("ResponseOutputItem"),
        )
        for when, description in (
            ("added", "An output item begins (`status: in_progress`)."),
            ("done", "An output item is whole."),
        )
    }
    part_events = {
        f"response.content_part.{when}": _event(
            f"response.content_part.{when}",
            description,
            **text_part,
            part=ref("ResponseOutputText"),
        )
        for when, description in (
            ("added", "The text part begins (empty)."),
            ("done", "The text part is whole."),
        )
    }
    events: dict[str, Schema] = {
        "response.created": _event(
            "response.created", "The first event.", response=_with_status("in_progress")
        ),
        "response.in_progress": _event(
            "response.in_progress", "The second event.", response=_with_status("in_progress")
        ),
        **item_events,
        **part_events,
        "response.output_text.delta": _event(
            "response.output_text.delta",
            "A piece of the text, as it comes.",
            **text_part,
            delta=STRING,
            logprobs=EMPTY_ARRAY,
        ),
        "response.output_text.done": _event(
            "response.output_text.done",
            "The whole text: the deltas joined.",
            **text_part,
            text=STRING,
            logprobs=EMPTY_ARRAY,
        ),
        "response.function_call_arguments.delta": _event(
            "response.function_call_arguments.delta",
            "A client tool call's arguments (all of them, in one piece).",
            **arguments,
            delta=STRING,
        ),
        "response.function_call_arguments.done": _event(
            "response.function_call_arguments.done",
            "A client tool call is whole.",
            **arguments,
            name=STRING,
            arguments=STRING,
        ),
        "response.completed": _event(
            "response.completed",
            "The last event of a finished turn.",
            response=_with_status("completed"),
        ),
        "response.incomplete": _event(
            "response.incomplete",
            "The last event of a turn cut short.",
            response=_with_status("incomplete"),
        ),
        "response.failed": _event(
            "response.failed",
            "The last event of a turn that failed after the stream began; nothing was stored.",
            response=_with_status("failed", error=ref("ResponseError")),
        ),
    }
    return {
        "ResponseStreamEvent": tagged("type", STREAM_EVENTS),
        **{STREAM_EVENTS[kind]: schema for kind, schema in events.items()},
    }
