"""What README.md and docs/*.md show to run is what the software takes, so drift fails here.

- Every ``trioagent ...`` command in a ```sh, ```bash, ```shell or ```console block parses
  as `trioagent.cli.main` parses it; a ``serve`` command's flags also pass the start-up
  checks (`serve_options`), and a ``bench`` command's the bench's. Lines that need a shell
  to mean anything (command substitution) and synopses (``[MESSAGE]``) are left out and
  counted.
- The flag tables of serve-chat.md, serve-api.md, serve-mcp.md, serve-a2a.md, benchmarks.md
  and run.md name every flag of their command, and only flags it has.
- The nginx configuration of deployment.md passes ``nginx -t`` (when nginx is installed;
  with ``TRIOAGENT_REQUIRE_NGINX=1`` a missing nginx fails the test instead).

The agent files of the docs are loaded in ``tests/config/test_docs.py``.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from trioagent.bench.command import config_from_args
from trioagent.cli import build_parser, parse_command_line, serve_options

ROOT = Path(__file__).parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_BLOCK = re.compile(r"^ *```(sh|bash|shell|console)\n(.*?)^ *```", re.S | re.M)
OPERATORS = {"&&", "||", "|", ";", "&"}
REDIRECTIONS = {">", ">>", "<", "2>", "&>"}
MIN_COMMANDS = 20
"""The docs show more trioagent commands than this; fewer found means the walk broke."""


def shell_lines(text: str) -> list[tuple[int, str]]:
    """``(line number, command line)`` of every shell block, continuations joined; of a
    console block only the lines after a ``$ `` prompt (the others are output)."""
    found = []
    for block in SHELL_BLOCK.finditer(text):
        first = text.count("\n", 0, block.start()) + 2
        lines = block[2].splitlines()
        console = block[1] == "console"
        number = 0
        while number < len(lines):
            start, line = number, lines[number].strip()
            while line.endswith("\\") and number + 1 < len(lines):
                number += 1
                line = line[:-1].rstrip() + " " + lines[number].strip()
            number += 1
            if not console or line.startswith("$ "):
                found.append((first + start, line.removeprefix("$ ")))
    return found


def trioagent_commands(line: str) -> list[list[str]] | None:
    """The arguments of each ``trioagent`` command of ``line``; None when the line cannot
    be checked without a shell."""
    if "$(" in line or "`" in line:
        return None
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    segments: list[list[str]] = [[]]
    tokens = iter(lexer)
    for token in tokens:
        if token in OPERATORS:
            segments.append([])
        elif token in REDIRECTIONS:
            next(tokens, None)
        else:
            segments[-1].append(token)
    commands = []
    for words in segments:
        while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
            words = words[1:]  # VAR=value before the command
        if words[:1] == ["trioagent"]:
            if any(re.fullmatch(r"\[.*\]", word) for word in words):
                return None  # a synopsis: trioagent run AGENT_FILE_OR_REF [MESSAGE]
            commands.append(words[1:])
    return commands


def doc_commands() -> tuple[list[tuple[str, list[str]]], list[str]]:
    """The checked commands, as ``(doc:line, argv)``, and the lines left out."""
    checked, skipped = [], []
    for doc in DOCS:
        for number, line in shell_lines(doc.read_text(encoding="utf-8")):
            where = f"{doc.relative_to(ROOT)}:{number}"
            commands = trioagent_commands(line)
            if commands is None:
                if "trioagent" in line:
                    skipped.append(f"{where}: {line}")
                continue
            checked += [(where, argv) for argv in commands]
    return checked, skipped


COMMANDS, SKIPPED = doc_commands()


def test_the_walk_finds_the_commands_of_the_docs() -> None:
    assert len(COMMANDS) > MIN_COMMANDS, COMMANDS
    assert len(SKIPPED) < len(COMMANDS) / 4, SKIPPED
    shown = {argv[0] for _, argv in COMMANDS}
    assert {"serve", "run", "chat", "bench", "push", "pull", "fetch-model"} <= shown


@pytest.mark.parametrize(
    ("where", "argv"), COMMANDS, ids=[f"{where} {' '.join(argv)}"[:90] for where, argv in COMMANDS]
)
def test_doc_command_parses(where: str, argv: list[str], tmp_path: Path) -> None:
    try:
        args = parse_command_line(argv)
    except SystemExit as exc:
        pytest.fail(f"{where}: trioagent {shlex.join(argv)} does not parse (exit {exc.code})")
    if args.command == "serve":
        env = {args.api_key_env: "key"} if args.api_key_env else {}
        serve_options(args, env)  # the start-up checks: they raise ValueError
    elif args.command == "bench":
        config_from_args(args)


@pytest.mark.parametrize(
    ("line", "argv"),
    [
        ('trioagent run agent.yaml "Hello"', [["run", "agent.yaml", "Hello"]]),
        ("pip install -e '.[dev]' && trioagent fetch-model && pytest", [["fetch-model"]]),
        ("echo hi | trioagent chat http://h:1 > answer.txt", [["chat", "http://h:1"]]),
        (
            'KEY=1 trioagent chat http://h:1 --api-key "$KEY"  # a comment',
            [["chat", "http://h:1", "--api-key", "$KEY"]],
        ),
        ("path=$(trioagent fetch-model)", None),
        ("trioagent run AGENT_FILE_OR_REF [MESSAGE] [flags]", None),
        ("curl -s http://127.0.0.1:8083/v1/models", []),
    ],
    ids=[
        "plain",
        "and-and",
        "pipe-redirect",
        "assignment-comment",
        "substitution",
        "synopsis",
        "other-command",
    ],
)
def test_commands_are_found_in_shell_lines(line: str, argv: list[list[str]] | None) -> None:
    assert trioagent_commands(line) == argv


def test_console_blocks_show_commands_after_the_prompt_only() -> None:
    text = "```console\n$ trioagent run a.yaml \\\n  hi\nthe model's answer\n```\n"
    assert shell_lines(text) == [(2, "trioagent run a.yaml hi")]


def command_parser(*names: str) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in names:
        [commands] = [
            action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
        ]
        parser = commands.choices[name]
    return parser


def flags_of(parser: argparse.ArgumentParser) -> set[str]:
    """The long flags ``--help`` shows."""
    return {
        option
        for action in parser._actions
        if action.help != argparse.SUPPRESS
        for option in action.option_strings
        if option.startswith("--")
    } - {"--help"}


def section(doc: str, heading: str | None) -> str:
    """The text of ``heading`` in ``doc`` (up to the next ``## ``), or all of it."""
    text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    if heading is None:
        return text
    return text.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]


