"""The trioagent command: flag parsing, `run` and `serve chat` as real subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trio

from trioagent.cli import build_parser, serve_options, startup_warnings
from trioagent.server.durations import format_duration
from trioagent.server.options import SHARED_CACHE_MAX, parse_duration, parse_size
from trioagent.server.ratelimit import parse_rate
from trioagent.store import StoreURL
from trioagent.testing import (
    FakeOpenAI,
    hang,
    open_server_process,
    text,
    tool_calls,
)
from trioagent.testing import trioagent_command as trioagent

AGENT = """\
agents:
  root:
    model: upstream
    instruction: Test agent.
    toolsets:
      - type: filesystem
models:
  upstream:
    provider: openai
    model: gpt-test
    base_url: {base_url}
"""


@pytest.fixture
def agent_path(fake: FakeOpenAI, tmp_path: Path) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(AGENT.format(base_url=fake.base_url))
    return path


@pytest.mark.parametrize(
    ("text", "size"),
    [("1MiB", 1048576), ("512KiB", 524288), ("1000", 1000), ("2kb", 2000)],
    ids=["mib", "kib", "bytes", "kb"],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("5m", 300),
        ("1h", 3600),
        ("1h30m", 5400),
        ("250ms", 0.25),
        ("12", 12),
        ("5min", 300),
        ("1d", 86400),
        ("2 hours", 7200),
    ],
    ids=["s", "m", "h", "hm", "ms", "plain", "min", "day", "words"],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "bad", ["5x", "m5", "", "1 MiB MiB"], ids=["unit", "order", "empty", "junk"]
)
def test_bad_sizes_and_durations_are_refused(bad: str) -> None:
    """Sizes and durations (every duration flag, and a rate's period) refuse junk."""
    with pytest.raises(ValueError, match="invalid"):
        parse_duration(bad)
    with pytest.raises(ValueError, match="invalid"):
        parse_size(bad)
    with pytest.raises(ValueError, match="invalid"):
        parse_rate(f"10/{bad}")


@pytest.mark.parametrize("seconds", [0.25, 15, 90, 300, 1800, 5400, 86400])
def test_help_defaults_read_back_as_the_same_duration(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


def test_serve_chat_flags_fill_options() -> None:
    args = build_parser().parse_args(
        [
            "serve",
            "chat",
            "agent.yaml",
            "-a",
            "root",
            "-l",
            "0.0.0.0:0",
            "--api-key",
            "k1",
            "--api-key-env",
            "MY_KEY",
            "--cors-origin",
            "https://a.example",
            "--cors-origin",
            "https://b.example",
            "--max-request-size",
            "512KiB",
            "--request-timeout",
            "90s",
            "--conversations-max",
            "100",
            "--conversation-ttl",
            "1h",
            "--max-idle-runtimes",
            "2",
            "--working-dir",
            "/tmp",
        ]
    )
    options = serve_options(args, {"MY_KEY": "k2"})
    assert (options.host, options.port, options.agent) == ("0.0.0.0", 0, "root")
    assert options.api_keys == ("k1", "k2")
    assert options.cors_origins == ("https://a.example", "https://b.example")
    assert options.max_request_size == 512 * 1024
    assert options.request_timeout == 90
    assert (options.conversations_max, options.conversation_ttl) == (100, 3600)
    assert options.max_idle_runtimes == 2
    assert options.working_dir == Path("/tmp").resolve()


def test_serve_chat_defaults() -> None:
    options = serve_options(build_parser().parse_args(["serve", "chat", "a.yaml"]), {})
    assert (options.host, options.port) == ("127.0.0.1", 8083)
    assert options.max_request_size == 1024 * 1024
    assert options.request_timeout == 300
    assert options.store_for("chat") == StoreURL("memory")
    assert options.cache_size(options.store_for("chat")) == 0
    assert options.conversation_ttl == 1800
    assert options.max_idle_runtimes == 4
    assert options.api_keys == ()


@pytest.mark.parametrize(
    ("api", "flags", "store", "cache", "workers"),
    [
        ("chat", ["--store", "memory:"], StoreURL("memory"), 0, 1),
        ("chat", ["--store", "memory:", "--conversations-max", "50"], StoreURL("memory"), 50, 1),
        (
            "chat",
            ["--store", "redis://127.0.0.1:6379/2"],
            StoreURL("redis", "redis://127.0.0.1:6379/2"),
            SHARED_CACHE_MAX,
            os.cpu_count(),
        ),
        (
            "chat",
            ["--store", "sqlite:c.db", "--conversations-max", "0"],
            StoreURL("sqlite", "c.db"),
            0,
            os.cpu_count(),
        ),
        (
            "api",
            ["--store", "redis://h:1/0", "--rate-limit", "5/s"],
            StoreURL("redis", "redis://h:1/0"),
            SHARED_CACHE_MAX,
            1,
        ),
        ("api", ["--sessions", ":memory:"], StoreURL("sqlite", ":memory:"), 0, 1),
        ("api", ["--store", "memory:"], StoreURL("memory"), 0, 1),
    ],
    ids=[
        "memory",
        "memory-cache",
        "redis",
        "sqlite-off",
        "api-redis-rate",
        "api-sessions",
        "api-memory",
    ],
)
def test_store_flag_picks_store_cache_and_workers(
    api: str, flags: list[str], store: StoreURL, cache: int, workers: int
) -> None:
    args = build_parser().parse_args(["serve", api, "a.yaml", *flags])
    options = serve_options(args, {})
    assert options.store_for(api) == store
    if api == "chat":
        assert options.cache_size(store) == cache
    assert options.workers == workers


@pytest.mark.parametrize("value", ["redis", "sqlite:", "memory:x", "postgres://h/db", "redis:/h"])
def test_bad_store_url_is_refused_with_the_forms(value: str, capsys) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "chat", "a.yaml", "--store", value])
    assert "use memory:, sqlite:PATH or redis://HOST:PORT/DB" in capsys.readouterr().err


