"""The embedded local model through the agent loop and serve chat (no upstream at all)."""

from __future__ import annotations

import pytest
import trio

from trioagent.config import parse_agent_file

pytest.importorskip("llama_cpp", reason="needs the local extra: pip install -e '.[local]'")

LOCAL = """\
agents:
  root:
    model: local/smollm2
    instruction: You are a friendly assistant. Answer in one short sentence.
"""


async def test_local_agent_answers_through_serve_chat_with_real_usage(start_server) -> None:
    file = parse_agent_file(LOCAL, source="local.yaml", env={})
    ask = {"model": "root", "messages": [{"role": "user", "content": "Name a colour."}],
           "max_tokens": 16, "seed": 7, "temperature": 0.8}
    with trio.fail_after(120):
        async with start_server(file) as server, server.openai() as client:
            first = await client.chat.completions.create(**ask)
            again = await client.chat.completions.create(**ask)
            stream = await client.chat.completions.create(
                **ask, stream=True, stream_options={"include_usage": True})
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
