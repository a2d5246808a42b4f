"""Serving: the ``serve`` flags as ServeOptions, start-up lines and warnings, workers."""

from __future__ import annotations

import gc
import logging
import signal
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from ..logs import announce
from ..server.options import ServeOptions
from ..server.serve import settle_heap
from ..server.workers import default_workers
from ..store import StoreURL
from ._tracing import traced

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping, Sequence

    from ..config import AgentFile
    from ..server.app import ApiKind

logger = logging.getLogger("trioagent")


def serve_command(
    args: argparse.Namespace,
    file: AgentFile,
    env: Mapping[str, str],
    argv: Sequence[str] | None,
) -> int:
    """Serve the agents of ``file`` as the ``serve`` flags in ``args`` say; returns the
    exit status.

    Raises:
        ValueError: a flag is wrong; the message names it.
    """
    options = serve_options(args, env)
    if options.listen_fd is None:  # the parent, or the only process: warn once
        for warning in startup_warnings(args.api, options):
            announce(f"trioagent: warning: {warning}", level=logging.WARNING)
    if options.workers > 1 and options.listen_fd is None:
        return _serve_workers(args, file, options, argv)  # each worker traces its own turns
    with traced(flag=args.otel, verbose=args.verbose):
        return trio.run(
            partial(_serve, args.api, file, options, env, http=getattr(args, "http", True))
        )


def serve_options(args: argparse.Namespace, env: Mapping[str, str]) -> ServeOptions:
    """ServeOptions from parsed ``serve`` flags.

    Raises:
        ValueError: a flag is wrong; the message names it.
    """
    keys: list[str] = []
    if args.api_key:
        keys.append(args.api_key)
    if args.api_key_env:
        key = env.get(args.api_key_env)
        if not key:
            raise ValueError(f"--api-key-env: environment variable {args.api_key_env} is not set")
        keys.append(key)
    host, port = args.listen
    if args.api == "mcp" and not args.http:
        _refuse_network_flags(args)
    per_api: dict[str, Any] = (
        {"conversations_max": args.conversations_max, "conversation_ttl": args.conversation_ttl}
        if args.api in ("chat", "mcp", "a2a")
        else {}
    )
    if args.api == "chat":
        per_api["responses_max"] = args.responses_max
    if args.api == "a2a":
        per_api["tasks_max"] = args.tasks_max
    if hasattr(args, "ws_ping_interval"):  # the servers with a WebSocket chat
        per_api["ws_ping_interval"] = args.ws_ping_interval
    store = args.store
    if getattr(args, "sessions", None) is not None:
        if store is not None:
            raise ValueError("--sessions and --store both name the store: pass only --store")
        store = StoreURL("sqlite", args.sessions)
    options = ServeOptions(
        **per_api,
        store=store,
        host=host,
        port=port,
        agent=args.agent,
        api_keys=tuple(keys),
        cors_origins=tuple(args.cors_origin),
        max_request_size=args.max_request_size,
        request_timeout=args.request_timeout,
        rate_limit=args.rate_limit,
        max_idle_runtimes=args.max_idle_runtimes,
        keep_alive_interval=args.keep_alive,
        shutdown_grace=args.shutdown_grace,
        shutdown_drain=args.shutdown_drain,
        listen_fd=args.worker_fd,
        # Workers share a store, but not the rate limit's counts, nor serve a2a's tasks.
        workers=default_workers(
            _store_of(args.api, store).shared and args.rate_limit is None and args.api != "a2a"
        )
        if args.workers is None
        else args.workers,
        working_dir=(args.working_dir or Path.cwd()).resolve(),
        insecure_no_auth=args.insecure_no_auth,
        safety=args.safety,
    )
    options.check()
    return options


def _refuse_network_flags(args: argparse.Namespace) -> None:
    """Refuse the flags of ``serve mcp`` that only its HTTP transport reads, rather than
    ignore them over stdio.

    Raises:
        ValueError: such a flag was given without ``--http``.
    """
    defaults = ServeOptions()
    network: tuple[tuple[str, str, object], ...] = (
        ("--listen", "listen", (defaults.host, defaults.port)),
        ("--api-key", "api_key", None),
        ("--api-key-env", "api_key_env", None),
        ("--insecure-no-auth", "insecure_no_auth", False),
        ("--cors-origin", "cors_origin", []),
        ("--max-request-size", "max_request_size", defaults.max_request_size),
        ("--rate-limit", "rate_limit", None),
        ("--shutdown-grace", "shutdown_grace", defaults.shutdown_grace),
        ("--shutdown-drain", "shutdown_drain", defaults.shutdown_drain),
    )
    for flag, dest, default in network:
        if getattr(args, dest) != default:
            raise ValueError(
                f"{flag} applies to 'serve mcp --http' only: over stdio (the default) "
                f"there is no network; add --http, or leave {flag} out"
            )


def _store_of(api: str, store: StoreURL | None) -> StoreURL:
    return ServeOptions(store=store).store_for(api)