def test_sessions_and_store_together_are_refused() -> None:
    args = build_parser().parse_args(
        ["serve", "api", "a.yaml", "--sessions", "a.db", "--store", "memory:"]
    )
    with pytest.raises(ValueError, match="pass only --store"):
        serve_options(args, {})


def test_store_url_hides_the_password() -> None:
    assert str(StoreURL.parse("redis://:s3cret@h:6379/0")) == "redis://:***@h:6379/0"
    assert str(StoreURL.parse("redis://u:s3cret@h:6379/0")) == "redis://u:***@h:6379/0"
    assert str(StoreURL.parse("sqlite:/x/y.db")) == "sqlite:/x/y.db"


def test_serve_api_flags_fill_options() -> None:
    args = build_parser().parse_args(
        [
            "serve",
            "api",
            "agent.yaml",
            "-a",
            "helper",
            "--sessions",
            "/tmp/s.db",
            "--rate-limit",
            "60/min",
            "--api-key",
            "k",
            "--request-timeout",
            "30s",
            "--cors-origin",
            "https://a.example",
            "--max-request-size",
            "64KiB",
        ]
    )
    options = serve_options(args, {})
    assert options.agent == "helper"
    assert options.store_for("api") == StoreURL("sqlite", "/tmp/s.db")
    assert options.rate_limit is not None
    assert (options.rate_limit.requests, options.rate_limit.period) == (60, 60)
    assert options.api_keys == ("k",)
    assert options.request_timeout == 30
    assert options.cors_origins == ("https://a.example",)
    assert options.max_request_size == 64 * 1024


def test_serve_api_defaults_and_flags_that_belong_to_chat_only() -> None:
    parser = build_parser()
    options = serve_options(parser.parse_args(["serve", "api", "a.yaml"]), {})
    assert options.store_for("api") == StoreURL("sqlite", "trioagent-sessions.db")
    assert options.rate_limit is None
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "api", "a.yaml", "--conversations-max", "5"])
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "chat", "a.yaml", "--sessions", "x.db"])
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "api", "a.yaml", "--rate-limit", "lots"])


