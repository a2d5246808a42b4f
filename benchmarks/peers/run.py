"""trioagent and its stack floor against LiteLLM proxy and agno AgentOS, on one fake upstream.

    python -m benchmarks.peers.run [-c 1,32] [-n 300] [--warmup 50] [--peers floor,litellm,agno]
                                   [--cache-dir DIR] [--reinstall] [-o FILE.json] [-q]

1. Installs each peer from PyPI into its own venv under ``--cache-dir`` (default
   ``${TMPDIR:-/tmp}/trioagent-peers``), reused while its package list is unchanged:
   ``litellm[proxy]``; ``agno[os]`` with ``openai`` and ``uvicorn[standard]`` (what agno's
   AgentOS docs install). A peer that fails to install is reported and skipped. The stack
   floor installs nothing: it runs with this interpreter, from the repository.
2. Starts ``benchmarks.fake_fast`` (the fake upstream, one process for the whole run),
   then each server in turn, alone, waits until it answers one real request (a startup
   timeout, then it is reported and skipped), measures it and stops it:

   - ``trioagent serve chat`` with one agent (``root``) whose model is the fake;
   - the stack floor (``python -m benchmarks.floor --upstream the fake``, peer name
     ``floor``): a Quart-trio route on hypercorn making one streamed httpx call to the
     fake, with no agent work and no auth, what trioagent's stack costs by itself;
   - LiteLLM proxy (``litellm --config``, one worker) mapping model ``m`` to ``openai/m``
     with ``api_base`` = the fake;
   - agno AgentOS (``AgentOS(agents=[...]).serve(...)``, uvicorn, one worker) with one
     agent (``root``) whose model is ``OpenAIChat(base_url=the fake)``.

3. By default (``--load wrk``, when wrk is installed) measures them the fair way
   (`benchmarks.fair`, `benchmarks.peers.fair_run`): every server pinned to one core, the
   fake and wrk to the other, each loaded alone at c=1, c=32 and c=32 streamed, for
   ``--rounds`` rounds in rotated order, with the server's CPU per request and per token
   read from /proc; medians. With ``--load bench``:
   loads each the same way, with ``trioagent bench``'s runner (one keep-alive connection
   per worker, warm-up requests, a barrier before the clock starts, the same request
   count per level). trioagent, the stack floor (model ``root``; it ignores the bearer
   key every server is sent), LiteLLM and the fake itself (the ``fake upstream`` row) get
   ``POST /v1/chat/completions`` exactly as ``trioagent bench URL --mode chat`` sends it.
   AgentOS has no OpenAI-compatible endpoint: it gets its own run endpoint,
   ``POST /agents/root/runs`` with the form ``message=...&stream=false``, which answers
   one JSON ``RunOutput``: the same one-message, one-answer turn.
4. Prints a Markdown table (server, c, req/s, p50, p99, errors, then trioagent's and the
   stack floor's req/s over each server's) and writes every number to
   ``benchmarks/results/peers.json``.

Every process it starts runs in its own process group, and the group is stopped (SIGTERM,
then SIGKILL) when its part ends, on an error, on Ctrl-C and on SIGTERM. Logs go to
``--cache-dir``/run/.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import attrs
import httpx
import trio

from benchmarks.fair import LOAD_CORE, SERVER_CORE, can_pin, pinned
from trioagent.bench import (
    BenchConfig,
    BenchReport,
    RequestResult,
    markdown_table,
    measure_level,  # the very scheduling of `trioagent bench`
    run_bench,
)
from trioagent.bench.command import parse_levels
from trioagent.bench.report import report_data
from trioagent.bench.stats import failure
from trioagent.bench.targets import reason_of

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CACHE = Path(os.environ.get("TMPDIR") or "/tmp") / "trioagent-peers"
DEFAULT_OUTPUT = REPO / "benchmarks" / "results" / "peers.json"
MESSAGE = "Hello! In one sentence, what is a benchmark?"
"""The user message of every request (the same as ``benchmarks.run``'s)."""
INSTRUCTION = "You are a helpful assistant. Answer in one short paragraph."
UPSTREAM_KEY = "sk-bench"
"""The fake upstream checks no key; the clients only need one set."""
SERVER_KEY = f"sk-{secrets.token_hex(24)}"
"""Every measured server requires ``Authorization: Bearer SERVER_KEY``, as a deployed one
would (LiteLLM refuses to start without a master key): trioagent ``--api-key``, LiteLLM
``LITELLM_MASTER_KEY``, AgentOS ``OS_SECURITY_KEY``. The stack floor has no auth: it is
sent the key too and ignores it."""
FLOOR = "floor"
"""The ``--peers`` name of the stack floor (``benchmarks.floor``), which needs no install."""
FLOOR_SERVER = "stack floor"
"""Its server name in the report."""
FLOOR_H11_SERVER = "stack floor (h11)"
"""The floor calling its upstream with trioagent's own HTTP client (``--client h11``)."""
PEERS = (FLOOR, "litellm", "agno")


class PeerError(Exception):
    """A server could not be installed, started or asked: reported, and the run goes on."""


class Terminated(Exception):
    """SIGTERM or SIGHUP arrived: stop everything and exit."""


# Installing the peers.


@attrs.frozen
class Peer:
    name: str
    packages: tuple[str, ...]
    """pip requirement specifiers, installed into the peer's own venv."""
    versions_of: tuple[str, ...]
    """Distributions whose installed versions the report records."""


PEER_PACKAGES = {
    "litellm": Peer(
        "litellm",
        ("litellm[proxy]",),
        ("litellm", "fastapi", "uvicorn", "uvloop", "aiohttp", "httpx", "openai"),
    ),
    "agno": Peer(
        "agno",
        ("agno[os]", "openai", "uvicorn[standard]"),
        ("agno", "fastapi", "uvicorn", "uvloop", "httptools", "httpx", "openai"),
    ),
}
OWN_VERSIONS = ("trioagent", "trio", "quart-trio", "hypercorn", "httpx", "h11")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    kept = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join("    " + (line if len(line) <= 300 else line[:300] + " ...") for line in kept)


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


async def run_logged(command: list[str], log: Path) -> None:
    """Run ``command`` with its output appended to ``log``; PeerError if it fails."""
    with log.open("ab") as out:
        out.write(f"$ {shlex.join(command)}\n".encode())
        out.flush()
        result = await trio.run_process(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False
        )
    if result.returncode != 0:
        raise PeerError(
            f"`{shlex.join(command)}` exited with {result.returncode}; "
            f"the end of {log}:\n{_tail(log)}"
        )


async def ensure_installed(peer: Peer, cache: Path, *, reinstall: bool, limit: float) -> Path:
    """The peer's venv, created and filled by pip unless it already holds ``packages``."""
    venv = cache / peer.name
    marker = venv / ".trioagent-peers-packages"
    wanted = "\n".join(peer.packages)
    if (
        not reinstall
        and marker.exists()
        and marker.read_text() == wanted
        and venv_python(venv).exists()
    ):
        return venv
    if reinstall and venv.exists():
        shutil.rmtree(venv)
    log = cache / f"{peer.name}-install.log"
    log.write_text("")
    print(
        f"installing {peer.name} into {venv} ({' '.join(peer.packages)}), log: {log}",
        file=sys.stderr,
    )
    with trio.move_on_after(limit) as scope:
        if not venv_python(venv).exists():
            await run_logged([sys.executable, "-m", "venv", str(venv)], log)
        await run_logged(
            [
                str(venv_python(venv)),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--upgrade",
                *peer.packages,
            ],
            log,
        )
    if scope.cancelled_caught:
        raise PeerError(
            f"installing {peer.name} took more than {limit:.0f}s; the end of {log}:\n{_tail(log)}"
        )
    marker.write_text(wanted)
    return venv


async def versions(python: Path | str, names: tuple[str, ...]) -> dict[str, str | None]:
    """The installed version of each distribution in ``names`` (None: not installed)."""
    code = (
        "import importlib.metadata as m, json, sys\n"
        "def v(n):\n"
        "    try: return m.version(n)\n"
        "    except m.PackageNotFoundError: return None\n"
        "print(json.dumps({n: v(n) for n in sys.argv[1:]}))\n"
    )
    result = await trio.run_process(
        [str(python), "-c", code, *names], capture_stdout=True, check=False
    )
    if result.returncode != 0:
        return dict.fromkeys(names)
    return cast("dict[str, str | None]", json.loads(result.stdout))


# Running the servers.


@attrs.frozen
class Server:
    name: str
    url: str
    """The base URL its load goes to."""
    command: list[str]
    log: Path
    pid: int
    """Its process, the leader of its process group (whose CPU `benchmarks.fair` reads)."""


def free_port() -> int:
    """A loopback port free right now (for servers that cannot pick one themselves)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def url_in_log(log: Path) -> str | None:
    """The URL of a ``... listening on URL`` line (the fake's and trioagent's)."""
    match = re.search(r"listening on (http://\S+)", log.read_text(errors="replace"))
    return match.group(1).rstrip(".,;)") if match else None


async def stop(process: trio.Process, grace: float = 5.0) -> None:
    """SIGTERM the process's group, SIGKILL it after ``grace`` s, and reap the process."""
    with trio.CancelScope(shield=True):
        if process.returncode is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            with trio.move_on_after(grace):
                await process.wait()
        try:  # anything left in the group: a child that outlived the leader
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        await process.wait()


@asynccontextmanager
async def open_server(
    name: str,
    command: list[str],
    *,
    log: Path,
    env: dict[str, str],
    cwd: Path,
    url: Callable[[Path], str | None],
    check: Callable[[httpx.AsyncClient, str], Awaitable[None]],
    startup_limit: float,
) -> AsyncIterator[Server]:
    """Start ``command`` in its own process group and wait until ``check`` passes.

    ``url`` reads the server's base URL (from its log, or a port chosen beforehand);
    ``check`` sends one real request and raises PeerError for a wrong answer. A refused
    connection is retried until ``startup_limit`` s; so are the first few wrong answers.

    Raises:
        PeerError: the process exited, kept answering wrong or did not answer in time.
    """
    with log.open("wb") as out:
        process = await trio.lowlevel.open_process(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=str(cwd),
            start_new_session=True,
        )
    try:
        base_url: str | None = None
        last_error = "no answer yet"
        wrong = 0
        started = time.monotonic()
        with trio.move_on_after(startup_limit) as scope:
            async with httpx.AsyncClient(timeout=30.0) as client:
                while True:
                    if process.poll() is not None:
                        raise PeerError(
                            f"{name} exited with {process.returncode} before it "
                            f"answered; the end of {log}:\n{_tail(log)}"
                        )
                    base_url = base_url or url(log)
                    if base_url is not None:
                        try:
                            await check(client, base_url)
                            break
                        except httpx.TransportError as exc:  # not listening yet
                            last_error = reason_of(exc)
                        except PeerError as exc:
                            last_error = str(exc)
                            wrong += 1
                            if wrong >= 10:
                                raise PeerError(
                                    f"{name} answers wrong: {exc}; the end of {log}:\n{_tail(log)}"
                                ) from None
                    await trio.sleep(0.2)
        if scope.cancelled_caught:
            raise PeerError(
                f"{name} did not answer within {startup_limit:.0f}s ({last_error}); "
                f"the end of {log}:\n{_tail(log)}"
            )
        print(
            f"{name}: answering at {base_url} after {time.monotonic() - started:.1f}s",
            file=sys.stderr,
        )
        assert base_url is not None
        yield Server(name=name, url=base_url, command=command, log=log, pid=process.pid)
    finally:
        await stop(process)


def chat_check(model: str, key: str) -> Callable[[httpx.AsyncClient, str], Awaitable[None]]:
    async def check(client: httpx.AsyncClient, base_url: str) -> None:
        response = await client.post(
            f"{base_url}/chat/completions",
            json={"model": model, "messages": [{"role": "user", "content": MESSAGE}]},
            headers={"authorization": f"Bearer {key}"},
        )
        if response.status_code != 200:
            raise PeerError(f"HTTP {response.status_code}: {response.text[:300]}")
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, LookupError, TypeError) as exc:
            raise PeerError(f"not a chat completion: {response.text[:300]}") from exc
        if not isinstance(content, str) or not content:
            raise PeerError(f"no answer text: {response.text[:300]}")

    return check


