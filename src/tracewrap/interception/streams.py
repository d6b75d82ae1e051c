"""Streams are traced in place: the user gets the SDK's own ``Stream`` object back.

No proxy, so ``isinstance``, ``with``, ``.response``, ``.close()`` and the ``.stream()`` helpers
that iterate it all behave as before. Two things are swapped on that object:

* its ``_iterator`` (the generator both ``__iter__`` and ``__next__`` read) becomes a generator
  that hands each chunk to the accumulator as it passes — nothing is buffered;
* its HTTP response's ``close`` / ``aclose``, which every way of closing goes through
  (``Stream.close``, ``with``-exit, the helpers' close), so an early close ends the span.

A stream dropped without being read or closed is ended as abandoned, at the time it was last
used. What notices the drop runs inside the garbage collector (a weak reference's callback on the
stream, the collection closing our generator), so it only queues the end (:mod:`.deferred`).

The weak reference is :func:`.deferred.watch_until_end`'s, forgotten as the stream ends, so an ended
stream's collection runs no tracewrap code at all.
"""

from __future__ import annotations

import asyncio
import sys
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from tracewrap.interception.in_place import bound_like
from tracewrap.interception.raw_body import tap_event_stream
from tracewrap.normalize.accumulator import Accumulator
from tracewrap.telemetry.deferred import collecting, defer, forget, watch_until_end
from tracewrap.telemetry.lifecycle import TracedCall, internal_error

COMPLETED = "completed"
CLOSED_EARLY = "closed_early"
ABANDONED = "abandoned"
ERROR = "error"
CANCELLED = "cancelled"  # the caller's task was cancelled while it read the stream
INCOMPLETE = "incomplete"  # the stream ended short of its finish reasons / terminal event: cut off
INCOMPLETE_STREAM_ERROR = "incomplete_stream"


class StreamTracker:
    """Timing and accumulation for one stream; ends its call exactly once."""

    __slots__ = (
        "__weakref__",
        "abandon",
        "accumulator",
        "call",
        "count",
        "first",
        "last",
        "queued",
        "tap",
        "watch",
    )

    def __init__(self, call: TracedCall) -> None:
        self.call = call
        factory = call.site.endpoint.new_accumulator
        self.accumulator: Accumulator | None = factory(call.capture_content) if factory is not None else None
        self.first = 0.0
        self.last = time.perf_counter()  # the last moment the stream was used: handed over, then each chunk
        self.count = 0
        self.queued = False
        self.tap: Any = None  # a raw_body.BodyTap when the user may read the stream's bytes raw
        self.watch: Any = None  # the weak reference to the stream (watch_until_end), until it ends
        # built here, on the call path, so that the GC-side code allocates nothing of its own
        self.abandon = self.end_abandoned

    def started(self, now: float) -> None:
        """The first chunk arrived (``now``); observers hear it in the context the stream is read in."""
        self.first = now
        if self.call.observed is not None:
            self.call.first_chunk()

    def adder(self) -> Callable[[Any], None] | None:
        accumulator = self.accumulator
        return accumulator.add if accumulator is not None else None

    def skimmer(self) -> Any:
        """The accumulator, if it may let the generators skip ``add`` for a plain chunk (it says so,
        chunk by chunk, in ``skips_plain_chunks``), else None.

        A plain chunk is one, after the envelope, whose ``usage`` is None and whose ``choices`` carry
        no ``finish_reason``: most of a chat stream. The check is written out in the generators,
        not called: a call per chunk costs ~0.3 µs in place, between two of the SDK's chunks
        (benchmarks/ab.py, chat stream, 53 chunks: -12 to -19 µs per stream against calling add
        for every chunk). A chunk the check cannot read (a dict, a broken server's value) is added.
        """
        accumulator = self.accumulator
        return accumulator if hasattr(accumulator, "skips_plain_chunks") else None

    def drop_accumulator(self, exc: Exception) -> None:
        self.accumulator = None  # stop reading this stream, keep passing it through
        internal_error("stream chunk", exc)

    def end(self, outcome: str, exc: BaseException | None = None, at: float | None = None) -> None:
        call = self.call
        if call.ended:
            return
        watch = self.watch
        if watch is not None:
            self.watch = None
            forget(watch)
        if self.queued:  # already found dropped: what reaches it now is its teardown (a loop's
            outcome, exc, at = ABANDONED, None, self.last  # cancelling the generator's aclose, ...)
        try:
            record = call.record
            accumulator = self.accumulator
            if accumulator is not None:
                accumulator.finish(record)
                if call.observed is not None:  # observers see the final object (LangSmith's outputs)
                    call.observed.response = accumulator.final()
                if not accumulator.finished:
                    record.choices_unfinished = record.finish_reasons is not None
                    if outcome == COMPLETED:
                        outcome = INCOMPLETE
                elif (
                    outcome in (CLOSED_EARLY, ABANDONED) and exc is None and _all_arrived(accumulator, record)
                ):
                    outcome = COMPLETED  # everything arrived; only the [DONE] read was skipped
                if outcome == COMPLETED and getattr(accumulator, "errored", False):
                    # the server sent an error event (the SDK yields it, not raises), read to the
                    # end or closed right after it: a reader that raises on it (langchain, the
                    # Agents SDK) or breaks out closes the stream before its end
                    outcome = ERROR
            if exc is not None:
                call.fail(exc)
                if record.cancelled:
                    outcome = CANCELLED
            elif outcome == INCOMPLETE and record.error_type is None:
                record.error_type = INCOMPLETE_STREAM_ERROR
                record.error_message = (
                    "the stream ended without its terminal event or a finish reason for every choice"
                )
            record.stream_outcome = outcome
            record.chunk_count = self.count
            if self.count:
                record.time_to_first_chunk = self.first - call.start_perf
                if self.count > 1:
                    record.time_per_output_chunk = (self.last - self.first) / (self.count - 1)
        except Exception as error:
            internal_error("stream end", error)
        call.end(at)

    def end_if_open(self, outcome: str) -> None:
        if not self.call.ended:
            self.end(outcome)

    def closed_by_reader(self) -> None:
        """The reader closed the stream before its end: ``closed_early``, unless it is closed as the
        SDK's ``.stream()`` helper raises its refusal of a parsed completion out of the reader's
        ``with`` block (the completion cut at ``max_tokens`` or filtered): the call failed with that
        error, as the same completion through ``parse()`` does. Any other exception in flight is the
        reader's own."""
        if self.call.ended:
            return
        exc = sys.exc_info()[1]
        if exc is not None and is_sdk_refusal(exc):
            self.end(ERROR, exc)
        else:
            self.end(CLOSED_EARLY)

    def end_abandoned(self) -> None:
        """Run from the deferred queue: the stream was dropped; it ended when it was last used."""
        if not self.call.ended:
            self.end(ABANDONED, at=self.last)

    def abandoned_in_gc(self) -> None:
        """Runs inside the garbage collector: queue the end, once, and do nothing else."""
        if not self.queued and not self.call.ended:
            self.queued = True
            defer(self.abandon)


