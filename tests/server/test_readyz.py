"""GET /readyz: ready while the store answers; 503 in the API's error shape when it does not,
and once the server is shutting down (so that a load balancer drains it)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import trio
from openapi_checks import check_answer, fetch_document

from trioagent.store import StoreURL
from trioagent.testing import FakeOpenAI, text

USER = [{"role": "user", "content": "hi"}]


def corrupt(path: Path) -> None:
    """Overwrite a SQLite file, with its WAL and shared-memory index, by junk: the open
    connection's next query fails (``file is not a database``)."""
    for part in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        size = part.stat().st_size
        with part.open("r+b") as file:
            file.write(b"\xff" * size)


@pytest.mark.parametrize("api", ["chat", "api"])
async def test_ready_while_the_store_answers_then_503_in_the_api_shape(
    start_server, fake: FakeOpenAI, tmp_path: Path, api: str, caplog: pytest.LogCaptureFixture
) -> None:
    fake.default = text("ok")
    path = tmp_path / "store.db"
    options: dict[str, object] = {"store": StoreURL("sqlite", str(path))}
    if api == "chat":
        options["conversations_max"] = 10
    with trio.fail_after(15):
        async with (
            start_server(api=api, api_keys=("k",), **options) as server,
            server.http() as http,
        ):
            document = await fetch_document(server)
            ready = await http.get("/readyz")  # public: no key
            if api == "chat":
                turn = await http.post(
                    "/v1/chat/completions",
                    headers={
                        "Authorization": "Bearer k",
                        "X-Conversation-Id": "c1",
                    },
                    json={"model": "root", "messages": USER},
                )
            else:
                turn = await http.post(
                    "/api/chat",
                    headers={"Authorization": "Bearer k"},
                    json={"message": "hi", "session_id": "s1"},
                )
            assert turn.status_code == 200, turn.text
            corrupt(path)
            unready = await http.get("/readyz")
            with caplog.at_level(logging.WARNING, logger="trioagent.server.metrics"):
                metrics = await http.get("/metrics", headers={"Authorization": "Bearer k"})
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}
    check_answer(document, "/readyz", "get", ready)
    assert unready.status_code == 503
    assert unready.headers["Retry-After"] == "1"
    assert "X-Request-Id" in unready.headers
    check_answer(document, "/readyz", "get", unready)
    if api == "chat":
        assert unready.json()["error"]["code"] == "unavailable"
        assert unready.json()["error"]["type"] == "server_error"
    else:
        assert unready.json() == {
            "error": "The conversation store is unavailable; retry shortly.",
            "code": 503,
        }
    # A scrape still answers, without the count it could not read.
    assert metrics.status_code == 200
    assert "trioagent_requests_total" in metrics.text
    assert "trioagent_cached_conversations" not in metrics.text
    [warning] = [r for r in caplog.records if r.name == "trioagent.server.metrics"]
    assert "file is not a database" in warning.getMessage()


async def test_ready_without_a_store(server) -> None:
    with trio.fail_after(10):
        async with server.http() as http:
            response = await http.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ready"})


async def test_503_once_shutdown_begins_while_a_slow_turn_finishes(
    start_server, fake: FakeOpenAI
) -> None:
    fake.enqueue(text("late but whole", delay=1.0))
    with trio.fail_after(15):
        async with (
            start_server(shutdown_drain=2, shutdown_grace=10) as server,
            server.http() as http,
            trio.open_nursery() as nursery,
        ):
            document = await fetch_document(server)
            answers = []

            async def slow_turn() -> None:
                answers.append(
                    await http.post(
                        "/v1/chat/completions", json={"model": "root", "messages": USER}
                    )
                )

            nursery.start_soon(slow_turn)
            await fake.wait_requests(1)
            before = await http.get("/readyz")
            server.stopping.set()
            while True:  # the shutdown trigger runs a moment later
                draining = await http.get("/readyz")
                if draining.status_code != 200:
                    break
                await trio.sleep(0.01)
            metrics = await http.get("/metrics")
    assert before.status_code == 200
    assert draining.status_code == 503
    assert draining.json()["error"]["code"] == "shutting_down"
    assert draining.headers["Retry-After"] == "1"
    check_answer(document, "/readyz", "get", draining)
    assert "trioagent_active_turns 1.0" in metrics.text.splitlines()  # still running
    [answer] = answers
    assert answer.status_code == 200
    assert answer.json()["choices"][0]["message"]["content"] == "late but whole"