AGNO_AGENT = "root"
AGNO_FORM = {"message": MESSAGE, "stream": "false"}


async def agno_check(client: httpx.AsyncClient, base_url: str) -> None:
    response = await client.post(
        f"{base_url}/agents/{AGNO_AGENT}/runs",
        data=AGNO_FORM,
        headers={"authorization": f"Bearer {SERVER_KEY}"},
    )
    if response.status_code != 200:
        raise PeerError(f"HTTP {response.status_code}: {response.text[:300]}")
    try:
        content = response.json()["content"]
    except (ValueError, LookupError, TypeError) as exc:
        raise PeerError(f"not a run output: {response.text[:300]}") from exc
    if not isinstance(content, str) or not content:
        raise PeerError(f"no answer text: {response.text[:300]}")


@attrs.frozen
class Fake:
    url: str
    command: list[str]
    pid: int


@asynccontextmanager
async def open_fake(
    workdir: Path, words: int, startup_limit: float, *, core: int | None = None
) -> AsyncIterator[Fake]:
    command = on_core([sys.executable, "-m", "benchmarks.fake_fast", "--words", str(words)], core)
    async with open_server(
        "fake upstream",
        command,
        log=workdir / "fake.log",
        env=dict(os.environ),
        cwd=REPO,
        url=url_in_log,
        check=chat_check("m", UPSTREAM_KEY),
        startup_limit=startup_limit,
    ) as server:
        yield Fake(url=server.url, command=command, pid=server.pid)


