"""ServerState: what the routes of one server share.

``app.serve_agents`` builds it; ``app.create_app`` and every ``routes_*`` module read it.
It lives apart from ``app`` so that the routes import it without importing the app that
registers them.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import attrs
import trio

from ..errors import RateLimitExceeded
from .metrics import Metrics

if TYPE_CHECKING:
    from ..runtime import RuntimePool, Team
    from ..store import ConversationStore
    from .options import ServeOptions
    from .ratelimit import RateLimiter
    from .turn import TurnRunner


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
