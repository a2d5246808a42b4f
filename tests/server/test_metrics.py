"""GET /metrics: Prometheus counters, histograms and gauges move by exactly what happened."""

from __future__ import annotations

import gc
import logging
import re
from pathlib import Path

import httpx
import trio
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from trio_websocket import open_websocket_url

from trioagent.server.ratelimit import parse_rate
from trioagent.testing import FakeOpenAI, error, hang, text

USER = [{"role": "user", "content": "hi"}]
COMPLETIONS = "/v1/chat/completions"


class Scrape:
    """One scrape of ``/metrics``, parsed with prometheus_client's own parser."""

    def __init__(self, response: httpx.Response) -> None:
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        self.families = {f.name: f for f in text_string_to_metric_families(response.text)}
        self.samples: list[Sample] = [s for f in self.families.values() for s in f.samples]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples called ``name`` whose labels include ``labels``."""
        return sum(
            sample.value
            for sample in self.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )

    def label_values(self, name: str, label: str) -> set[str]:
        return {s.labels[label] for s in self.samples if s.name == name}


async def scrape(http: httpx.AsyncClient, **headers: str) -> Scrape:
    return Scrape(await http.get("/metrics", headers=headers))


async def settled(http: httpx.AsyncClient, name: str, value: float) -> Scrape:
    """A scrape where ``name`` is ``value``: after a client goes away, the server notices a
    moment later, so this waits (under the caller's timeout) rather than racing it."""
    while True:
        found = await scrape(http)
        if found.value(name) == value:
            return found
        await trio.sleep(0.01)


async def test_completions_failures_and_timeouts_are_counted_exactly(
    start_server, fake: FakeOpenAI
) -> None:
    fake.enqueue(
        text("hello there"),
        text("streamed answer", chunks=["streamed", " answer"]),
        error(400, "the model refused"),
        hang(),
    )
    with trio.fail_after(15):
        async with (
            start_server(conversations_max=10, request_timeout=1) as server,
            server.http() as http,
        ):
            before = await scrape(http)
            plain = await http.post(
                COMPLETIONS,
                json={"model": "root", "messages": USER},
                headers={"X-Conversation-Id": "c1"},
            )
            streamed = await http.post(
                COMPLETIONS,
                headers={"X-Conversation-Id": "c2"},
                json={"model": "root", "messages": USER, "stream": True},
            )
            failed = await http.post(COMPLETIONS, json={"model": "helper", "messages": USER})
            timed_out = await http.post(COMPLETIONS, json={"model": "root", "messages": USER})
            missing = await http.get("/no/such/path")
            after = await scrape(http)
            again = await scrape(http)
    assert [r.status_code for r in (plain, streamed, failed, timed_out, missing)] == [
        200,
        200,
        502,
        504,
        404,
    ]
    assert streamed.text.endswith("data: [DONE]\n\n")

    assert before.value("trioagent_requests_total") == 0
    requests = "trioagent_requests_total"
    assert after.value(requests, route=COMPLETIONS, method="POST", status="200") == 2
    assert after.value(requests, route=COMPLETIONS, method="POST", status="502") == 1
    assert after.value(requests, route=COMPLETIONS, method="POST", status="504") == 1
    assert after.value(requests, route="other", method="GET", status="404") == 1
    assert after.value(requests, route="/metrics") == 1  # the scrape before, not itself
    assert again.value(requests, route="/metrics", method="GET", status="200") == 2
    assert after.value(requests) == 6
    assert after.label_values(requests, "route") == {COMPLETIONS, "other", "/metrics"}

    duration = "trioagent_turn_duration_seconds_count"
    assert after.value(duration, agent="root", outcome="ok") == 2
    assert after.value(duration, agent="helper", outcome="error") == 1
    assert after.value(duration, agent="root", outcome="timeout") == 1
    assert after.value(duration) == 4
    # The timed-out turn ran until its deadline, the request timeout.
    assert after.value("trioagent_turn_duration_seconds_sum", outcome="timeout") >= 1.0
    assert after.value("trioagent_time_to_first_token_seconds_count", agent="root") == 2
    assert after.value("trioagent_time_to_first_token_seconds_count") == 2
    assert (
        after.value("trioagent_upstream_errors_total", agent="helper", kind="UpstreamHTTPError")
        == 1
    )
    assert after.value("trioagent_upstream_errors_total") == 1
    assert after.value("trioagent_active_turns") == 0
    assert after.value("trioagent_active_streams") == 0
    assert before.value("trioagent_cached_conversations") == 0
    assert after.value("trioagent_cached_conversations") == 2  # c1 and c2


async def test_gauges_count_running_turns_and_open_streams(start_server, fake: FakeOpenAI) -> None:
    fake.enqueue(hang(), hang())
    with trio.fail_after(15):
        async with start_server() as server, server.http() as http:
            async with trio.open_nursery() as nursery:

                async def complete() -> None:  # cancelled below: its client goes away
                    await http.post(COMPLETIONS, json={"model": "root", "messages": USER})

                nursery.start_soon(complete)
                async with http.stream(
                    "POST", COMPLETIONS, json={"model": "root", "messages": USER, "stream": True}
                ) as stream:
                    await fake.wait_requests(2)
                    running = await scrape(http)
                    nursery.cancel_scope.cancel()  # both clients go away
            await fake.wait_disconnects(2)  # both turns were cancelled upstream
            await settled(http, "trioagent_active_turns", 0)
            after = await settled(http, "trioagent_active_streams", 0)
    assert stream.status_code == 200
    assert running.value("trioagent_active_turns") == 2
    assert running.value("trioagent_active_streams") == 1
    assert after.value("trioagent_active_turns") == 0
    assert after.value("trioagent_active_streams") == 0
    assert after.value("trioagent_turn_duration_seconds_count", outcome="cancelled") == 2
    assert "trioagent_cached_conversations" not in after.families  # no store: no gauge


async def test_serve_api_counts_sessions_and_uses_route_templates(
    start_server, fake: FakeOpenAI
) -> None:
    fake.default = text("ok")
    with trio.fail_after(15):
        async with start_server(api="api") as server, server.http() as http:
            for session_id in ("s1", "s2", "s3"):
                reply = await http.post(
                    "/api/chat", json={"message": "hi", "session_id": session_id}
                )
                assert reply.status_code == 200
            streamed = await http.post(
                "/api/chat", json={"message": "more", "session_id": "s3", "stream": True}
            )
            three = await scrape(http)
            assert (await http.delete("/api/sessions/s1")).status_code == 204
            assert (await http.get("/api/sessions/s2")).status_code == 200
            assert (await http.get("/api/sessions/nobody")).status_code == 404
            two = await scrape(http)
    assert streamed.status_code == 200
    assert three.value("trioagent_cached_conversations") == 3
    assert two.value("trioagent_cached_conversations") == 2
    session = "/api/sessions/<session_id>"
    requests = "trioagent_requests_total"
    assert two.value(requests, route="/api/chat", method="POST", status="200") == 4
    assert two.value(requests, route=session, method="DELETE", status="204") == 1
    assert two.value(requests, route=session, method="GET", status="200") == 1
    assert two.value(requests, route=session, method="GET", status="404") == 1
    assert two.value("trioagent_turn_duration_seconds_count", outcome="ok") == 4
    assert two.value("trioagent_active_streams") == 0


async def test_metrics_need_the_api_key_but_no_rate_limit(start_server) -> None:
    auth = {"Authorization": "Bearer k"}
    with trio.fail_after(15):
        async with (
            start_server(api_keys=("k",), rate_limit=parse_rate("2/min")) as server,
            server.http() as http,
        ):
            refused = await http.get("/metrics", headers={"X-Request-Id": "scrape-1"})
            scrapes = [await http.get("/metrics", headers=auth) for _ in range(5)]
            models = [await http.get("/v1/models", headers=auth) for _ in range(3)]
            last = await scrape(http, **auth)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert refused.headers["X-Request-Id"] == "scrape-1"
    assert [r.status_code for r in scrapes] == [200] * 5
    assert [r.status_code for r in models] == [200, 200, 429]
    requests = "trioagent_requests_total"
    assert last.value(requests, route="/metrics", status="401") == 1
    assert last.value(requests, route="/metrics", status="200") == 5
    assert last.value(requests, route="/v1/models", status="429") == 1


async def test_websocket_connections_are_open_streams(start_server) -> None:
    with trio.fail_after(15):
        async with start_server() as server, server.http() as http:
            ws_url = server.url.replace("http://", "ws://") + "/v1/ws"
            async with open_websocket_url(ws_url) as socket:
                await socket.send_message('{"type": "ping"}')
                assert '"pong"' in await socket.get_message()
                during = await scrape(http)
            after = await settled(http, "trioagent_active_streams", 0)
    assert during.value("trioagent_active_streams") == 1
    assert after.value("trioagent_active_streams") == 0
    assert after.value("trioagent_requests_total", route="/v1/ws", method="GET", status="101") == 1


async def test_every_answer_carries_a_request_id_and_is_counted(start_server) -> None:
    auth = {"Authorization": "Bearer k"}
    with trio.fail_after(15):
        async with (
            start_server(
                api_keys=("k",), max_request_size=1024, rate_limit=parse_rate("5/min")
            ) as server,
            server.http() as http,
        ):
            answers = {
                401: await http.get("/v1/models"),
                404: await http.get("/v1/models/nobody", headers=auth),
                405: await http.delete("/v1/models", headers=auth),
                415: await http.post(COMPLETIONS, headers=auth, content=b"{}"),
                400: await http.post(COMPLETIONS, headers=auth, json={"model": "root"}),
                413: await http.post(
                    COMPLETIONS, headers=auth, json={"model": "root", "messages": USER * 100}
                ),
            }
            answers[429] = await http.get("/v1/models", headers=auth)
            chosen = await http.get("/v1/models/nobody", headers={**auth, "X-Request-Id": "r-9"})
            counted = await scrape(http, **auth)
    ids = [response.headers["X-Request-Id"] for response in answers.values()]
    assert [response.status_code for response in answers.values()] == list(answers)
    assert len(set(ids)) == len(ids)
    assert chosen.status_code == 429  # still over the rate limit
    assert chosen.headers["X-Request-Id"] == "r-9"
    requests = "trioagent_requests_total"
    assert counted.value(requests, route="/v1/models/<path:model>", status="404") == 1
    assert counted.value(requests, route="/v1/models", method="DELETE", status="405") == 0
    assert counted.value(requests, route="other", method="DELETE", status="405") == 1
    assert counted.value(requests, route=COMPLETIONS, status="413") == 1
    assert counted.value(requests, route="/v1/models", status="429") == 1


async def test_the_documented_metrics_are_the_served_ones(start_server, fake: FakeOpenAI) -> None:
    doc = (Path(__file__).parents[2] / "docs" / "observability.md").read_text()
    documented = set(
        re.findall(r"^\| `((?:trioagent|process|python)_\w+)` \|", doc, flags=re.MULTILINE)
    )
    fake.enqueue(text("hi"), error(400))  # labelled series appear once they count
    with trio.fail_after(15):
        async with start_server(api="api") as server, server.http() as http:
            assert (await http.post("/api/chat", json={"message": "hi"})).status_code == 200
            assert (await http.post("/api/chat", json={"message": "hi"})).status_code == 500
            served = await scrape(http)
    names = {s.name for s in served.samples if not s.name.endswith("_created")}
    families = {re.sub(r"_(bucket|count|sum)$", "", name) for name in names}
    assert documented == families


async def test_the_process_series_show_its_cpu_memory_connections_and_collections(
    start_server,
) -> None:
    """The process's own series read the process as it is: CPU used, memory held, the
    connection the scrape came on, and the collector's runs as `gc` counts them."""
    with trio.fail_after(15):
        async with start_server() as server, server.http() as http:
            before = await scrape(http)
            gc.collect()  # one more run of every generation, then scrape again
            after = await scrape(http)
    assert before.value("process_cpu_seconds_total") > 0
    assert before.value("process_resident_memory_bytes") > 10 * 1024 * 1024
    assert 1 <= before.value("process_open_fds") <= before.value("process_max_fds")
    runs = "python_gc_collections_total"
    assert before.label_values(runs, "generation") == {"0", "1", "2"}
    assert after.value(runs, generation="2") >= before.value(runs, generation="2") + 1


async def test_clients_leaving_mid_stream_are_cancelled_turns_not_internal_errors(
    start_server, fake: FakeOpenAI, caplog
) -> None:
    """A client that hangs up while the answer flows stops its turn: counted as cancelled,
    never as failed, and nothing logged as an error (the turn's producer, waiting to hand
    over its next event, must see the cancellation, not the closed channel's error)."""
    leavers = 8  # on SSE, then on the WebSocket
    for _ in range(2 * leavers):  # an answer that lasts seconds: the client leaves first
        fake.enqueue(text("word " * 400, chunk_delay=0.005))
    body = {"model": "root", "messages": USER, "stream": True}
    with trio.fail_after(30):
        async with start_server() as server, server.http() as http:
            for _ in range(leavers):
                async with (
                    server.http() as leaver,
                    leaver.stream("POST", "/v1/chat/completions", json=body) as response,
                ):
                    async for line in response.aiter_lines():
                        if "word" in line:
                            break  # the answer is flowing: hang up
            ws_url = server.url.replace("http://", "ws://") + "/v1/ws"
            for _ in range(leavers):
                async with open_websocket_url(ws_url) as socket:
                    await socket.send_message('{"type": "hello"}')
                    await socket.get_message()  # ready
                    await socket.send_message('{"type": "message", "text": "hi"}')
                    while '"delta"' not in await socket.get_message():
                        pass  # the answer is flowing: hang up
            found = await settled(http, "trioagent_active_turns", 0)
    assert found.value("trioagent_turn_duration_seconds_count", outcome="cancelled") == 2 * leavers
    assert found.value("trioagent_turn_duration_seconds_count", outcome="error") == 0
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
