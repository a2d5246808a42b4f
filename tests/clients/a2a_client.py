"""The official A2A client (a2a-sdk) against a running ``trioagent serve a2a``.

The a2a-sdk client runs on asyncio, so tests run this script in its own process (see
tests/server/test_serve_a2a.py): ``python a2a_client.py BASE_URL SCENARIO [API_KEY]``. It
prints one JSON object per line: each result as the SDK parsed it (protobuf -> JSON), or
``{"error": CLASS, "message": ...}`` for what the SDK raised.

Scenarios:
  card      resolve the agent card
  send      send a message without streaming; again in its context; get and list the tasks
  stream    stream a message, printing every event
  cancel    stream a message; after its first event, read a line on stdin, then cancel the
            task and print the answer, then the rest of the stream
  legacy    as a 0.3 client (the SDK's compat transport, chosen by the card's 0.3 interface):
            send a message, stream one in its context, get the task, cancel the ended task
"""

from __future__ import annotations

import asyncio  # noqa: TID251 (the a2a-sdk client runs on asyncio; trioagent does not)
import json
import sys
import uuid
from typing import Any

import httpx
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.types import a2a_pb2 as pb
from google.protobuf import json_format


def emit(value: Any) -> None:
    if not isinstance(value, dict):
        value = json_format.MessageToDict(value)
    print(json.dumps(value), flush=True)


def message(text: str, context_id: str | None = None) -> pb.SendMessageRequest:
    return pb.SendMessageRequest(
        message=pb.Message(
            message_id=str(uuid.uuid4()),
            role=pb.ROLE_USER,
            parts=[pb.Part(text=text)],
            context_id=context_id or "",
        )
    )


async def scenario(base_url: str, name: str, http: httpx.AsyncClient) -> None:
    card = await A2ACardResolver(http, base_url).get_agent_card()
    if name == "card":
        emit(card)
        return
    if name == "legacy":
        await legacy(card, http)
        return
    streaming = name != "send"
    client = ClientFactory(ClientConfig(httpx_client=http, streaming=streaming)).create(card)
    if name == "send":
        [first] = [event async for event in client.send_message(message("Hello"))]
        emit(first)
        context = first.task.context_id
        [second] = [event async for event in client.send_message(message("Again", context))]
        emit(second)
        emit(await client.get_task(pb.GetTaskRequest(id=first.task.id)))
        emit(await client.list_tasks(pb.ListTasksRequest(context_id=context)))
        return
    events = client.send_message(message("Go on"))
    async for event in events:
        emit(event)
        if name == "cancel" and event.HasField("task"):
            await asyncio.to_thread(sys.stdin.readline)  # the test says when
            emit(await client.cancel_task(pb.CancelTaskRequest(id=event.task.id)))


async def legacy(card: pb.AgentCard, http: httpx.AsyncClient) -> None:
    v1 = [i for i in card.supported_interfaces if i.protocol_version == "1.0"]
    for interface in v1:
        card.supported_interfaces.remove(interface)
    sender = ClientFactory(ClientConfig(httpx_client=http, streaming=False)).create(card)
    [sent] = [event async for event in sender.send_message(message("Hello"))]
    emit(sent)
    streamer = ClientFactory(ClientConfig(httpx_client=http)).create(card)
    async for event in streamer.send_message(message("Again", sent.task.context_id)):
        emit(event)
    emit(await sender.get_task(pb.GetTaskRequest(id=sent.task.id)))
    try:
        await sender.cancel_task(pb.CancelTaskRequest(id=sent.task.id))
    except Exception as exc:
        emit({"error": type(exc).__name__, "message": str(exc)})


async def main(base_url: str, name: str, api_key: str | None) -> None:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        try:
            await scenario(base_url, name, http)
        except Exception as exc:
            emit({"error": type(exc).__name__, "message": str(exc)})


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None))
