"""The raw-body SSE reader against the SDK's own decoder: the same events from the same bytes.

A stream read raw (``iter_lines()``, ``iter_bytes()``, ``read()``) is decoded by
``interception.raw_body.SSEReader`` as the bytes pass, in whatever pieces the transport hands over.
The reference is the installed SDK's ``SSEDecoder`` fed the whole body at once, read as its
``Stream`` reads it: events up to the first ``[DONE]``, each data that parses as JSON.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai._streaming import SSEDecoder

from tracewrap.interception import raw_body
from tracewrap.interception.raw_body import SSEReader

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def sdk_events(body: bytes) -> list[Any]:
    """What the SDK's ``Stream`` yields from ``body``, as JSON values."""
    found = []
    for sse in SSEDecoder().iter_bytes(iter([body])):
        if sse.data.startswith("[DONE]"):
            break
        try:
            found.append(json.loads(sse.data))
        except ValueError:
            continue
    return found


def read_in_pieces(body: bytes, cuts: list[int]) -> list[Any]:
    events: list[Any] = []
    reader = SSEReader(events.append)
    start = 0
    for cut in sorted(cuts):
        reader.feed(body[start:cut])
        start = cut
    reader.feed(body[start:])
    reader.close()
    return events


def as_json(events: list[Any]) -> str:
    return json.dumps(events)  # NaN as NaN on both sides (json.loads reads the bare word)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
# no CR or LF inside a line; other characters str.splitlines would break on (\x0b, \x85, \u2028) stay
line_text = st.text(
    alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]), max_size=8
)
payloads = st.one_of(
    json_values.map(json.dumps), line_text, st.sampled_from(["[DONE]", "[DONE] and more", "", " {}"])
)
lines = st.one_of(
    payloads.map(lambda p: f"data: {p}"),
    payloads.map(lambda p: f"data:{p}"),
    st.sampled_from(["data", "event: response.created", "event", ": keep-alive", "id: 7", "retry: 10"]),
    line_text,
    st.just(""),  # a blank line: the end of an event
)
line_ends = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def bodies_and_cuts(draw: Any) -> tuple[bytes, list[int]]:
    parts = draw(st.lists(st.tuples(lines, line_ends), max_size=16))
    text = "".join(line + end for line, end in parts)
    if parts and draw(st.booleans()):
        text = text[: -len(parts[-1][1])]  # the body ends inside its last line
    body = text.encode()
    cuts = draw(st.lists(st.integers(min_value=0, max_value=len(body)), max_size=8))
    return body, cuts


@PROPERTY
@given(bodies_and_cuts())
def test_the_reader_finds_the_sdks_events_whatever_the_pieces(body_and_cuts: tuple[bytes, list[int]]) -> None:
    body, cuts = body_and_cuts
    assert as_json(read_in_pieces(body, cuts)) == as_json(sdk_events(body))


@PROPERTY
@given(st.binary(max_size=200), st.lists(st.integers(min_value=0, max_value=200), max_size=8))
def test_any_bytes_are_read_without_raising(body: bytes, cuts: list[int]) -> None:
    """From the wire: survived silently. Where the SDK can decode the bytes, the same events."""
    events = read_in_pieces(body, [min(cut, len(body)) for cut in cuts])
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return  # the SDK's own iteration raises on these bytes; the reader only must not
    assert as_json(events) == as_json(sdk_events(body))


@pytest.mark.parametrize(
    ("pieces", "expected"),
    [
        ([b'data: {"a": 1}\r', b"\n\r\n"], [{"a": 1}]),  # a CRLF split across two pieces
        ([b'data: {"a": 1}\r\r', b'data: {"b": 2}\r\r'], [{"a": 1}, {"b": 2}]),  # lone CRs
        ([b'data: {"a": 1}\n\n', b'data: {"b": 2}\n'], [{"a": 1}]),  # unfinished at the end: dropped
        ([b"data: [DONE]\n\n", b'data: {"b": 2}\n\n'], []),  # nothing after [DONE]
        ([b"data: [1,\n", b"data: 2]\n\n"], [[1, 2]]),  # data lines joined with LF
        ([b": ping\n", b"event: x\nid: 1\n\n", b"data\n\n"], []),  # no data, or empty data: no event
        ([b"data: \x001\x002\n\n"], []),  # NUL bytes: not JSON (bytes alone would read as UTF-16)
    ],
)
def test_examples(pieces: list[bytes], expected: list[Any]) -> None:
    events: list[Any] = []
    reader = SSEReader(events.append)
    for piece in pieces:
        reader.feed(piece)
    reader.close()
    assert events == expected
    assert events == sdk_events(b"".join(pieces))


def test_a_line_without_an_end_is_held_only_up_to_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that never ends a line: the reader drops it (and its event) past MAX_BODY bytes,
    and reads the events after it."""
    monkeypatch.setattr(raw_body, "MAX_BODY", 1000)
    events: list[Any] = []
    reader = SSEReader(events.append)
    reader.feed(b'data: {"kept": 1}\n\ndata: "')
    for _ in range(50):
        reader.feed(b"x" * 100)
        assert sum(len(piece) for piece in reader._pending) <= 1000
    reader.feed(b'"\n\ndata: {"after": 2}\n\n')
    reader.close()
    assert events == [{"kept": 1}, {"after": 2}]


def test_an_event_whose_data_never_ends_is_held_only_up_to_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Data lines with no blank line after them: the raw reader (whose user holds one line at a
    time) keeps at most MAX_BODY bytes of them, drops that event, and reads the next one."""
    monkeypatch.setattr(raw_body, "MAX_BODY", 1000)
    events: list[Any] = []
    reader = SSEReader(events.append)
    for _ in range(200):
        reader.feed(b'data: "xxxxxxxxxx"\n')
        assert sum(len(line) for line in reader._data) <= 1000
    reader.feed(b'\ndata: {"after": 2}\n\n')
    reader.close()
    assert events == [{"after": 2}]
