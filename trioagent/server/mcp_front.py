"""The MCP front: each exposed agent is an MCP tool, and a ``tools/call`` is one turn.

`mcp_server` builds the MCP SDK's low-level server that ``serve mcp`` runs over stdio or
Streamable HTTP (`trioagent.server.serve_mcp`). A call is the thinnest translation over the
turn runner, like every other front:

- the arguments are ``message`` (required) and ``conversation_id`` (optional, when the
  server keeps conversations): an id this server returned continues that conversation,
  none starts a new one;
- the result is the agent's final text, with ``structuredContent``
  ``{"answer", "conversation_id"}`` and a second text block naming the id to pass next;
- a failed turn (the model provider failed, the timeout, a busy conversation, bad
  arguments) is a result with ``isError: true`` and the reason, never a protocol error;
- while the turn runs, each tool the agent starts is a ``notifications/progress`` (when the
  client sent a progress token);
- a ``notifications/cancelled`` cancels the handler, and with it the turn: nothing is stored.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any, Final

import attrs
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, CallToolResult, ListToolsResult, TextContent, Tool
from starlette.requests import Request

from .. import __version__
from ..chat import Message, Sampling
from ..errors import RequestError, StoreUnavailable
from ..logs import new_request_id, request_id
from ..runtime import ToolStarted, TurnFinished
from ..wire import rules
from .errors import problem_of
from .guards import conversation_key
from .openapi_parts import CONVERSATION_ID
from .turn import TurnFailed, TurnRequest

if TYPE_CHECKING:
    from mcp.server.context import ServerRequestContext
    from mcp.types import CallToolRequestParams, PaginatedRequestParams

    from .state import ServerState

logger = logging.getLogger(__name__)

KEY_SCOPE: Final = "trioagent.key_scope"
"""The ASGI scope key where ``/mcp``'s guard leaves the scope of the caller's API key."""

INSTRUCTIONS: Final = (
    "Each tool is an agent: send it a message and it answers, using its own tools. "
    "An answer names a conversation_id: pass it with the next message to the same agent "
    "to continue that conversation; leave it out to start a new one."
)
"""What the server tells an MCP client's model about its tools."""


