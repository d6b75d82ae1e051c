"""Streams are traced in place: the user gets the SDK's own ``Stream`` object back.

No proxy, so ``isinstance``, ``with``, ``.response``, ``.close()`` and the ``.stream()`` helpers
that iterate it all behave as before. Two things are swapped on that object:

* its ``_iterator`` (the generator both ``__iter__`` and ``__next__`` read) becomes a generator
  that hands each chunk to the accumulator as it passes — nothing is buffered;
* its HTTP response's ``close`` / ``aclose``, which every way of closing goes through
  (``Stream.close``, ``with``-exit, the helpers' close), so an early close ends the span.

A stream dropped without being read or closed is ended by a ``weakref.finalize`` as abandoned.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from tracewrap.telemetry.lifecycle import TracedCall, internal_error

COMPLETED = "completed"
CLOSED_EARLY = "closed_early"
ABANDONED = "abandoned"
ERROR = "error"
INCOMPLETE = "incomplete"  # the stream ended with no finish reason / terminal event: cut off
INCOMPLETE_STREAM_ERROR = "incomplete_stream"


class StreamTracker:
    """Timing and accumulation for one stream; ends its call exactly once."""

    __slots__ = ("__weakref__", "accumulator", "call", "count", "first", "last")

    def __init__(self, call: TracedCall) -> None:
        self.call = call
        factory = call.endpoint.new_accumulator
        self.accumulator = factory(call.capture_content) if factory is not None else None
        self.first = 0.0
        self.last = 0.0
        self.count = 0

    def adder(self) -> Callable[[Any], None] | None:
        accumulator = self.accumulator
        return accumulator.add if accumulator is not None else None

    def drop_accumulator(self, exc: Exception) -> None:
        self.accumulator = None  # stop reading this stream, keep passing it through
        internal_error("stream chunk", exc)

    def end(self, outcome: str, exc: BaseException | None = None) -> None:
        call = self.call
        if call.ended:
            return
        try:
            record = call.record
            accumulator = self.accumulator
            if accumulator is not None:
                accumulator.finish(record)
                if outcome == COMPLETED and not accumulator.finished:
                    outcome = INCOMPLETE
                elif outcome in (CLOSED_EARLY, ABANDONED) and accumulator.finished and exc is None:
                    outcome = COMPLETED  # everything arrived; only the [DONE] read was skipped
            if exc is not None:
                call.fail(exc)
            elif outcome == INCOMPLETE and record.error_type is None:
                record.error_type = INCOMPLETE_STREAM_ERROR
                record.error_message = "the stream ended without a finish reason or terminal event"
            record.stream_outcome = outcome
            record.chunk_count = self.count
            if self.count:
                record.time_to_first_chunk = self.first - call.start_perf
                if self.count > 1:
                    record.time_per_output_chunk = (self.last - self.first) / (self.count - 1)
        except Exception as error:
            internal_error("stream end", error)
        call.end()

    def end_if_open(self, outcome: str) -> None:
        if not self.call.ended:
            self.end(outcome)


# The per-chunk work is inline in the generators (a method call per chunk would cost about as
# much as the accumulator itself): one clock read, the count and last time stored on the tracker
# (which a close or the finalizer may end while the generator waits), the accumulator's add.


def _traced_iterator(source: Iterator[Any], tracker: StreamTracker) -> Iterator[Any]:
    perf = time.perf_counter
    add = tracker.adder()
    count = 0
    try:
        for item in source:
            now = perf()
            count += 1
            if count == 1:
                tracker.first = now
            tracker.last = now
            tracker.count = count
            if add is not None:
                try:
                    add(item)
                except Exception as exc:
                    add = None
                    tracker.drop_accumulator(exc)
            yield item
    except GeneratorExit:
        # the stream object was dropped (or torn down) before it was read to the end
        tracker.end(ABANDONED)
        raise
    except BaseException as exc:
        tracker.end(ERROR, exc)
        raise
    tracker.end(COMPLETED)


async def _traced_async_iterator(source: AsyncIterator[Any], tracker: StreamTracker) -> AsyncIterator[Any]:
    perf = time.perf_counter
    add = tracker.adder()
    count = 0
    try:
        async for item in source:
            now = perf()
            count += 1
            if count == 1:
                tracker.first = now
            tracker.last = now
            tracker.count = count
            if add is not None:
                try:
                    add(item)
                except Exception as exc:
                    add = None
                    tracker.drop_accumulator(exc)
            yield item
    except GeneratorExit:
        tracker.end(ABANDONED)
        raise
    except BaseException as exc:
        tracker.end(ERROR, exc)
        raise
    tracker.end(COMPLETED)


def instrument_stream(stream: Any, call: TracedCall, is_async: bool) -> Any:
    """Trace ``stream`` (an SDK Stream / AsyncStream) in place and return it."""
    try:
        tracker = StreamTracker(call)
        if is_async:
            traced: Any = _traced_async_iterator(stream._iterator, tracker)
        else:
            traced = _traced_iterator(stream._iterator, tracker)
        stream._iterator = traced
        _hook_close(stream.response, traced, tracker, is_async)
        weakref.finalize(stream, tracker.end_if_open, ABANDONED)
    except Exception as exc:
        internal_error("instrument_stream", exc)
        call.end()
    return stream


def _hook_close(http_response: Any, traced: Any, tracker: StreamTracker, is_async: bool) -> None:
    if is_async:
        original_aclose = http_response.aclose

        async def aclose() -> None:
            try:
                await original_aclose()
            finally:
                # while our generator runs, this is the SDK closing at the stream's own end
                if not traced.ag_running:
                    tracker.end_if_open(CLOSED_EARLY)

        http_response.aclose = aclose
        return

    original_close = http_response.close

    def close() -> None:
        try:
            original_close()
        finally:
            if not traced.gi_running:
                tracker.end_if_open(CLOSED_EARLY)

    http_response.close = close
