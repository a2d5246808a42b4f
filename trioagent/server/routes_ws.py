"""WebSocket chat at ``/v1/ws``: one connection, many turns, cancellable (see `wire.ws`).

Each connection is a `ChatSocket`. Its reader loop reads frames; a ``message`` starts the
turn in a task of the connection's nursery, under its own cancel scope, so ``cancel`` stops
the turn (upstream call and tools) and the connection lives on. A turn commits through the
same store and `TurnRunner` as the HTTP APIs, so the failure-safety rule is theirs: a
cancelled, failed or disconnected turn leaves the conversation as it was.
"""

from __future__ import annotations

import logging
import math
import uuid
from typing import TYPE_CHECKING

import attrs
import trio
from quart import Response, websocket

from .. import wire
from ..chat import Message, Sampling
from ..errors import AuthError, RateLimitExceeded, RequestError
from ..runtime import AnswerDelta, ToolFinished, ToolStarted, TurnFinished, UsageUpdate
from ..store import MemoryStore
from .errors import problem_of
from .guards import (
    authenticate,
    check_key,
    conversation_key,
    origin_allowed,
    rate_client,
)
from .translate import history_of, usage_of
from .turn import TurnCancelled, TurnFailed, TurnRequest, TurnRunner

if TYPE_CHECKING:
    from quart_trio import QuartTrio

    from ..store import ConversationStore
    from .errors import Problem
    from .state import ServerState
    from .turn import TurnEvent

logger = logging.getLogger(__name__)

MAX_BAD_FRAMES = 5
"""Bad frames a connection may send; the next one closes it with 1008."""
POLICY_VIOLATION = 1008
GOING_AWAY = 1001


def frame_of(event: TurnEvent) -> object | None:
    """The frame that tells the client about a turn event."""
    match event:
        case AnswerDelta():
            return wire.DeltaFrame(text=event.text)
        case ToolStarted():
            return wire.ToolStartedFrame(
                id=event.call_id, name=event.name, arguments=event.arguments
            )
        case ToolFinished():
            return wire.ToolFinishedFrame(
                id=event.call_id,
                name=event.name,
                result=event.result[: wire.RESULT_PREVIEW],
                is_error=event.is_error,
            )
        case UsageUpdate():
            return wire.UsageFrame(usage=usage_of(event.usage))
        case TurnFinished():
            return wire.DoneFrame(
                text=event.text, usage=usage_of(event.usage), finish_reason=event.reason
            )
        case TurnFailed():
            return error_frame(event.problem, ends_turn=True)
        case TurnCancelled():
            return wire.CancelledFrame()
    return None


def error_frame(problem: Problem, *, ends_turn: bool) -> wire.ErrorFrame:
    return wire.ErrorFrame(message=problem.message, code=problem.status, ends_turn=ends_turn)


class _Closed(Exception):
    """The server closed the connection (policy or dead peer)."""