@attrs.frozen
class McpFront:
    """The MCP tools of one server's agents.

    Attributes:
        state: the server's agents, turn runner and store.
        http: whether calls come over HTTP, each with its API key's scope (`KEY_SCOPE`);
            over stdio there is no key, and every conversation is the process owner's.
    """

    state: ServerState
    http: bool

    @property
    def keeps_conversations(self) -> bool:
        return self.state.store is not None

    def tools(self) -> list[Tool]:
        """One tool per exposed agent, in file order."""
        return [
            Tool(
                name=agent,
                description=self.state.team.file.agents[agent].description
                or f"Ask the agent {agent!r}: send a message, get its answer.",
                input_schema=self.input_schema(),
                output_schema=self.output_schema(),
            )
            for agent in self.state.agents
        ]

    def input_schema(self) -> dict[str, Any]:
        """The arguments of every agent's tool."""
        properties: dict[str, Any] = {
            "message": {"type": "string", "minLength": 1, "description": "What to ask the agent."}
        }
        if self.keeps_conversations:
            properties["conversation_id"] = {
                **CONVERSATION_ID,
                "description": "Continue this conversation: the conversation_id of an "
                "earlier answer of the same server. Leave it out to start a new one.",
            }
        return {
            "type": "object",
            "properties": properties,
            "required": ["message"],
            "additionalProperties": False,
        }

    def input_schema_of(self, tool: str) -> dict[str, Any] | None:
        """The input schema of ``tool``, None for no such tool (the SDK checks 2026-era
        ``Mcp-Param-*`` headers with it)."""
        return self.input_schema() if tool in self.state.agents else None

    def output_schema(self) -> dict[str, Any]:
        """The ``structuredContent`` of every agent's answer."""
        properties: dict[str, Any] = {
            "answer": {"type": "string", "description": "The agent's answer."}
        }
        if self.keeps_conversations:
            properties["conversation_id"] = {
                "type": "string",
                "description": "Pass it with the next message to continue this conversation.",
            }
        return {"type": "object", "properties": properties, "required": list(properties)}

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        del ctx, params  # one page: a file has few agents
        return ListToolsResult(tools=self.tools())

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: CallToolRequestParams
    ) -> CallToolResult:
        """Run one turn of the agent ``params.name``; see the module docstring.

        Raises:
            MCPError: no exposed agent has that name (a protocol error, as MCP asks).
        """
        agent = params.name
        if agent not in self.state.agents:
            raise MCPError(
                code=INVALID_PARAMS,
                message=f"Unknown tool {agent!r}: the tools are {', '.join(self.state.agents)}.",
            )
        token = request_id.set(request_id.get() or new_request_id())
        try:
            return await self._call(ctx, agent, params.arguments or {})
        except (RequestError, StoreUnavailable) as exc:
            return failure(problem_of(exc).message)
        finally:
            request_id.reset(token)

    async def _call(
        self, ctx: ServerRequestContext[Any, Any], agent: str, arguments: dict[str, Any]
    ) -> CallToolResult:
        message, conversation_id = self._arguments(arguments)
        key = None
        store = self.state.store
        if store is not None:
            continues = conversation_id is not None
            conversation_id = conversation_id or uuid.uuid4().hex
            key = conversation_key(self._key_scope(ctx), conversation_id)
            if continues and await store.get(key) is None:
                raise RequestError(
                    f"Unknown conversation_id {conversation_id!r}: it was never returned by "
                    "this server, or it was forgotten (idle too long, or the server restarted). "
                    "Leave conversation_id out to start a new conversation."
                )
        turn = TurnRequest(
            agent=agent,
            messages=[Message.user(message)],
            sampling=Sampling(),
            client_tools=[],
            conversation_id=key,
        )
        started = 0
        async with self.state.runner.open_turn(turn) as events:
            async for event in events:
                if isinstance(event, ToolStarted):
                    started += 1
                    await ctx.session.report_progress(
                        started, message=f"{agent} is running the tool {event.name}"
                    )
                elif isinstance(event, TurnFinished):
                    return answer(event.text, agent, conversation_id)
                elif isinstance(event, TurnFailed):
                    return failure(event.problem.message)
        return failure("The turn was stopped before it answered; nothing was saved.")

    def _arguments(self, arguments: dict[str, Any]) -> tuple[str, str | None]:
        """``message`` and ``conversation_id`` from a call's arguments.

        Raises:
            RequestError: an argument is missing, of the wrong type, or unknown.
        """
        allowed = {"message", "conversation_id"} if self.keeps_conversations else {"message"}
        unknown = sorted(set(arguments) - allowed)
        if unknown:
            raise RequestError(
                f"Unknown argument {unknown[0]!r}: the arguments are {', '.join(sorted(allowed))}."
            )
        message = arguments.get("message")
        if not isinstance(message, str) or not message:
            raise RequestError("The argument 'message' must be a non-empty string.")
        conversation_id = arguments.get("conversation_id")
        if conversation_id is not None and (
            not isinstance(conversation_id, str) or not rules.SESSION_ID.fullmatch(conversation_id)
        ):
            raise RequestError(
                "The argument 'conversation_id' must be the conversation_id of an earlier "
                f"answer ({rules.SESSION_ID_CHARACTERS})."
            )
        return message, conversation_id

    def _key_scope(self, ctx: ServerRequestContext[Any, Any]) -> str | None:
        """The scope of the caller's API key: its conversations are its own."""
        if not self.http:
            return None
        request = ctx.request
        # Fail closed: a call that did not pass /mcp's guard must not reach anyone's
        # conversations (the guard always sets the key, None when auth is off).
        if not isinstance(request, Request) or KEY_SCOPE not in request.scope:
            raise RuntimeError("an MCP call over HTTP came without the guard's key scope")
        scope: str | None = request.scope[KEY_SCOPE]
        return scope


def answer(text: str, agent: str, conversation_id: str | None) -> CallToolResult:
    """A finished turn as a tool result: the answer, then the id that continues it."""
    if conversation_id is None:
        return CallToolResult(content=[TextContent(text=text)], structured_content={"answer": text})
    note = f"conversation_id: {conversation_id} (pass it to {agent} to continue this conversation)"
    return CallToolResult(
        content=[TextContent(text=text), TextContent(text=note)],
        structured_content={"answer": text, "conversation_id": conversation_id},
    )


def failure(reason: str) -> CallToolResult:
    """A failed turn as a tool result: ``isError`` with the reason; nothing was stored."""
    return CallToolResult(content=[TextContent(text=reason)], is_error=True)


def mcp_server(front: McpFront) -> Server[Any]:
    """The MCP SDK's low-level server of ``front``'s tools."""
    return Server(
        "trioagent",
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=front.list_tools,
        on_call_tool=front.call_tool,
        get_tool_input_schema=front.input_schema_of,
    )