def test_default_workers_follow_whether_the_processes_share_state() -> None:
    parser = build_parser()

    def workers(*argv: str) -> int:
        return serve_options(parser.parse_args(list(argv)), {}).workers

    cores = os.cpu_count() or 1
    assert workers("serve", "api", "a.yaml") == cores  # one sessions file for all
    assert workers("serve", "api", "a.yaml", "--sessions", ":memory:") == 1
    assert workers("serve", "api", "a.yaml", "--rate-limit", "1/s") == 1
    assert workers("serve", "chat", "a.yaml") == 1
    assert workers("serve", "chat", "a.yaml", "--workers", "3") == 3
    with pytest.raises(ValueError, match="--workers"):
        workers("serve", "chat", "a.yaml", "--workers", "0")


@pytest.mark.parametrize(
    "origin",
    ["*", "https://app.example/", "app.example", "https://*.example", "https://app.example/path"],
    ids=["wildcard", "trailing-slash", "no-scheme", "star-host", "path"],
)
def test_a_cors_origin_that_can_never_match_is_refused(origin: str) -> None:
    parser = build_parser()
    with pytest.raises(ValueError, match="can never match") as caught:
        serve_options(parser.parse_args(["serve", "chat", "a.yaml", "--cors-origin", origin]), {})
    assert repr(origin) in str(caught.value)


def test_a_missing_working_dir_is_refused_at_start_up(tmp_path: Path) -> None:
    parser = build_parser()
    missing = tmp_path / "nope"
    with pytest.raises(ValueError, match="is not a directory"):
        serve_options(
            parser.parse_args(["serve", "api", "a.yaml", "--working-dir", str(missing)]), {}
        )


def test_non_loopback_without_key_refuses_unless_insecure() -> None:
    parser = build_parser()
    with pytest.raises(ValueError, match="--insecure-no-auth"):
        serve_options(parser.parse_args(["serve", "chat", "a.yaml", "-l", "0.0.0.0:8083"]), {})
    options = serve_options(
        parser.parse_args(["serve", "chat", "a.yaml", "-l", "0.0.0.0:8083", "--insecure-no-auth"]),
        {},
    )
    assert options.insecure_no_auth
    with pytest.raises(ValueError, match="MISSING"):
        serve_options(
            parser.parse_args(["serve", "chat", "a.yaml", "--api-key-env", "MISSING"]), {}
        )


async def test_help_works_both_ways() -> None:
    for command in (
        trioagent("--help"),
        [str(Path(sys.executable).parent / "trioagent"), "--help"],
        trioagent("serve", "chat", "--help"),
    ):
        result = await trio.run_process(command, capture_stdout=True)
        assert b"usage:" in result.stdout
    result = await trio.run_process(trioagent("serve", "chat", "--help"), capture_stdout=True)
    for flag in (
        b"--listen",
        b"--api-key",
        b"--cors-origin",
        b"--max-request-size",
        b"--request-timeout",
        b"--conversations-max",
        b"--conversation-ttl",
        b"--max-idle-runtimes",
        b"--working-dir",
        b"--env-from-file",
        b"--models-gateway",
        b"--insecure-no-auth",
    ):
        assert flag in result.stdout
    result = await trio.run_process(trioagent("serve", "api", "--help"), capture_stdout=True)
    for flag in (
        b"--listen",
        b"--api-key",
        b"--cors-origin",
        b"--max-request-size",
        b"--request-timeout",
        b"--sessions",
        b"--rate-limit",
        b"--working-dir",
    ):
        assert flag in result.stdout


