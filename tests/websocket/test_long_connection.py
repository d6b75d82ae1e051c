"""A long-lived Responses WebSocket connection: 10,000 responses on one socket leave no per-response
state behind (issue 22: memory flat in the number of responses).

The fake server answers each create with just ``response.created`` and ``response.completed``
(``minimal``), and most turns are read with ``recv_bytes()`` (tracewrap decodes the frame itself)
so that 10,000 real round trips fit in a few seconds; every 50th turn goes through the SDK's event
models (``for event in connection``), the other read path.
"""

from __future__ import annotations

import gc
import os
import tracemalloc
from pathlib import Path
from typing import Any

import openai
import opentelemetry.sdk.trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider

import tracewrap
from tests.conftest import API_KEY
from tracewrap import wrap
from tracewrap.interception.websocket import _KEY
from tracewrap.telemetry.deferred import _watched

RESPONSES = 10_000
MEASURED = 1_000  # the last ones measured, after as many under tracemalloc (~3x slower allocations)
MODEL = "gpt-4o-mini"
# what a leak of ours would be allocated by: tracewrap itself (not its fake server) and the
# OpenTelemetry SDK it hands each span and point to
OURS = (
    str(Path(tracewrap.__file__).parent) + os.sep,
    str(Path(opentelemetry.sdk.trace.__file__).parents[2]) + os.sep,
)
NOT_OURS = str(Path(tracewrap.__file__).parent / "testing") + os.sep


class CountingProcessor(SpanProcessor):
    """Counts ended spans and keeps none (an exporter that kept them would be the growth)."""

    def __init__(self) -> None:
        self.ended = 0
        self.last: dict[str, Any] = {}

    def on_end(self, span: ReadableSpan) -> None:
        self.ended += 1
        self.last = dict(span.attributes or {})


def ours(snapshot: tracemalloc.Snapshot) -> int:
    total = 0
    for stat in snapshot.statistics("filename"):
        name = stat.traceback[0].filename
        if name.startswith(OURS) and not name.startswith(NOT_OURS):
            total += stat.size
    return total


def test_ten_thousand_responses_on_one_connection_hold_no_per_response_state(ws_server: Any) -> None:
    ws_server.minimal = True
    processor = CountingProcessor()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(processor)
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    client = wrap(
        openai.OpenAI(api_key=API_KEY, base_url=ws_server.base_url, max_retries=0),
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )
    leftovers = 0
    with client.responses.connect() as connection:
        traces = connection.__dict__[_KEY]
        assert sum(getattr(t, "__self__", None) is traces for t in _watched.values()) == 1

        def turn(n: int) -> None:
            nonlocal leftovers
            connection.response.create(model=MODEL, input="Hi")
            if n % 50 == 0:
                for event in connection:
                    if event.type == "response.completed":
                        break
            else:
                while b'"response.completed"' not in connection.recv_bytes():
                    pass
            ws_server.received.clear()  # the fake's own record of what it got
            # the response has ended: nothing of it is left in the connection's tables
            leftovers += len(traces.pending) + len(traces.active) + len(traces.by_id)

        for n in range(RESPONSES - 2 * MEASURED):
            turn(n)
        gc.collect()
        tracemalloc.start()
        try:
            # a first window under tracing fills what the interpreter keeps for reuse: on Python
            # 3.10 a global cache of 16 freed deque blocks (528 bytes each), which then count as
            # live allocations of whoever made them (8.4 kB; a per-deque cache since 3.11)
            for n in range(RESPONSES - 2 * MEASURED, RESPONSES - MEASURED):
                turn(n)
            gc.collect()
            before = ours(tracemalloc.take_snapshot())
            for n in range(RESPONSES - MEASURED, RESPONSES):
                turn(n)
            gc.collect()
            after = ours(tracemalloc.take_snapshot())
        finally:
            tracemalloc.stop()
        assert processor.ended == RESPONSES
    assert leftovers == 0
    assert processor.last["gen_ai.response.id"] == f"resp_ws{RESPONSES:04d}"
    assert processor.last["tracewrap.stream.outcome"] == "completed"
    # what tracewrap and the OTel SDK hold grew by less than 8 bytes per response over the last
    # 1,000 (one retained span, turn or dict entry per response would be hundreds)
    assert (after - before) / MEASURED < 8, (before, after)
    durations = [
        p
        for m in reader.get_metrics_data().resource_metrics[0].scope_metrics[0].metrics
        if m.name == "gen_ai.client.operation.duration"
        for p in m.data.data_points
    ]
    assert sum(p.count for p in durations) == RESPONSES
    tracer_provider.shutdown()
    meter_provider.shutdown()