def flags_named(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*[a-z])", text)) - {"--help"}


@pytest.mark.parametrize(
    ("doc", "heading", "command"),
    [
        ("serve-chat.md", "## Command line", ("serve", "chat")),
        ("serve-api.md", "## Flags", ("serve", "api")),
        ("serve-mcp.md", "## Command line", ("serve", "mcp")),
        ("serve-a2a.md", "## Command line", ("serve", "a2a")),
        ("benchmarks.md", "## `trioagent bench URL`", ("bench",)),
        ("run.md", None, ("run",)),
    ],
    ids=["serve-chat", "serve-api", "serve-mcp", "serve-a2a", "bench", "run"],
)
def test_the_flag_tables_name_every_flag(
    doc: str, heading: str | None, command: tuple[str, ...]
) -> None:
    text = section(doc, heading)
    if command != ("serve", "api"):  # serve-api.md lists the shared flags in a sentence
        text = "\n".join(
            line.split(" | ")[0] for line in text.splitlines() if line.startswith("| `")
        )
    else:
        text = text.split("\n\n`--rate-limit` works")[0]
    parser = command_parser(*command)
    assert flags_of(parser) - flags_named(text) == set(), f"{doc}: flags missing"
    assert flags_named(text) - flags_of(parser) == set(), f"{doc}: flags the command lacks"


def nginx_config(tmp_path: Path) -> Path:
    """A whole nginx.conf around deployment.md's snippet (which is http-context content),
    with its certificate paths pointing at a fresh self-signed pair."""
    text = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    [snippet] = re.findall(r"^```nginx\n(.*?)^```", text, re.S | re.M)
    certificate, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=agents.example.com",
            "-keyout",
            str(key),
            "-out",
            str(certificate),
        ],
        check=True,
        capture_output=True,
    )
    snippet, count = re.subn(r"ssl_certificate +\S+;", f"ssl_certificate {certificate};", snippet)
    snippet, key_count = re.subn(
        r"ssl_certificate_key +\S+;", f"ssl_certificate_key {key};", snippet
    )
    assert (count, key_count) == (1, 1), "the snippet's listen 443 ssl needs its certificate"
    config = tmp_path / "nginx.conf"
    config.write_text(f"pid {tmp_path}/nginx.pid;\nevents {{}}\nhttp {{\n{snippet}}}\n")
    return config


def test_the_nginx_config_of_deployment_md_passes_nginx_t(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(path, os.X_OK)),
        None,
    )
    missing = [
        name
        for name, found in (("nginx", nginx), ("openssl", shutil.which("openssl")))
        if not found
    ]
    if missing:
        reason = f"{' and '.join(missing)} not installed (apt-get install nginx-light openssl)"
        if os.environ.get("TRIOAGENT_REQUIRE_NGINX") == "1":
            pytest.fail(f"{reason} (TRIOAGENT_REQUIRE_NGINX=1)")
        pytest.skip(reason)
    assert nginx is not None
    config = nginx_config(tmp_path)
    result = subprocess.run(
        [
            nginx,
            "-t",
            "-q",
            "-p",
            str(tmp_path),
            "-e",
            str(tmp_path / "error.log"),
            "-c",
            str(config),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
