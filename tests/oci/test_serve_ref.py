"""Agents by registry reference where an agent file is accepted: `serve chat REF`,
`run REF`, and `sub_agents` entries; and the offline cache at startup."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import trio

from trioagent import __version__
from trioagent.config import load_agent_file
from trioagent.oci import agent_fetcher, push
from trioagent.testing import FakeOpenAI, open_fake_openai, text
from trioagent.testing.process import open_server_process

from .conftest import Registry

PIRATE = """\
agents:
  captain:
    model: upstream
    description: Talks like a pirate
    instruction: Arr.
models:
  upstream: {{provider: openai, model: gpt-pirate, base_url: "{base_url}"}}
"""
USER = [{"role": "user", "content": "hello"}]


def process_env(env: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TRIOAGENT_")}
    return base | env | {"OPENAI_API_KEY": "unused"}


async def ask(url: str, fake: FakeOpenAI, answer: str) -> str | None:
    fake.enqueue(text(answer))
    async with openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0) as client:
        reply = await client.chat.completions.create(model="captain", messages=USER)
    return reply.choices[0].message.content


async def test_serve_chat_by_reference_then_offline_from_the_cache(
    registry: Registry, env: dict[str, str], tmp_path: Path
) -> None:
    async with open_fake_openai() as fake:
        ref = registry.ref("team/pirate:1.0")
        push(PIRATE.format(base_url=fake.base_url), ref, version=__version__, insecure=True)
        args = ("chat", ref, "--insecure-registry", "--working-dir", str(tmp_path))
        with trio.fail_after(60):
            async with open_server_process(*args, env=process_env(env)) as server:
                assert "models: captain" in server.startup_line
                assert await ask(server.url, fake, "Arr, hello.") == "Arr, hello."
            registry.stop()
            async with open_server_process(*args, env=process_env(env)) as server:
                assert await ask(server.url, fake, "Still here.") == "Still here."
        assert "registry unreachable, using the cached copy of" in server.startup_log
    assert fake.requests[0].json["model"] == "gpt-pirate"


def test_run_by_reference_with_no_registry_and_no_cache(
    registry: Registry, env: dict[str, str], tmp_path: Path
) -> None:
    registry.stop()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "trioagent",
            "run",
            registry.ref("team/gone:1"),
            "hi",
            "--insecure-registry",
        ],
        env=process_env(env),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith(
        f"trioagent: error: {registry.ref('team/gone:1')} is not "
        "a local file, and pulling it from a registry failed:"
    )
    assert "no cached copy" in done.stderr
    assert "Traceback" not in done.stderr


async def test_sub_agent_by_reference(
    registry: Registry, env: dict[str, str], tmp_path: Path
) -> None:
    ref = registry.ref("team/pirate:1.0")
    push(PIRATE.format(base_url="http://127.0.0.1:9/v1"), ref, version=__version__, insecure=True)
    main = tmp_path / "team.yaml"
    main.write_text(f"""\
agents:
  root:
    model: openai/gpt-4o
    sub_agents: [{ref}]
""")
    file = load_agent_file(main, env=env, fetch=agent_fetcher(insecure=True, env=env))
    assert list(file.agents) == ["root", "pirate"]
    assert file.agents["root"].sub_agents == ("pirate",)
    assert file.agents["pirate"].instruction == "Arr."
    assert file.model_of("pirate").model == "gpt-pirate"


def test_unreachable_sub_agent_points_at_its_line(
    registry: Registry, env: dict[str, str], tmp_path: Path
) -> None:
    ref = registry.ref("team/missing:1.0")
    main = tmp_path / "team.yaml"
    main.write_text(f"agents:\n  root:\n    model: openai/gpt-4o\n    sub_agents:\n      - {ref}\n")
    try:
        load_agent_file(main, env=env, fetch=agent_fetcher(insecure=True, env=env))
    except Exception as exc:
        message = str(exc)
    else:
        raise AssertionError("loading should fail")
    assert message.startswith(f"{main}:5: agents.root.sub_agents[0]: cannot load sub-agent")
    assert "team/missing" in message


async def test_serve_api_by_reference(
    registry: Registry, env: dict[str, str], tmp_path: Path
) -> None:
    async with open_fake_openai() as fake:
        ref = registry.ref(
            "team/pirate@"
            + push(
                PIRATE.format(base_url=fake.base_url),
                registry.ref("team/pirate:2.0"),
                version=__version__,
                insecure=True,
            )
        )
        fake.enqueue(text("Aye."))
        with trio.fail_after(60):
            async with (
                open_server_process(
                    "api",
                    ref,
                    "--insecure-registry",
                    "--sessions",
                    ":memory:",
                    "--working-dir",
                    str(tmp_path),
                    env=process_env(env),
                ) as server,
                httpx.AsyncClient(timeout=30) as client,
            ):
                reply = await client.post(server.url, json={"message": "hi"})
    assert reply.status_code == 200
    assert reply.json()["message"] == "Aye."
