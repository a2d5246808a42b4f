"""ServerState: what the routes of one server share.

``app.serve_agents`` builds it; ``app.create_app`` and every ``routes_*`` module read it.
It lives apart from ``app`` so that the routes import it without importing the app that
registers them.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import attrs
import trio

from ..errors import RateLimitExceeded, RequestError
from .metrics import Metrics

if TYPE_CHECKING:
    from ..chat import Sampling, ToolSpec
    from ..runtime import RuntimePool, Team
    from ..store import ConversationStore
    from .options import ServeOptions
    from .ratelimit import RateLimiter
    from .turn import TurnRunner

log = logging.getLogger(__name__)


@attrs.define(kw_only=True)
class ServerState:
    """What the routes of one server share."""

    options: ServeOptions
    team: Team
    pool: RuntimePool
    store: ConversationStore | None
    runner: TurnRunner
    responses: ConversationStore | None = None
    """Where stored Responses API responses live (``serve chat``); None: none are kept."""
    agents: list[str]
    """The exposed agents, in file order."""
    default_agent: str
    """The agent of a request that names none."""
    agent_tools: dict[str, frozenset[str]]
    """Each exposed agent's own tool names (they shadow client tools of the same name)."""
    limiter: RateLimiter | None = None
    stopping: trio.Event = attrs.Factory(trio.Event)
    """Set when the server begins to shut down (WebSockets close after their turn,
    ``/readyz`` answers 503)."""
    metrics: Metrics = attrs.Factory(Metrics)
    created: int = attrs.Factory(lambda: int(time.time()))

    def check_rate(self, client: str) -> None:
        """Take one request of ``client``'s rate limit.

        Raises:
            RateLimitExceeded: the client is over ``--rate-limit``.
        """
        if self.limiter is not None:
            wait = self.limiter.acquire(client)
            if wait > 0:
                raise RateLimitExceeded(wait)

    def client_tools_for(
        self, agent: str, client_tools: list[ToolSpec], sampling: Sampling
    ) -> list[ToolSpec]:
        """The client tools a turn of ``agent`` offers the model: ``client_tools`` but those
        the agent has itself.

        An agent tool shadows a client tool of the same name: Open WebUI offers its
        built-in tools (add_memory, search_memories, ...) on every request, and a user
        cannot rename them. The model sees the agent's tool; the client's is not offered.

        Raises:
            RequestError: ``sampling.tool_choice`` forces a tool that is not offered.
        """
        own = self.agent_tools[agent]
        shadowed = own & {tool.name for tool in client_tools}
        if shadowed:
            log.debug("agent %r: its own tools shadow client tools %s", agent, sorted(shadowed))
            client_tools = [tool for tool in client_tools if tool.name not in shadowed]
        forced = sampling.tool_choice.name if sampling.tool_choice else None
        if forced is not None and forced not in own | {tool.name for tool in client_tools}:
            raise RequestError(
                f"tool_choice names the function {forced!r}, which is not among the tools "
                "offered (the request's tools and the agent's own).",
                param="tool_choice",
            )
        return client_tools