@attrs.define(kw_only=True)
class ChatSocket:
    """One WebSocket connection: its auth, agent, conversation and running turn."""

    state: ServerState
    store: ConversationStore
    runner: TurnRunner
    scope: str | None
    """The API key's scope; None until authenticated when the server has keys."""
    authenticated: bool
    agent: str | None = None
    conversation_id: str | None = None
    turn_stop: trio.CancelScope | None = None
    """The running turn's stop scope; None when no turn runs."""
    bad_frames: int = 0
    last_heard: float = attrs.Factory(trio.current_time)
    _send_lock: trio.Lock = attrs.Factory(trio.Lock)
    _turn_ended: trio.Event = attrs.Factory(trio.Event)

    async def serve(self) -> None:
        """Read frames until the client leaves or the server closes the connection."""
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._heartbeat)
                nursery.start_soon(self._close_on_shutdown)
                await self._read(nursery)
        except* _Closed:
            pass

    async def send(self, frame: object) -> None:
        async with self._send_lock:
            await websocket.send(wire.dumps(frame).decode())

    async def close(self, code: int, reason: str) -> None:
        """Close the connection and stop everything it runs."""
        with trio.move_on_after(2):
            await websocket.close(code, reason)
        raise _Closed(reason)

    async def _close_on_shutdown(self) -> None:
        """When the server stops: close at once if idle, else when the turn has ended."""
        await self.state.stopping.wait()
        while self.turn_stop is not None:
            await self._turn_ended.wait()
        await self.close(GOING_AWAY, "the server is shutting down")

    async def _read(self, nursery: trio.Nursery) -> None:
        hello_by = trio.current_time() + self.state.options.body_timeout
        while True:
            with trio.move_on_at(math.inf if self.agent else hello_by) as waiting:
                data = await websocket.receive()
                self.last_heard = trio.current_time()
                await self._dispatch(data, nursery)
            if waiting.cancelled_caught:
                await self.close(POLICY_VIOLATION, "no hello frame in time")

    async def _dispatch(self, data: str | bytes, nursery: trio.Nursery) -> None:
        if isinstance(data, bytes):
            return await self._bad("Send JSON text frames, not binary ones.")
        if len(data.encode()) > self.state.options.max_request_size:
            return await self._bad(
                f"The frame is larger than the server's --max-request-size "
                f"({self.state.options.max_request_size} bytes).",
                code=413,
            )
        try:
            frame = wire.parse_client_frame(data)
        except RequestError as exc:
            return await self._bad(exc.message)
        match frame:
            case wire.PingFrame():
                await self.send(wire.PongFrame())
            case wire.PongFrame():
                pass
            case wire.HelloFrame():
                await self._hello(frame)
            case wire.MessageFrame():
                await self._message(frame, nursery)
            case wire.CancelFrame():
                if self.turn_stop is not None:
                    self.turn_stop.cancel()

    async def _bad(self, message: str, *, code: int = 400, ends_turn: bool = False) -> None:
        self.bad_frames += 1
        if self.bad_frames > MAX_BAD_FRAMES:
            await self.close(POLICY_VIOLATION, "too many bad frames")
        await self.send(wire.ErrorFrame(message=message, code=code, ends_turn=ends_turn))

    async def _hello(self, frame: wire.HelloFrame) -> None:
        if self.turn_stop is not None:
            await self.send(
                wire.ErrorFrame(
                    message="A turn is running: wait for it to end, or cancel it, before a hello.",
                    code=409,
                )
            )
            return
        if not self.authenticated:
            try:
                self.scope = check_key(frame.api_key or "", self.state.options.api_keys)
            except AuthError:
                await self.send(
                    wire.ErrorFrame(
                        message="Missing or incorrect API key: send it as 'api_key' in the hello "
                        "frame, or as 'Authorization: Bearer <key>'.",
                        code=401,
                    )
                )
                await self.close(POLICY_VIOLATION, "authentication failed")
            self.authenticated = True
        agent = frame.agent or self.state.default_agent
        if agent not in self.state.agents:
            await self.send(
                wire.ErrorFrame(
                    message=f"Unknown agent {agent!r}: this server has "
                    f"{', '.join(self.state.agents)}.",
                    code=400,
                )
            )
            return
        conversation_id = frame.conversation_id or uuid.uuid4().hex
        session = await self.store.get(conversation_key(self.scope, conversation_id))
        self.agent, self.conversation_id = agent, conversation_id
        history = history_of(conversation_id, session).messages if session else ()
        await self.send(
            wire.ReadyFrame(
                agent=agent,
                agents=tuple(self.state.agents),
                conversation_id=conversation_id,
                welcome=self.state.team.file.agents[agent].welcome_message,
                messages=tuple(_preview(message) for message in history),
            )
        )

    async def _message(self, frame: wire.MessageFrame, nursery: trio.Nursery) -> None:
        if self.agent is None or self.conversation_id is None:
            return await self._bad("Send a hello frame first.", ends_turn=True)
        if self.turn_stop is not None:
            await self.send(
                wire.ErrorFrame(
                    message="A turn is already running: wait for 'done', or send 'cancel'.",
                    code=409,
                )
            )
            return
        try:
            self.state.check_rate(rate_client(self.scope, websocket.remote_addr))
        except RateLimitExceeded as exc:
            await self.send(error_frame(problem_of(exc), ends_turn=True))
            return
        request = TurnRequest(
            agent=self.agent,
            messages=[Message.user(frame.text)],
            sampling=Sampling(),
            client_tools=[],
            conversation_id=conversation_key(self.scope, self.conversation_id),
        )
        self.turn_stop = request.stop
        nursery.start_soon(self._turn, request)

    async def _turn(self, request: TurnRequest) -> None:
        try:
            async with self.runner.open_turn(request) as events:
                async for event in events:
                    frame = frame_of(event)
                    if frame is not None:
                        await self.send(frame)
        finally:
            self.turn_stop = None
            self._turn_ended.set()
            self._turn_ended = trio.Event()

    async def _heartbeat(self) -> None:
        """Ping a quiet client; close the connection when it stays silent after a ping."""
        interval = self.state.options.ws_ping_interval
        while True:
            await trio.sleep_until(self.last_heard + interval)
            if trio.current_time() - self.last_heard < interval:
                continue
            pinged = trio.current_time()
            await self.send(wire.PingFrame())
            await trio.sleep(interval)
            if self.last_heard < pinged:
                logger.info("closing a WebSocket whose client stopped answering pings")
                await self.close(GOING_AWAY, "no answer to ping")


def _preview(message: wire.HistoryMessage) -> wire.HistoryMessage:
    """A stored message as `ReadyFrame` shows it: tool results cut like `tool_finished`."""
    if message.role != "tool" or len(message.content) <= wire.RESULT_PREVIEW:
        return message
    return attrs.evolve(message, content=message.content[: wire.RESULT_PREVIEW])


def register_ws_routes(app: QuartTrio, state: ServerState) -> None:
    """Add the WebSocket chat route to ``app`` (both APIs have it)."""

    @app.websocket("/v1/ws")
    async def chat_socket() -> Response | None:
        options = state.options
        if not origin_allowed(
            websocket.headers.get("Origin"), websocket.headers.get("Host"), options.cors_origins
        ):
            return Response("Origin not allowed: add it with --cors-origin.", status=403)
        scope, authenticated = None, not options.api_keys
        if "Authorization" in websocket.headers:
            try:
                scope = authenticate(websocket, options.api_keys)
            except AuthError as error:
                return Response(error.message, status=401, headers={"WWW-Authenticate": "Bearer"})
            authenticated = True
        try:
            state.check_rate(rate_client(scope, websocket.remote_addr))
        except RateLimitExceeded as exc:
            problem = problem_of(exc)
            return Response(problem.message, status=429, headers=problem.headers)
        if state.stopping.is_set():
            return Response("The server is shutting down.", status=503)
        await websocket.accept()
        # Without a shared store (serve chat with no cache), a conversation lives as long
        # as its connection.
        store, runner = state.store, state.runner
        if store is None:
            store = MemoryStore(max_items=1, ttl=math.inf)
            runner = TurnRunner(state.pool, store, options.request_timeout, state.metrics)
        with state.metrics.open_stream():
            await ChatSocket(
                state=state, store=store, runner=runner, scope=scope, authenticated=authenticated
            ).serve()
        return None
