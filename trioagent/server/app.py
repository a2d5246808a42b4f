"""create_app: the Quart-trio app of ``serve chat``, its guards and its error rendering."""

from __future__ import annotations

import logging
import time
import uuid
from typing import TYPE_CHECKING

import attrs
import trio
from quart import Response, g, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from ..runtime import open_pool, open_team
from ..store import MemoryStore
from .errors import Problem, openai_error, problem_of
from .guards import (
    PUBLIC_PATHS,
    AuthError,
    add_vary_origin,
    authenticate,
    cors_headers,
    preflight_headers,
)
from .routes_openai import register_openai_routes
from .serve import serve_app
from .turn import TurnRunner

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from ..config import AgentFile
    from ..runtime import RuntimePool, Team
    from ..store import ConversationStore
    from .options import ServeOptions

logger = logging.getLogger(__name__)


@attrs.define(kw_only=True)
class ServerState:
    """What the routes of one server share."""

    options: ServeOptions
    team: Team
    pool: RuntimePool
    store: ConversationStore | None
    runner: TurnRunner
    agents: list[str]
    """The exposed agents, in file order."""
    agent_tools: dict[str, frozenset[str]]
    """Each exposed agent's own tool names (a client tool may not reuse one)."""
    created: int = attrs.Factory(lambda: int(time.time()))


def create_app(state: ServerState) -> QuartTrio:
    """The app serving ``state``'s agents over the OpenAI Chat Completions API."""
    app = QuartTrio(__name__)
    options = state.options
    app.config.update(
        MAX_CONTENT_LENGTH=options.max_request_size,
        BODY_TIMEOUT=options.body_timeout,
        RESPONSE_TIMEOUT=options.request_timeout + options.body_timeout,
        PROVIDE_AUTOMATIC_OPTIONS=False,
        JSON_SORT_KEYS=False,
    )
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False

    @app.before_request
    async def guard() -> Response | None:
        g.request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex
        if request.method == "OPTIONS":
            headers = preflight_headers(request.headers.get("Origin"), options.cors_origins)
            return Response(b"", status=204, headers=headers)
        g.key_scope = None
        if request.path not in PUBLIC_PATHS:
            g.key_scope = authenticate(request, options.api_keys)
        return None

    @app.after_request
    async def decorate(response: Response) -> Response:
        response.headers.update(
            cors_headers(request.headers.get("Origin"), options.cors_origins)
        )
        if options.cors_origins:
            add_vary_origin(response)
        response.headers.setdefault("X-Request-Id", g.get("request_id", ""))
        return response

    @app.errorhandler(AuthError)
    async def auth_failed(error: AuthError) -> Response:
        response = openai_error(Problem(
            status=401, type="authentication_error", code="invalid_api_key",
            message=error.message,
        ))
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        return openai_error(problem_of(error))

    @app.errorhandler(Exception)
    async def failed(error: Exception) -> Response:
        return openai_error(problem_of(error))

    register_openai_routes(app, state)
    return app


async def serve_chat(
    file: AgentFile,
    options: ServeOptions,
    *,
    env: Mapping[str, str] | None = None,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``file``'s agents until ``shutdown_trigger`` returns; report the base URL.

    Raises:
        ConfigError: an agent cannot be opened (its model or toolsets).
    """
    agents = [options.agent] if options.agent else list(file.agents)
    async with open_team(file, working_dir=options.working_dir, env=env) as team, \
            open_pool(team, max_idle=options.max_idle_runtimes) as pool:
        agent_tools = {}
        for name in agents:  # opens each agent once: a broken toolset fails at start-up
            async with pool.borrow(name) as runtime:
                agent_tools[name] = frozenset(spec.name for spec in runtime.tool_specs())
        store = (
            MemoryStore(options.conversations_max, options.conversation_ttl)
            if options.conversations_max else None
        )
        state = ServerState(
            options=options, team=team, pool=pool, store=store,
            runner=TurnRunner(pool, store, options.request_timeout),
            agents=agents, agent_tools=agent_tools,
        )
        await serve_app(
            create_app(state), options, shutdown_trigger=shutdown_trigger,
            task_status=task_status,
        )
