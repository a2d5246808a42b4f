"""The peers comparison measured the fair way (`benchmarks.fair`): ``--load wrk``.

Every server (trioagent, the stack floor, LiteLLM, agno) starts at once, each on the server
core; the fake upstream and wrk share the load core. Then, for each round, in an order
rotated by one each round, each server alone gets every load in turn:

- ``c=1``: one connection of non-streamed turns (latency: its p50);
- ``c=32``: 32 connections of non-streamed turns (throughput, CPU per request);
- ``c=32 stream``: 32 connections of streamed turns (``"stream": true``; CPU per relayed
  token: the fake answers ``--words`` tokens each). Not for agno, which has no
  OpenAI-compatible endpoint: its run endpoint is loaded with the non-streamed form.

Idle servers take no CPU worth counting while another is loaded; each figure is the median
over the rounds.
"""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import attrs

from benchmarks.fair import SERVER_CORE, Load, measure, median_of

if TYPE_CHECKING:
    from .run import Server, Settings, Setup

LOADS = (("c=1", 1, False), ("c=32", 32, False), ("c=32 stream", 32, True))
"""Each load: its name, its connections, whether the turns stream."""


@attrs.frozen
class Target:
    """What wrk sends one server."""

    url: str
    body: bytes
    headers: dict[str, str]
    streams: bool
    """Whether the server can stream (an OpenAI-compatible endpoint)."""


def chat_target(base_url: str, model: str | None, key: str, message: str) -> Target:
    return Target(
        url=f"{base_url}/chat/completions",
        body=json.dumps(
            {"model": model, "messages": [{"role": "user", "content": message}]}
        ).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        streams=True,
    )


def form_target(url: str, form: dict[str, str], key: str) -> Target:
    return Target(
        url=url,
        body=urlencode(form).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": f"Bearer {key}",
        },
        streams=False,
    )


def streamed(target: Target) -> Target:
    """``target``'s chat request with ``"stream": true``."""
    document = json.loads(target.body)
    return attrs.evolve(target, body=json.dumps({**document, "stream": True}).encode())


async def run_fair(
    settings: Settings,
    setups: list[Setup],
    targets: dict[str, Any],
    errors: dict[str, str],
    *,
    rounds: int,
    seconds: float,
) -> dict[str, dict[str, Any]]:
    """Start every setup, then load each with every `LOADS` entry for ``rounds`` rounds.

    ``targets`` maps a setup's name to a function of its `Server` returning its `Target`.
    A server that fails to start is recorded in ``errors`` and left out. Returns, per
    server and load, the medians (`median_of`) and the rounds' raw figures.
    """
    from .run import PeerError

    loads: dict[str, dict[str, list[Load]]] = {}
    async with AsyncExitStack() as stack:
        running: list[tuple[Server, Target]] = []
        for setup in setups:
            try:
                server = await stack.enter_async_context(setup.open())
            except (PeerError, OSError) as exc:
                errors[setup.name] = f"start failed: {exc}"
                continue
            running.append((server, targets[setup.name](server)))
        for index in range(rounds):
            order = running[index % len(running) :] + running[: index % len(running)]
            for server, target in order:
                for name, connections, streams in LOADS:
                    if streams and not target.streams:
                        continue
                    sent = streamed(target) if streams else target
                    load = await measure(
                        sent.url,
                        sent.body,
                        sent.headers,
                        pgid=server.pid,
                        connections=connections,
                        seconds=seconds,
                        tokens_per_request=settings.words if streams else 0,
                    )
                    loads.setdefault(server.name, {}).setdefault(name, []).append(load)
                    if settings.progress:
                        print(
                            f"round {index + 1} {server.name} {name}: "
                            f"{load.throughput:,.0f} req/s, p50 {load.p50_ms:.2f} ms, "
                            f"CPU {load.cpu_per_request_ms:.2f} ms/request",
                            flush=True,
                        )
    return {
        server: {
            name: {**median_of(runs), "runs": [attrs.asdict(run) for run in runs]}
            for name, runs in by_load.items()
        }
        for server, by_load in loads.items()
    }


def fair_table(results: dict[str, dict[str, Any]], *, core_pinned: bool) -> str:
    """The Markdown table of `run_fair`'s medians, with trioagent's ratios to each server."""
    ours = results.get("trioagent", {})
    lines = [
        "| server | c=1 p50 ms | c=32 req/s | c=32 CPU ms/req | c=32 stream req/s "
        "| CPU µs/token | c=32 req/s: trioagent ÷ server |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for server, by_load in results.items():
        one, many, stream = (by_load.get(name, {}) for name, _, _ in LOADS)
        mine, theirs = ours.get("c=32", {}).get("throughput"), many.get("throughput")
        lines.append(
            f"| {server} | {_f(one.get('p50_ms'), 2)} | {_f(many.get('throughput'), 0)} "
            f"| {_f(many.get('cpu_per_request_ms'), 2)} | {_f(stream.get('throughput'), 0)} "
            f"| {_f(stream.get('cpu_per_token_us'), 0)} "
            f"| {_f(mine / theirs if mine and theirs else None, 2)} |"
        )
    where = (
        f"each server pinned to core {SERVER_CORE}, the fake upstream and wrk to the other"
        if core_pinned
        else "not pinned (taskset or a second core missing): the figures share one core"
    )
    return "\n".join([*lines, "", f"- {where}; medians of every round"]) + "\n"


def _f(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"
