"""Nothing of tracewrap's runs inside the garbage collector but a queue append.

Why: on Python 3.10/3.11 the cyclic GC runs inside whatever allocation crosses its threshold, also
the one inside ``ContextVar.set``. A span ended from a finalizer there reaches
``SimpleSpanProcessor.on_end``, whose ``attach()`` / ``detach()`` replace the context's map while the
interrupted ``set`` still walks the old one (CPython gh-148891: a segfault, or the soak's
``MemoryError`` inside ``ContextVar.set``). The reproduction outside tracewrap is
``shared/repro/contextvar_gc_crash.py``; ``docs/gc-safety.md`` tells the story.

These tests drop half-read streams in reference cycles (so only the GC frees them), watch every GC
pass through ``gc.callbacks`` and count what happens while one is running: OpenTelemetry context
attaches and detaches, span ends, metric points. All must be 0: the ends are queued and carried out
later, at a safe point, with the time the stream was last used.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

import tracewrap
from tracewrap.telemetry import deferred
from tracewrap.testing import Scenario
from tracewrap.testing.mock_client import http_library

from .helpers import API_KEY, MESSAGES, GcWatch, Pipeline, watching_gc

LONG = Scenario(text=" ".join(f"w{i}" for i in range(30)))
STREAMS = 40


class EndWatch(SpanProcessor):
    def __init__(self, watch: GcWatch) -> None:
        self.watch = watch

    def on_end(self, span: ReadableSpan) -> None:
        self.watch.span_ends += self.watch.in_gc
        self.watch.span_ends_total += 1


@pytest.fixture
def watch() -> Iterator[GcWatch]:
    with watching_gc() as watch:
        yield watch


def _client(server: Any, pipe: Pipeline) -> openai.OpenAI:
    client = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    return tracewrap.wrap(client, **pipe.kwargs())


def _abandon_in_cycle(client: Any, responses: bool) -> None:
    if responses:
        stream = client.responses.create(model="m", input="hi", stream=True)
    else:
        stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    next(iter(stream))
    stream.cycle = stream  # only the cyclic GC can free it now, with its generator
    del stream
    # Collected here, at a point of the test's choosing: an automatic pass inside httpcore's pool
    # (which holds a plain Lock) would close httpx's generator there and deadlock, with or without
    # tracewrap (openai 1.x/2.x; docs/gc-safety.md). What counts is what runs inside the pass.
    gc.collect()


def test_gc_only_queues_ends(server, pipe: Pipeline, watch: GcWatch) -> None:
    pipe.tracer_provider.add_span_processor(EndWatch(watch))
    client = _client(server, pipe)
    for i in range(STREAMS):
        server.enqueue(LONG)
        _abandon_in_cycle(client, responses=i % 2 == 1)
    dropped_at = time.time_ns()
    time.sleep(0.2)
    gc.collect()
    assert watch.passes >= STREAMS
    # what a GC pass did: nothing but queue (both were > 0 when the finalizer ended spans); the ends
    # queued by automatic passes during the loop were carried out at the next call's start
    assert (watch.context_changes, watch.span_ends) == (0, 0)
    tracewrap.flush()
    spans = pipe.traced_spans()
    assert len(spans) == STREAMS
    assert {span.attributes["tracewrap.stream.outcome"] for span in spans} == {"abandoned"}
    assert watch.span_ends_total == STREAMS and watch.span_ends == 0
    # a span ends when its stream was last used, not when the GC (or the queue) got to it
    assert all(span.end_time is not None and span.end_time <= dropped_at for span in spans)
    durations = [p for name, p in pipe.metric_points() if name == "gen_ai.client.operation.duration"]
    assert sum(p.count for p in durations) == STREAMS
    assert sum(p.sum for p in durations) < STREAMS * 0.2  # none carries the 0.2 s the GC waited


def test_next_call_ends_what_the_gc_queued(
    server, pipe: Pipeline, watch: GcWatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the background drain, due within 0.5 s, could end it first (it did once, in a loaded CI run)
    monkeypatch.setattr(deferred, "background_drain", False)
    client = _client(server, pipe)
    server.enqueue(LONG)
    _abandon_in_cycle(client, responses=False)
    assert pipe.traced_spans() == []
    server.enqueue(Scenario())
    client.chat.completions.create(model="m", messages=MESSAGES)  # a safe point: the queue drains first
    outcomes = [span.attributes.get("tracewrap.stream.outcome") for span in pipe.traced_spans()]
    assert outcomes == ["abandoned", None]
    assert watch.context_changes == 0


def test_a_quiet_process_still_ends_them(server, pipe: Pipeline) -> None:
    """No further call and no flush: the draining thread ends the span within a second or so."""
    client = _client(server, pipe)
    server.enqueue(LONG)
    _abandon_in_cycle(client, responses=True)
    deadline = time.monotonic() + 5
    while not pipe.traced_spans() and time.monotonic() < deadline:
        time.sleep(0.05)
    (span,) = pipe.traced_spans()
    assert span.attributes["tracewrap.stream.outcome"] == "abandoned"


def test_a_fork_child_drains_with_its_own_thread(server, pipe: Pipeline) -> None:
    """The draining thread does not survive a fork: the child starts its own at its first stream,
    and a stream it drops is still ended with no further call."""
    client = _client(server, pipe)
    server.enqueue(Scenario())
    list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))  # parent's drainer
    assert deferred._drainer_running
    server.enqueue(LONG)
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code, never return into pytest
        code = 3
        try:
            code = 2 if deferred._drainer_running else 0  # forgotten at the fork
            if code == 0:
                before = len(pipe.traced_spans())
                _abandon_in_cycle(client, responses=False)
                deadline = time.monotonic() + 5
                while len(pipe.traced_spans()) == before and time.monotonic() < deadline:
                    time.sleep(0.05)
                ended = pipe.traced_spans()[before:]
                outcome = [span.attributes.get("tracewrap.stream.outcome") for span in ended]
                code = 0 if outcome == ["abandoned"] and deferred._drainer_running else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


class _WaitsInsideTheCollection:
    """A finalizer that holds another thread's collection open until told to finish."""

    def __init__(self, inside: threading.Event, release: threading.Event) -> None:
        self.inside, self.release = inside, release
        self.cycle = self  # only the cyclic GC frees it

    def __del__(self) -> None:
        self.inside.set()
        self.release.wait(10)