# what the SDK's parsing helpers raise for a completion they refuse to parse
_SDK_REFUSALS = frozenset({"LengthFinishReasonError", "ContentFilterFinishReasonError"})


def is_sdk_refusal(exc: BaseException) -> bool:
    cls = type(exc)
    return cls.__name__ in _SDK_REFUSALS and cls.__module__.split(".", 1)[0] == "openai"


def _all_arrived(accumulator: Accumulator, record: Any) -> bool:
    """Whether a stream closed by its reader lost nothing: its end arrived and, where the
    accumulator can tell, everything the request asked for (every choice's finish, the usage)."""
    check = getattr(accumulator, "all_arrived", None)
    return bool(check(record)) if check is not None else accumulator.finished


# The per-chunk work is inline in the generators (a method call per chunk would cost about as
# much as the accumulator itself): one clock read, the count and last time stored on the tracker
# (which a close or the finalizer may end while the generator waits), the accumulator's add,
# skipped for the plain chunks of an accumulator that skims them (StreamTracker.skimmer).
# So the async generator repeats the sync one's body line for line, on purpose: keep them in step.


def _traced_iterator(source: Iterator[Any], tracker: StreamTracker) -> Iterator[Any]:
    perf = time.perf_counter
    add = tracker.adder()
    skim = tracker.skimmer()
    count = 0
    try:
        for item in source:
            now = perf()
            count += 1
            if count == 1:
                tracker.started(now)
            tracker.last = now
            tracker.count = count
            if add is not None:
                fold = True
                if skim is not None and skim.skips_plain_chunks is True:
                    try:  # see StreamTracker.skimmer; anything odd is left to add
                        fold = item.usage is not None
                        if not fold:
                            for choice in item.choices:
                                if choice.finish_reason is not None:
                                    fold = True
                                    break
                    except Exception:
                        fold = True
                if fold:
                    try:
                        add(item)
                    except Exception as exc:
                        add = None
                        tracker.drop_accumulator(exc)
            yield item
    except GeneratorExit:
        # the stream object was dropped (or torn down) before it was read to the end: we are
        # being closed by its collection, possibly inside the GC
        tracker.abandoned_in_gc()
        raise
    except BaseException as exc:
        tracker.end(ERROR, exc)
        raise
    tracker.end(COMPLETED)


