"""The soak (`python -m benchmarks.soak`) in miniature: a few seconds of every kind of
turn on real servers, its checks passing, and its history check catching a record that
disagrees with the server."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # benchmarks/ is not installed; `pytest` may not run from ROOT
    sys.path.insert(0, str(ROOT))

import trio  # noqa: E402

from benchmarks.soak import Settings, open_soak  # noqa: E402
from benchmarks.soak_checks import EXPECTED, markdown_report, memory_summary  # noqa: E402

KINDS = ("ok", "error400", "error500", "drop", "malformed", "disconnect", "busy")


async def test_soak_checks_pass_and_a_planted_history_mismatch_is_caught(
    tmp_path: Path,
) -> None:
    settings = Settings(
        duration=3,
        concurrency=6,
        conversations=12,
        max_turns=4,
        seed=1,
        mix=dict.fromkeys(KINDS, 1),
        rss_interval=0.25,
        progress=False,
        # Five seconds show no leak; this only checks the samples are taken and judged
        # (test_memory_summary_flags_growth_after_the_warm_up checks the judgement).
        max_rss_growth=0.5,
    )
    with trio.fail_after(120):
        async with open_soak(settings, tmp_path) as soak:
            await soak.run_traffic()
            planted = []
            for api in ("chat", "api"):
                conversation = next(
                    c for c in soak.live.values() if c.api == api and c.turns and not c.uncertain
                )
                message, _ = conversation.turns[-1]
                conversation.turns[-1] = (message, "An answer the server never gave.")
                planted.append(conversation.id)
            await soak.check_remaining()
            results = soak.results()
    assert results["unexpected"] == {"count": 0, "samples": [], "ok": True}
    assert set(results["outcomes_by_kind"]) == set(EXPECTED) - {"check"}  # every kind ran
    for kind, outcomes in results["outcomes_by_kind"].items():
        assert set(outcomes) == {EXPECTED[kind]}, (kind, outcomes)
    for shape in ("chat plain", "chat stream", "api plain", "api stream", "new", "continuing"):
        assert results["shapes"][shape], shape
    assert all(memory["ok"] and memory["samples"] >= 10 for memory in results["memory"].values())
    history = results["history"]
    assert history["checked"] >= 10
    assert history["at_retirement"] >= 1
    assert history["skipped"] == 0
    assert history["mismatches"] == 2
    assert sorted(sample["conversation"] for sample in history["samples"]) == sorted(planted)
    assert all(sample["got"].startswith("assistant: Answer ") for sample in history["samples"])
    assert not history["ok"]
    assert not results["ok"]
    assert "| histories exact |" in markdown_report(results)


def test_memory_summary_flags_growth_after_the_warm_up() -> None:
    warm = [(t, 50_000 + (10_000 if t >= 15 else t * 600)) for t in range(61)]  # warm-up
    leaking = [(t, 60_000 + t * 500) for t in range(61)]  # 30 KiB a second
    flat = memory_summary(warm, 60, 0.10)
    assert (flat["ok"], flat["warmup_s"], flat["growth"]) == (True, 15, 0)
    grown = memory_summary(leaking, 60, 0.10)
    assert not grown["ok"]
    assert grown["growth"] > 0.10
    assert not memory_summary([], 60, 0.10)["ok"]  # no samples: no verdict to trust
