"""The simple chat API: ``POST /api/chat``, ``GET``/``DELETE /api/sessions/{id}``, its OpenAPI.

One message in, one answer out; the server keeps each session's conversation in its store.
Errors are ``{"error": "...", "code": N}`` (see `api_error_body`).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from quart import Response, g, request

from .. import wire
from ..chat import Message, Sampling
from ..errors import ConversationBusy, RequestError, SessionNotFound
from ..runtime import AnswerDelta, TurnFinished
from .errors import Problem, api_error, api_error_body
from .guards import conversation_key, require_json
from .openapi_api import api_openapi_document
from .responses import json_response, sse_response
from .streaming import TurnBody, cut_short
from .translate import history_of, usage_of
from .turn import TurnFailed, TurnRequest

if TYPE_CHECKING:
    from quart_trio import QuartTrio

    from .state import ServerState
    from .turn import TurnEvent


class ReplyEncoder:
    """A streamed ``/api/chat`` answer: ``delta`` events, then ``done`` or ``error``."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id

    def first(self) -> bytes | None:
        return None

    def event(self, event: TurnEvent) -> bytes | None:
        if isinstance(event, AnswerDelta):
            return wire.encode_event(wire.StreamDelta(delta=event.text))
        if isinstance(event, TurnFinished):
            return wire.encode_event(
                wire.StreamDone(
                    message=event.text,
                    session_id=self.session_id,
                    usage=usage_of(event.usage),
                )
            )
        if isinstance(event, TurnFailed):
            return self.error(event.problem)
        return None

    def end(self) -> bytes:
        return self.error(cut_short())

    @staticmethod
    def error(problem: Problem) -> bytes:
        body = api_error_body(problem)
        return wire.encode_event(wire.StreamError(error=body.error, code=body.code))


def register_api_routes(app: QuartTrio, state: ServerState) -> None:
    """Add the simple chat API for ``state``'s agents to ``app``."""
    store = state.store
    assert store is not None, "serve api always has a session store"

    def session_key(session_id: str) -> str:
        return conversation_key(g.key_scope, session_id)

    @app.post("/api/chat")
    async def chat() -> Response:
        require_json(request)
        body = await request.get_data(cache=False, as_text=False)
        assert isinstance(body, bytes)
        parsed = wire.parse_api_chat_request(body)
        agent = parsed.agent or state.default_agent
        if agent not in state.agents:
            raise RequestError(
                f"unknown agent {agent!r}; this server has {', '.join(state.agents)}.",
                param="agent",
                code="agent_not_found",
            )
        session_id = parsed.session_id or uuid.uuid4().hex
        key = session_key(session_id)
        if await store.is_taken(key):  # a fast answer before a stream starts
            raise ConversationBusy(session_id)
        turn = TurnRequest(
            agent=agent,
            messages=[Message.user(parsed.message)],
            sampling=Sampling(),
            client_tools=[],
            conversation_id=key,
        )
        if parsed.stream:
            return sse_response(
                TurnBody(
                    state.runner,
                    turn,
                    ReplyEncoder(session_id),
                    keep_alive=state.options.keep_alive_interval,
                )
            )
        finished = await state.runner.run_to_end(turn)
        if isinstance(finished, Problem):
            return api_error(finished)
        return json_response(
            wire.ChatReply(
                message=finished.text,
                session_id=session_id,
                usage=usage_of(finished.usage),
            )
        )

    @app.get("/api/sessions/<session_id>")
    async def get_session(session_id: str) -> Response:
        session = await store.get(session_key(session_id))
        if session is None:
            raise SessionNotFound(session_id)
        return json_response(history_of(session_id, session))

    @app.delete("/api/sessions/<session_id>")
    async def delete_session(session_id: str) -> Response:
        key = session_key(session_id)
        if await store.is_taken(key):
            raise ConversationBusy(session_id)
        if not await store.delete(key):
            raise SessionNotFound(session_id)
        return Response(b"", status=204)

    document = api_openapi_document(state.agents)  # fixed for the server's life: built once

    @app.get("/openapi.json")
    async def openapi() -> Response:
        return json_response(document)
