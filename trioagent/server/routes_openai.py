"""The OpenAI-compatible routes: /v1/models, /v1/chat/completions, /openapi.json."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from quart import Response, g, request

from .. import wire
from ..errors import ConversationBusy, RequestError, UnknownModel
from ..wire import openai as w
from ..wire import rules
from .errors import NO_RETRY, Problem, openai_error
from .guards import conversation_key, require_json
from .openapi import openapi_document
from .responses import json_response, sse_response
from .streaming import ChunkEncoder, TurnBody, completion_id
from .translate import (
    client_tools_of,
    messages_of,
    response_tool_calls,
    sampling_of,
    usage_of,
)
from .turn import TurnRequest

if TYPE_CHECKING:
    from quart_trio import QuartTrio

    from .state import ServerState

log = logging.getLogger(__name__)


def register_openai_routes(app: QuartTrio, state: ServerState) -> None:
    """Add the OpenAI-compatible routes for ``state``'s agents to ``app``."""

    def model_object(name: str) -> w.Model:
        return w.Model(id=name, created=state.created)

    @app.get("/openapi.json")
    async def openapi() -> Response:
        return json_response(openapi_document(state.agents))

    @app.get("/v1/models")
    async def list_models() -> Response:
        return json_response(w.ModelList(data=tuple(model_object(a) for a in state.agents)))

    @app.get("/v1/models/<path:model>")
    async def get_model(model: str) -> Response:
        if model not in state.agents:
            raise UnknownModel(model)
        return json_response(model_object(model))

    @app.post("/v1/chat/completions")
    async def chat_completions() -> Response:
        require_json(request)
        body = await request.get_data(cache=False, as_text=False)
        assert isinstance(body, bytes)
        parsed = wire.parse_chat_request(body)
        turn = await turn_request(parsed)
        conversation_id = request.headers.get("X-Conversation-Id")
        if parsed.stream:
            include_usage = bool(parsed.stream_options and parsed.stream_options.include_usage)
            encoder = ChunkEncoder(parsed.model, include_usage=include_usage)
            response = sse_response(
                TurnBody(
                    state.runner,
                    turn,
                    encoder,
                    keep_alive=state.options.keep_alive_interval,
                )
            )
        else:
            response = await complete(parsed.model, turn)
        if conversation_id and state.store is not None:
            response.headers["X-Conversation-Id"] = conversation_id
        return response

    async def turn_request(parsed: w.ChatCompletionRequest) -> TurnRequest:
        """Decide everything that can fail before the response starts."""
        if parsed.model not in state.agents:
            raise UnknownModel(parsed.model)
        sampling = sampling_of(parsed)
        client_tools = state.client_tools_for(parsed.model, client_tools_of(parsed), sampling)
        return TurnRequest(
            agent=parsed.model,
            messages=messages_of(parsed),
            sampling=sampling,
            client_tools=client_tools,
            conversation_id=await scoped_conversation_id(),
        )

    async def scoped_conversation_id() -> str | None:
        conversation_id = request.headers.get("X-Conversation-Id")
        if conversation_id is None or state.store is None:
            return None
        if not rules.SESSION_ID.fullmatch(conversation_id):
            raise RequestError(
                f"X-Conversation-Id must be {rules.SESSION_ID_CHARACTERS}.",
                param="X-Conversation-Id",
            )
        key = conversation_key(g.key_scope, conversation_id)
        if await state.store.is_taken(key):  # a fast answer before a stream starts
            raise ConversationBusy(conversation_id)
        return key

    async def complete(model: str, turn: TurnRequest) -> Response:
        """Run a turn to its end and answer with one chat.completion."""
        finished = await state.runner.run_to_end(turn)
        if isinstance(finished, Problem):
            response = openai_error(finished)
            response.headers.update(NO_RETRY)
            return response
        message = w.AssistantMessage(
            content=finished.text or (None if finished.client_tool_calls else ""),
            tool_calls=response_tool_calls(finished.client_tool_calls),
        )
        return json_response(
            w.ChatCompletion(
                id=completion_id(),
                created=int(time.time()),
                model=model,
                choices=(w.Choice(message=message, finish_reason=finished.reason),),
                usage=usage_of(finished.usage),
            )
        )