def startup_warnings(api: str, options: ServeOptions) -> list[str]:
    """What the operator should know of ``options`` before serving: settings that start,
    but will not do what they may expect."""
    store = options.store_for(api)
    if api == "a2a" and options.workers > 1:
        contexts = "" if store.shared else " and contexts (use a shared --store for those)"
        return [
            f"with {options.workers} workers, each worker keeps its own tasks{contexts}: "
            "GetTask, ListTasks and CancelTask find a task only on the worker that runs it"
        ]
    if options.workers == 1 or store.shared:
        return []
    if api == "api":
        kept = ["sessions"]
    else:
        kept = [
            what
            for what, on in (
                ("X-Conversation-Id conversations", options.cache_size(store)),
                ("stored responses", options.responses_max),
            )
            if on
        ]
    if not kept:
        return []
    one = "session" if api == "api" else "conversation"
    return [
        f"with {options.workers} workers and --store {store}, each worker keeps its own "
        f"{' and '.join(kept)} (a {one} continues only on the worker that served it): "
        "use --store sqlite:PATH or --store redis://HOST:PORT/DB to share them"
    ]


async def _serve(
    api: ApiKind,
    file: AgentFile,
    options: ServeOptions,
    env: Mapping[str, str],
    *,
    http: bool = True,
) -> int:
    from ..server.app import serve_agents
    from ..server.workers import tell_parent_ready, watch_parent

    stop = trio.Event()
    async with trio.open_nursery() as nursery:

        async def serve(task_status: trio.TaskStatus[str]) -> None:
            if api == "mcp":
                from ..server.serve_mcp import serve_mcp

                await serve_mcp(
                    file,
                    options,
                    http=http,
                    env=env,
                    shutdown_trigger=stop.wait,
                    task_status=task_status,
                )
            else:
                await serve_agents(
                    file, options, api, env=env, shutdown_trigger=stop.wait, task_status=task_status
                )
            nursery.cancel_scope.cancel()  # served: the watchers are done too

        # The watcher returns after the first signal, so a second Ctrl-C aborts at once.
        nursery.start_soon(_wait_for_signal, stop)
        url = await nursery.start(serve)
        frozen = settle_heap()
        logger.debug(
            "garbage collection: start-up's %d objects set aside, young collections every %d"
            " allocations",
            frozen,
            gc.get_threshold()[0],
        )
        if options.listen_fd is not None:  # a worker: its parent prints the line
            tell_parent_ready()
            await watch_parent()
            logger.warning("the parent process is gone: stopping now")
            nursery.cancel_scope.cancel()
        else:
            announce(_startup_line(api, url, file, options))
    return 0


async def _check_store(store: StoreURL) -> None:
    from ..store import open_store

    async with open_store(store, max_items=0, ttl=0, lock_ttl=1):
        pass


def _startup_line(api: str, url: str, file: AgentFile, options: ServeOptions) -> str:
    agents = ", ".join([options.agent] if options.agent else list(file.agents))
    more = f"; {options.workers} workers" if options.workers > 1 else ""
    more += f"; tool safety: {options.tool_safety}"
    store = options.store_for(api)
    if api == "mcp":
        where = f"listening on {url}/mcp" if url.startswith("http") else f"serving on {url}"
        size = options.cache_size(store, api)
        kept = f"conversations: {store}, at most {size}" if size else "no conversations kept"
        return f"trioagent serve mcp: {where} (tools: {agents}; {kept}{more})"
    if api == "chat":
        if size := options.cache_size(store):
            more = f"; conversations: {store}, at most {size}{more}"
        return f"trioagent serve chat: listening on {url}/v1 (models: {agents}{more})"
    if api == "a2a":
        from ..server.guards import AGENT_CARD_PATH
        from ..server.routes_a2a import RPC_PATH

        size = options.cache_size(store, api)
        kept = f"contexts: {store}, at most {size}" if size else "no contexts kept"
        return (
            f"trioagent serve a2a: listening on {url}{RPC_PATH} "
            f"(card: {url}{AGENT_CARD_PATH}; skills: {agents}; {kept}{more})"
        )
    return (
        f"trioagent serve api: listening on {url}/api/chat "
        f"(agents: {agents}; sessions: {store}{more})"
    )


def _serve_workers(
    args: argparse.Namespace,
    file: AgentFile,
    options: ServeOptions,
    argv: Sequence[str] | None,
) -> int:
    from ..server.workers import bind_socket, serve_workers

    # Fail here, once, rather than in every worker (and make the SQLite schema).
    trio.run(_check_store, options.store_for(args.api))
    sock = bind_socket(options.host, options.port)
    host = f"[{options.host}]" if ":" in options.host else options.host
    url = f"http://{host}:{sock.getsockname()[1]}"
    command = list(sys.argv[1:] if argv is None else argv)
    announce = _startup_line(args.api, url, file, options)
    return trio.run(partial(serve_workers, command, sock, options.workers, announce=announce))


async def _wait_for_signal(stop: trio.Event) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            logger.info(
                "%s received: finishing running turns, then stopping", signal.Signals(signum).name
            )
            stop.set()
            return
