"""One agent turn for a server request: the nursery, the timeout, the commit.

``open_turn`` starts the producer task in a nursery it owns and yields the channel of
``TurnEvent``s; ``run_to_end`` runs the same turn in the caller's task when nobody reads
along. The turn takes the conversation (a clone), borrows a runtime, runs the loop under
``fail_after(request_timeout)`` and commits only after the turn finished. Every failure
becomes one ``TurnFailed`` event; leaving the ``async with`` (or cancelling the caller)
cancels whatever still runs (upstream call, tools) and commits nothing.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

import attrs
import trio

from ..errors import ConversationBusy, TurnTimeout, UnknownResponse, unwrap
from ..runtime import AnswerDelta, RuntimeEvent, Session, TurnFinished, run_agent
from .errors import Problem, problem_of
from .guards import client_conversation_id
from .metrics import Metrics
from .translate import add_input, extend_conversation

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from ..chat import Message, Sampling, ToolSpec
    from ..runtime import RuntimePool
    from ..store import ConversationStore
    from .metrics import TurnTrack

logger = logging.getLogger(__name__)


@attrs.frozen
class TurnFailed:
    """The turn failed; nothing was committed."""

    problem: Problem


@attrs.frozen
class TurnCancelled:
    """The client stopped the turn (``TurnRequest.stop``) before it ended; nothing was
    committed."""


TurnEvent = RuntimeEvent | TurnFailed | TurnCancelled


class _Stopped(Exception):
    """The agent loop was stopped through ``TurnRequest.stop``."""


@attrs.frozen(kw_only=True)
class TurnRequest:
    """Everything a turn needs, decided by the route before the response starts."""

    agent: str
    messages: list[Message]
    sampling: Sampling
    client_tools: list[ToolSpec]
    conversation_id: str | None = None
    """The store key (already scoped to the caller's API key), or None for no cache."""
    continues: str | None = None
    """A stored conversation (a store key) this turn starts from, held for the turn so that
    no other turn continues it meanwhile, and left as it is: the turn is committed under
    ``conversation_id`` (if any). A Responses API ``previous_response_id``."""
    store: ConversationStore | None = None
    """The store of ``conversation_id`` and ``continues``, when not the runner's own."""
    instructions: str | None = None
    """A Responses API request's ``instructions``: given to every model call of the turn
    after the agent's own, never stored in the conversation."""
    on_commit: Callable[[Session, TurnFinished], None] | None = None
    """Called with the finished conversation just before it is committed (to record what
    the front needs with it, in ``session.tool_state``)."""
    stop: trio.CancelScope = attrs.Factory(trio.CancelScope)
    """Cancel it to stop the turn: only the agent's work stops, so a turn that already
    finished its work still commits and ends with `TurnFinished`, never half of each."""


@attrs.define
class TurnRunner:
    """Runs turns for one server: its pool, its store, its timeout, its metrics."""

    pool: RuntimePool
    store: ConversationStore | None
    timeout: float
    metrics: Metrics = attrs.Factory(Metrics)

    @asynccontextmanager
    async def open_turn(
        self, request: TurnRequest
    ) -> AsyncIterator[trio.MemoryReceiveChannel[TurnEvent]]:
        """Run ``request``'s turn while the caller reads its events."""
        send, receive = trio.open_memory_channel[TurnEvent](0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._produce, request, send)
            try:
                yield receive
            finally:
                # Cancel first: closing first would wake a producer waiting in send() with
                # BrokenResourceError, a failed turn, instead of a cancelled one.
                nursery.cancel_scope.cancel()
                receive.close()

    async def run_to_end(self, request: TurnRequest) -> TurnFinished | Problem:
        """Run ``request``'s turn with nobody reading along; return how it ended.

        It runs in the caller's task: with no reader, its events have nowhere to go, and a
        producer task and channel would only cost scheduler trips."""
        with self.metrics.track_turn(request.agent) as track:
            event, _ = await _Turn(self, request, None, track).outcome()
        if isinstance(event, TurnFinished):
            return event
        if isinstance(event, TurnFailed):
            return event.problem
        return problem_of(TurnTimeout("The turn was stopped before it could answer."))

    async def _produce(self, request: TurnRequest, send: trio.MemorySendChannel[TurnEvent]) -> None:
        """The producer task: run the turn, send its events, then close ``send``."""
        async with send:
            with self.metrics.track_turn(request.agent) as track:
                await _Turn(self, request, send, track).run()


@attrs.define
class _Turn:
    """One turn being produced: what it runs, where its events go, how it is measured."""

    runner: TurnRunner
    request: TurnRequest
    send: trio.MemorySendChannel[TurnEvent] | None
    """Where the turn's events go; None for nobody (only the last event counts)."""
    track: TurnTrack

    async def run(self) -> None:
        """Run the turn and send its last event: `TurnFinished` (once committed),
        `TurnCancelled` or `TurnFailed`."""
        assert self.send is not None
        event, deadline = await self.outcome()
        # The reader may be gone or stuck; never wait past the deadline to tell it.
        with trio.move_on_at(deadline):
            await self.send.send(event)

    async def outcome(self) -> tuple[TurnEvent, float]:
        """Run the turn under the request timeout; return its last event and the time by
        which to deliver it."""
        agent = self.request.agent
        logger.debug("turn of agent %s: started", agent)
        try:
            return await self._outcome()
        finally:
            logger.debug(
                "turn of agent %s: %s after %.3f s", agent, self.track.outcome, self.track.duration
            )

    async def _outcome(self) -> tuple[TurnEvent, float]:
        timeout = self.runner.timeout
        deadline = trio.current_time() + timeout
        event: TurnEvent
        try:
            with trio.fail_at(deadline):
                event = await self._run()
            self.track.end("ok")
        except _Stopped:
            event = TurnCancelled()
            self.track.end("cancelled")
        except trio.TooSlowError:
            event = TurnFailed(
                problem_of(
                    TurnTimeout(
                        f"The turn took longer than the server's request timeout "
                        f"({timeout:g} s) and was cancelled; nothing was saved."
                    )
                )
            )
            self.track.end("timeout")
            deadline = trio.current_time() + 1
        except Exception as exc:
            failure = self._as_client_knows_it(unwrap(exc))
            event = TurnFailed(problem_of(failure))
            self.track.end("error", failure)
        return event, deadline

    def _as_client_knows_it(self, failure: BaseException) -> BaseException:
        """``failure``, with a busy conversation named by the id the client sent (the store
        names its key)."""
        request = self.request
        if not isinstance(failure, ConversationBusy):
            return failure
        if request.continues is not None:
            return ConversationBusy(
                client_conversation_id(request.continues), param="previous_response_id"
            )
        if request.conversation_id is not None:
            return ConversationBusy(client_conversation_id(request.conversation_id))
        return failure

    async def _run(self) -> TurnFinished:
        """Run the turn; return its TurnFinished only once the conversation is committed."""
        request = self.request
        store = self.runner.store if request.store is None else request.store
        if store is None or (request.conversation_id is None and request.continues is None):
            return await self._loop(Session.from_messages(request.messages))
        async with AsyncExitStack() as stack:
            start: Session | None = None
            if request.continues is not None:
                previous = await stack.enter_async_context(store.turn(request.continues))
                if not previous.existed:  # gone since the route looked (expired, deleted)
                    raise UnknownResponse(
                        client_conversation_id(request.continues), param="previous_response_id"
                    )
                start = previous.session
            if request.conversation_id is None:
                assert start is not None
                add_input(start, request.messages)
                return await self._loop(start)
            stored = await stack.enter_async_context(store.turn(request.conversation_id))
            if start is not None:
                stored.session.messages[:] = start.messages
                stored.session.usage = start.usage
                stored.session.tool_state = start.tool_state
                add_input(stored.session, request.messages)
            elif stored.existed:
                extend_conversation(stored.session, request.messages)
            else:
                stored.session.messages.extend(request.messages)
            finished = await self._loop(stored.session)
            if request.on_commit is not None:
                request.on_commit(stored.session, finished)
            stored.commit()
        return finished

    async def _loop(self, session: Session) -> TurnFinished:
        """Run the agent loop on ``session`` with a borrowed runtime.

        Raises:
            _Stopped: the client stopped the turn (``TurnRequest.stop``) first.
        """
        request = self.request
        with request.stop:
            async with self.runner.pool.borrow(request.agent) as runtime:
                finished = await run_agent(
                    runtime,
                    session,
                    self._emit,
                    sampling=request.sampling,
                    client_tools=request.client_tools,
                    instructions=request.instructions,
                    conversation_id=(
                        None
                        if request.conversation_id is None
                        else client_conversation_id(request.conversation_id)
                    ),
                )
        if request.stop.cancelled_caught:
            raise _Stopped
        return finished

    async def _emit(self, event: RuntimeEvent) -> None:
        if isinstance(event, AnswerDelta) and event.text:
            self.track.text()
        if self.send is not None and not isinstance(event, TurnFinished):
            await self.send.send(event)  # (TurnFinished is sent by `run` after the commit)
