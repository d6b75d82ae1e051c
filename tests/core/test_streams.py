"""A stream's span ends exactly once, however the stream ends, and nothing is left attached."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

from opentelemetry import context as otel_context
from opentelemetry.trace import StatusCode

import tracewrap
from tests.core.helpers import MESSAGES, async_client, attrs, sync_client
from tracewrap.interception import streams
from tracewrap.testing import Scenario

LONG = Scenario(text=" ".join(f"w{i}" for i in range(40)))


def _outcome(telemetry) -> str:
    return attrs(telemetry.one_span())["tracewrap.stream.outcome"]


def test_break_ends_span_without_error(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    server.enqueue(LONG)
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    for i, _ in enumerate(stream):
        if i == 3:
            break
    assert telemetry.spans() == []  # still open: the user may go on reading
    stream.close()
    span = telemetry.one_span()
    assert attrs(span)["tracewrap.stream.outcome"] == "closed_early"
    assert attrs(span)["tracewrap.stream.chunks"] == 4
    assert span.status.status_code is StatusCode.UNSET


def test_with_block_exit_ends_span(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    server.enqueue(LONG)
    with client.responses.create(model="m", input="hi", stream=True) as stream:
        next(iter(stream))
    assert _outcome(telemetry) == "closed_early"


def test_helper_break_then_exit_ends_span(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    server.enqueue(LONG)
    with client.chat.completions.stream(model="m", messages=MESSAGES) as stream:
        for event in stream:
            if event.type == "content.delta":
                break
    assert _outcome(telemetry) == "closed_early"


def test_abandoned_stream_is_ended_when_collected(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    server.enqueue(LONG, LONG)
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    next(stream)
    del stream
    gc.collect()
    never_read = client.responses.create(model="m", input="hi", stream=True)
    del never_read
    gc.collect()
    tracewrap.flush()
    outcomes = [attrs(s)["tracewrap.stream.outcome"] for s in telemetry.spans()]
    assert outcomes == ["abandoned", "abandoned"]
    assert all(s.status.status_code is StatusCode.UNSET for s in telemetry.spans())


def test_async_break_and_abandon(server, telemetry) -> None:
    client = async_client(server, telemetry)

    async def scenario() -> None:
        server.enqueue(LONG, LONG)
        async with await client.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream:
            async for _ in stream:
                break
        stream = await client.responses.create(model="m", input="hi", stream=True)
        await stream.__anext__()
        del stream
        gc.collect()

    asyncio.run(scenario())
    tracewrap.flush()
    outcomes = sorted(attrs(s)["tracewrap.stream.outcome"] for s in telemetry.spans())
    assert outcomes == ["abandoned", "closed_early"]


def test_cut_stream_is_visible(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    server.enqueue(Scenario(outcome="cut"))
    raised: Exception | None = None
    try:
        for _ in client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
            pass
    except Exception as exc:  # 3.x: openai.APIConnectionError; 1.x/2.x: httpx.RemoteProtocolError
        raised = exc
    span = telemetry.one_span()
    assert span.status.status_code is StatusCode.ERROR
    if raised is None:  # the stream just stopped: no terminal chunk, no [DONE]
        assert attrs(span)["tracewrap.stream.outcome"] == "incomplete"
    else:  # the user saw the SDK's own exception; the span names it
        assert attrs(span)["tracewrap.stream.outcome"] == "error"
        assert attrs(span)["error.type"] == type(raised).__name__
    assert "gen_ai.response.finish_reasons" not in attrs(span)


def test_no_context_left_attached(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    before = otel_context.get_current()
    server.enqueue(LONG)
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert otel_context.get_current() == before
    for _ in stream:
        assert otel_context.get_current() == before
    client.responses.create(model="m", input="hi")
    assert otel_context.get_current() == before


def test_stream_memory_is_flat_with_content_capture_off(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    server.enqueue(Scenario(text="x " * 3000, chunks=3000))
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    first = next(stream)
    tracemalloc.start()
    for i, _chunk in enumerate(stream):
        if i == 200:
            early, _ = tracemalloc.get_traced_memory()
    late, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert first is not None
    # 2,800 more chunks must not grow what is held: aggregation keeps scalars only
    assert late - early < 64 * 1024, (early, late)
    assert attrs(telemetry.one_span())["tracewrap.stream.chunks"] >= 3000


def test_a_stream_that_ended_runs_no_tracewrap_code_when_freed(server, telemetry, monkeypatch) -> None:
    """The weak reference that notices a dropped stream goes when the stream ends, callback and all:
    freeing an ended stream runs nothing of tracewrap's; freeing one that never ended still does."""
    freed: list[object] = []
    original = streams._stream_freed

    def spy(watch: object) -> None:
        freed.append(watch)
        original(watch)

    monkeypatch.setattr(streams, "_stream_freed", spy)
    client = sync_client(server, telemetry)
    server.enqueue(LONG, LONG)
    read = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert len(list(read)) > 2
    del read
    gc.collect()
    assert freed == []
    dropped = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    next(dropped)
    del dropped
    gc.collect()
    tracewrap.flush()
    assert len(freed) == 1
    outcomes = [attrs(s)["tracewrap.stream.outcome"] for s in telemetry.spans()]
    assert outcomes == ["completed", "abandoned"]
