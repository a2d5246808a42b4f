"""The flags several commands share: logging, the agent's environment, and a server's."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..logs import LOG_FORMATS
from ..server.durations import format_duration, parse_duration
from ..server.options import (
    CONTEXTS_MAX,
    SHARED_CACHE_MAX,
    ServeOptions,
    format_size,
    parse_listen,
    parse_size,
)
from ..server.ratelimit import parse_rate
from ..store import StoreURL
from ..tools import SAFETY_LEVELS

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")


def add_log_flags(parser: argparse.ArgumentParser, *, after_command: bool = False) -> None:
    """``-v`` and ``--log-format``: on the main parser, and again after a command (where
    SUPPRESS keeps a value given before the command)."""
    default: dict[str, Any] = {"default": argparse.SUPPRESS} if after_command else {}
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log debug details, and the libraries' INFO and DEBUG lines",
        **default,
    )
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=default.get("default", "text"),
        help="log lines as text, or as one JSON object "
        "each (time, level, logger, message, request_id, exception) "
        "(default: text)",
    )


def add_agent_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--working-dir",
        metavar="DIR",
        type=Path,
        help="directory the filesystem and shell tools work in (default: .)",
    )
    parser.add_argument(
        "--env-from-file",
        metavar="FILE",
        action="append",
        default=[],
        help="read KEY=VALUE environment variables from FILE (repeatable)",
    )
    parser.add_argument(
        "--models-gateway",
        metavar="URL",
        help="send every model call to this OpenAI-compatible base URL",
    )
    parser.add_argument(
        "--insecure-registry",
        action="store_true",
        help="pull an agent given by registry reference over plain HTTP "
        "(for a registry on loopback)",
    )
    parser.add_argument(
        "--safety",
        choices=SAFETY_LEVELS,
        help="tool policy: 'restricted' refuses shell commands and file "
        "writes unless a toolset sets allow_when_restricted; 'standard' runs "
        "them with a scrubbed environment; 'off' passes the whole environment "
        "to shell commands (default: restricted when serving beyond loopback, "
        "else standard); see docs/security.md",
    )
    parser.add_argument(
        "--otel",
        action="store_true",
        help="export OpenTelemetry traces of every turn over OTLP/HTTP to "
        "$OTEL_EXPORTER_OTLP_ENDPOINT (default http://localhost:4318); without the "
        "flag, tracing is on when that variable is set; needs the otel extra; see "
        "docs/observability.md",
    )


def explained(parse: Callable[[str], T]) -> Callable[[str], T]:
    """``parse`` for argparse ``type=``: its ValueError's message reaches the user."""

    def parse_flag(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    parse_flag.__name__ = parse.__name__
    return parse_flag


def add_server_flags(parser: argparse.ArgumentParser, api: str) -> None:
    defaults = ServeOptions()
    if api in ("chat", "mcp"):
        parser.add_argument("-a", "--agent", metavar="NAME", help="expose only this agent")
    elif api == "a2a":
        parser.add_argument(
            "-a",
            "--agent",
            metavar="NAME",
            help="serve only this agent (default: every agent, one skill each; a message "
            "runs root, else the first, unless its metadata names another skill)",
        )
    else:
        parser.add_argument(
            "-a",
            "--agent",
            metavar="NAME",
            help="the agent to talk to (default: root, else the first); a "
            'request may pick another with "agent" unless this is set',
        )
    parser.add_argument(
        "-l",
        "--listen",
        metavar="HOST:PORT",
        type=explained(parse_listen),
        default=(defaults.host, defaults.port),
        help="address to listen on; port 0 picks a free port "
        f"(default: {defaults.host}:{defaults.port})",
    )
    parser.add_argument(
        "--api-key", metavar="KEY", help="require 'Authorization: Bearer KEY' on every API call"
    )
    parser.add_argument(
        "--api-key-env", metavar="VAR", help="read the API key from environment variable VAR"
    )
    parser.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="allow a non-loopback address without an API key",
    )
    parser.add_argument(
        "--cors-origin",
        metavar="ORIGIN",
        action="append",
        default=[],
        help="allow browser calls from this exact origin (repeatable)",
    )
    parser.add_argument(
        "--max-request-size",
        metavar="SIZE",
        type=explained(parse_size),
        default=defaults.max_request_size,
        help="largest request body, e.g. 512KiB or 1MiB "
        f"(default: {format_size(defaults.max_request_size)})",
    )
    parser.add_argument(
        "--request-timeout",
        metavar="DURATION",
        type=explained(parse_duration),
        default=defaults.request_timeout,
        help="time a whole turn may take, e.g. 90s or 5m "
        f"(default: {format_duration(defaults.request_timeout)})",
    )
    if api in ("chat", "mcp"):
        chat = api == "chat"
        parser.add_argument(
            "--store",
            metavar="URL",
            type=explained(StoreURL.parse),
            help=f"where {'X-Conversation-Id ' if chat else ''}conversations live: memory: "
            "(this process), sqlite:PATH (the processes of one machine) or "
            "redis://HOST:PORT/DB (many machines) (default: memory:)",
        )
        parser.add_argument(
            "--conversations-max",
            metavar="N",
            type=int,
            help="conversations kept server-side for X-Conversation-Id; 0 disables the cache "
            f"(default: 0 with memory:, {SHARED_CACHE_MAX} with a shared --store)"
            if chat
            else "conversations kept for conversation_id; 0 keeps none "
            f"(default: {CONTEXTS_MAX} with memory:, {SHARED_CACHE_MAX} with a shared --store)",
        )
        parser.add_argument(
            "--conversation-ttl",
            metavar="DURATION",
            type=explained(parse_duration),
            default=defaults.conversation_ttl,
            help=f"forget a conversation{' (or a stored response)' if chat else ''} idle this "
            f"long (default: {format_duration(defaults.conversation_ttl)})",
        )
    if api == "chat":
        parser.add_argument(
            "--responses-max",
            metavar="N",
            type=int,
            default=defaults.responses_max,
            help="Responses API responses kept for previous_response_id; "
            f"0 keeps none (default: {defaults.responses_max})",
        )
    elif api == "a2a":
        parser.add_argument(
            "--store",
            metavar="URL",
            type=explained(StoreURL.parse),
            help="where the conversations of contextId live: memory: (this process), "
            "sqlite:PATH (the processes of one machine) or redis://HOST:PORT/DB (many "
            "machines) (default: memory:)",
        )
        parser.add_argument(
            "--conversations-max",
            metavar="N",
            type=int,
            help=f"conversations kept for contextId; 0 keeps none (default: {CONTEXTS_MAX} "
            f"with memory:, {SHARED_CACHE_MAX} with a shared --store)",
        )
        parser.add_argument(
            "--conversation-ttl",
            metavar="DURATION",
            type=explained(parse_duration),
            default=defaults.conversation_ttl,
            help="forget a conversation idle this long, and an ended task this long after "
            f"it ended (default: {format_duration(defaults.conversation_ttl)})",
        )
        parser.add_argument(
            "--tasks-max",
            metavar="N",
            type=int,
            default=defaults.tasks_max,
            help="ended tasks kept in memory for GetTask and ListTasks; 0 keeps none "
            f"(default: {defaults.tasks_max})",
        )
    if api == "api":
        parser.add_argument(
            "--store",
            metavar="URL",
            type=explained(StoreURL.parse),
            help="where sessions live: sqlite:PATH (the processes of one "
            "machine), redis://HOST:PORT/DB (many machines) or memory: (this "
            f"process, until it stops) (default: sqlite:{defaults.sessions})",
        )
        parser.add_argument(
            "--sessions",
            metavar="PATH",
            help="the same as --store sqlite:PATH; ':memory:' keeps them in memory only",
        )
    parser.add_argument(
        "--rate-limit",
        metavar="N/UNIT",
        type=explained(parse_rate),
        help="requests allowed per API key (or client address without "
        "one), e.g. 60/min; over it: 429 with Retry-After (default: off)",
    )
    parser.add_argument(
        "--max-idle-runtimes",
        metavar="N",
        type=int,
        default=defaults.max_idle_runtimes,
        help=f"idle agent runtimes kept open per agent (default: {defaults.max_idle_runtimes})",
    )
    if api == "mcp":  # no SSE keep-alive of its own, and one process: 2025-era sessions live in it
        parser.set_defaults(keep_alive=defaults.keep_alive_interval, workers=1, worker_fd=None)
    else:
        parser.add_argument(
            "--keep-alive",
            metavar="DURATION",
            type=explained(parse_duration),
            default=defaults.keep_alive_interval,
            help="SSE keep-alive comment interval while tools run "
            f"(default: {format_duration(defaults.keep_alive_interval)})",
        )
        parser.add_argument(
            "--workers",
            metavar="N",
            type=int,
            help="server processes sharing the port (default: 1; tasks are per process, "
            "so GetTask, ListTasks and CancelTask find a task only on its worker)"
            if api == "a2a"
            else "server processes sharing the port (default: one per core "
            "when the store is shared, a sqlite:PATH file (as serve api's default "
            "is) or redis://, and there is no --rate-limit; else 1). A memory: "
            "store and rate limits are per process",
        )
        parser.add_argument("--worker-fd", type=int, help=argparse.SUPPRESS)
    if api not in ("a2a", "mcp"):  # an A2A or MCP server has no WebSocket chat
        parser.add_argument(
            "--ws-ping-interval",
            metavar="DURATION",
            type=explained(parse_duration),
            default=defaults.ws_ping_interval,
            help="ping a quiet WebSocket client after this long; disconnect it "
            "when it stays silent as long again "
            f"(default: {format_duration(defaults.ws_ping_interval)})",
        )
    parser.add_argument(
        "--shutdown-grace",
        metavar="DURATION",
        type=explained(parse_duration),
        default=defaults.shutdown_grace,
        help="time running turns may finish on SIGINT/SIGTERM "
        f"(default: {format_duration(defaults.shutdown_grace)})",
    )
    parser.add_argument(
        "--shutdown-drain",
        metavar="DURATION",
        type=explained(parse_duration),
        default=defaults.shutdown_drain,
        help="on SIGINT/SIGTERM, go on serving this long with /readyz failing "
        "so a load balancer stops sending, then stop "
        f"(default: {format_duration(defaults.shutdown_drain)})",
    )
    add_agent_flags(parser)
    add_log_flags(parser, after_command=True)
