"""Codex CLI (``codex exec``) on a real server, through the Responses API.

Codex speaks only ``POST /v1/responses``. Each request offers its own tools (function
tools such as ``exec_command``, a ``namespace`` of sub-agent tools, the hosted
``web_search``) and sends the whole history each time (``store: false``, developer
messages, ``function_call`` / ``function_call_output`` items). The test scripts the agent's
model to call Codex's ``exec_command``: trioagent hands the call to Codex as a
``function_call``, Codex runs it in its working directory and sends the output back, and the
model's final answer reaches Codex's ``--json`` events.

Codex runs from a temporary ``CODEX_HOME`` whose ``config.toml`` (`CONFIG`) names trioagent
as its model provider and turns off everything that would reach past 127.0.0.1: the curated
plugins sync (GitHub and chatgpt.com), analytics and OTLP metrics (ab.chatgpt.com),
feedback. ``--strict-config`` makes a key this Codex does not know an error, so the pin
below and the config move together.

``@openai/codex`` is pinned in ``codex/package-lock.json``, apart from ``js/`` so that its
native binary (~400 MB) does not slow the other JavaScript tests; the ``codex`` fixture runs
``npm ci`` when ``codex/node_modules`` is missing or older than the lock file. Without node
and npm the test skips, unless ``TRIOAGENT_REQUIRE_NODE=1`` (CI), where it fails. It skips
on platforms Codex ships no binary for.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

import pytest
import trio

from trioagent.testing import FakeOpenAI, text, tool_calls

CODEX_DIR = Path(__file__).parent / "codex"
LAUNCHER = CODEX_DIR / "node_modules" / "@openai" / "codex" / "bin" / "codex.js"

PLATFORMS = {
    ("linux", "x86_64"),
    ("linux", "aarch64"),
    ("darwin", "x86_64"),
    ("darwin", "arm64"),
    ("win32", "amd64"),
    ("win32", "arm64"),
}
"""(``sys.platform``, machine) pairs the pinned ``@openai/codex`` has a native binary for."""

API_KEY = "sk-codex-test"

CONFIG = """\
model = "root"
model_provider = "trioagent"
approval_policy = "never"
# The command runs unsandboxed, in the test's temporary working directory: Codex's Linux
# sandbox (bubblewrap) needs user namespaces, which CI runners may not allow.
sandbox_mode = "danger-full-access"
check_for_update_on_startup = false

[model_providers.trioagent]
name = "trioagent"
base_url = "{base_url}"
wire_api = "responses"
env_key = "TRIOAGENT_API_KEY"
request_max_retries = 0
stream_max_retries = 0

[analytics]
enabled = false

[feedback]
enabled = false

[otel]
exporter = "none"
trace_exporter = "none"
metrics_exporter = "none"

[features]
plugins = false
"""
"""Codex's ``config.toml``: trioagent's agent ``root`` as the model, nothing off-host."""

COMMAND = "echo hi > out.txt"
FINAL = "Done: out.txt now says hi."

KNOWN_WARNING = "Model metadata for `root` not found."
"""Codex's ``error`` item for any model it has no metadata for; the turn goes on."""