TRIOAGENT_YAML = """\
models:
  upstream: {{provider: openai, model: m, base_url: "{base_url}"}}
agents:
  root: {{model: upstream, instruction: "{instruction}"}}
"""

LITELLM_YAML = """\
model_list:
  - model_name: m
    litellm_params:
      model: openai/m
      api_base: "{base_url}"
      api_key: {key}
"""

AGNO_APP = '''\
"""agno AgentOS serving one agent whose model is the fake upstream (benchmarks.peers)."""
import os
import sys

from agno.agent import Agent
from agno.models.openai import OpenAIChat
from agno.os import AgentOS

agent = Agent(
    id="{agent}",
    name="{agent}",
    model=OpenAIChat(id="m", base_url=os.environ["FAKE_URL"], api_key="{key}"),
    instructions="{instruction}",
    telemetry=False,
)
agent_os = AgentOS(agents=[agent], telemetry=False)
app = agent_os.get_app()

if __name__ == "__main__":
    agent_os.serve(app="agno_app:app", host="127.0.0.1", port=int(sys.argv[1]))
'''


@attrs.frozen
class Setup:
    """How to start one server and load it."""

    name: str
    open: Callable[[], Any]
    """An async context manager yielding the running `Server`."""
    load: str
    """``chat``: Chat Completions; ``agno``: AgentOS's run endpoint."""
    model: str | None = None


