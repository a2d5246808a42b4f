"""`main`: parse the command line, configure logging, and dispatch to the command."""

from __future__ import annotations

import logging
import os
from functools import partial
from typing import TYPE_CHECKING

import trio

from ..config import check_api_keys, load_agent_file, read_env_file
from ..config.refs import apply_models_gateway
from ..errors import TrioagentError, describe, unwrap
from ..logs import announce
from ..oci import agent_fetcher
from ._logging import configure_logging
from ._parser import parse_command_line
from ._serve import serve_command
from ._tracing import traced

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping, Sequence

    from ..config import AgentFile


def load_environment(env_files: Sequence[str]) -> dict[str, str]:
    """The process environment overlaid with ``--env-from-file`` files, in order."""
    env = dict(os.environ)
    for path in env_files:
        env.update(read_env_file(path))
    return env


def load_team_file(args: argparse.Namespace, env: Mapping[str, str]) -> AgentFile:
    """Load the agent file, apply --models-gateway, and check that API keys are set."""
    file = load_agent_file(
        args.agent_file, env=env, fetch=agent_fetcher(insecure=args.insecure_registry, env=env)
    )
    if args.models_gateway:
        file = apply_models_gateway(file, args.models_gateway)
    if args.agent and args.agent not in file.agents:
        raise TrioagentError(
            f"--agent: no agent named {args.agent!r} in {args.agent_file} "
            f"(agents: {', '.join(file.agents)})"
        )
    check_api_keys(file, env)
    return file


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``trioagent`` command; returns the exit status."""
    args = parse_command_line(argv)
    configure_logging(verbose=args.verbose, log_format=args.log_format)
    try:
        if args.command == "chat":  # a client: no agent file
            from ..chat_client import chat_command

            return trio.run(partial(chat_command, args, os.environ))
        if args.command in ("pull", "push"):  # registry work: no server, no turn
            from ..oci_command import pull_command, push_command

            return pull_command(args) if args.command == "pull" else push_command(args)
        if args.command == "bench":  # a load generator: no agent file
            from ..bench import bench_command

            return bench_command(args)
        if args.command == "fetch-model":  # a download: no agent file
            from ..models.model_files import SMOLLM2, fetch_gguf

            print(fetch_gguf(SMOLLM2, os.environ, announce=announce))
            return 0
        env = load_environment(args.env_from_file)
        file = load_team_file(args, env)
        from ..models.local import fetch_local_models

        fetch_local_models(file.models.values(), env, announce=announce)  # once, then cached
        if args.command == "run":
            from ..run import run_command

            with traced(flag=args.otel, verbose=args.verbose):
                return trio.run(partial(run_command, file, args, env))
        return serve_command(args, file, env, argv)
    except BaseException as exc:  # trio.run raises groups: look inside them
        inner = unwrap(exc)
        if isinstance(inner, KeyboardInterrupt):
            return 130
        if not isinstance(inner, TrioagentError | ValueError | OSError):
            raise
        announce(f"trioagent: error: {describe(inner)}", level=logging.ERROR)
        return 1
