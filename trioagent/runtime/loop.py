"""The agent loop: model call, tool calls, model call again, until the agent answers."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import attrs
import trio

from .. import tracing
from ..chat import FinishReason, Message, Sampling, ToolCall, ToolResult, ToolSpec, Usage
from ..models import base as model_events
from ..models import coalesce
from ..tools.base import ToolContext
from . import events
from .session import Session

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from .agent import Runtime

    Emit = Callable[[events.RuntimeEvent], Awaitable[None]]

logger = logging.getLogger(__name__)

PARAGRAPH = "\n\n"
DEFAULT_SAMPLING = Sampling()


async def run_turn(
    runtime: Runtime,
    session: Session,
    send_channel: trio.MemorySendChannel[events.RuntimeEvent],
    *,
    sampling: Sampling = DEFAULT_SAMPLING,
    client_tools: Sequence[ToolSpec] = (),
) -> None:
    """Run one turn of ``runtime``'s agent on ``session``, reporting events on the channel.

    The session must already end with the turn's input (a user message, or tool results
    for client tool calls). The loop appends what the agent says and what its tools return,
    so callers pass a clone and commit it only when ``TurnFinished`` arrived. The channel is
    closed on exit, whatever happens.
    """
    async with send_channel:
        await run_agent(
            runtime, session, send_channel.send, sampling=sampling, client_tools=client_tools
        )


async def run_agent(
    runtime: Runtime,
    session: Session,
    emit: Emit,
    *,
    sampling: Sampling = DEFAULT_SAMPLING,
    client_tools: Sequence[ToolSpec] = (),
    instructions: str | None = None,
    conversation_id: str | None = None,
) -> events.TurnFinished:
    """The loop itself; ``emit`` receives each event. Returns the final event (also emitted).

    ``instructions`` (a Responses API request's) follow the agent's own in every model call
    of this turn, and are never added to ``session``. The turn is traced as an
    ``invoke_agent`` span of conversation ``conversation_id`` (the client's id, if any).
    """
    with tracing.agent_span(
        runtime.name,
        description=runtime.config.description,
        model=runtime.model_config,
        conversation_id=conversation_id,
    ) as span:
        finished = await _run_loop(runtime, session, emit, sampling, client_tools, instructions)
        span.finished(finished.reason, finished.usage)
    return finished


async def _run_loop(
    runtime: Runtime,
    session: Session,
    emit: Emit,
    sampling: Sampling,
    client_tools: Sequence[ToolSpec],
    instructions: str | None,
) -> events.TurnFinished:
    agent_tools = runtime.tool_specs()
    agent_tool_names = {spec.name for spec in agent_tools}
    client_tool_names = {spec.name for spec in client_tools}
    offered = [*agent_tools, *client_tools]
    offered_names = [spec.name for spec in offered]
    usage = Usage()
    texts: list[str] = []
    reason: FinishReason = "length"
    client_calls: tuple[ToolCall, ...] = ()

    for _ in range(runtime.max_iterations):
        reply = await _call_model(runtime, session, offered, sampling, emit, texts, instructions)
        if sampling.tool_choice is not None:
            # A client's tool_choice shapes the turn's first reply; after the agent's own
            # tools ran, forcing a tool again would loop until max_iterations.
            sampling = attrs.evolve(sampling, tool_choice=None)
        usage += reply.usage
        await emit(events.UsageUpdate(usage))
        session.messages.append(Message.assistant(reply.text, reply.tool_calls))
        if reply.reason != "tool_calls" or not reply.tool_calls:
            reason = "length" if reply.reason == "length" else "stop"
            break
        # A name that is neither the agent's nor the client's (a hallucination, or a tool
        # left out with `tools:`) is answered here with an error result, like a failed
        # tool: handing it to a client that never offered it would break the history.
        client_calls = tuple(
            c
            for c in reply.tool_calls
            if c.name not in agent_tool_names and c.name in client_tool_names
        )
        own = [c for c in reply.tool_calls if c not in client_calls]
        usage += await _run_tools(runtime, session, own, emit, offered=offered_names)
        if client_calls:
            reason = "tool_calls"
            break
    else:
        logger.info(
            "agent %s stopped after max_iterations=%d", runtime.name, runtime.max_iterations
        )

    session.usage += usage
    finished = events.TurnFinished(reason, "".join(texts), usage, client_calls)
    await emit(finished)
    return finished


class _Reply:
    __slots__ = ("reason", "text", "tool_calls", "usage")

    def __init__(self) -> None:
        self.text = ""
        self.tool_calls: tuple[ToolCall, ...] = ()
        self.usage = Usage()
        self.reason: FinishReason = "stop"


async def _call_model(
    runtime: Runtime,
    session: Session,
    tools: Sequence[ToolSpec],
    sampling: Sampling,
    emit: Emit,
    texts: list[str],
    instructions: str | None = None,
) -> _Reply:
    """One model call; streams its text and collects its tool calls."""
    reply = _Reply()
    pieces: list[str] = []
    calls: dict[int, list[str]] = {}  # index -> [id, name, arguments...]
    extra = [Message.system(instructions)] if instructions else []
    messages = [*runtime.preamble(), *extra, *session.messages]
    with tracing.chat_span(runtime.model_config, sampling, messages) as span:
        async with runtime.model.stream(messages, tools, sampling) as stream:
            while batch := await stream.receive_batch():
                span.received()
                # Events that arrived together travel on together: one emit, not one each.
                await _events_of(coalesce(batch), reply, pieces, calls, emit, texts)
        reply.text = "".join(pieces)
        reply.tool_calls = tuple(
            ToolCall(call[0] or f"call_{index}", call[1], "".join(call[2:]) or "{}")
            for index, call in sorted(calls.items())
        )
        if reply.tool_calls and reply.reason == "stop":
            reply.reason = "tool_calls"  # some servers say "stop" after tool calls
        span.finished(reply.reason, reply.usage, reply.text, reply.tool_calls)
    return reply


async def _events_of(
    batch: Sequence[model_events.ModelEvent],
    reply: _Reply,
    pieces: list[str],
    calls: dict[int, list[str]],
    emit: Emit,
    texts: list[str],
) -> None:
    """Apply one batch of a model call's events to its reply; emit the batch's text."""
    for event in batch:
        if isinstance(event, model_events.TextDelta):
            if not event.text:
                continue
            text = event.text
            if not pieces and texts:
                text = PARAGRAPH + text  # the text of a later model call: a new paragraph
            pieces.append(event.text)
            texts.append(text)
            await emit(events.AnswerDelta(text))
        elif isinstance(event, model_events.ToolCallDelta):
            call = calls.setdefault(event.index, ["", ""])
            call[0] = event.id or call[0]
            call[1] = event.name or call[1]
            call.append(event.arguments)
        elif isinstance(event, model_events.UsageReport):
            reply.usage = event.usage
        else:
            reply.reason = event.reason


async def _run_tools(
    runtime: Runtime,
    session: Session,
    calls: Sequence[ToolCall],
    emit: Emit,
    *,
    offered: Sequence[str],
) -> Usage:
    """Run the agent's tool calls concurrently; append their results in call order.

    A call of a tool that is not ``offered`` gets an error result naming the tools that are.
    """
    results: list[ToolResult | None] = [None] * len(calls)
    sub_usage = [Usage()]

    async def run_sub_agent(name: str, task: str) -> tuple[str, Usage]:
        answer, used = await _run_sub_agent(runtime, name, task, emit)
        sub_usage[0] += used
        return answer, used

    ctx = ToolContext(
        working_dir=runtime.working_dir, state=session.tool_state, run_sub_agent=run_sub_agent
    )

    async def run_one(i: int, call: ToolCall) -> None:
        await emit(events.ToolStarted(call.id, call.name, call.arguments))
        with tracing.tool_span(call) as span:  # a sub-agent's turn is traced under it
            if call.name in offered:
                result = await runtime.toolbox.call(call.name, call.arguments, ctx)
            else:
                result = ToolResult.error(
                    f"unknown tool {call.name!r}; the tools you can call are: "
                    f"{', '.join(offered) or 'none'}"
                )
            span.finished(result)
        results[i] = result
        await emit(events.ToolFinished(call.id, call.name, result.content, result.is_error))

    async with trio.open_nursery() as nursery:
        for i, call in enumerate(calls):
            nursery.start_soon(run_one, i, call)
    for call, result in zip(calls, results, strict=True):
        assert result is not None
        session.messages.append(Message.tool(call.id, result.content))
    return sub_usage[0]


async def _run_sub_agent(runtime: Runtime, name: str, task: str, emit: Emit) -> tuple[str, Usage]:
    """Run ``runtime``'s sub-agent ``name`` on ``task`` in a fresh session; return its
    answer and usage.

    Only its tool activity is forwarded to ``emit``: its text is the tool result.
    """

    async def forward(event: events.RuntimeEvent) -> None:
        if isinstance(event, events.ToolStarted | events.ToolFinished):
            await emit(event)

    async with runtime.pool.borrow(name) as sub:
        session = Session.from_messages([Message.user(task)])
        finished = await run_agent(sub, session, forward)
    return finished.text, finished.usage
