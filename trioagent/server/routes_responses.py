"""The OpenAI Responses API: ``/v1/responses`` and the stored responses.

``POST /v1/responses`` runs the agent's turn like ``/v1/chat/completions`` does (same
guards, same `TurnRunner`), reading input items and answering with a ``response`` object
or a stream of named events. A stored response (``store`` is true by default) is the whole
conversation up to it, kept in the responses store under the caller's API key, and written
only when the turn finished: ``previous_response_id`` continues it (holding it for the
turn, so a second continuation at the same time gets 409), and a failed, timed-out or
cancelled response stores nothing.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import attrs
from quart import Response, g, request

from .. import wire
from ..errors import ConversationBusy, RequestError, UnknownModel, UnknownResponse
from ..wire import responses as r
from .errors import NO_RETRY, Problem, openai_error
from .guards import conversation_key, require_json
from .responses import json_response, sse_response
from .responses_stream import ResponsesEncoder
from .streaming import TurnBody
from .translate_responses import (
    RECORD_KEY,
    client_tools_of,
    finished_object,
    input_item_of,
    input_records,
    messages_of,
    new_response_id,
    now,
    response_of_item,
    sampling_of,
)
from .turn import TurnRequest

if TYPE_CHECKING:
    from quart_trio import QuartTrio

    from ..runtime import Session, TurnFinished
    from ..wire.responses import ResponseCreateRequest
    from .state import ServerState

log = logging.getLogger(__name__)
RESPONSE_ID = re.compile(r"resp_[A-Za-z0-9]{1,120}")
PAGE_MAX = 100
LIMIT = re.compile(r"[0-9]{1,3}")


def register_responses_routes(app: QuartTrio, state: ServerState) -> None:
    """Add the Responses API routes for ``state``'s agents to ``app``."""

    def key_of(response_id: str, param: str | None = None) -> str:
        if not RESPONSE_ID.fullmatch(response_id):
            raise UnknownResponse(response_id, param=param)
        return conversation_key(g.key_scope, response_id)

    async def stored(response_id: str) -> dict[str, Any]:
        """The stored record of a response (its object and input items), or 404."""
        if state.responses is None:
            raise UnknownResponse(response_id)
        session = await state.responses.get(key_of(response_id))
        record = session.tool_state.get(RECORD_KEY) if session is not None else None
        if not isinstance(record, dict):
            raise UnknownResponse(response_id)
        return record

    async def resolved(parsed: ResponseCreateRequest) -> ResponseCreateRequest:
        """``parsed`` with each ``item_reference`` replaced by the stored item it names."""
        if isinstance(parsed.input, str) or not any(
            isinstance(item, r.ItemReference) for item in parsed.input
        ):
            return parsed
        items: list[r.InputItem] = []
        for i, item in enumerate(parsed.input):
            if not isinstance(item, r.ItemReference):
                items.append(item)
                continue
            owner = response_of_item(item.id)
            found = None
            if owner is not None and RESPONSE_ID.fullmatch(owner) and state.responses:
                session = await state.responses.get(conversation_key(g.key_scope, owner))
                record = session.tool_state.get(RECORD_KEY) if session else None
                outputs = record["response"]["output"] if isinstance(record, dict) else ()
                found = next((o for o in outputs if o.get("id") == item.id), None)
            if found is None:
                raise RequestError(
                    f"No stored item {item.id!r}: its response was not stored (store: "
                    "false), expired or was deleted; send the item itself instead.",
                    param=f"input[{i}].id",
                )
            items.append(input_item_of(found))
        return attrs.evolve(parsed, input=tuple(items))

    @app.post("/v1/responses")
    async def create_response() -> Response:
        require_json(request)
        body = await request.get_data(cache=False, as_text=False)
        assert isinstance(body, bytes)
        parsed = await resolved(wire.parse_responses_request(body))
        if state.responses is None:  # --responses-max 0: the answer says nothing is kept
            parsed = attrs.evolve(parsed, store=False)
        response_id = new_response_id()
        created_at = now()
        turn = await turn_request(parsed, response_id, created_at)
        if parsed.stream:
            encoder = ResponsesEncoder(response_id, parsed, created_at)
            return sse_response(
                TurnBody(
                    state.runner,
                    turn,
                    encoder,
                    keep_alive=state.options.keep_alive_interval,
                )
            )
        finished = await state.runner.run_to_end(turn)
        if isinstance(finished, Problem):  # nothing was stored
            response = openai_error(finished)
            response.headers.update(NO_RETRY)
            return response
        return json_response(finished_object(response_id, parsed, created_at, finished))

    async def turn_request(
        parsed: ResponseCreateRequest, response_id: str, created_at: int
    ) -> TurnRequest:
        """Decide everything that can fail before the response starts."""
        if parsed.model not in state.agents:
            raise UnknownModel(parsed.model)
        sampling = sampling_of(parsed)
        client_tools = state.client_tools_for(parsed.model, client_tools_of(parsed), sampling)
        messages = messages_of(parsed)
        if not any(m.role in ("user", "tool") for m in messages):
            raise RequestError(
                "The input has no user message and no function_call_output to answer.",
                param="input",
            )
        continues = None
        if parsed.previous_response_id is not None:
            continues = key_of(parsed.previous_response_id, "previous_response_id")
            if state.responses is None or await state.responses.get(continues) is None:
                raise UnknownResponse(parsed.previous_response_id, param="previous_response_id")
            if await state.responses.is_taken(continues):
                raise ConversationBusy(parsed.previous_response_id, param="previous_response_id")
        keep = parsed.store is not False and state.responses is not None
        inputs = input_records(response_id, parsed)

        def record(session: Session, finished: TurnFinished) -> None:
            response = finished_object(response_id, parsed, created_at, finished)
            session.tool_state[RECORD_KEY] = {
                "response": wire.converter.unstructure(response),
                "input_items": inputs,
            }

        return TurnRequest(
            agent=parsed.model,
            messages=messages,
            sampling=sampling,
            client_tools=client_tools,
            store=state.responses,
            continues=continues,
            conversation_id=conversation_key(g.key_scope, response_id) if keep else None,
            instructions=parsed.instructions,
            on_commit=record,
        )

    @app.get("/v1/responses/<response_id>")
    async def get_response(response_id: str) -> Response:
        return json_response((await stored(response_id))["response"])

    @app.delete("/v1/responses/<response_id>")
    async def delete_response(response_id: str) -> Response:
        key = key_of(response_id)
        if state.responses is None or not await state.responses.delete(key):
            raise UnknownResponse(response_id)
        return json_response(r.DeletedResponse(id=response_id))

    @app.get("/v1/responses/<response_id>/input_items")
    async def list_input_items(response_id: str) -> Response:
        items: list[dict[str, Any]] = list((await stored(response_id))["input_items"])
        order = request.args.get("order", "desc")
        if order not in ("asc", "desc"):
            raise RequestError("expected 'asc' or 'desc'", param="order")
        limit_text = request.args.get("limit", "20")
        if not LIMIT.fullmatch(limit_text) or not 1 <= int(limit_text) <= PAGE_MAX:
            raise RequestError(f"expected an integer from 1 to {PAGE_MAX}", param="limit")
        if order == "desc":
            items.reverse()
        after = request.args.get("after")
        if after is not None:
            ids = [item.get("id") for item in items]
            if after not in ids:
                raise RequestError(f"no input item {after!r} in this response", param="after")
            items = items[ids.index(after) + 1 :]
        page = items[: int(limit_text)]
        return json_response(
            r.InputItemList(
                data=tuple(page),
                first_id=page[0]["id"] if page else None,
                last_id=page[-1]["id"] if page else None,
                has_more=len(items) > len(page),
            )
        )
