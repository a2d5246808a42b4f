"""`run_bench`: drive a server at each concurrency level and add up what it measured.

Each level runs ``concurrency`` workers in one nursery. A worker connects (the shared
HTTP client, or its own WebSocket), takes requests from the level's `_Plan` one at a time
and records each result. Warm-up requests go first; then every worker waits at a barrier
so that the clock starts once all are connected and warm. `measure_level` runs one level
against any `Target` (``benchmarks/peers`` times AgentOS's own endpoint with it).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import attrs
import httpx
import trio

from .config import BenchError, endpoint, models_url
from .progress import Progress, open_progress
from .stats import BenchReport, LevelReport, RequestResult, failure
from .targets import HTTPTarget, Target, WSTarget, reason_of

if TYPE_CHECKING:
    from .config import BenchConfig


@attrs.define(kw_only=True)
class _Plan:
    """The requests of one level, handed out to its workers one at a time."""

    workers: int
    warmup_left: int
    measured_left: int | None
    """Requests still to hand out; None with a duration."""
    duration: float | None
    progress: Progress
    results: list[RequestResult] = attrs.Factory(list)
    arrived: int = 0
    start: trio.Event = attrs.Factory(trio.Event)
    started_at: float = 0.0
    finished_at: float = 0.0
    deadline: float = math.inf

    async def next_ticket(self, worker: _Worker) -> bool | None:
        """True: send a warm-up request; False: a measured one; None: stop."""
        if self.warmup_left > 0:
            self.warmup_left -= 1
            return True
        if not worker.arrived:
            worker.arrived = True
            self.arrived += 1
            if self.arrived == self.workers:
                self.started_at = self.finished_at = time.perf_counter()
                if self.duration is not None:
                    self.deadline = self.started_at + self.duration
                self.start.set()
            await self.start.wait()
        if self.measured_left is None:
            return False if time.perf_counter() < self.deadline else None
        if self.measured_left > 0:
            self.measured_left -= 1
            return False
        return None

    def record(self, warmup: bool, result: RequestResult) -> None:
        if warmup:
            return
        self.results.append(result)
        self.finished_at = time.perf_counter()
        self.progress.update(result.ok)

    @property
    def elapsed(self) -> float:
        return self.finished_at - self.started_at


@attrs.define
class _Worker:
    target: Target
    plan: _Plan
    timeout: float
    arrived: bool = False

    async def run(self) -> None:
        """Send requests until the plan says stop; reconnect after a broken connection."""
        while True:
            connected = False
            try:
                async with self.target.connect() as caller:
                    connected = True
                    while caller.usable:
                        ticket = await self.plan.next_ticket(self)
                        if ticket is None:
                            return
                        result: RequestResult | None = None
                        started = time.perf_counter()
                        with trio.move_on_after(self.timeout):
                            result = await caller.call()
                        if result is None:
                            caller.usable = False  # a WebSocket may still be mid-turn
                            result = failure(time.perf_counter() - started, "timeout")
                        self.plan.record(ticket, result)
            except Exception as exc:  # a failed connect counts as one failed request
                if connected:
                    continue  # closing a broken connection failed: just reconnect
                ticket = await self.plan.next_ticket(self)
                if ticket is None:
                    return
                self.plan.record(ticket, failure(0.0, reason_of(exc)))


async def default_model(config: BenchConfig) -> str | None:
    """The model to ask for: ``config.model``, or for chat modes the server's first one.

    Raises:
        BenchError: the server's model list cannot be read, or is empty.
    """
    if config.model is not None or config.mode not in ("chat", "stream"):
        return config.model
    url = models_url(config.url)
    headers = {"authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    try:
        async with httpx.AsyncClient(timeout=config.timeout) as client:
            response = await client.get(url, headers=headers)
            response.raise_for_status()
            ids = [str(model["id"]) for model in response.json()["data"]]
    except Exception as exc:
        raise BenchError(
            f"cannot list the models at {url} ({reason_of(exc)}): pass --model"
        ) from exc
    if not ids:
        raise BenchError(f"{url} lists no model: pass --model")
    return ids[0]


async def measure_level(
    target: Target,
    concurrency: int,
    *,
    warmup: int,
    requests: int | None,
    duration: float | None,
    request_timeout: float,
    label: str,
    progress: bool,
) -> LevelReport:
    """Load ``target`` with ``concurrency`` workers and measure what it answers.

    This is the scheduling of ``trioagent bench`` for any `Target` (a program can time an
    endpoint that is not OpenAI-compatible with it): each worker has its own connection,
    the ``warmup`` requests go first, and the clock starts once every worker is connected
    and warm. A failed request is counted under its reason, never raised.

    Args:
        target: opens one connection (a `Caller`) per worker.
        concurrency: how many workers send requests at once.
        warmup: requests sent, and not counted, before the clock starts.
        requests: measured requests, shared by the workers; None with ``duration``.
        duration: seconds to send measured requests for, when ``requests`` is None.
        request_timeout: seconds one request may take before it counts as a ``timeout`` failure.
        label: names the level in the progress display (e.g. ``stream c=8``).
        progress: show a progress bar on stderr.

    Returns:
        The level's `LevelReport`.
    """
    plan = _Plan(
        workers=concurrency,
        warmup_left=warmup,
        measured_left=requests,
        duration=duration,
        progress=open_progress(label, requests, enabled=progress),
    )
    try:
        async with trio.open_nursery() as nursery:
            for _ in range(concurrency):
                nursery.start_soon(_Worker(target, plan, request_timeout).run)
    finally:
        plan.progress.close()
    return LevelReport.of(concurrency, plan.results, plan.elapsed)


async def run_level(
    config: BenchConfig, model: str | None, concurrency: int, *, progress: bool
) -> LevelReport:
    """Measure one concurrency level: ``concurrency`` workers, each with its connection."""
    url = endpoint(config.url, config.mode)
    target: Target = (
        WSTarget.from_config(config, url, model)
        if config.mode == "ws"
        else HTTPTarget.from_config(config, url, model)
    )
    return await measure_level(
        target,
        concurrency,
        warmup=config.warmup,
        requests=None if config.duration is not None else config.requests,
        duration=config.duration,
        request_timeout=config.timeout,
        label=f"{config.mode} c={concurrency}",
        progress=progress,
    )


async def run_bench(config: BenchConfig, *, progress: bool) -> BenchReport:
    """Load the server at each of ``config.concurrency``'s levels, one after another.

    A failed request never stops the run: it is counted under its reason in its level's
    ``errors`` and left out of the timings.

    Args:
        config: the target, the levels and the requests.
        progress: show a progress bar on stderr (tqdm if installed, else one line).

    Returns:
        One `LevelReport` per level, in ``config.concurrency``'s order.

    Raises:
        BenchError: no ``model`` was given and the server's model list cannot be read.
    """
    model = await default_model(config)
    levels = [
        await run_level(config, model, concurrency, progress=progress)
        for concurrency in config.concurrency
    ]
    return BenchReport(
        url=endpoint(config.url, config.mode),
        mode=config.mode,
        model=model,
        concurrency=config.concurrency,
        requests=config.requests if config.duration is None else None,
        duration=config.duration,
        warmup=config.warmup,
        levels=tuple(levels),
    )
