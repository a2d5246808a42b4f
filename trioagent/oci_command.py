"""``trioagent pull`` and ``trioagent push``: agent files as OCI artifacts in a registry.

The cli package registers them with ``add_pull_parser(commands)`` / ``add_push_parser(commands)``
and runs them with ``pull_command(args)`` / ``push_command(args)``; both raise
``RegistryError`` or ``ConfigError``, which the CLI prints as ``trioagent: error: ...``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from . import __version__
from .config import load_agent_file
from .oci import AUTHORS, DESCRIPTION, LICENSES, REVISION, agent_fetcher, pull, push

PULL_DESCRIPTION = """\
Pull an agent file that 'trioagent push' or 'docker agent share push' put in an OCI
registry, verify it, and keep it in the local cache. Prints the manifest digest and the
cached YAML file. When the registry cannot be reached, the cached copy is used.

examples:
  trioagent pull agentcatalog/pirate
  trioagent pull registry.example.com/team/helper:1.2
  trioagent pull --insecure 127.0.0.1:5000/team/helper@sha256:<digest>

credentials: TRIOAGENT_REGISTRY_USERNAME and TRIOAGENT_REGISTRY_PASSWORD, else what
'docker login' saved. cache: $TRIOAGENT_CACHE_DIR (default ~/.cache/trioagent/oci).
"""

PUSH_DESCRIPTION = """\
Check an agent file, then push it to an OCI registry as an agent artifact, in the
layout docker-agent uses: 'docker agent run REF' and 'trioagent pull REF' both read it.
The file is pushed as it is; ${VARIABLES} stay placeholders. Without a tag, the tag is
'latest'.

examples:
  trioagent push agent.yaml registry.example.com/team/helper:1.2
  trioagent push agent.yaml myname/helper          # Docker Hub, tag latest
  trioagent push --insecure agent.yaml 127.0.0.1:5000/team/helper:dev

credentials: TRIOAGENT_REGISTRY_USERNAME and TRIOAGENT_REGISTRY_PASSWORD, else what
'docker login' saved.
"""

_INSECURE_HELP = "speak plain HTTP to the registry, without TLS (a registry on this machine)"


def add_pull_parser(commands: Any) -> argparse.ArgumentParser:
    """Add ``pull`` to the CLI's subparsers."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "pull",
        help="pull an agent file from an OCI registry into the cache",
        description=PULL_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "ref", metavar="REF", help="the agent: [REGISTRY/]REPOSITORY[:TAG][@sha256:DIGEST]"
    )
    parser.add_argument("--insecure", action="store_true", help=_INSECURE_HELP)
    return parser


def add_push_parser(commands: Any) -> argparse.ArgumentParser:
    """Add ``push`` to the CLI's subparsers."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "push",
        help="push an agent file to an OCI registry",
        description=PUSH_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("agent_file", metavar="FILE", help="the agent YAML file")
    parser.add_argument("ref", metavar="REF", help="where to: [REGISTRY/]REPOSITORY[:TAG]")
    parser.add_argument("--insecure", action="store_true", help=_INSECURE_HELP)
    return parser


def pull_command(args: argparse.Namespace) -> int:
    """Run ``trioagent pull``; returns the exit status.

    Raises:
        RegistryError: the pull failed and there is no cached copy.
    """
    agent = pull(args.ref, insecure=args.insecure)
    note = " (registry unreachable: cached copy)" if agent.from_cache else ""
    reference = agent.reference
    pulled = reference if reference.digest else f"{reference}@{agent.digest}"
    print(f"pulled {pulled}{note}")  # a reference by digest names it already
    print(f"cached at {agent.path}")
    return 0


def push_command(args: argparse.Namespace) -> int:
    """Run ``trioagent push``: check the file, push it, print ``pushed REF@DIGEST``.

    Raises:
        ConfigError: the agent file is invalid.
        RegistryError: the push failed.
    """
    # Every ${VARIABLE} counts as set: the file is checked for shape, and pushed as is.
    # Sub-agents by reference are pulled with the real environment's credentials.
    file = load_agent_file(args.agent_file, env=_AnyVariable(), fetch=agent_fetcher(env=os.environ))
    with open(args.agent_file, encoding="utf-8-sig") as f:
        text = f.read()
    annotations = {DESCRIPTION: f"OCI artifact containing {Path(args.agent_file).name}"}
    for key, value in (
        (AUTHORS, file.metadata.author),
        (LICENSES, file.metadata.license),
        (REVISION, file.metadata.version),
    ):
        if value:
            annotations[key] = value
    digest = push(
        text,
        args.ref,
        version=__version__,
        annotations=annotations,
        insecure=args.insecure,
        env=os.environ,
    )
    ref = args.ref if ":" in args.ref.rpartition("/")[2] else f"{args.ref}:latest"
    print(f"pushed {ref}@{digest}")
    return 0


class _AnyVariable(Mapping[str, str]):
    """An environment in which every variable is set (to a placeholder)."""

    def __getitem__(self, key: str) -> str:
        return "placeholder"

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0
