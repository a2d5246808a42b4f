"""A bounded soak: minutes of mixed traffic on real servers, then three checks.

    python -m benchmarks.soak [--duration 5m] [--concurrency 64] [--api chat|api|both]
                              [--conversations 300] [--store URL] [--output-dir DIR]

A scripted upstream (``benchmarks.soak_upstream``, in this process) and one real
``trioagent serve`` process per API: ``serve chat --conversations-max`` with
``X-Conversation-Id``, and ``serve api`` with a SQLite sessions file (or ``--store URL``,
passed through). ``--concurrency`` workers send turns until ``--duration`` is up: plain
and streamed, on a pool of conversations that each worker takes one at a time (so no
turn of the soak's own waits on another). A conversation is retired after a few turns,
checked, and replaced by a new one. Each turn is one of:

- ``ok``: must answer 200 with the upstream's exact text;
- ``error400``, ``error500``, ``drop``, ``malformed``: the upstream fails (the server
  retries the 500); the turn must fail with the documented status (see
  ``benchmarks.soak_client``) and change nothing;
- ``disconnect``: a stream the soak hangs up on after its first words; the server must
  cancel the turn (its model call ends) and change nothing;
- ``busy``: a turn held at the upstream while a second turn on the same conversation is
  sent: the second must get 409 and change nothing, the first must succeed.

The checks, in the report and the exit status:

1. No unexpected outcome: every answer is the one expected for what was injected.
2. Memory stays flat: the server's RSS (``/proc/PID/status``) is sampled every
   ``--rss-interval`` s; after a warm-up (a quarter of the run, at most a minute) the
   median of the last window (a minute, or less on short runs) may exceed the median of
   the first window by at most ``--max-rss-growth`` (10%: a leak of 1 KiB per request at
   100 requests/s grows a 60 MiB server by 10% a minute, while a server that is not
   leaking moves by a few percent as its allocator settles).
3. Histories are exact: for each conversation the soak keeps every successful turn's
   message and answer. ``serve api`` sessions are read back (``GET /api/sessions/{id}``;
   404 when no turn succeeded); on ``serve chat`` one more turn is sent and the messages
   that reach the upstream must be the agent's instruction, those turns, and the new
   message. Conversations are checked when retired and at the end.

Prints a Markdown summary and writes it with the JSON of every number to ``--output-dir``
(default ``benchmarks/results/``: ``soak.md``, ``soak.json``); exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import math
import random
import sys
import tempfile
import time
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import httpx
import trio

from benchmarks.run import machine, open_server, rss_kib
from benchmarks.soak_checks import (
    Conversation,
    HistoryCheck,
    Tally,
    markdown_report,
    memory_summary,
)
from benchmarks.soak_client import Api, Outcome, Target, send_turn
from benchmarks.soak_upstream import SoakUpstream, answer_text, open_soak_upstream, tag
from trioagent.bench.progress import open_progress
from trioagent.bench.stats import Distribution
from trioagent.server.options import parse_duration
from trioagent.testing.process import children_of

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

DEFAULT_OUTPUT_DIR = Path("benchmarks/results")
INSTRUCTION = "You are the soak test's agent. Answer in a few words."
AGENT_YAML = """\
models:
  upstream: {{provider: openai, model: m, base_url: "{base_url}"}}
agents:
  root: {{model: upstream, instruction: "{instruction}"}}
"""
DEFAULT_MIX = {
    "ok": 78,
    "error400": 3,
    "error500": 2,
    "drop": 3,
    "malformed": 2,
    "disconnect": 6,
    "busy": 6,
}
"""Weights of the turn kinds (see the module docstring)."""
RELEASE_DELAY = 0.25
"""Seconds a conversation rests after its client hung up: the model call has ended by
then, and the server releases the conversation right after."""


@attrs.frozen(kw_only=True)
class Settings:
    """What one soak run does."""

    duration: float = 300.0
    concurrency: int = 64
    apis: tuple[Api, ...] = ("chat", "api")
    conversations: int = 300
    """Conversations in use at a time, per API (at least ``concurrency``)."""
    max_turns: int = 12
    """A conversation is retired after 1 to this many turns."""
    mix: dict[str, int] = attrs.Factory(lambda: dict(DEFAULT_MIX))
    store: str | None = None
    """``--store URL`` for the servers; None: each API's default."""
    workers: int = 1
    """``--workers`` of ``serve api`` (and of ``serve chat`` with a ``store``): with more
    than one, the loser of a busy pair may be either turn (see `Soak._busy_pair`)."""
    rss_interval: float = 2.0
    max_rss_growth: float = 0.10
    cancel_wait: float = 15.0
    """Seconds a turn may take to stop after its client hung up."""
    timeout: float = 60.0
    """Seconds one request may take (the 500s' retries included)."""
    seed: int | None = None
    progress: bool = True


