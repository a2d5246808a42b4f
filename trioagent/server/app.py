"""create_app: the Quart-trio app of each ``serve`` API: guards, errors, routes."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Literal

import trio
from quart import Response, g, request, websocket
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from ..runtime import open_pool, open_team
from ..store import open_store
from .access import note_route, observe_requests
from .errors import api_error, jsonrpc_error, openai_error, problem_of, status_problem
from .guards import (
    add_vary_origin,
    authenticate,
    cors_headers,
    is_public,
    is_rate_limited,
    preflight_headers,
    rate_client,
)
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import Metrics
from .ratelimit import RateLimiter
from .responses import json_response
from .routes_a2a import register_a2a_routes
from .routes_api import register_api_routes
from .routes_openai import register_openai_routes
from .routes_page import register_page_routes
from .routes_responses import register_responses_routes
from .routes_ws import register_ws_routes
from .serve import serve_app
from .state import ServerState
from .turn import TurnRunner

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

    from ..config import AgentFile
    from ..store import ConversationStore
    from .options import ServeOptions

logger = logging.getLogger(__name__)

ApiKind = Literal["chat", "api", "mcp", "a2a"]
"""Which API a server speaks: OpenAI Chat Completions, the simple chat API, MCP
(whose ``/mcp`` endpoint `serve_mcp` mounts on the app), or A2A."""

SHUTTING_DOWN = status_problem(
    503,
    code="shutting_down",
    message="The server is shutting down; send requests to another instance.",
)
"""The answer of ``/readyz`` once shutdown began, so that a load balancer drains the server."""


def create_app(state: ServerState, api: ApiKind = "chat") -> QuartTrio:
    """The app serving ``state``'s agents over ``api``."""
    app = QuartTrio(__name__)
    options = state.options
    render = {
        "chat": openai_error,
        "api": api_error,
        "mcp": jsonrpc_error,
        "a2a": jsonrpc_error,
    }[api]
    app.config.update(
        MAX_CONTENT_LENGTH=options.max_request_size,
        BODY_TIMEOUT=options.body_timeout,
        RESPONSE_TIMEOUT=options.request_timeout + options.body_timeout,
        PROVIDE_AUTOMATIC_OPTIONS=False,
        JSON_SORT_KEYS=False,
    )
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False
    app.asgi_app = observe_requests(  # type: ignore[method-assign,assignment]
        app.asgi_app, state.metrics
    )

    @app.before_request
    async def guard() -> Response | None:
        rule = request.url_rule
        note_route(rule.rule if rule else None)
        if request.method == "OPTIONS":
            headers = preflight_headers(
                request.headers.get("Origin"),
                options.cors_origins,
                request.headers.get("Access-Control-Request-Headers"),
            )
            return Response(b"", status=204, headers=headers)
        g.key_scope = None
        path = request.path
        if is_public(path):
            return None
        if options.api_keys:
            g.key_scope = authenticate(request, options.api_keys)
        if state.limiter is not None and is_rate_limited(path):
            state.check_rate(rate_client(g.key_scope, request.remote_addr))
        return None

    @app.before_websocket
    async def note_websocket_route() -> None:
        note_route(websocket.url_rule.rule if websocket.url_rule else None)

    @app.after_request
    async def decorate(response: Response) -> Response:
        # (X-Request-Id is added to every answer by `observe_requests`.)
        if options.cors_origins:
            response.headers.update(
                cors_headers(request.headers.get("Origin"), options.cors_origins)
            )
            add_vary_origin(response)
        return response

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        return render(problem_of(error))

    @app.errorhandler(Exception)
    async def failed(error: Exception) -> Response:
        return render(problem_of(error))

    @app.get("/healthz")
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    @app.get("/readyz")
    async def readyz() -> Response:
        if state.stopping.is_set():
            return render(SHUTTING_DOWN)
        if state.store is not None:
            await state.store.check()  # StoreUnavailable: 503 through the error table
        return json_response({"status": "ready"})

    @app.get("/metrics")
    async def metrics() -> Response:
        body = await state.metrics.exposition(state.store)
        return Response(body, content_type=METRICS_CONTENT_TYPE)

    if api == "chat":
        register_openai_routes(app, state)
        register_responses_routes(app, state)
    elif api == "api":
        register_api_routes(app, state)
    elif api == "a2a":
        register_a2a_routes(app, state)
    if api in ("chat", "api"):
        register_ws_routes(app, state)
        register_page_routes(app, state)
    return app


