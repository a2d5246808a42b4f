from __future__ import annotations

import pytest

from trioagent.models._sse import ServerSentEvent, SSEDecodeError, SSEDecoder


def decode(*chunks: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    last = decoder.close()
    return events if last is None else [*events, last]


def test_data_lines_become_events_at_blank_lines() -> None:
    assert decode(b"data: one\n\ndata: two\n\n") == [
        ServerSentEvent(data="one"),
        ServerSentEvent(data="two"),
    ]


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert decode(b"data: a\ndata:b\ndata:  c\n\n") == [ServerSentEvent(data="a\nb\n c")]


def test_event_field_names_the_event_and_resets_after_dispatch() -> None:
    events = decode(b"event: message_start\ndata: {}\n\ndata: x\n\n")
    assert [(e.event, e.data) for e in events] == [("message_start", "{}"), ("message", "x")]


def test_comments_and_unknown_fields_are_ignored() -> None:
    assert decode(b": keep-alive\n\nfoo: bar\ndata: x\n\n") == [ServerSentEvent(data="x")]


def test_event_without_data_is_not_dispatched() -> None:
    assert decode(b"event: ping\n\n") == []


def test_empty_data_line_dispatches_an_empty_event() -> None:
    assert decode(b"data\n\n") == [ServerSentEvent(data="")]


@pytest.mark.parametrize(
    "stream",
    [
        b"data: a\r\n\r\ndata: b\r\n\r\n",
        b"data: a\r\rdata: b\r\r",
        b"data: a\n\ndata: b\n\n",
        b"data: a\r\n\ndata: b\n\r\n",
    ],
    ids=["crlf", "cr", "lf", "mixed"],
)
def test_every_line_ending_is_understood(stream: bytes) -> None:
    assert [e.data for e in decode(stream)] == ["a", "b"]


def test_byte_by_byte_feeding_gives_the_same_events() -> None:
    stream = "\ufeffevent: x\r\ndata: h\u00e9llo \U0001f600\r\nid: 7\r\nretry: 30\r\n\r\n".encode()
    expected = [ServerSentEvent(event="x", data="h\u00e9llo \U0001f600", id="7", retry=30)]
    assert decode(stream) == expected
    assert decode(*(stream[i : i + 1] for i in range(len(stream)))) == expected


def test_crlf_split_between_reads_is_one_line_end() -> None:
    assert [e.data for e in decode(b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n")] == ["a", "b"]


def test_close_dispatches_an_event_missing_its_blank_line() -> None:
    assert [e.data for e in decode(b"data: x\n\ndata: [DONE]")] == ["x", "[DONE]"]


def test_id_persists_across_events() -> None:
    assert [e.id for e in decode(b"id: 1\ndata: a\n\ndata: b\n\n")] == ["1", "1"]


def test_unbounded_line_is_refused() -> None:
    decoder = SSEDecoder(max_pending=100)
    with pytest.raises(SSEDecodeError):
        decoder.feed(b"data: " + b"x" * 200)