# The run.


@attrs.define(kw_only=True)
class Soak:
    """A soak in progress: the upstream, the servers, the conversations, the results."""

    settings: Settings
    upstream: SoakUpstream
    targets: dict[Api, Target]
    tally: Tally
    history: HistoryCheck = attrs.Factory(HistoryCheck)
    live: dict[str, Conversation] = attrs.Factory(dict)
    """Conversations not retired yet (a test may plant a wrong record here)."""
    rss: dict[str, list[tuple[float, int]]] = attrs.Factory(dict)
    """Per API: (seconds since the traffic started, RSS KiB)."""
    elapsed: float = 0.0
    _pools: dict[
        Api, tuple[trio.MemorySendChannel[Conversation], trio.MemoryReceiveChannel[Conversation]]
    ] = attrs.Factory(dict)
    _nonces: itertools.count[int] = attrs.Factory(lambda: itertools.count(1))
    _serial: itertools.count[int] = attrs.Factory(lambda: itertools.count(1))
    _random: random.Random = attrs.Factory(random.Random)

    def __attrs_post_init__(self) -> None:
        self._random.seed(self.settings.seed)
        for api in self.targets:
            self._pools[api] = trio.open_memory_channel[Conversation](math.inf)
            for _ in range(self.settings.conversations):
                self._pools[api][0].send_nowait(self._new(api))

    def _new(self, api: Api) -> Conversation:
        conversation = Conversation(
            id=f"soak-{api}-{next(self._serial)}",
            api=api,
            planned=self._random.randint(1, self.settings.max_turns),
        )
        self.live[conversation.id] = conversation
        return conversation

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=self.settings.timeout,
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=4),
        )

    async def run_traffic(self) -> None:
        """Send turns from ``concurrency`` workers for ``duration`` seconds."""
        started = time.monotonic()
        deadline = trio.current_time() + self.settings.duration
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._sample_rss, started)
            async with trio.open_nursery() as workers:
                for _ in range(self.settings.concurrency):
                    workers.start_soon(self._worker, deadline)
            self._take_rss(started)
            nursery.cancel_scope.cancel()
        self.elapsed = time.monotonic() - started

    async def check_remaining(self) -> None:
        """Check the history of every conversation still in use."""
        left = [c for c in self.live.values() if c.attempts]
        self.live.clear()

        async def checker() -> None:
            async with self._client() as client:
                while left:
                    await self._verify(client, left.pop(), retire=False)

        async with trio.open_nursery() as nursery:
            for _ in range(min(self.settings.concurrency, len(left))):
                nursery.start_soon(checker)

    async def _worker(self, deadline: float) -> None:
        async with self._client() as client:
            while trio.current_time() < deadline:
                api = self._random.choice(list(self.targets))
                send, receive = self._pools[api]
                conversation = await receive.receive()
                await self._turn(client, conversation)
                if conversation.attempts >= conversation.planned:
                    await self._verify(client, conversation, retire=True)
                    send.send_nowait(self._new(api))
                else:
                    send.send_nowait(conversation)

    async def _send(
        self,
        client: httpx.AsyncClient,
        conversation: Conversation,
        kind: str,
        directive: str,
        nonce: int,
        *,
        stream: bool,
        expected: frozenset[str] | None = None,
    ) -> Outcome:
        """Send one turn, count its outcome and record it when it succeeded."""
        message = f"{conversation.id} turn {conversation.attempts}: {tag(directive, nonce)}"
        started = time.perf_counter()
        outcome = await send_turn(
            client,
            self.targets[conversation.api],
            conversation.id,
            message,
            stream=stream,
            disconnect=kind == "disconnect",
        )
        latency = time.perf_counter() - started
        self.tally.shapes[f"{conversation.api} {'stream' if stream else 'plain'}"] += 1
        where = {"api": conversation.api, "stream": stream, "conversation": conversation.id}
        self.tally.add(kind, outcome, latency, where, expected)
        if outcome.kind == "unexpected":  # a timeout, a 500...: the history is unknown
            conversation.uncertain = True
        if outcome.kind == "ok":  # what the client saw succeed, expected or not
            conversation.turns.append((message, outcome.text))
            if outcome.text != answer_text(nonce):
                self.tally.fail(
                    {
                        **where,
                        "kind": kind,
                        "outcome": "ok",
                        "detail": f"not the upstream's answer: {outcome.text[:80]!r}",
                    }
                )
        return outcome

    async def _turn(self, client: httpx.AsyncClient, conversation: Conversation) -> None:
        kinds, weights = zip(*self.settings.mix.items(), strict=True)
        kind = self._random.choices(kinds, weights)[0]
        stream = kind == "disconnect" or self._random.random() < 0.5
        conversation.attempts += 1
        self.tally.shapes["new" if conversation.attempts == 1 else "continuing"] += 1
        if kind == "busy":
            await self._busy_pair(client, conversation, stream)
            return
        nonce = next(self._nonces)
        directive = {"ok": "ok", "disconnect": "stall"}.get(kind, kind)
        if kind != "disconnect":
            await self._send(client, conversation, kind, directive, nonce, stream=stream)
            return
        watch = self.upstream.watch(nonce)
        try:
            outcome = await self._send(client, conversation, kind, directive, nonce, stream=True)
            if outcome.kind == "disconnected":
                with trio.move_on_after(self.settings.cancel_wait):
                    await watch.ended.wait()
                if not watch.ended.is_set():
                    conversation.uncertain = True
                    self.tally.fail(
                        {
                            "api": conversation.api,
                            "kind": kind,
                            "conversation": conversation.id,
                            "detail": "the model call still ran "
                            f"{self.settings.cancel_wait:g} s after the client "
                            "hung up",
                        }
                    )
                await trio.sleep(RELEASE_DELAY)
        finally:
            self.upstream.forget(nonce)

    async def _busy_pair(
        self, client: httpx.AsyncClient, conversation: Conversation, stream: bool
    ) -> None:
        """A turn held at the upstream, and a second turn on its conversation meanwhile.

        One process sees the first turn's lock: the second gets 409. Across ``--workers``
        processes the second may run; then the first turn, committing last, gets the 409
        (the store's optimistic commit). Either way exactly one of them changes the
        conversation.
        """
        first, second = next(self._nonces), next(self._nonces)
        watch = self.upstream.watch(first)
        either = frozenset({"ok", "busy"}) if self.targets[conversation.api].workers > 1 else None
        outcomes: list[Outcome] = []

        async def send_first() -> None:
            outcomes.insert(
                0,
                await self._send(
                    client,
                    conversation,
                    "busy-first",
                    "hold",
                    first,
                    stream=stream,
                    expected=either,
                ),
            )
            watch.received.set()  # it ended without reaching the upstream: stop waiting

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(send_first)
                await watch.received.wait()
                if not outcomes:  # its model call is running: the conversation is busy
                    outcomes.append(
                        await self._send(
                            client,
                            conversation,
                            "busy-second",
                            "ok",
                            second,
                            stream=self._random.random() < 0.5,
                            expected=either,
                        )
                    )
                watch.release.set()
        finally:
            self.upstream.forget(first)
        if either and len(outcomes) == 2 and sorted(o.kind for o in outcomes) != ["busy", "ok"]:
            self.tally.fail(
                {
                    "api": conversation.api,
                    "conversation": conversation.id,
                    "kind": "busy pair",
                    "detail": "not one ok and one busy: " + ", ".join(o.kind for o in outcomes),
                }
            )

    async def _verify(
        self, client: httpx.AsyncClient, conversation: Conversation, *, retire: bool
    ) -> None:
        """Compare what the server holds for ``conversation`` with the soak's record."""
        if retire:
            self.live.pop(conversation.id, None)
        target = self.targets[conversation.api]
        where = {"api": conversation.api, "conversation": conversation.id, "kind": "check"}
        if conversation.api == "api":
            url = f"{target.base_url}/api/sessions/{conversation.id}"
            try:
                response = await client.get(url)
                got: list[tuple[str, str]] | None = []  # 404: no session, no messages
                if response.status_code == 200:
                    got = [(m["role"], m["content"]) for m in response.json()["messages"]]
                elif response.status_code != 404:
                    raise ValueError(f"HTTP {response.status_code}")
                if retire:
                    await client.delete(url)
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                self.tally.fail({**where, "detail": f"reading the session: {exc!r}"})
                return
            expected = conversation.messages()
        else:
            nonce = next(self._nonces)
            message = f"{conversation.id} history check {tag('check', nonce)}"
            outcome = await send_turn(client, target, conversation.id, message, stream=False)
            if outcome.kind != "ok":
                self.tally.fail({**where, **attrs.asdict(outcome)})
                return
            got = self.upstream.captured.pop(nonce, None)
            expected = [("system", INSTRUCTION), *conversation.messages(), ("user", message)]
        if conversation.uncertain:
            self.history.skipped += 1
            return
        self.history.compare(conversation, expected, got, retired=retire)

    async def _sample_rss(self, started: float) -> None:
        while True:
            self._take_rss(started)
            await trio.sleep(self.settings.rss_interval)

    def _take_rss(self, started: float) -> None:
        now = round(time.monotonic() - started, 2)
        for api, target in self.targets.items():
            kib = sum(rss_kib(pid) for pid in target.pids)
            self.rss.setdefault(api, []).append((now, kib))

    def results(self) -> dict[str, Any]:
        """Every number of the run and the verdict of each check."""
        settings, tally = self.settings, self.tally
        requests = sum(tally.outcomes.values())
        by_kind: dict[str, dict[str, int]] = collections.defaultdict(dict)
        totals: collections.Counter[str] = collections.Counter()
        for (kind, outcome), count in sorted(tally.outcomes.items()):
            by_kind[kind][outcome] = count
            totals[outcome] += count
        memory = {
            api: memory_summary(series, self.elapsed, settings.max_rss_growth)
            for api, series in self.rss.items()
        }
        history_ok = self.history.mismatches == 0 and self.history.checked > 0
        results = {
            "machine": machine(),
            "settings": attrs.asdict(settings),
            "elapsed_s": round(self.elapsed, 2),
            "requests": requests,
            "requests_per_s": round(requests / self.elapsed, 1) if self.elapsed else 0.0,
            "outcomes": dict(totals),
            "outcomes_by_kind": dict(by_kind),
            "shapes": dict(tally.shapes),
            "latency_ms": {
                outcome: attrs.asdict(dist)
                for outcome, values in sorted(tally.latencies.items())
                if (dist := Distribution.of(values)) is not None
            },
            "unexpected": {
                "count": tally.unexpected,
                "samples": tally.samples,
                "ok": tally.unexpected == 0,
            },
            "memory": memory,
            "history": {**attrs.asdict(self.history), "ok": history_ok},
        }
        results["ok"] = bool(
            tally.unexpected == 0 and history_ok and all(m["ok"] for m in memory.values())
        )
        return results