@pytest.mark.parametrize("outcome", ["ok", "invalid_json"])
def test_another_threads_collection_is_not_this_threads(server, pipe: Pipeline, outcome: str) -> None:
    """While another thread's collection runs finalizers (and lets this thread run), a stream this
    thread closes or sees fail is its own doing, not the GC's: closed early, or the error (both
    used to read as "abandoned", the error dropped, when such a pass was running anywhere)."""
    client = _client(server, pipe)
    inside, release = threading.Event(), threading.Event()

    def collect() -> None:
        _WaitsInsideTheCollection(inside, release)
        deadline = time.monotonic() + 10
        while not inside.is_set() and time.monotonic() < deadline:
            gc.collect()  # (a no-op while another thread's pass runs: then again)
            time.sleep(0.01)

    collector = threading.Thread(target=collect)
    collector.start()
    try:
        assert inside.wait(10)  # the other thread's pass is running now, waiting in the finalizer
        server.enqueue(Scenario(outcome=outcome, chunks=6))
        stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        raised = None
        with stream:
            try:
                next(iter(stream))
                if outcome == "invalid_json":
                    list(stream)
            except Exception as exc:
                raised = exc
    finally:
        release.set()
        collector.join(10)
    deferred.run_deferred()  # whatever was queued meanwhile
    (span,) = pipe.traced_spans()
    if outcome == "ok":
        assert raised is None
        assert span.attributes["tracewrap.stream.outcome"] == "closed_early"
    else:
        assert raised is not None
        assert span.attributes["tracewrap.stream.outcome"] == "error"
        assert span.attributes["error.type"] == type(raised).__name__


_CHUNK = (
    b'data: {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", '
    b'"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": null}]}\n\n'
)


