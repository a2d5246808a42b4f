"""Structured logs: the formatters and the request-id filter, and a real server's stderr
with ``--log-format json`` (every line JSON, every request's lines tagged with its id)."""

from __future__ import annotations

import json
import logging
import re
import signal
import sys
from pathlib import Path

import httpx
import pytest
import trio

from trioagent.cli import build_parser
from trioagent.logs import (
    JsonFormatter,
    RequestIdFilter,
    TextFormatter,
    new_request_id,
    request_id,
    valid_request_id,
)
from trioagent.server.serve import YOUNG_GC_THRESHOLD
from trioagent.testing import (
    FakeOpenAI,
    open_server_process,
    text,
    write_test_agent,
)

USER = [{"role": "user", "content": "hi"}]
NEW_ID = re.compile(r"[0-9a-f]{32}")


def record(message: str = "hello %s", *args: object, **extra: object) -> logging.LogRecord:
    made = logging.getLogger("trioagent.test").makeRecord(
        "trioagent.test",
        logging.WARNING,
        __file__,
        1,
        message,
        args or ("world",),
        None,
        extra=extra or None,
    )
    RequestIdFilter().filter(made)
    return made


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("abc-123", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("", False),
        ("two words", False),
        ("line\nbreak", False),
        ("tab\there", False),
        ("caf\u00e9", False),
        ("\x1b[31mred", False),
    ],
    ids=["plain", "128", "129", "empty", "space", "newline", "tab", "non-ascii", "escape"],
)
def test_only_short_visible_ascii_request_ids_are_kept(given: str, kept: bool) -> None:
    assert (valid_request_id(given) == given) is kept
    assert (new_request_id(given) == given) is kept
    if not kept:
        assert NEW_ID.fullmatch(new_request_id(given))


def test_the_filter_tags_records_with_the_context_request_id() -> None:
    assert record().request_id is None  # type: ignore[attr-defined]
    token = request_id.set("req-1")
    try:
        tagged = record()
    finally:
        request_id.reset(token)
    assert tagged.request_id == "req-1"  # type: ignore[attr-defined]


