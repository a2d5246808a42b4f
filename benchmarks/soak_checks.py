"""What the soak (``benchmarks.soak``) records and how it judges it: the outcome of each
request, each conversation's history, the server's memory; and the Markdown report."""

from __future__ import annotations

import collections
import json
import statistics
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from collections.abc import Sequence

    from benchmarks.soak_client import Api, Outcome
    from trioagent.bench.progress import Progress

EXPECTED = {
    "ok": "ok",
    "error400": "upstream_error",
    "error500": "upstream_error",
    "drop": "upstream_error",
    "malformed": "upstream_error",
    "disconnect": "disconnected",
    "busy-first": "ok",
    "busy-second": "busy",
    "check": "ok",
}
"""The only outcome each kind of request may have."""
SAMPLES = 20
"""Failures kept in the report as examples, per check."""


@attrs.define(kw_only=True)
class Conversation:
    """The soak's record of one conversation: the turns that succeeded, in order."""

    id: str
    api: Api
    planned: int
    """Turns to send before it is retired."""
    turns: list[tuple[str, str]] = attrs.Factory(list)
    """(user message, answer) of each turn that succeeded, as the client saw it."""
    attempts: int = 0
    uncertain: bool = False
    """A request on it ended unexpectedly (a timeout...): its history is unknown."""

    def messages(self) -> list[tuple[str, str]]:
        """(role, content) of every message the server must hold."""
        return [
            pair for user, answer in self.turns for pair in (("user", user), ("assistant", answer))
        ]


@attrs.define
class Tally:
    """Outcomes, latencies and unexpected answers of every request."""

    progress: Progress
    outcomes: collections.Counter[tuple[str, str]] = attrs.Factory(collections.Counter)
    """(kind, outcome) -> requests."""
    shapes: collections.Counter[str] = attrs.Factory(collections.Counter)
    """``chat stream``, ``api plain``, ``new``, ``continuing`` -> turns."""
    latencies: dict[str, list[float]] = attrs.Factory(lambda: collections.defaultdict(list))
    unexpected: int = 0
    samples: list[dict[str, Any]] = attrs.Factory(list)

    def add(
        self,
        kind: str,
        outcome: Outcome,
        latency: float | None,
        where: dict[str, Any],
        expected: frozenset[str] | None = None,
    ) -> bool:
        """Count one request; False (and an example kept) when its outcome is not
        ``expected`` (by default, the kind's `EXPECTED` one)."""
        good = outcome.kind in (expected or {EXPECTED[kind]})
        self.outcomes[kind, outcome.kind] += 1
        if latency is not None:
            self.latencies[outcome.kind].append(latency)
        if not good:
            self.fail({**where, "kind": kind, "outcome": outcome.kind, "detail": outcome.detail})
        self.progress.update(good)
        return good

    def fail(self, sample: dict[str, Any]) -> None:
        self.unexpected += 1
        if len(self.samples) < SAMPLES:
            self.samples.append(sample)


@attrs.define
class HistoryCheck:
    """What the history checks found."""

    checked: int = 0
    at_retirement: int = 0
    skipped: int = 0
    """Conversations with an unexpected outcome: their history is unknown."""
    mismatches: int = 0
    samples: list[dict[str, Any]] = attrs.Factory(list)

    def compare(
        self,
        conversation: Conversation,
        expected: list[tuple[str, str]],
        got: list[tuple[str, str]] | None,
        *,
        retired: bool,
    ) -> bool:
        """Count one check; False (and an example kept) when ``got`` differs."""
        self.checked += 1
        self.at_retirement += retired
        if got == expected:
            return True
        self.mismatches += 1
        if len(self.samples) < SAMPLES:
            self.samples.append(mismatch(conversation, expected, got))
        return False


def mismatch(
    conversation: Conversation, expected: list[tuple[str, str]], got: list[tuple[str, str]] | None
) -> dict[str, Any]:
    """Where a conversation's history first differs from the soak's record."""
    sample: dict[str, Any] = {
        "conversation": conversation.id,
        "api": conversation.api,
        "expected_messages": len(expected),
    }
    if got is None:
        return {**sample, "got": "nothing"}
    index = next(
        (i for i, (a, b) in enumerate(zip(expected, got, strict=False)) if a != b),
        min(len(expected), len(got)),
    )
    return {
        **sample,
        "got_messages": len(got),
        "first_difference": index,
        "expected": _short(expected[index] if index < len(expected) else None),
        "got": _short(got[index] if index < len(got) else None),
    }


def _short(message: tuple[str, str] | None) -> str | None:
    if message is None:
        return None
    role, content = message
    return f"{role}: {content[:100]}"