def _hanging_async_client(pipe: Pipeline) -> Any:
    """An AsyncOpenAI whose server never answers (``plain``), or sends one chunk and then nothing.

    In process, so nothing outside the event loop keeps the pending call reachable once the loop
    is dropped: the GC then closes its coroutines (over a real socket the selector holds them)."""
    http = http_library()

    class OneChunkThenHang(http.AsyncByteStream):  # type: ignore[name-defined,misc]
        async def __aiter__(self) -> Any:
            yield _CHUNK
            await asyncio.get_running_loop().create_future()

    class HalfABodyThenHang(http.AsyncByteStream):  # type: ignore[name-defined,misc]
        async def __aiter__(self) -> Any:
            yield b'{"id": "chatcmpl-1", '
            await asyncio.get_running_loop().create_future()

    class Hang(http.AsyncBaseTransport):  # type: ignore[name-defined,misc]
        async def handle_async_request(self, request: Any) -> Any:
            if b"half-a-body" in request.content:
                headers = {"content-type": "application/json"}
                return http.Response(200, headers=headers, stream=HalfABodyThenHang())
            if b'"stream"' not in request.content:
                await asyncio.get_running_loop().create_future()
            headers = {"content-type": "text/event-stream"}
            return http.Response(200, headers=headers, stream=OneChunkThenHang())

    client = openai.AsyncOpenAI(
        base_url="http://127.0.0.1:9/v1",
        api_key=API_KEY,
        max_retries=0,
        http_client=http.AsyncClient(transport=Hang()),
    )
    return tracewrap.wrap(client, **pipe.kwargs())


@pytest.mark.parametrize("how", ["plain", "raw_stream", "parse"])
def test_a_call_whose_task_is_destroyed_pending_ends_outside_the_collection(
    pipe: Pipeline, watch: GcWatch, how: str
) -> None:
    """A traced call in flight when its event loop is closed without cancelling its task, everything
    dropped: the GC closes the coroutines with ``GeneratorExit``. Its span ends outside the pass (it
    ended inside it, an error ``GeneratorExit``), no context token is reset inside it (OpenTelemetry
    logged "Failed to detach context" and Python "Exception ignored ... created in a different
    Context"), and it reads as what it was: the caller gave up (plain), a stream dropped (raw)."""
    pipe.tracer_provider.add_span_processor(EndWatch(watch))
    unraisable: list[Any] = []

    async def use(client: Any) -> None:
        if how == "plain":
            await client.chat.completions.create(model="m", messages=MESSAGES)
            return
        if how == "parse":  # the body's first bytes came, then nothing: parse() waits for the rest
            async with client.chat.completions.with_streaming_response.create(
                model="half-a-body", messages=MESSAGES
            ) as response:
                await response.parse()
            return
        async with client.chat.completions.with_streaming_response.create(
            model="m", messages=MESSAGES, stream=True
        ) as response:
            async for _line in response.iter_lines():
                pass

    def start_and_leave() -> None:
        client = _hanging_async_client(pipe)
        loop = asyncio.new_event_loop()
        loop.create_task(use(client))  # noqa: RUF006 - left pending on purpose
        loop.run_until_complete(asyncio.sleep(0.1))  # the call is in flight
        loop.close()  # closed without cancelling the pending task

    previous_hook = sys.unraisablehook
    sys.unraisablehook = unraisable.append
    try:
        with _logged("opentelemetry.context") as context_errors:
            start_and_leave()
            gc.collect()
    finally:
        sys.unraisablehook = previous_hook
    assert (watch.context_changes, watch.span_ends) == (0, 0)
    tracewrap.flush()
    (span,) = pipe.traced_spans()
    assert watch.span_ends_total == 1 and watch.span_ends == 0
    assert "error.type" not in span.attributes
    if how == "plain":
        assert span.attributes["tracewrap.cancelled"] is True
    elif how == "parse":  # dropped unread, as a stream: the response's watch ended it
        assert span.attributes["tracewrap.stream.outcome"] == "abandoned"
    else:
        assert span.attributes["tracewrap.stream.outcome"] == "abandoned"
        assert span.attributes["tracewrap.stream.chunks"] == 1
    assert context_errors == []
    ours = [u for u in unraisable if "tracewrap" in repr(u.object) or "Context" in str(u.exc_value)]
    assert ours == []


@contextlib.contextmanager
def _logged(name: str) -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(level=logging.ERROR)
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