async def test_run_prints_the_streamed_answer_and_tool_activity(
    fake: FakeOpenAI, agent_path: Path, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("remember the milk")
    fake.enqueue(
        tool_calls([("c1", "read_file", '{"path": "notes.txt"}')]),
        text("You must remember the milk."),
    )
    with trio.fail_after(30):
        result = await trio.run_process(
            trioagent(
                "run", str(agent_path), "What do my notes say?", "--working-dir", str(tmp_path)
            ),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().strip() == "You must remember the milk."
    assert b"read_file" in result.stderr
    assert fake.requests[1].json["messages"][-1]["content"] == "remember the milk"


async def test_run_takes_flags_between_the_file_and_the_message(
    fake: FakeOpenAI, agent_path: Path, tmp_path: Path
) -> None:
    # The command at the top of examples/coder.yaml.
    fake.enqueue(text("Hello from between."))
    with trio.fail_after(30):
        result = await trio.run_process(
            trioagent("run", str(agent_path), "--working-dir", str(tmp_path), "Say hello"),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().strip() == "Hello from between."
    assert fake.requests[0].json["messages"][-1]["content"] == "Say hello"
    with trio.fail_after(30):
        extra = await trio.run_process(
            trioagent("run", str(agent_path), "--working-dir", str(tmp_path), "one", "two"),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert extra.returncode == 2
    assert b"unrecognized arguments: one two" in extra.stderr


async def test_interactive_run_cancels_a_turn_on_ctrl_c_and_keeps_commands_to_itself(
    fake: FakeOpenAI, agent_path: Path, tmp_path: Path
) -> None:
    from trioagent.testing import held

    release = trio.Event()  # never set: the first answer stays at the model until cancelled
    fake.enqueue(held(text("never shown"), release), text("The second answer."))
    process = await trio.lowlevel.open_process(
        trioagent("run", str(agent_path), "--working-dir", str(tmp_path)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    assert process.stderr is not None
    err = bytearray()
    out = bytearray()
    arrived = trio.Condition()

    async def read(stream: trio.abc.ReceiveStream, into: bytearray) -> None:
        async for data in stream:
            async with arrived:
                into.extend(data)
                arrived.notify_all()

    async def wait_for(into: bytearray, marker: bytes) -> None:
        async with arrived:
            while marker not in into:
                await arrived.wait()

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read, process.stdout, out)
            nursery.start_soon(read, process.stderr, err)
            await wait_for(err, b"/help")
            await process.stdin.send_all(b"first message\n")
            await fake.wait_requests(1)
            process.send_signal(signal.SIGINT)
            await wait_for(err, b"[cancelled")
            await process.stdin.send_all(b"/help\n")
            await wait_for(err, b"/reset")
            await process.stdin.send_all(b"second message\n")
            await wait_for(out, b"The second answer.")
            await process.stdin.aclose()
            assert await process.wait() == 0
    assert len(fake.requests) == 2  # /help never reached the model
    sent = [m["content"] for m in fake.requests[1].json["messages"]]
    assert sent[1:] == ["second message"]  # the cancelled turn left nothing behind


async def test_run_fails_with_one_line_error(
    fake: FakeOpenAI, agent_path: Path, tmp_path: Path
) -> None:
    from trioagent.testing import error

    fake.enqueue(error(401, "bad key"))
    with trio.fail_after(30):
        upstream = await trio.run_process(
            trioagent("run", str(agent_path), "hi"),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        bad = tmp_path / "bad.yaml"
        bad.write_text("agents:\n  root:\n    model: openai/gpt-4o\n    instructions: x\n")
        config = await trio.run_process(
            trioagent("run", str(bad), "hi"), capture_stdout=True, capture_stderr=True, check=False
        )
    for result in (upstream, config):
        assert result.returncode == 1
        lines = result.stderr.decode().strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith("trioagent: error:")
    assert f"{bad}:4: agents.root.instructions" in config.stderr.decode()


async def test_missing_api_key_is_reported_at_start_up(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("agents:\n  root:\n    model: openai/gpt-4o\n")
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    result = await trio.run_process(
        trioagent("serve", "chat", str(path), "-l", "127.0.0.1:0"),
        capture_stderr=True,
        check=False,
        env=env,
    )
    assert result.returncode == 1
    assert b"OPENAI_API_KEY" in result.stderr


async def test_serve_chat_prints_url_serves_and_stops_cleanly_on_sigterm(
    fake: FakeOpenAI, agent_path: Path
) -> None:
    fake.enqueue(text("served"))
    with trio.fail_after(30):
        async with (
            open_server_process("chat", str(agent_path)) as server,
            httpx.AsyncClient(base_url=server.url, timeout=10) as http,
        ):
            assert server.url.startswith("http://127.0.0.1:")
            assert server.url.endswith("/v1")
            assert not server.url.endswith(":0/v1")
            response = await http.post(
                "/chat/completions",
                json={"model": "root", "messages": [{"role": "user", "content": "hi"}]},
            )
            server.process.send_signal(signal.SIGTERM)
            assert await server.process.wait() == 0
    assert response.json()["choices"][0]["message"]["content"] == "served"


async def test_sigterm_lets_a_running_turn_finish_then_exits_0(
    fake: FakeOpenAI, agent_path: Path
) -> None:
    fake.enqueue(text("slow but complete", chunk_delay=0.3))
    with trio.fail_after(30):
        async with (
            open_server_process("chat", str(agent_path), "--shutdown-grace", "10s") as server,
            httpx.AsyncClient(base_url=server.url, timeout=10) as http,
        ):
            async with http.stream(
                "POST",
                "/chat/completions",
                json={
                    "model": "root",
                    "stream": True,
                    "messages": [{"role": "user", "content": "hi"}],
                },
            ) as response:
                body = b""
                async for chunk in response.aiter_bytes():
                    if not body:
                        server.process.send_signal(signal.SIGTERM)
                    body += chunk
            assert await server.process.wait() == 0
    assert body.endswith(b"data: [DONE]\n\n")
    assert b'"finish_reason":"stop"' in body


async def test_sigterm_cancels_turns_past_the_grace_period(
    fake: FakeOpenAI, agent_path: Path
) -> None:
    fake.enqueue(hang())
    with trio.fail_after(30):
        async with (
            open_server_process("chat", str(agent_path), "--shutdown-grace", "0.5s") as server,
            httpx.AsyncClient(base_url=server.url, timeout=10) as http,
            trio.open_nursery() as nursery,
        ):

            async def request() -> None:
                with pytest.raises(httpx.HTTPError):
                    await http.post(
                        "/chat/completions",
                        json={"model": "root", "messages": [{"role": "user", "content": "hi"}]},
                    )

            nursery.start_soon(request)
            await fake.wait_requests(1)
            server.process.send_signal(signal.SIGTERM)
            assert await server.process.wait() == 0
            await fake.wait_disconnects(1)  # the upstream call was cancelled


async def test_models_gateway_and_env_from_file(fake: FakeOpenAI, tmp_path: Path) -> None:
    agent = tmp_path / "agent.yaml"
    agent.write_text("agents:\n  root:\n    model: openai/gpt-4o\n")
    env_file = tmp_path / "keys.env"
    env_file.write_text("# keys\nOPENAI_API_KEY=sk-from-file\n")
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    fake.enqueue(text("via gateway"))
    with trio.fail_after(30):
        async with (
            open_server_process(
                "chat",
                str(agent),
                "--models-gateway",
                fake.base_url,
                "--env-from-file",
                str(env_file),
                env=env,
            ) as server,
            httpx.AsyncClient(base_url=server.url, timeout=10) as http,
        ):
            response = await http.post(
                "/chat/completions",
                json={"model": "root", "messages": [{"role": "user", "content": "hi"}]},
            )
            server.process.send_signal(signal.SIGTERM)
            assert await server.process.wait() == 0
    assert response.json()["choices"][0]["message"]["content"] == "via gateway"
    assert fake.requests[0].json["model"] == "openai/gpt-4o"
    assert fake.requests[0].headers["authorization"] == "Bearer sk-from-file"


def test_serve_help_describes_both_apis(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    shown = capsys.readouterr().out
    description = shown.split("positional arguments:")[0]
    assert "serve chat  an OpenAI-compatible API" in description
    assert "serve api   a simple chat API: POST /api/chat" in description


@pytest.mark.parametrize(
    ("argv", "per_core"),
    [
        (["serve", "chat", "a.yaml"], False),
        (["serve", "chat", "a.yaml", "--store", "sqlite:c.db"], True),
        (["serve", "chat", "a.yaml", "--store", "redis://127.0.0.1:6379/0"], True),
        (["serve", "chat", "a.yaml", "--store", "sqlite::memory:"], False),
        (
            [
                "serve",
                "chat",
                "a.yaml",
                "--store",
                "redis://127.0.0.1:6379/0",
                "--rate-limit",
                "1/s",
            ],
            False,
        ),
        (["serve", "api", "a.yaml"], True),
        (["serve", "api", "a.yaml", "--store", "memory:"], False),
    ],
    ids=[
        "chat-memory",
        "chat-sqlite",
        "chat-redis",
        "chat-sqlite-memory",
        "chat-rate-limit",
        "api-sessions-file",
        "api-memory",
    ],
)
def test_workers_default_to_one_per_core_on_a_shared_store_as_the_help_says(
    argv: list[str], per_core: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = build_parser()
    workers = serve_options(parser.parse_args(argv), {}).workers
    assert workers == ((os.cpu_count() or 1) if per_core else 1)
    with pytest.raises(SystemExit):
        parser.parse_args([*argv[:2], "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert (
        "--workers N server processes sharing the port (default: one per core when the "
        "store is shared, a sqlite:PATH file (as serve api's default is) or redis://, and "
        "there is no --rate-limit; else 1)"
    ) in shown


def warnings_of(*argv: str) -> list[str]:
    args = build_parser().parse_args(["serve", *argv])
    return startup_warnings(args.api, serve_options(args, {}))


@pytest.mark.parametrize(
    ("argv", "kept"),
    [
        (
            [
                "chat",
                "a.yaml",
                "--workers",
                "2",
                "--conversations-max",
                "10",
                "--responses-max",
                "0",
            ],
            "X-Conversation-Id conversations (a conversation",
        ),
        (["chat", "a.yaml", "--workers", "2"], "stored responses (a conversation"),
        (["api", "a.yaml", "--workers", "2", "--sessions", ":memory:"], "sessions (a session"),
    ],
    ids=["chat-conversations", "chat-responses", "api-sessions"],
)
def test_several_workers_on_a_memory_store_get_a_warning(argv: list[str], kept: str) -> None:
    [warning] = warnings_of(*argv)
    assert "with 2 workers and --store " in warning
    assert (
        f"each worker keeps its own {kept} continues only on the worker that served it)" in warning
    )
    assert "use --store sqlite:PATH or --store redis://HOST:PORT/DB" in warning


@pytest.mark.parametrize(
    "argv",
    [
        ["chat", "a.yaml", "--conversations-max", "10"],
        ["chat", "a.yaml", "--workers", "2", "--responses-max", "0"],
        ["chat", "a.yaml", "--workers", "2", "--store", "sqlite:c.db"],
        ["api", "a.yaml", "--workers", "2"],
    ],
    ids=["one-worker", "nothing-kept", "shared-store", "api-sessions-file"],
)
def test_no_warning_when_workers_share_what_they_keep(argv: list[str]) -> None:
    assert warnings_of(*argv) == []


async def test_serve_chat_warns_at_start_up_that_memory_caches_are_per_worker(
    fake: FakeOpenAI, agent_path: Path
) -> None:
    with trio.fail_after(60):
        async with open_server_process(
            "chat", str(agent_path), "--workers", "2", "--conversations-max", "10"
        ) as server:
            server.process.send_signal(signal.SIGTERM)
            assert await server.process.wait() == 0
    warning = (
        "trioagent: warning: with 2 workers and --store memory:, each worker keeps its "
        "own X-Conversation-Id conversations"
    )
    assert warning in server.startup_log
    assert server.startup_log.index(warning) < server.startup_log.index(server.startup_line)