@asynccontextmanager
async def open_soak(settings: Settings, workdir: Path) -> AsyncIterator[Soak]:
    """Start the upstream and a server per API; yield the soak, ready to run."""
    if settings.conversations < settings.concurrency:
        raise ValueError("--conversations must be at least --concurrency")
    async with open_soak_upstream(stall=settings.cancel_wait * 4) as upstream:
        agent_file = workdir / "agent.yaml"
        agent_file.write_text(
            AGENT_YAML.format(base_url=upstream.base_url, instruction=INSTRUCTION)
        )
        async with AsyncExitStack() as stack:
            targets: dict[Api, Target] = {}
            for api in settings.apis:
                args = server_args(api, settings, workdir)
                server = await stack.enter_async_context(open_server(api, agent_file, *args))
                workers = int(args[args.index("--workers") + 1])
                pid = server.process.pid
                # Workers are listening once the server has printed its line.
                pids = tuple(children_of(pid)) if workers > 1 else (pid,)
                targets[api] = Target(api, server.base_url, pids, workers)
            progress = open_progress("soak", None, enabled=settings.progress)
            try:
                yield Soak(
                    settings=settings, upstream=upstream, targets=targets, tally=Tally(progress)
                )
            finally:
                progress.close()


def server_args(api: Api, settings: Settings, workdir: Path) -> list[str]:
    """The ``serve`` flags of one API's server.

    ``--workers`` is always given: ``serve api`` with a sessions file defaults to one
    process per core. ``serve chat`` keeps its conversations in its process unless a
    store is given, so it runs one process then.
    """
    store = ["--store", settings.store] if settings.store else []
    workers = settings.workers if api == "api" or settings.store else 1
    flags = ["--workers", str(workers), *store]
    if api == "chat":
        # Room for every conversation in use and as many retired ones. Conversations are
        # taken in turn (a FIFO pool), so between two turns of one, far fewer than
        # `conversations` others retire: the LRU never evicts one in use. And the cache is
        # full, its memory steady, well within the warm-up of a 5-minute run.
        return [*flags, "--conversations-max", str(2 * settings.conversations)]
    return flags if store else [*flags, "--sessions", str(workdir / "sessions.db")]


