"""`trioagent serve api` as a real process: sessions survive restarts and kill -9."""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

import httpx
import pytest
import trio

from trioagent.testing import (
    FakeOpenAI,
    hang,
    held,
    open_server_process,
    text,
    trioagent_command,
    write_test_agent,
)
from trioagent.testing.process import children_of
from trioagent.testing.process import pid_alive as alive


@pytest.fixture
def agent_path(fake: FakeOpenAI, tmp_path: Path) -> Path:
    return write_test_agent(tmp_path, fake.base_url)


def seen(fake: FakeOpenAI) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in fake.requests[-1].json["messages"][1:]]


def check_file(path: Path) -> None:
    """The file opens as SQLite, in WAL mode, and passes its integrity check."""
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_sessions_survive_a_restart(
    fake: FakeOpenAI, agent_path: Path, tmp_path: Path
) -> None:
    sessions = tmp_path / "sessions.db"
    fake.enqueue(text("Hello Ada."), text("You are Ada."))
    with trio.fail_after(60):
        async with open_server_process(
            "api", str(agent_path), "--sessions", str(sessions)
        ) as server:
            assert server.url.endswith("/api/chat")
            async with httpx.AsyncClient(timeout=10) as http:
                first = (await http.post(server.url, json={"message": "I am Ada."})).json()
            server.process.send_signal(signal.SIGTERM)
            assert await server.process.wait() == 0
        check_file(sessions)
        async with (
            open_server_process("api", str(agent_path), "--sessions", str(sessions)) as server,
            httpx.AsyncClient(base_url=server.base_url, timeout=10) as http,
        ):
            second = await http.post(
                "/api/chat", json={"message": "Who am I?", "session_id": first["session_id"]}
            )
            history = (await http.get(f"/api/sessions/{first['session_id']}")).json()
    assert second.json()["message"] == "You are Ada."
    assert seen(fake) == [("user", "I am Ada."), ("assistant", "Hello Ada."), ("user", "Who am I?")]
    assert [m["content"] for m in history["messages"]] == [
        "I am Ada.",
        "Hello Ada.",
        "Who am I?",
        "You are Ada.",
    ]


async def test_kill_9_during_a_turn_keeps_the_last_completed_turn(
    fake: FakeOpenAI, agent_path: Path, tmp_path: Path
) -> None:
    sessions = tmp_path / "sessions.db"
    fake.enqueue(text("first answer"), hang(), text("after the crash"))
    with trio.fail_after(60):
        async with (
            open_server_process("api", str(agent_path), "--sessions", str(sessions)) as server,
            httpx.AsyncClient(base_url=server.base_url, timeout=10) as http,
        ):
            await http.post("/api/chat", json={"message": "first", "session_id": "s"})

            async def doomed() -> None:
                with pytest.raises(httpx.HTTPError):
                    await http.post("/api/chat", json={"message": "lost", "session_id": "s"})

            async with trio.open_nursery() as nursery:
                nursery.start_soon(doomed)
                await fake.wait_requests(2)  # the second turn is running
                server.process.kill()
                assert await server.process.wait() == -signal.SIGKILL
        check_file(sessions)
        async with (
            open_server_process("api", str(agent_path), "--sessions", str(sessions)) as server,
            httpx.AsyncClient(base_url=server.base_url, timeout=10) as http,
        ):
            history = (await http.get("/api/sessions/s")).json()
            again = await http.post("/api/chat", json={"message": "again", "session_id": "s"})
    assert [m["content"] for m in history["messages"]] == ["first", "first answer"]
    assert again.json()["message"] == "after the crash"
    assert seen(fake) == [("user", "first"), ("assistant", "first answer"), ("user", "again")]


async def test_kill_9_among_many_commits_leaves_every_session_whole(
    fake: FakeOpenAI, agent_path: Path, tmp_path: Path
) -> None:
    """Kill the server while many turns commit at once: each session is whole turns only."""
    sessions = tmp_path / "sessions.db"
    fake.default = text("ok")
    fake.record = False
    with trio.fail_after(60):
        async with (
            open_server_process("api", str(agent_path), "--sessions", str(sessions)) as server,
            httpx.AsyncClient(base_url=server.base_url, timeout=10) as http,
        ):
            completed: dict[str, int] = {}
            enough = trio.Event()

            async def talk(session_id: str) -> None:
                completed[session_id] = 0
                try:
                    while True:
                        response = await http.post(
                            "/api/chat",
                            json={
                                "message": f"turn {completed[session_id]}",
                                "session_id": session_id,
                            },
                        )
                        assert response.status_code == 200
                        completed[session_id] += 1
                        if sum(completed.values()) >= 40:
                            enough.set()
                except httpx.HTTPError:
                    return  # the server is gone

            async with trio.open_nursery() as nursery:
                for n in range(8):
                    nursery.start_soon(talk, f"s{n}")
                await enough.wait()
                server.process.kill()
                await server.process.wait()
    check_file(sessions)
    with sqlite3.connect(sessions) as db:
        rows = db.execute("SELECT id FROM sessions").fetchall()
    assert len(rows) == 8
    async with (
        open_server_process("api", str(agent_path), "--sessions", str(sessions)) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=10) as http,
    ):
        for session_id, count in completed.items():
            history = (await http.get(f"/api/sessions/{session_id}")).json()
            contents = [m["content"] for m in history["messages"]]
            turns = len(contents) // 2
            # Every reported turn was committed; at most the one in flight committed too.
            assert turns in (count, count + 1), (session_id, count, contents)
            assert contents == [part for n in range(turns) for part in (f"turn {n}", "ok")]