def on_core(command: list[str], core: int | None) -> list[str]:
    """``command``, pinned to ``core`` when one is given."""
    return command if core is None else pinned(command, core)


def fixed_url(url: str, _log: Path) -> str:
    return url


def setups(
    fake: Fake,
    workdir: Path,
    venvs: dict[str, Path],
    startup_limit: float,
    workers: int = 1,
    *,
    floor: bool = True,
    core: int | None = None,
) -> list[Setup]:
    """How to start trioagent, the floor and the installed peers (each on ``core`` when
    given: `benchmarks.fair`)."""
    base_env = {**os.environ, "OPENAI_API_KEY": UPSTREAM_KEY}
    trioagent_env = {**base_env, "TRIOAGENT_BENCH_KEY": SERVER_KEY}
    out = []

    agent_file = workdir / "trioagent.yaml"
    agent_file.write_text(TRIOAGENT_YAML.format(base_url=fake.url, instruction=INSTRUCTION))
    out.append(
        Setup(
            "trioagent",
            partial(
                open_server,
                "trioagent",
                on_core(
                    [
                        sys.executable,
                        "-m",
                        "trioagent",
                        "serve",
                        "chat",
                        str(agent_file),
                        "-l",
                        "127.0.0.1:0",
                        "--api-key-env",
                        "TRIOAGENT_BENCH_KEY",
                        "--workers",
                        str(workers),
                    ],
                    core,
                ),
                log=workdir / "trioagent.log",
                env=trioagent_env,
                cwd=workdir,
                url=url_in_log,
                check=chat_check("root", SERVER_KEY),
                startup_limit=startup_limit,
            ),
            "chat",
            "root",
        )
    )

    if floor:  # with trioagent's --workers: it stands for trioagent's stack, so it scales alike
        for name, client in ((FLOOR_SERVER, "httpx"), (FLOOR_H11_SERVER, "h11")):
            out.append(
                Setup(
                    name,
                    partial(
                        open_server,
                        name,
                        on_core(
                            [
                                sys.executable,
                                "-m",
                                "benchmarks.floor",
                                "--upstream",
                                fake.url,
                                "--listen",
                                "127.0.0.1:0",
                                "--workers",
                                str(workers),
                                "--client",
                                client,
                            ],
                            core,
                        ),
                        log=workdir / f"floor-{client}.log",
                        env=base_env,
                        cwd=REPO,
                        url=url_in_log,
                        check=chat_check("root", SERVER_KEY),
                        startup_limit=startup_limit,
                    ),
                    "chat",
                    "root",
                )
            )

    if "litellm" in venvs:
        config = workdir / "litellm.yaml"
        config.write_text(LITELLM_YAML.format(base_url=fake.url, key=UPSTREAM_KEY))
        port = free_port()
        env = {
            **base_env,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch from GitHub at startup
            "LITELLM_LOG": "ERROR",  # no access log line per request
            "LITELLM_MASTER_KEY": SERVER_KEY,
        }
        out.append(
            Setup(
                "litellm",
                partial(
                    open_server,
                    "litellm",
                    on_core(
                        [
                            str(venvs["litellm"] / "bin" / "litellm"),
                            "--config",
                            str(config),
                            "--host",
                            "127.0.0.1",
                            "--port",
                            str(port),
                            "--num_workers",
                            "1",
                        ],
                        core,
                    ),
                    log=workdir / "litellm.log",
                    env=env,
                    cwd=workdir,
                    url=partial(fixed_url, f"http://127.0.0.1:{port}/v1"),
                    check=chat_check("m", SERVER_KEY),
                    startup_limit=startup_limit,
                ),
                "chat",
                "m",
            )
        )

    if "agno" in venvs:
        app = workdir / "agno_app.py"
        app.write_text(AGNO_APP.format(agent=AGNO_AGENT, key=UPSTREAM_KEY, instruction=INSTRUCTION))
        port = free_port()
        env = {
            **base_env,
            "FAKE_URL": fake.url,
            "AGNO_TELEMETRY": "false",
            "OS_SECURITY_KEY": SERVER_KEY,
        }
        out.append(
            Setup(
                "agno",
                partial(
                    open_server,
                    "agno",
                    on_core([str(venv_python(venvs["agno"])), str(app), str(port)], core),
                    log=workdir / "agno.log",
                    env=env,
                    cwd=workdir,
                    url=partial(fixed_url, f"http://127.0.0.1:{port}"),
                    check=agno_check,
                    startup_limit=startup_limit,
                ),
                "agno",
            )
        )
    return out