async def run_soak(settings: Settings, workdir: Path) -> dict[str, Any]:
    """A whole soak; its `Soak.results`."""
    async with open_soak(settings, workdir) as soak:
        await soak.run_traffic()
        await soak.check_remaining()
        return soak.results()


def _apis(text: str) -> tuple[Api, ...]:
    if text == "both":
        return ("chat", "api")
    if text in ("chat", "api"):
        return (text,)  # type: ignore[return-value]
    raise argparse.ArgumentTypeError("use chat, api or both")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.soak", description=__doc__.split("\n")[0] if __doc__ else None
    )
    defaults = Settings()
    parser.add_argument(
        "-d",
        "--duration",
        type=parse_duration,
        default=defaults.duration,
        help="how long to send traffic, e.g. 30s or 5m (default 5m)",
    )
    parser.add_argument(
        "-c",
        "--concurrency",
        type=int,
        default=defaults.concurrency,
        help=f"concurrent workers (default {defaults.concurrency})",
    )
    parser.add_argument(
        "--api",
        type=_apis,
        default=defaults.apis,
        dest="apis",
        help="chat, api or both (default both)",
    )
    parser.add_argument(
        "--conversations",
        type=int,
        default=defaults.conversations,
        help=f"conversations in use at a time per API (default {defaults.conversations})",
    )
    parser.add_argument(
        "--max-turns",
        type=int,
        default=defaults.max_turns,
        help=f"turns before a conversation is retired, at most (default {defaults.max_turns})",
    )
    parser.add_argument(
        "--store", metavar="URL", help="passed to the servers as --store (default: none)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=defaults.workers,
        help=f"--workers of serve api, and of serve chat with --store (default {defaults.workers})",
    )
    parser.add_argument(
        "--rss-interval",
        type=float,
        default=defaults.rss_interval,
        help=f"seconds between RSS samples (default {defaults.rss_interval:g})",
    )
    parser.add_argument(
        "--max-rss-growth",
        type=float,
        default=defaults.max_rss_growth,
        help="largest RSS growth after the warm-up, as a fraction "
        f"(default {defaults.max_rss_growth:g})",
    )
    parser.add_argument("--seed", type=int, help="seed the choice of turns")
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=DEFAULT_OUTPUT_DIR,
        help=f"where soak.md and soak.json go (default {DEFAULT_OUTPUT_DIR})",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    settings = Settings(
        duration=args.duration,
        concurrency=args.concurrency,
        apis=args.apis,
        conversations=max(args.conversations, args.concurrency),
        max_turns=args.max_turns,
        store=args.store,
        workers=args.workers,
        rss_interval=args.rss_interval,
        max_rss_growth=args.max_rss_growth,
        seed=args.seed,
        progress=not args.quiet,
    )
    with tempfile.TemporaryDirectory(prefix="trioagent-soak-") as workdir:
        results = trio.run(partial(run_soak, settings, Path(workdir)))
    report = markdown_report(results)
    print(report)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "soak.md").write_text(report)
    (args.output_dir / "soak.json").write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"wrote {args.output_dir / 'soak.md'} and soak.json; "
        f"{'all checks passed' if results['ok'] else 'a check FAILED'}",
        file=sys.stderr,
    )
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