async def test_unusable_sessions_file_fails_at_start_up(agent_path: Path, tmp_path: Path) -> None:
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("these are not sessions\n" * 100)
    with trio.fail_after(30):
        result = await trio.run_process(
            trioagent_command(
                "serve", "api", str(agent_path), "--sessions", str(not_a_db), "-l", "127.0.0.1:0"
            ),
            capture_stderr=True,
            check=False,
        )
    assert result.returncode == 1
    message = result.stderr.decode().strip().splitlines()
    assert len(message) == 1, message
    assert message[0].startswith("trioagent: error:")
    assert str(not_a_db) in message[0]
    assert "--sessions" in message[0]
    assert not_a_db.read_text().startswith("these are not sessions")  # left untouched


async def test_workers_share_the_port_and_the_sessions(
    fake: FakeOpenAI, agent_path: Path, tmp_path: Path
) -> None:
    sessions = tmp_path / "sessions.db"
    with trio.fail_after(60):
        async with open_server_process(
            "api", str(agent_path), "--sessions", str(sessions), "--workers", "2"
        ) as server:
            workers = children_of(server.process.pid)
            assert len(workers) == 2
            busy_before = {
                pid: Path(f"/proc/{pid}/stat").read_text().split()[13] for pid in workers
            }
            for n in range(20):  # a new connection each time: the kernel spreads them
                async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
                    response = await http.post(
                        "/api/chat", json={"message": f"message {n}", "session_id": "shared"}
                    )
                    assert response.status_code == 200
            busy_after = {pid: Path(f"/proc/{pid}/stat").read_text().split()[13] for pid in workers}
            async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
                history = (await http.get("/api/sessions/shared")).json()
            server.process.send_signal(signal.SIGTERM)
            assert await server.process.wait() == 0
    assert all(busy_after[pid] != busy_before[pid] for pid in workers)  # both served
    assert [m["content"] for m in history["messages"]][::2] == [f"message {n}" for n in range(20)]
    assert not any(alive(pid) for pid in workers)


async def test_a_busy_session_is_409_on_every_worker_before_anything_runs(
    fake: FakeOpenAI, agent_path: Path, tmp_path: Path
) -> None:
    sessions = tmp_path / "sessions.db"
    release = trio.Event()
    fake.enqueue(held(text("The first turn's answer."), release))
    with trio.fail_after(60):
        async with open_server_process(
            "api", str(agent_path), "--sessions", str(sessions), "--workers", "2"
        ) as server:
            first: list[httpx.Response] = []

            async def first_turn() -> None:
                async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
                    first.append(
                        await http.post(
                            "/api/chat", json={"message": "first", "session_id": "shared"}
                        )
                    )

            async with trio.open_nursery() as nursery:
                nursery.start_soon(first_turn)
                await fake.wait_requests(1)  # the first turn runs, on one of the workers
                busy = []
                for n in range(8):  # new connections: the kernel spreads them over both
                    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
                        busy.append(
                            await http.post(
                                "/api/chat", json={"message": f"second {n}", "session_id": "shared"}
                            )
                        )
                        busy.append(await http.delete("/api/sessions/shared"))
                release.set()
            fake.enqueue(text("The next answer."))
            async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
                after = await http.post(
                    "/api/chat", json={"message": "next", "session_id": "shared"}
                )
                history = (await http.get("/api/sessions/shared")).json()
    assert [r.status_code for r in busy] == [409] * 16
    assert all(r.headers["retry-after"] == "1" for r in busy)
    assert len(fake.requests) == 2  # the 409s ran nothing: only the first and the next
    assert first[0].status_code == 200
    assert after.status_code == 200
    assert [m["content"] for m in history["messages"]] == [
        "first",
        "The first turn's answer.",
        "next",
        "The next answer.",
    ]


async def test_workers_stop_when_their_parent_is_killed(
    fake: FakeOpenAI, agent_path: Path, tmp_path: Path
) -> None:
    fake.enqueue(hang())
    with trio.fail_after(60):
        async with open_server_process(
            "api", str(agent_path), "--sessions", str(tmp_path / "s.db"), "--workers", "2"
        ) as server:
            workers = children_of(server.process.pid)
            async with (
                httpx.AsyncClient(base_url=server.base_url, timeout=10) as http,
                trio.open_nursery() as nursery,
            ):

                async def doomed() -> None:
                    with pytest.raises(httpx.HTTPError):
                        await http.post("/api/chat", json={"message": "lost"})

                nursery.start_soon(doomed)
                await fake.wait_requests(1)
                server.process.kill()
                await server.process.wait()
            for pid in workers:  # a pidfd turns readable when its process exits
                try:
                    pidfd = os.pidfd_open(pid)
                except ProcessLookupError:
                    continue
                try:
                    await trio.lowlevel.wait_readable(pidfd)
                finally:
                    os.close(pidfd)
        await fake.wait_disconnects(1)  # the orphaned turn was cancelled