def test_json_lines_have_the_documented_keys() -> None:
    formatter = JsonFormatter()
    token = request_id.set("req-2")
    try:
        plain = json.loads(formatter.format(record("a %s\nb", "\u2028x", status=200)))
        try:
            raise ValueError("boom")
        except ValueError:
            failed = logging.getLogger("t").makeRecord(
                "t", logging.ERROR, __file__, 1, "it failed", (), sys.exc_info()
            )
        RequestIdFilter().filter(failed)
        line = formatter.format(failed)
    finally:
        request_id.reset(token)
    assert "\n" not in line
    assert line.isascii()
    error = json.loads(line)
    assert set(plain) == {"time", "level", "logger", "message", "request_id", "status"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", plain["time"])
    assert (plain["level"], plain["logger"]) == ("WARNING", "trioagent.test")
    assert plain["message"] == "a \u2028x\nb"
    assert (plain["request_id"], plain["status"]) == ("req-2", 200)
    assert error["exception"].startswith("Traceback (most recent call last):")
    assert error["exception"].rstrip().endswith("ValueError: boom")
    outside = json.loads(formatter.format(record()))
    assert "request_id" not in outside
    assert "exception" not in outside


def test_text_lines_show_the_request_id_only_when_set() -> None:
    formatter = TextFormatter()
    outside = formatter.format(record())
    token = request_id.set("req-3")
    try:
        inside = formatter.format(record())
    finally:
        request_id.reset(token)
    assert outside.endswith(" WARNING trioagent.test: hello world")
    assert inside.endswith(" WARNING trioagent.test: [req=req-3] hello world")
    assert "req=" not in outside


async def raw_get(host: str, port: int, header: bytes) -> bytes:
    """A GET /healthz with ``header`` as sent, byte for byte (httpx refuses bad values)."""
    stream = await trio.open_tcp_stream(host, port)
    async with stream:
        await stream.send_all(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + header + b"\r\n\r\n"
        )
        answer = b""
        while data := await stream.receive_some(65536):
            answer += data
    return answer


def answered_id(answer: bytes) -> str:
    head = answer.split(b"\r\n\r\n")[0].decode("latin-1")
    assert head.startswith("HTTP/1.1 200"), head
    [value] = [
        line.split(":", 1)[1].strip()
        for line in head.split("\r\n")[1:]
        if line.lower().startswith("x-request-id:")
    ]
    return value


async def test_json_logs_of_a_real_server_carry_each_request_id(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    agent = write_test_agent(tmp_path, fake.base_url)
    fake.enqueue(text("first"), text("second"))
    hostile = [
        b"X-Request-Id: HOSTILE1\r\n HOSTILE2",  # a folded line: a newline inside
        b"X-Request-Id: " + b"a" * 1000,
        b"X-Request-Id: HOSTILE3\tx",
        b"X-Request-Id: HOSTILE4\xe9",
    ]
    with trio.fail_after(30):
        async with (
            open_server_process("chat", str(agent), "--log-format", "json", "-v") as server,
            trio.open_nursery() as nursery,
        ):
            stderr = [server.startup_log.encode()]

            async def read_stderr() -> None:
                assert server.process.stderr is not None
                async for data in server.process.stderr:
                    stderr.append(data)

            nursery.start_soon(read_stderr)
            async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
                generated = await http.post(
                    "/v1/chat/completions", json={"model": "root", "messages": USER}
                )
                chosen = await http.post(
                    "/v1/chat/completions",
                    headers={"X-Request-Id": "client-chosen-1"},
                    json={"model": "root", "messages": USER, "stream": True},
                )
                missing = await http.get("/v1/nothing", headers={"X-Request-Id": "lost-2"})
            host, port = server.base_url.removeprefix("http://").rsplit(":", 1)
            replaced = [answered_id(await raw_get(host, int(port), h)) for h in hostile]
            server.process.send_signal(signal.SIGTERM)
            assert await server.process.wait() == 0
    lines = b"".join(stderr).decode().splitlines()
    entries = [json.loads(line) for line in lines]  # every line is JSON
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    assert any("listening on http://" in e["message"] for e in entries)

    assert (generated.status_code, chosen.status_code, missing.status_code) == (200, 200, 404)
    assert NEW_ID.fullmatch(generated.headers["X-Request-Id"])
    assert chosen.headers["X-Request-Id"] == "client-chosen-1"
    assert missing.headers["X-Request-Id"] == "lost-2"
    access = [e for e in entries if e["logger"] == "trioagent.server.access"]
    for response, path in (
        (generated, "/v1/chat/completions"),
        (chosen, "/v1/chat/completions"),
        (missing, "/v1/nothing"),
    ):
        rid = response.headers["X-Request-Id"]
        [line] = [e for e in access if e.get("request_id") == rid]
        assert line["level"] == "INFO"
        assert line["message"].startswith(
            f"{response.request.method} {path} {response.status_code} "
        )
        assert (line["method"], line["path"], line["status"]) == (
            response.request.method,
            path,
            response.status_code,
        )
        assert line["duration_ms"] >= 0
    for response in (generated, chosen):  # the turn's own lines, from its tasks
        turn = [
            e["message"]
            for e in entries
            if e["logger"] == "trioagent.server.turn"
            and e.get("request_id") == response.headers["X-Request-Id"]
        ]
        assert turn == ["turn of agent root: started", turn[-1]]
        assert turn[-1].startswith("turn of agent root: ok after ")

    assert len(replaced) == 4
    assert all(NEW_ID.fullmatch(rid) for rid in replaced)
    assert len(set(replaced)) == 4
    for rid in replaced:
        [line] = [e for e in access if e.get("request_id") == rid]
        assert line["path"] == "/healthz"
    logged = "\n".join(lines)
    assert "HOSTILE" not in logged
    assert "a" * 129 not in logged


async def test_the_startup_line_stays_plain_text_by_default(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    agent = write_test_agent(tmp_path, fake.base_url)
    with trio.fail_after(30):
        async with open_server_process("chat", str(agent)) as server:
            server.process.send_signal(signal.SIGTERM)
            assert await server.process.wait() == 0
    assert server.startup_line.startswith("trioagent serve chat: listening on http://")


@pytest.mark.parametrize(
    "argv",
    [
        ["--log-format", "json", "-v", "serve", "chat", "a.yaml"],
        ["serve", "chat", "a.yaml", "--log-format", "json", "-v"],
        ["serve", "api", "a.yaml", "-v", "--log-format", "json"],
        ["run", "a.yaml", "hi", "--log-format", "json", "-v"],
        ["-v", "chat", "http://127.0.0.1:1", "--log-format", "json"],
    ],
    ids=["before", "serve-chat", "serve-api", "run", "chat"],
)
def test_log_flags_work_before_and_after_the_command(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.log_format, args.verbose) == ("json", True)


def test_log_flags_default_to_text_and_quiet() -> None:
    args = build_parser().parse_args(["serve", "chat", "a.yaml"])
    assert (args.log_format, args.verbose) == ("text", False)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "chat", "a.yaml", "--log-format", "xml"])


LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) (\S+): ")


