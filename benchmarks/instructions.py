"""CPU instructions per served request, counted by valgrind: a measure that does not drift.

    python -m benchmarks.instructions [--server trioagent|floor] [--stream]
                                      [--requests 50,150] [--source DIR] [--cache-kb N]

CPU time on a shared machine moves by 10-20% from one minute to the next, which hides the
steps a change to the request path makes. Instructions do not move: the server runs under
``valgrind --tool=cachegrind --cache-sim=no`` (about fifty times slower, so one client on
one keep-alive connection is enough), serves N1 requests, stops and reports the
instructions it ran; then again with N2. The difference over N2 - N1 is the instructions
of one request, start-up and shutdown cancelled out. Two runs of the same code agree
within about 1%, so a step smaller than that needs several runs.

- ``--server trioagent`` runs ``trioagent serve chat`` on an agent of the fake upstream
  (`benchmarks.fake_fast`, 16 words); ``--server floor`` runs the stack floor
  (`benchmarks.floor --client h11`), so the difference is trioagent's own share.
- ``--source DIR`` runs the server from another checkout (``PYTHONPATH=DIR``): compare a
  change with ``git worktree add /tmp/base HEAD~1`` and ``--source /tmp/base``.

- ``--cache-kb N`` simulates the caches too, with a last level of N KiB (this VM's L2
  is 512 KiB a core; its L3 is shared with other machines), and adds the last-level
  misses per request: the part of the time that instructions do not show.

Instructions are not time (a cache miss costs more than an add), so this guides and
checks changes; the fair CPU comparison is ``python -m benchmarks.peers.run``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PORT = 18199
STARTUP_TIMEOUT = 300.0
"""Seconds a server under valgrind may take to answer its first request."""


def _start_fake(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    log = workdir / "fake.log"
    fake = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.fake_fast", "--words", "16"],
        cwd=REPO,
        stderr=log.open("wb"),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if found := re.search(r"http://\S+", log.read_text()):
            return fake, found.group(0)
        time.sleep(0.05)
    fake.kill()
    raise SystemExit("instructions: the fake upstream did not start")


def _server_command(server: str, upstream: str, workdir: Path) -> list[str]:
    if server == "floor":
        return [sys.executable, "-m", "benchmarks.floor", "--upstream", upstream]
    agent = workdir / "agent.yaml"
    agent.write_text(
        "models:\n"
        f'  upstream: {{provider: openai, model: m, base_url: "{upstream}"}}\n'
        "agents:\n"
        '  root: {model: upstream, instruction: "Be brief."}\n'
    )
    return [sys.executable, "-m", "trioagent", "serve", "chat", str(agent)]


def _wait_ready(process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("instructions: the server exited before it served")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
            connection.request("GET", "/v1/models")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("instructions: the server did not start in time")


def _serve(count: int, stream: bool) -> None:
    body = json.dumps(
        {"model": "root", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
    )
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
    for _ in range(count):
        connection.request(
            "POST", "/v1/chat/completions", body, {"Content-Type": "application/json"}
        )
        answer = connection.getresponse()
        answer.read()
        if answer.status != 200:
            raise SystemExit(f"instructions: the server answered {answer.status}")


LAST_LEVEL_MISSES = ("ILmr", "DLmr", "DLmw")
"""Cachegrind's events for misses of the last cache level: instruction reads, data reads
and data writes."""


def count_events(
    server: str,
    upstream: str,
    requests: int,
    *,
    stream: bool,
    source: Path,
    workdir: Path,
    cache_kb: int | None = None,
) -> dict[str, int]:
    """Cachegrind's event counts (``Ir``: instructions; with ``cache_kb``, the simulated
    misses too) for the server to start, serve ``requests`` and stop."""
    out = workdir / f"cachegrind.{server}.{requests}"
    cache = ["--cache-sim=no"]
    if cache_kb is not None:
        cache = ["--cache-sim=yes", f"--LL={cache_kb * 1024},16,64"]
    command = [
        "valgrind",
        "--tool=cachegrind",
        *cache,
        f"--cachegrind-out-file={out}",
        *_server_command(server, upstream, workdir),
    ]
    command += (
        ["--listen", f"127.0.0.1:{PORT}"] if server == "floor" else ["-l", f"127.0.0.1:{PORT}"]
    )
    if server == "floor":
        command += ["--client", "h11"]
    env = {**os.environ, "PYTHONPATH": str(source), "OPENAI_API_KEY": "unused"}
    process = subprocess.Popen(
        command, cwd=workdir, env=env, stderr=(workdir / "server.log").open("wb")
    )
    try:
        _wait_ready(process)
        _serve(requests, stream)
    finally:
        # trioagent listens for SIGINT itself; the floor relies on Python's handler, which
        # is not installed when SIGINT came ignored (a background shell job): so SIGTERM,
        # after which valgrind still writes its counts.
        process.send_signal(signal.SIGTERM if server == "floor" else signal.SIGINT)
        process.wait(timeout=120)
    text = out.read_text()
    events = re.search(r"^events: (.+)$", text, re.MULTILINE)
    summary = re.search(r"^summary: (.+)$", text, re.MULTILINE)
    if events is None or summary is None:
        raise SystemExit(f"instructions: no summary in {out}")
    return dict(zip(events.group(1).split(), map(int, summary.group(1).split()), strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.instructions",
        description="CPU instructions per served request, counted by valgrind.",
    )
    parser.add_argument("--server", choices=("trioagent", "floor"), default="trioagent")
    parser.add_argument("--stream", action="store_true", help="streamed requests (SSE)")
    parser.add_argument(
        "--requests",
        default="50,150",
        help="the two request counts whose difference is measured (default 50,150)",
    )
    parser.add_argument(
        "--source", type=Path, default=REPO, help="the checkout to run the server from"
    )
    parser.add_argument(
        "--cache-kb",
        type=int,
        help="also simulate the caches, with a last level of this many KiB, and count its misses",
    )
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("instructions: needs valgrind (apt install valgrind)", file=sys.stderr)
        return 2
    first, second = (int(n) for n in args.requests.split(","))
    with tempfile.TemporaryDirectory(prefix="trioagent-instructions-") as directory:
        workdir = Path(directory)
        fake, upstream = _start_fake(workdir)
        try:
            counts = [
                count_events(
                    args.server,
                    upstream,
                    n,
                    stream=args.stream,
                    source=args.source.resolve(),
                    workdir=workdir,
                    cache_kb=args.cache_kb,
                )
                for n in (first, second)
            ]
        finally:
            fake.kill()
            fake.wait()

    def per_request(*names: str) -> float:
        return sum(counts[1][name] - counts[0][name] for name in names) / (second - first)

    mode = "streamed" if args.stream else "JSON"
    line = f"{args.server} ({mode}, {args.source}): {per_request('Ir') / 1e6:.3f} M instructions"
    if args.cache_kb is not None:
        misses = per_request(*LAST_LEVEL_MISSES)
        line += f", {misses / 1e3:.1f} k misses of a {args.cache_kb} KiB last level,"
    print(f"{line} per request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
