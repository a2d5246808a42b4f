from __future__ import annotations

import trio

from trioagent.testing import FakeOpenAI, text


async def test_plain_completion_with_openai_sdk(server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Hello there", usage=(7, 3)))
    with trio.fail_after(10):
        async with server.openai() as client:
            completion = await client.chat.completions.create(
                model="root", messages=[{"role": "user", "content": "hi"}]
            )
    assert completion.choices[0].message.content == "Hello there"
    assert completion.usage is not None
    assert completion.usage.total_tokens == 10


async def test_stream_with_openai_sdk(server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Hello there", chunks=["Hel", "lo", " there"], usage=(7, 3)))
    with trio.fail_after(10):
        async with server.openai() as client:
            stream = await client.chat.completions.create(
                model="root", messages=[{"role": "user", "content": "hi"}], stream=True,
                stream_options={"include_usage": True},
            )
            chunks = [chunk async for chunk in stream]
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == "Hello there"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 10