# Memory.


def memory_summary(
    series: Sequence[tuple[float, int]], duration: float, max_growth: float
) -> dict[str, Any]:
    """RSS medians of the first and last minute, and the growth after the warm-up."""
    warmup = min(60.0, duration / 4)
    window = min(60.0, (duration - warmup) / 2)

    def median(values: list[int]) -> float | None:
        return statistics.median(values) if values else None

    baseline = median([kib for t, kib in series if warmup <= t < warmup + window])
    final = median([kib for t, kib in series if t >= duration - window])
    growth = (final - baseline) / baseline if baseline and final is not None else None
    return {
        "samples": len(series),
        "first_minute_median_kib": median([kib for t, kib in series if t < 60]),
        "last_minute_median_kib": median([kib for t, kib in series if t >= duration - 60]),
        "max_kib": max((kib for _, kib in series), default=None),
        "warmup_s": round(warmup, 1),
        "window_s": round(window, 1),
        "baseline_kib": baseline,
        "final_kib": final,
        "growth": None if growth is None else round(growth, 4),
        "max_growth": max_growth,
        "ok": growth is not None and growth <= max_growth,
        "series": list(series),
    }


# Report.


def _mib(kib: float | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f}"


def _verdict(ok: bool) -> str:
    return "pass" if ok else "**FAIL**"


def markdown_report(results: dict[str, Any]) -> str:
    """The soak's summary: the checks, outcomes by kind, latency, memory."""
    s, m = results["settings"], results["machine"]
    history, unexpected = results["history"], results["unexpected"]
    out = [
        "## Soak",
        "",
        f"{results['elapsed_s']:.0f} s at concurrency {s['concurrency']} on "
        f"{', '.join('serve ' + api for api in s['apis'])}"
        f"{' with --store ' + s['store'] if s['store'] else ''}"
        f"{'; --workers ' + str(s['workers']) if s['workers'] > 1 else ''}; {m['cpus']} CPUs, "
        f"Python {m['python']}. {results['requests']} requests "
        f"({results['requests_per_s']:.0f}/s): "
        + ", ".join(f"{count} {outcome}" for outcome, count in results["outcomes"].items())
        + ".",
        "",
        "| check | result | verdict |",
        "|---|---|---|",
        f"| every answer as expected | {unexpected['count']} unexpected "
        f"| {_verdict(unexpected['ok'])} |",
    ]
    for api, memory in results["memory"].items():
        growth = "-" if memory["growth"] is None else f"{memory['growth']:+.1%}"
        out.append(
            f"| serve {api} memory flat | {_mib(memory['baseline_kib'])} -> "
            f"{_mib(memory['final_kib'])} MiB after {memory['warmup_s']:g} s warm-up "
            f"({growth}, limit {memory['max_growth']:.0%}) | {_verdict(memory['ok'])} |"
        )
    out += [
        f"| histories exact | {history['checked']} conversations checked "
        f"({history['at_retirement']} when retired), {history['mismatches']} mismatches, "
        f"{history['skipped']} skipped | {_verdict(history['ok'])} |",
        "",
        "| kind | expected | outcomes |",
        "|---|---|---|",
    ]
    for kind, outcomes in results["outcomes_by_kind"].items():
        expected = EXPECTED[kind]
        if kind.startswith("busy") and s["workers"] > 1:
            expected = "ok or busy, one of each per pair"
        out.append(
            f"| {kind} | {expected} | " + ", ".join(f"{o}: {n}" for o, n in outcomes.items()) + " |"
        )
    out += ["", "| outcome | requests | p50 ms | p99 ms | max ms |", "|---|---:|---:|---:|---:|"]
    for outcome, dist in results["latency_ms"].items():
        out.append(
            f"| {outcome} | {dist['count']} | {dist['p50']:.1f} | {dist['p99']:.1f} "
            f"| {dist['max']:.0f} |"
        )
    out += [
        "",
        "| server | RSS first minute MiB | last minute MiB | max MiB | samples |",
        "|---|---:|---:|---:|---:|",
    ]
    for api, memory in results["memory"].items():
        out.append(
            f"| serve {api} | {_mib(memory['first_minute_median_kib'])} "
            f"| {_mib(memory['last_minute_median_kib'])} | {_mib(memory['max_kib'])} "
            f"| {memory['samples']} |"
        )
    for title, samples in (
        ("Unexpected outcomes", unexpected["samples"]),
        ("History mismatches", history["samples"]),
    ):
        if samples:
            out += ["", f"{title} (first {len(samples)}):", ""]
            out += [f"- `{json.dumps(sample)}`" for sample in samples]
    return "\n".join(out) + "\n"
