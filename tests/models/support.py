"""What the tests of the HTTP model clients share: a fast retry policy, a message, a tool,
and `collect`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from trioagent.chat import Message, Sampling, ToolSpec
from trioagent.models import RetryPolicy

if TYPE_CHECKING:
    from collections.abc import Sequence

    from trioagent.models import ModelClient, ModelEvent

FAST = RetryPolicy(base_delay=0.001, max_delay=0.005, max_retry_after=1.0)
HELLO = [Message.user("hi")]
WEATHER = ToolSpec(
    "get_weather",
    "The weather in a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}},
)


async def collect(
    client: ModelClient,
    messages: Sequence[Message] = HELLO,
    tools: Sequence[ToolSpec] = (),
    sampling: Sampling | None = None,
) -> list[ModelEvent]:
    """Every event of one call, within 5 s."""
    with trio.fail_after(5):
        async with client.stream(messages, tools, sampling or Sampling()) as events:
            return [event async for event in events]