async def _traced_async_iterator(source: AsyncIterator[Any], tracker: StreamTracker) -> AsyncIterator[Any]:
    perf = time.perf_counter
    add = tracker.adder()
    skim = tracker.skimmer()
    count = 0
    try:
        async for item in source:
            now = perf()
            count += 1
            if count == 1:
                tracker.started(now)
            tracker.last = now
            tracker.count = count
            if add is not None:
                fold = True
                if skim is not None and skim.skips_plain_chunks is True:
                    try:
                        fold = item.usage is not None
                        if not fold:
                            for choice in item.choices:
                                if choice.finish_reason is not None:
                                    fold = True
                                    break
                    except Exception:
                        fold = True
                if fold:
                    try:
                        add(item)
                    except Exception as exc:
                        add = None
                        tracker.drop_accumulator(exc)
            yield item
    except GeneratorExit:
        tracker.abandoned_in_gc()
        raise
    except BaseException as exc:
        tracker.end(ERROR, exc)
        raise
    tracker.end(COMPLETED)


def instrument_stream(stream: Any, call: TracedCall, is_async: bool, raw: bool = False) -> Any:
    """Trace ``stream`` (an SDK Stream / AsyncStream) in place and return it.

    ``raw``: the user holds the raw response too and may read its bytes without the ``Stream``
    (``iter_lines()``, ``read()``...): those bytes are decoded for the same telemetry (raw_body).
    """
    try:
        tracker = StreamTracker(call)
        source = stream._iterator
        if is_async:
            traced: Any = _traced_async_iterator(source, tracker)
        else:
            traced = _traced_iterator(source, tracker)
        stream._iterator = traced
        if raw:
            tracker.tap = tap_event_stream(stream.response, is_async, tracker, _runs(traced, is_async))
        _hook_close(stream.response, source, traced, tracker, is_async)
        tracker.watch = watch_until_end(stream, tracker.abandoned_in_gc)
    except Exception as exc:
        internal_error("instrument_stream", exc)
        call.end()
    return stream


def _runs(traced: Any, is_async: bool) -> Callable[[], bool]:
    """Whether ``traced`` is running (the SDK reading the stream through it), asked by the raw-body
    tap. Through a weak reference: the tracker holds the tap, the stream's watch holds the tracker, and a
    strong one would keep the stream alive from there (a stream dropped unread never freed, its
    span never ended, its connection never returned to the pool)."""
    generator = weakref.ref(traced)

    def running() -> bool:
        alive = generator()
        if alive is None:
            return False
        return bool(alive.ag_running if is_async else alive.gi_running)

    return running


def _loop_finalizing() -> bool:
    """The running event loop is closing the async generators left open (``asyncio.run`` ending,
    after it cancelled the tasks left): what closes a response now is no user's code. A loop
    without asyncio's flag (uvloop) says no."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    return getattr(loop, "_asyncgens_shutdown_called", False) is True


def _hook_close(http_response: Any, source: Any, traced: Any, tracker: StreamTracker, is_async: bool) -> None:
    if is_async:
        original_aclose = http_response.aclose

        async def aclose(_response: Any) -> None:
            try:
                await original_aclose()
            finally:
                if traced.ag_running or (tracker.tap is not None and tracker.tap.reading):
                    pass  # while our generator runs, this is the SDK closing at the stream's own end
                elif collecting() or source.ag_running or _loop_finalizing():
                    # the SDK's generators closing as they are finalized, not the user's close:
                    # collected, or closed by the loop's shutdown of async generators (asyncio.run
                    # ending with the stream open; in no fixed order with ours, which says abandoned)
                    tracker.abandoned_in_gc()
                else:
                    tracker.closed_by_reader()

        http_response.aclose = bound_like(aclose, original_aclose)
        return

    original_close = http_response.close

    def close(_response: Any) -> None:
        try:
            original_close()
        finally:
            if collecting():  # the SDK's generator closes it as the GC collects the stream
                tracker.abandoned_in_gc()
            elif not traced.gi_running and not (tracker.tap is not None and tracker.tap.reading):
                tracker.closed_by_reader()

    http_response.close = bound_like(close, original_close)
