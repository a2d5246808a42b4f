"""The fake upstreams themselves: protocol shapes, recording, keep-alive, disconnects."""

from __future__ import annotations

import json
from functools import partial

import httpx
import openai
import pytest
import trio
import trio.testing

from trioagent.testing import (
    hang,
    open_fake_anthropic,
    open_fake_openai,
    text,
    tool_calls,
)

CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}


def sse_data(body: str) -> list[str]:
    return [line[6:] for line in body.splitlines() if line.startswith("data: ")]


async def test_openai_fake_answers_a_non_streamed_completion() -> None:
    with trio.fail_after(5):
        async with open_fake_openai() as fake, httpx.AsyncClient() as http:
            fake.enqueue(tool_calls([("call_1", "f", '{"a": 1}')], usage=(5, 2)))
            response = await http.post(f"{fake.base_url}/chat/completions", json=CHAT)
    assert response.status_code == 200
    document = response.json()
    assert document["object"] == "chat.completion"
    assert document["model"] == "gpt-test"
    [choice] = document["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"] == [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    ]
    assert document["usage"] == {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}


async def test_openai_fake_streams_usage_only_when_asked() -> None:
    with trio.fail_after(5):
        async with open_fake_openai() as fake, httpx.AsyncClient() as http:
            url = f"{fake.base_url}/chat/completions"
            plain = await http.post(url, json={**CHAT, "stream": True})
            with_usage = await http.post(
                url, json={**CHAT, "stream": True, "stream_options": {"include_usage": True}}
            )
    assert plain.headers["content-type"] == "text/event-stream"
    for response, has_usage in [(plain, False), (with_usage, True)]:
        data = sse_data(response.text)
        assert data[-1] == "[DONE]"
        chunks = [json.loads(item) for item in data[:-1]]
        assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
        assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
        assert len({chunk["id"] for chunk in chunks}) == 1
        if has_usage:
            assert chunks[-1]["choices"] == []
            assert chunks[-1]["usage"]["total_tokens"] > 0
            assert all(chunk["usage"] is None for chunk in chunks[:-1])
        else:
            assert all("usage" not in chunk for chunk in chunks)
            assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_openai_fake_records_requests_and_checks_the_key() -> None:
    with trio.fail_after(5):
        async with open_fake_openai(api_key="sk-1") as fake, httpx.AsyncClient() as http:
            url = f"{fake.base_url}/chat/completions"
            refused = await http.post(url, json=CHAT)
            accepted = await http.post(url, json=CHAT, headers={"authorization": "Bearer sk-1"})
            models = await http.get(
                f"{fake.base_url}/models", headers={"authorization": "Bearer sk-1"}
            )
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
    assert accepted.status_code == 200
    assert models.json()["data"][0]["id"] == "fake-model"
    assert [(r.method, r.path) for r in fake.requests] == [
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/models"),
    ]
    assert fake.requests[1].json == CHAT
    assert fake.requests[1].headers["authorization"] == "Bearer sk-1"


async def test_the_default_reply_answers_when_the_queue_is_empty() -> None:
    with trio.fail_after(5):
        async with open_fake_openai(default=text("default")) as fake, httpx.AsyncClient() as http:
            fake.enqueue(text("queued"))
            url = f"{fake.base_url}/chat/completions"
            answers = [(await http.post(url, json=CHAT)).json() for _ in range(3)]
    assert [a["choices"][0]["message"]["content"] for a in answers] == [
        "queued",
        "default",
        "default",
    ]
    assert fake.connections == 1  # keep-alive


async def test_a_client_hanging_up_is_counted_and_a_finished_response_is_not() -> None:
    with trio.fail_after(5):
        async with open_fake_openai() as fake, httpx.AsyncClient() as http:
            url = f"{fake.base_url}/chat/completions"
            await http.post(url, json=CHAT)
            fake.enqueue(hang())
            with trio.move_on_after(0.1):
                await http.post(url, json=CHAT)
            await fake.wait_disconnects(1)
            assert fake.disconnects == 1


async def test_the_openai_sdk_reads_the_fake_stream() -> None:
    def run_sdk(base_url: str) -> tuple[str, str]:
        client = openai.OpenAI(base_url=base_url, api_key="sk-x", max_retries=0)
        try:
            arguments = ""
            content = ""
            for chunk in client.chat.completions.create(
                model="gpt-test",
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
            ):
                delta = chunk.choices[0].delta if chunk.choices else None
                if delta and delta.content:
                    content += delta.content
                if delta and delta.tool_calls:
                    arguments += delta.tool_calls[0].function.arguments or ""  # type: ignore[union-attr]
            return content, arguments
        finally:
            client.close()

    with trio.fail_after(10):
        async with open_fake_openai() as fake:
            fake.enqueue(tool_calls([("c1", "f", '{"x": [1, 2]}')], content="Sure."))
            content, arguments = await trio.to_thread.run_sync(run_sdk, fake.base_url)
    assert (content, arguments) == ("Sure.", '{"x": [1, 2]}')


async def test_anthropic_fake_answers_in_its_own_shapes() -> None:
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    body = {"model": "claude", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    with trio.fail_after(5):
        async with open_fake_anthropic(api_key="k") as fake, httpx.AsyncClient() as http:
            url = f"{fake.base_url}/v1/messages"
            fake.enqueue(text("hello", usage=(3, 1)))
            message = await http.post(url, json=body, headers=headers)
            no_version = await http.post(url, json=body, headers={"x-api-key": "k"})
            no_key = await http.post(url, json=body)
            stream = await http.post(url, json={**body, "stream": True}, headers=headers)
    assert message.json() == {
        "id": message.json()["id"],
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [{"type": "text", "text": "hello"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }
    assert no_version.status_code == 400
    assert no_key.status_code == 401
    assert no_key.json() == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
    }
    kinds = [line[7:] for line in stream.text.splitlines() if line.startswith("event: ")]
    assert kinds == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


@pytest.mark.parametrize(
    "opener", [open_fake_openai, open_fake_anthropic], ids=["openai", "anthropic"]
)
async def test_unknown_paths_are_404(opener: object) -> None:
    with trio.fail_after(5):
        async with opener() as fake, httpx.AsyncClient() as http:  # type: ignore[operator]
            response = await http.get(f"http://127.0.0.1:{fake.port}/nope")
    assert response.status_code == 404


async def test_in_flight_counts_answers_still_being_given() -> None:
    with trio.fail_after(5):
        async with open_fake_openai() as fake, httpx.AsyncClient() as http:
            url = f"{fake.base_url}/chat/completions"
            await http.post(url, json=CHAT)
            await trio.testing.wait_all_tasks_blocked()  # the handler's last steps
            assert fake.in_flight == 0  # answered; its connection idles, kept alive
            fake.enqueue(hang())
            async with trio.open_nursery() as nursery:
                nursery.start_soon(partial(http.post, url, json=CHAT))
                await fake.wait_requests(2)
                assert fake.in_flight == 1
                nursery.cancel_scope.cancel()
            await fake.wait_disconnects(1)
            assert fake.in_flight == 0
