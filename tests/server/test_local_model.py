"""The embedded local model through the agent loop and serve chat (no upstream at all)."""

from __future__ import annotations

import signal

import httpx
import trio
from local_model import require_local_model

from trioagent.config import parse_agent_file
from trioagent.testing import open_server_process

require_local_model()

LOCAL = """\
agents:
  root:
    model: local/smollm2
    instruction: You are a friendly assistant. Answer in one short sentence.
"""


async def test_local_agent_answers_through_serve_chat_with_real_usage(start_server) -> None:
    file = parse_agent_file(LOCAL, source="local.yaml", env={})
    ask = {
        "model": "root",
        "messages": [{"role": "user", "content": "Name a colour."}],
        "max_tokens": 16,
        "seed": 7,
        "temperature": 0.8,
    }
    with trio.fail_after(120):
        async with start_server(file) as server, server.openai() as client:
            first = await client.chat.completions.create(**ask)
            again = await client.chat.completions.create(**ask)
            stream = await client.chat.completions.create(
                **ask, stream=True, stream_options={"include_usage": True}
            )
            chunks = [chunk async for chunk in stream]
    text = first.choices[0].message.content
    assert text
    assert first.usage is not None
    assert first.usage.prompt_tokens > 0
    assert 0 < first.usage.completion_tokens <= 16
    assert again.choices[0].message.content == text  # a fixed seed repeats
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == text
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == first.usage.total_tokens


async def test_sigterm_while_generations_run_cancels_them_and_exits_0(tmp_path) -> None:
    agent = tmp_path / "agent.yaml"
    agent.write_text(LOCAL)
    ask = {
        "model": "root",
        "stream": True,
        "max_tokens": 2000,
        "messages": [{"role": "user", "content": "Write a very long story."}],
    }
    streaming = 0
    all_streaming = trio.Event()
    ended: list[str] = []

    async def stream(client: httpx.AsyncClient) -> None:
        nonlocal streaming
        try:
            async with client.stream("POST", "/v1/chat/completions", json=ask) as response:
                assert response.status_code == 200
                counted = False
                async for line in response.aiter_lines():
                    if '"content"' in line and not counted:
                        counted = True
                        streaming += 1
                        if streaming == 4:
                            all_streaming.set()
            ended.append("closed")
        except httpx.HTTPError:
            ended.append("cut")

    with trio.fail_after(120):
        async with open_server_process("chat", str(agent), "--shutdown-grace", "1s") as server:
            assert server.process.stderr is not None
            log = bytearray()

            async def drain() -> None:
                async for data in server.process.stderr:
                    log.extend(data)

            async with (
                trio.open_nursery() as nursery,
                httpx.AsyncClient(base_url=server.base_url, timeout=None) as client,
            ):
                nursery.start_soon(drain)
                async with trio.open_nursery() as streams:
                    for _ in range(4):
                        streams.start_soon(stream, client)
                    await all_streaming.wait()
                    server.process.send_signal(signal.SIGTERM)
                returncode = await server.process.wait()
    assert len(ended) == 4
    assert returncode == 0, log.decode()
    assert "Traceback" not in log.decode()
    assert "SIGTERM received" in log.decode()
