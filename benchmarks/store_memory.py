"""Memory of idle cached conversations, measured inside one process.

    python -m benchmarks.store_memory [--conversations 10000]

Fills a `MemoryStore` (the ``serve chat --conversations-max`` cache) with conversations of
10 messages (5 questions of about 80 characters, 5 answers of 16 words) through its real
``turn``/``commit`` path, and reports the Python memory they hold (tracemalloc) and the
process's resident growth (RSS), per conversation. The suite's HTTP measurement
(``benchmarks.run --memory N``) also counts the heap growth of serving the requests.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import tracemalloc

import trio

from trioagent.chat import Message, Usage
from trioagent.store import MemoryStore

ANSWER = "The quick brown fox jumps over the lazy dog while a patient benchmark counts every word."


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def fill(store: MemoryStore, count: int) -> None:
    for i in range(count):
        async with store.turn(f"open/conversation-{i}") as turn:
            for j in range(5):
                turn.session.messages.append(
                    Message.user(
                        f"Question {j} of conversation {i}: tell me something about number {j}."
                    )
                )
                turn.session.messages.append(Message.assistant(ANSWER))
            turn.session.usage = Usage(100, 50)
            turn.commit()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    count = parser.parse_args(argv).conversations

    kept = MemoryStore(max_items=count, ttl=float("inf"))
    gc.collect()
    rss_before = rss_kib()
    trio.run(fill, kept, count)
    gc.collect()
    rss = rss_kib() - rss_before

    traced_store = MemoryStore(max_items=count, ttl=float("inf"))
    tracemalloc.start()
    traced_before = tracemalloc.get_traced_memory()[0]
    trio.run(fill, traced_store, count)
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0] - traced_before
    tracemalloc.stop()
    print(
        f"{count} idle conversations of 10 messages: {rss / count:.2f} KiB each of resident "
        f"growth, {traced / count / 1024:.2f} KiB each of Python objects (tracemalloc)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