# Loading agno's run endpoint the way `trioagent bench` loads the others.


@attrs.define(kw_only=True)
class FormTarget:
    """POST one form again and again; a 200 with a non-empty ``content`` is a success."""

    url: str
    form: dict[str, str]
    headers: dict[str, str]
    timeout: float

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[FormCaller]:
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        ) as client:
            yield FormCaller(target=self, client=client)


@attrs.define(kw_only=True)
class FormCaller:
    target: FormTarget
    client: httpx.AsyncClient
    usable: bool = True

    async def call(self) -> RequestResult:
        started = time.perf_counter()
        try:
            response = await self.client.post(
                self.target.url, data=self.target.form, headers=self.target.headers
            )
            if response.status_code != 200:
                return failure(time.perf_counter() - started, f"HTTP {response.status_code}")
            document = response.json()
            content = document["content"]
            metrics = document.get("metrics") or {}
            tokens = int(metrics.get("output_tokens") or 0)
        except (ValueError, LookupError, TypeError, AttributeError):
            return failure(time.perf_counter() - started, "bad answer")
        except Exception as exc:  # httpx errors: counted, never fatal
            return failure(time.perf_counter() - started, reason_of(exc))
        latency = time.perf_counter() - started
        if not isinstance(content, str) or not content:
            return failure(latency, "bad answer")
        return RequestResult(latency=latency, tokens=tokens)


async def bench_form(url: str, form: dict[str, str], key: str, settings: Settings) -> BenchReport:
    """`run_bench`'s levels, with `FormTarget` in place of the Chat Completions target."""
    target = FormTarget(
        url=url, form=form, timeout=settings.timeout, headers={"authorization": f"Bearer {key}"}
    )
    levels = [
        await measure_level(
            target,
            concurrency,
            warmup=settings.warmup,
            requests=settings.requests,
            duration=None,
            request_timeout=settings.timeout,
            label=f"agno c={concurrency}",
            progress=settings.progress,
        )
        for concurrency in settings.concurrency
    ]
    return BenchReport(
        url=url,
        mode=cast("Any", "agno-run"),
        model=AGNO_AGENT,
        concurrency=settings.concurrency,
        requests=settings.requests,
        duration=None,
        warmup=settings.warmup,
        levels=tuple(levels),
    )