PASSED_ON = {"PATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "COMSPEC", "PATHEXT", "TEMP", "TMP"}
"""The caller's environment variables Codex gets: none of its proxies, keys or CODEX_*."""


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("TRIOAGENT_REQUIRE_NODE") == "1":
        pytest.fail(f"{reason} (TRIOAGENT_REQUIRE_NODE=1)")
    pytest.skip(reason)


def _needs_install() -> bool:
    installed = CODEX_DIR / "node_modules" / ".package-lock.json"  # written by npm ci
    if not installed.exists() or not LAUNCHER.exists():
        return True
    newest = max(
        (CODEX_DIR / name).stat().st_mtime for name in ("package.json", "package-lock.json")
    )
    return installed.stat().st_mtime < newest


def _pinned_version() -> str:
    manifest = json.loads((CODEX_DIR / "package.json").read_text())
    version: str = manifest["dependencies"]["@openai/codex"]
    return version


@pytest.fixture(scope="session")
def codex() -> list[str]:
    """The command that runs Codex, with ``codex/node_modules`` installed from the lock."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("node and npm are needed to install and run Codex")
    machine = platform.machine().lower()
    if (sys.platform, machine) not in PLATFORMS:
        pytest.skip(f"@openai/codex ships no native binary for {sys.platform} {machine}")
    if _needs_install():
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=CODEX_DIR,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"npm ci failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    command = [node, str(LAUNCHER)]
    version = subprocess.run(
        [*command, "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    # stderr may carry a warning about helper binaries in a temporary CODEX_HOME.
    assert version.stdout.split() == ["codex-cli", _pinned_version()], (
        f"codex --version exited {version.returncode}:\n{version.stdout}\n{version.stderr}"
    )
    return command


def write_codex_home(directory: Path, base_url: str) -> Path:
    """A ``CODEX_HOME`` whose ``config.toml`` points Codex at ``base_url``."""
    directory.mkdir()
    (directory / "config.toml").write_text(CONFIG.format(base_url=base_url))
    return directory


async def run_codex(
    command: list[str], codex_home: Path, workdir: Path, prompt: str
) -> list[dict[str, Any]]:
    """Run ``codex exec --json PROMPT`` in ``workdir``; its events, once it exited 0."""
    home = codex_home.parent / "home"  # no user config, skills or AGENTS.md of the caller
    home.mkdir(exist_ok=True)
    env = {name: value for name, value in os.environ.items() if name.upper() in PASSED_ON}
    env.update(
        HOME=str(home),
        USERPROFILE=str(home),
        CODEX_HOME=str(codex_home),
        TRIOAGENT_API_KEY=API_KEY,
        NO_COLOR="1",
    )
    with trio.fail_after(45):
        done = await trio.run_process(
            [
                *command,
                "exec",
                "--json",
                "--skip-git-repo-check",
                "--ephemeral",
                "--strict-config",
                "--color",
                "never",
                "-C",
                str(workdir),
                prompt,
            ],
            cwd=workdir,
            env=env,
            stdin=b"",
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    stdout, stderr = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
    assert done.returncode == 0, f"codex exec exited {done.returncode}:\n{stdout}\n{stderr}"
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def errors_in(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events that report a problem, but for `KNOWN_WARNING`."""
    problems = [e for e in events if e["type"] in ("error", "turn.failed")]
    problems += [
        e
        for e in events
        if e["type"] == "item.completed"
        and e["item"]["type"] == "error"
        and not e["item"]["message"].startswith(KNOWN_WARNING)
    ]
    return problems


async def test_codex_runs_the_models_shell_call_and_gets_the_answer(
    codex: list[str], start_server: Any, fake: FakeOpenAI, tmp_path: Path
) -> None:
    fake.enqueue(
        tool_calls([("call_1", "exec_command", json.dumps({"cmd": COMMAND}))]),
        text(FINAL),
    )
    workdir = tmp_path / "work"
    workdir.mkdir()
    async with start_server() as server:
        codex_home = write_codex_home(tmp_path / "codex-home", f"{server.url}/v1")
        events = await run_codex(codex, codex_home, workdir, "Write hi to out.txt.")

    # Codex ran the command in its working directory.
    assert (workdir / "out.txt").read_text() == "hi\n"
    assert errors_in(events) == []
    items = [e["item"] for e in events if e["type"] == "item.completed"]
    commands = [i for i in items if i["type"] == "command_execution"]
    assert len(commands) == 1
    assert COMMAND in commands[0]["command"]
    assert (commands[0]["status"], commands[0]["exit_code"]) == ("completed", 0)
    assert [i["text"] for i in items if i["type"] == "agent_message"] == [FINAL]
    assert events[-1]["type"] == "turn.completed"

    # The model was offered Codex's function tools (not its hosted web_search or its
    # namespace of sub-agent tools), then got the command's output as a tool message.
    assert len(fake.requests) == 2
    offered = {t["function"]["name"]: t["function"] for t in fake.requests[0].json["tools"]}
    assert "cmd" in offered["exec_command"]["parameters"]["properties"]
    assert not {"web_search", "multi_agent_v1"} & offered.keys()
    *_, call, result = fake.requests[1].json["messages"]
    assert [c["function"]["name"] for c in call["tool_calls"]] == ["exec_command"]
    assert (result["role"], result["tool_call_id"]) == ("tool", "call_1")
    assert "exited with code 0" in result["content"]