async def served_stderr(fake: FakeOpenAI, tmp_path: Path, *flags: str) -> list[str]:
    """The stderr lines of a `serve chat` that answered one request, then stopped."""
    agent = write_test_agent(tmp_path, fake.base_url)
    fake.enqueue(text("hello"))
    with trio.fail_after(30):
        async with (
            open_server_process("chat", str(agent), *flags) as server,
            trio.open_nursery() as nursery,
        ):
            stderr = [server.startup_log.encode()]

            async def read_stderr() -> None:
                assert server.process.stderr is not None
                async for data in server.process.stderr:
                    stderr.append(data)

            nursery.start_soon(read_stderr)
            async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
                answer = await http.post(
                    "/v1/chat/completions", json={"model": "root", "messages": USER}
                )
            assert answer.status_code == 200
            server.process.send_signal(signal.SIGTERM)
            assert await server.process.wait() == 0
    return b"".join(stderr).decode().splitlines()


async def test_only_trioagent_lines_reach_the_terminal_without_verbose(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    """Libraries log at INFO too (hypercorn's "Running on" at start-up): only trioagent's
    own lines show, unless -v (which adds a debug line per model call)."""
    lines = await served_stderr(fake, tmp_path)
    loggers = []
    for line in lines:
        if line.startswith("trioagent serve chat: listening on http://"):
            continue
        logged = LOG_LINE.match(line)
        assert logged, line
        loggers.append(logged[2])
    assert all(name == "trioagent" or name.startswith("trioagent.") for name in loggers), lines
    assert "trioagent.server.access" in loggers  # our INFO lines stay

    verbose = await served_stderr(fake, tmp_path, "-v")
    shown = {logged[2].split(".")[0] for line in verbose if (logged := LOG_LINE.match(line))}
    assert {"trioagent", "hypercorn"} <= shown
    assert any(
        "DEBUG trioagent.models._transport: " in line and "model call: POST http://" in line
        for line in verbose
    )


async def test_a_serving_process_sets_its_start_up_objects_aside_from_garbage_collection(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    """Once listening, ``serve`` freezes what start-up allocated and collects the young
    generation less often (`settle_heap`); with -v it says so, from the collector's state."""
    verbose = await served_stderr(fake, tmp_path, "-v")
    said = re.compile(r"start-up's (\d+) objects set aside, young collections every (\d+)")
    settled = [found for line in verbose if (found := said.search(line))]
    assert len(settled) == 1, verbose
    assert int(settled[0][1]) > 10_000  # modules, agents and the app: tens of thousands
    assert int(settled[0][2]) == YOUNG_GC_THRESHOLD