@attrs.frozen(kw_only=True)
class Settings:
    concurrency: tuple[int, ...] = (1, 32)
    requests: int = 300
    warmup: int = 50
    timeout: float = 60.0
    words: int = 16
    peers: tuple[str, ...] = PEERS
    baseline: bool = True
    cache: Path = DEFAULT_CACHE
    reinstall: bool = False
    install_timeout: float = 900.0
    startup_timeout: float = 180.0
    progress: bool = True
    workers: int = 1
    """``--workers`` of trioagent and of the stack floor (the peers run as they start by
    default)."""
    load: str = "wrk"
    """``wrk``: the fair method (`benchmarks.peers.fair_run`); ``bench``: `trioagent bench`'s
    runner, one server at a time, nothing pinned."""
    rounds: int = 3
    seconds: float = 10.0
    """How long each wrk load runs."""


async def bench_chat(
    url: str, model: str | None, key: str | None, settings: Settings
) -> BenchReport:
    """Exactly ``trioagent bench URL --mode chat -m MODEL --api-key KEY -c ... -n ...``."""
    config = BenchConfig(
        url=url,
        mode="chat",
        concurrency=settings.concurrency,
        requests=settings.requests,
        warmup=settings.warmup,
        model=model,
        api_key=key,
        message=MESSAGE,
        timeout=settings.timeout,
    )
    return await run_bench(config, progress=settings.progress)