@asynccontextmanager
async def open_state(
    file: AgentFile,
    options: ServeOptions,
    api: ApiKind,
    *,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[ServerState]:
    """What a server of ``file``'s agents over ``api`` shares, open for the block: the
    team, the runtime pool, the stores, the turn runner.

    Raises:
        ConfigError: an agent cannot be opened (its model or toolsets).
        StoreUnavailable: the conversation store cannot be opened or reached.
    """
    agents = [options.agent] if options.agent else list(file.agents)
    async with AsyncExitStack() as stack:
        team = await stack.enter_async_context(
            open_team(file, working_dir=options.working_dir, env=env, safety=options.tool_safety)
        )
        pool = await stack.enter_async_context(open_pool(team, max_idle=options.max_idle_runtimes))
        agent_tools = {}
        for name in agents:  # opens each agent once: a broken toolset fails at start-up
            async with pool.borrow(name) as runtime:
                agent_tools[name] = frozenset(spec.name for spec in runtime.tool_specs())
        store: ConversationStore | None = None
        url = options.store_for(api)
        if api == "api":  # sessions persist: no bound, no expiry
            store = await stack.enter_async_context(
                open_store(url, max_items=0, ttl=0, lock_ttl=options.lock_ttl)
            )
        elif size := options.cache_size(url, api):
            store = await stack.enter_async_context(
                open_store(
                    url, max_items=size, ttl=options.conversation_ttl, lock_ttl=options.lock_ttl
                )
            )
        responses: ConversationStore | None = None
        if api == "chat" and options.responses_max:
            responses = await stack.enter_async_context(
                open_store(
                    url,
                    max_items=options.responses_max,
                    ttl=options.conversation_ttl,
                    lock_ttl=options.lock_ttl,
                    namespace="responses",
                )
            )
        metrics = Metrics()
        yield ServerState(
            options=options,
            team=team,
            pool=pool,
            store=store,
            metrics=metrics,
            responses=responses,
            runner=TurnRunner(pool, store, options.request_timeout, metrics),
            agents=agents,
            default_agent=options.agent or file.default_agent,
            agent_tools=agent_tools,
            limiter=RateLimiter(options.rate_limit) if options.rate_limit else None,
        )


def draining(
    state: ServerState, shutdown_trigger: Callable[[], Awaitable[None]] | None
) -> Callable[[], Awaitable[None]]:
    """The shutdown trigger of ``state``'s HTTP server: ``shutdown_trigger`` (or never),
    then ``/readyz`` fails for ``--shutdown-drain`` before the listener closes."""

    async def trigger() -> None:
        await (shutdown_trigger or trio.sleep_forever)()
        state.stopping.set()
        # Keep serving while a load balancer sees /readyz fail and stops sending.
        await trio.sleep(state.options.shutdown_drain)

    return trigger


async def serve_agents(
    file: AgentFile,
    options: ServeOptions,
    api: ApiKind,
    *,
    env: Mapping[str, str] | None = None,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``file``'s agents over ``api`` until ``shutdown_trigger`` returns.

    ``task_status.started`` receives the base URL, e.g. ``http://127.0.0.1:8083``.

    Raises:
        ConfigError: an agent cannot be opened (its model or toolsets).
        StoreUnavailable: the conversation store cannot be opened or reached.
    """
    async with open_state(file, options, api, env=env) as state:
        await serve_app(
            create_app(state, api),
            options,
            shutdown_trigger=draining(state, shutdown_trigger),
            task_status=task_status,
        )


async def serve_chat(
    file: AgentFile,
    options: ServeOptions,
    *,
    env: Mapping[str, str] | None = None,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``file``'s agents over the OpenAI Chat Completions API (see `serve_agents`)."""
    await serve_agents(
        file, options, "chat", env=env, shutdown_trigger=shutdown_trigger, task_status=task_status
    )


async def serve_api(
    file: AgentFile,
    options: ServeOptions,
    *,
    env: Mapping[str, str] | None = None,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``file``'s agents over the simple chat API (see `serve_agents`)."""
    await serve_agents(
        file, options, "api", env=env, shutdown_trigger=shutdown_trigger, task_status=task_status
    )


async def serve_a2a(
    file: AgentFile,
    options: ServeOptions,
    *,
    env: Mapping[str, str] | None = None,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``file``'s agents over the A2A protocol: the agent card at
    ``/.well-known/agent-card.json``, JSON-RPC at ``/a2a`` (see `serve_agents`)."""
    await serve_agents(
        file, options, "a2a", env=env, shutdown_trigger=shutdown_trigger, task_status=task_status
    )