# The run.


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next(
            (
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        )
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


async def run_all(settings: Settings) -> dict[str, Any]:
    cache = settings.cache
    cache.mkdir(parents=True, exist_ok=True)
    workdir = cache / "run"
    workdir.mkdir(exist_ok=True)
    results: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": shlex.join(["python", "-m", "benchmarks.peers.run", *sys.argv[1:]]),
        "machine": machine(),
        "settings": {**attrs.asdict(settings), "cache": str(settings.cache), "message": MESSAGE},
        "servers": {},
        "errors": {},
    }
    servers: dict[str, Any] = results["servers"]
    errors: dict[str, str] = results["errors"]

    # 1. Install first, so that pip never competes with a measurement.
    venvs: dict[str, Path] = {}
    for name in settings.peers:
        peer = PEER_PACKAGES.get(name)
        if peer is None:  # the floor: this interpreter, nothing to install
            continue
        try:
            venvs[name] = await ensure_installed(
                peer, cache, reinstall=settings.reinstall, limit=settings.install_timeout
            )
        except (PeerError, OSError) as exc:
            errors[name] = f"install failed: {exc}"
            print(f"{name}: {errors[name]}", file=sys.stderr)
    results["versions"] = {"trioagent": await versions(sys.executable, OWN_VERSIONS)}
    for name, venv in venvs.items():
        results["versions"][name] = await versions(
            venv_python(venv), PEER_PACKAGES[name].versions_of
        )

    if settings.load == "wrk":
        return await _run_fair(settings, workdir, venvs, results)
    # 2, 3. One fake upstream; each server alone on it, in turn.
    async with open_fake(workdir, settings.words, settings.startup_timeout) as fake:
        if settings.baseline:
            report = await bench_chat(fake.url, "m", None, settings)
            servers["fake upstream"] = {
                "url": fake.url,
                "command": fake.command,
                "endpoint": "POST /v1/chat/completions",
                "report": report,
            }
        for setup in setups(
            fake,
            workdir,
            venvs,
            settings.startup_timeout,
            settings.workers,
            floor=FLOOR in settings.peers,
        ):
            try:
                async with setup.open() as server:
                    if setup.load == "chat":
                        endpoint = "POST /v1/chat/completions"
                        report = await bench_chat(server.url, setup.model, SERVER_KEY, settings)
                    else:
                        endpoint = f"POST /agents/{AGNO_AGENT}/runs (form, stream=false)"
                        report = await bench_form(
                            f"{server.url}/agents/{AGNO_AGENT}/runs",
                            AGNO_FORM,
                            SERVER_KEY,
                            settings,
                        )
                servers[setup.name] = {
                    "url": server.url,
                    "command": server.command,
                    "endpoint": endpoint,
                    "report": report,
                }
                if settings.progress:
                    print(f"\n{setup.name}:\n{markdown_table(report)}", file=sys.stderr)
            except (PeerError, OSError) as exc:
                errors[setup.name] = f"start failed: {exc}"
                print(f"{setup.name}: {errors[setup.name]}", file=sys.stderr)
    results["machine"]["load_average_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    results["rows"] = rows(servers)
    return results


async def _run_fair(
    settings: Settings, workdir: Path, venvs: dict[str, Path], results: dict[str, Any]
) -> dict[str, Any]:
    """Steps 2 and 3 the fair way: every server pinned, loaded by wrk (`fair_run`)."""
    from .fair_run import chat_target, form_target, run_fair

    def target(setup: Setup) -> Callable[[Server], Any]:
        if setup.load == "chat":
            return lambda server: chat_target(server.url, setup.model, SERVER_KEY, MESSAGE)
        return lambda server: form_target(
            f"{server.url}/agents/{AGNO_AGENT}/runs", AGNO_FORM, SERVER_KEY
        )

    async with open_fake(workdir, settings.words, settings.startup_timeout, core=LOAD_CORE) as fake:
        chosen = setups(
            fake,
            workdir,
            venvs,
            settings.startup_timeout,
            settings.workers,
            floor=FLOOR in settings.peers,
            core=SERVER_CORE,
        )
        results["fair"] = await run_fair(
            settings,
            chosen,
            {setup.name: target(setup) for setup in chosen},
            results["errors"],
            rounds=settings.rounds,
            seconds=settings.seconds,
        )
    results["machine"]["load_average_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    results["rows"] = []
    return results


def throughputs(servers: dict[str, Any], name: str) -> dict[int, float]:
    """The req/s of server ``name`` at each concurrency ({} when it was not measured)."""
    report: BenchReport | None = servers.get(name, {}).get("report")
    return {lv.concurrency: lv.throughput for lv in report.levels} if report else {}


def ratio(mine: float | None, theirs: float) -> float | None:
    return mine / theirs if mine is not None and theirs else None


def rows(servers: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per server and level, with trioagent's and the stack floor's req/s over the
    server's."""
    ours_at = throughputs(servers, "trioagent")
    floor_at = throughputs(servers, FLOOR_SERVER)
    out = []
    for name, server in servers.items():
        report: BenchReport = server["report"]
        for level in report.levels:
            out.append(
                {
                    "server": name,
                    "concurrency": level.concurrency,
                    "requests": level.requests,
                    "throughput": level.throughput,
                    "p50": level.latency.p50 if level.latency else None,
                    "p99": level.latency.p99 if level.latency else None,
                    "errors": level.failed,
                    "error_reasons": level.errors,
                    "trioagent_ratio": ratio(ours_at.get(level.concurrency), level.throughput),
                    "floor_ratio": ratio(floor_at.get(level.concurrency), level.throughput),
                }
            )
    return out


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def markdown(results: dict[str, Any]) -> str:
    if "fair" in results:
        from .fair_run import fair_table

        table = fair_table(results["fair"], core_pinned=can_pin())
        errors = [
            f"- {name}: **not measured**: {error}" for name, error in results["errors"].items()
        ]
        return table + "\n".join(errors)
    lines = [
        "| server | c | req/s | p50 ms | p99 ms | errors | trioagent ÷ server | floor ÷ server |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["rows"]:
        lines.append(
            f"| {row['server']} | {row['concurrency']} | {_f(row['throughput'], 0)} "
            f"| {_f(row['p50'])} | {_f(row['p99'])} | {row['errors']} "
            f"| {_x(row['trioagent_ratio'])} | {_x(row.get('floor_ratio'))} |"
        )
    notes = []
    for name, server in results["servers"].items():
        notes.append(f"- {name}: {server['endpoint']}")
    for name, error in results["errors"].items():
        notes.append(
            f"- {name}: **not measured**: {error.split('; the end of')[0].splitlines()[0]}"
        )
    versions = results.get("versions", {})
    for name, found in versions.items():
        listed = ", ".join(f"{k} {v}" for k, v in found.items() if v)
        notes.append(f"- {name} venv: {listed}")
    return "\n".join([*lines, "", *notes]) + "\n"


def to_json(results: dict[str, Any]) -> dict[str, Any]:
    def convert(value: Any) -> Any:
        if isinstance(value, BenchReport):
            return report_data(value)
        if isinstance(value, dict):
            return {key: convert(item) for key, item in value.items()}
        return value

    return cast("dict[str, Any]", convert(results))


async def main_async(settings: Settings) -> dict[str, Any]:
    """`run_all`, stopped by SIGTERM or SIGHUP as by Ctrl-C: every `finally` runs."""
    results: dict[str, Any] = {}

    async def watch_signals() -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGHUP) as signals:
            async for signum in signals:
                raise Terminated(signal.Signals(signum).name)

    async def work(cancel: trio.CancelScope) -> None:
        results.update(await run_all(settings))
        cancel.cancel()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch_signals)
        nursery.start_soon(work, nursery.cancel_scope)
    return results


def _peers(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in PEERS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown peer {unknown[0]!r}: use {', '.join(PEERS)}")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.peers.run",
        description=(__doc__ or "").split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join((__doc__ or "").split("\n")[4:]),
    )
    parser.add_argument(
        "-c",
        "--concurrency",
        type=parse_levels,
        default=(1, 32),
        help="concurrency levels (default 1,32)",
    )
    parser.add_argument(
        "-n", "--requests", type=int, default=300, help="requests measured per level (default 300)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=50,
        help="warm-up requests per level (default 50: more than 32 workers, "
        "so that every worker has sent one before the clock starts)",
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds one request may take (default 60)"
    )
    parser.add_argument(
        "--words", type=int, default=16, help="words of the fake's answer (default 16)"
    )
    parser.add_argument(
        "--peers",
        type=_peers,
        default=PEERS,
        help="servers to measure besides trioagent: floor (the stack "
        "floor), litellm, agno (default all three)",
    )
    parser.add_argument(
        "--no-baseline", action="store_true", help="do not measure the fake upstream alone"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=DEFAULT_CACHE,
        help=f"where the peers' venvs and logs go (default {DEFAULT_CACHE})",
    )
    parser.add_argument("--reinstall", action="store_true", help="recreate the peers' venvs")
    parser.add_argument(
        "--startup-timeout",
        type=float,
        default=180.0,
        help="seconds a server may take to answer its first request (default 180)",
    )
    parser.add_argument(
        "--install-timeout",
        type=float,
        default=900.0,
        help="seconds one peer's install may take (default 900)",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="the JSON report (default benchmarks/results/peers.json)",
    )
    parser.add_argument(
        "--trioagent-workers",
        type=int,
        default=1,
        metavar="N",
        help="run trioagent and the stack floor with --workers N (default 1)",
    )
    parser.add_argument(
        "--load",
        choices=("wrk", "bench"),
        default="wrk" if shutil.which("wrk") else "bench",
        help="wrk: the fair method, every server pinned to its own core and loaded by wrk, "
        "CPU per request and per token from /proc (default when wrk is installed); bench: "
        "trioagent bench's runner",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="wrk rounds, in rotated order (default 3)"
    )
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="seconds of each wrk load (default 10)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    settings = Settings(
        concurrency=args.concurrency,
        requests=args.requests,
        warmup=args.warmup,
        timeout=args.timeout,
        words=args.words,
        peers=args.peers,
        baseline=not args.no_baseline,
        cache=args.cache_dir.resolve(),
        reinstall=args.reinstall,
        install_timeout=args.install_timeout,
        startup_timeout=args.startup_timeout,
        progress=not args.quiet,
        workers=args.trioagent_workers,
        load=args.load,
        rounds=args.rounds,
        seconds=args.seconds,
    )
    failed: str | None = None
    exit_code = 0
    try:
        results = trio.run(main_async, settings)
    except* Terminated as group:
        failed, exit_code = f"stopped by {group.exceptions[0]}", 143
    except* PeerError as group:  # the fake upstream itself did not start
        failed, exit_code = str(group.exceptions[0]), 1
    except* KeyboardInterrupt:
        failed, exit_code = "interrupted", 130
    if failed is not None:
        print(failed, file=sys.stderr)
        return exit_code
    print(markdown(results))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(to_json(results), indent=2) + "\n")
    print(f"wrote {args.output}", file=sys.stderr)
    if "trioagent" not in results.get("fair", results["servers"]):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
