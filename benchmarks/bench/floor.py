"""The floors: OpenTelemetry doing by hand what tracewrap emits for a call, and nothing else.

``capture_plan`` runs one call through tracewrap on private providers and reads its span and metric
points; ``floor_call`` / ``floor_async_batch`` replay exactly that (the conventions floor: the
standard ``gen_ai.client.*`` histogram points only) around a bare SDK call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind

import tracewrap
from tracewrap.testing import MockOpenAI

from .harness import MISSING, ScenarioSpec, Telemetry, call_args, plain_call, sdk_method


class StartEndRecorder(SpanProcessor):
    """Captures a span's attributes as they were at start and at end (to replay them exactly)."""

    def __init__(self) -> None:
        self.start_attrs: dict[str, Any] = {}
        self.spans: list[tuple[str, SpanKind, dict[str, Any], dict[str, Any]]] = []

    def on_start(self, span: Span, parent_context: Any = None) -> None:
        self.start_attrs = dict(span.attributes or {})

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append((span.name, span.kind, self.start_attrs, dict(span.attributes or {})))


class Point(NamedTuple):
    """One metric point tracewrap emitted, as the floors replay it."""

    record: Callable[..., None]  # the floor's own instrument's bound record / add
    value: float  # what tracewrap recorded
    attrs: dict[str, Any]
    measured: str | None  # the value the floor measures itself instead (MEASURED), or None
    # histograms are recorded in the span's context: their exemplars, as tracewrap's (issue 19);
    # tracewrap's counters are observable ones (no context, no exemplars), so the full floor's are not
    in_span_context: bool


# the histograms whose value the floor measures itself, by name
MEASURED = {
    "gen_ai.client.operation.duration": "duration",
    "gen_ai.client.operation.time_to_first_chunk": "first_chunk",
    "gen_ai.client.operation.time_per_output_chunk": "per_chunk",
}


@dataclass
class FloorPlan:
    """The telemetry tracewrap emitted for one call of a scenario, to be replayed by hand."""

    name: str
    kind: SpanKind
    start_attrs: dict[str, Any]
    end_attrs: dict[str, Any]
    # every point, as the reader listed them
    points: list[Point] = field(default_factory=list)
    # the conventions' floor: the same, the standard (gen_ai.*) histogram points only
    standard_points: list[Point] = field(default_factory=list)
    span_count: int = 1
    point_count: int = 0
    attribute_count: int = 0


def capture_plan(backend: MockOpenAI, spec: ScenarioSpec, telemetry: Telemetry) -> FloorPlan:
    """Run one call through tracewrap (content off) on private providers and read what it emitted."""
    recorder = StartEndRecorder()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(recorder)
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    client = tracewrap.wrap(
        backend.client(),
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        capture_content="no_content",
    )
    plain_call(client, ScenarioSpec(spec.key, spec.title, spec.api, spec.stream))()
    if len(recorder.spans) != 1:
        raise RuntimeError(f"{spec.key}: tracewrap emitted {len(recorder.spans)} spans, expected 1")
    name, kind, start_attrs, final_attrs = recorder.spans[0]
    end_attrs = {k: v for k, v in final_attrs.items() if start_attrs.get(k, MISSING) != v}
    plan = FloorPlan(name, kind, start_attrs, end_attrs, attribute_count=len(final_attrs))

    # the floor's instruments: same names, kinds, units and bucket boundaries, on the shared pipeline
    meter = telemetry.meter_provider.get_meter("benchmark.floor")
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.data.data_points:
                    attrs = dict(point.attributes or {})
                    if isinstance(point, HistogramDataPoint):
                        histogram = meter.create_histogram(
                            metric.name,
                            unit=metric.unit,
                            description=metric.description,
                            explicit_bucket_boundaries_advisory=list(point.explicit_bounds),
                        )
                        replay = Point(histogram.record, point.sum, attrs, MEASURED.get(metric.name), True)
                        plan.points.append(replay)
                        if metric.name.startswith("gen_ai.client."):
                            plan.standard_points.append(replay)
                    elif isinstance(point, NumberDataPoint):
                        counter = meter.create_counter(
                            metric.name,
                            unit=metric.unit,
                            description=metric.description,
                        )
                        plan.points.append(Point(counter.add, point.value, attrs, None, False))
    plan.point_count = len(plan.points)
    return plan


def floor_call(
    client: Any, spec: ScenarioSpec, plan: FloorPlan, tracer: trace.Tracer, conventions: bool = False
) -> Callable[[], None]:
    """Hand-written minimal instrumentation emitting exactly ``plan``: the cost OTel itself imposes.
    ``conventions``: the standard histogram points only (the conventions' floor).

    It does what any correct tracer must and nothing else: start the span with its attributes,
    make it current while the SDK sends (so HTTP spans nest), set the response attributes, end
    it, and record the points, each with a fresh attribute dict as real code builds them, in the
    span's context (the SDK's default exemplar filter then samples the span, as it does for
    tracewrap, whose points carry exemplars: issue 19). No request/response normalisation. A
    stream is handed to the application through the least an instrumentation needs to produce
    time to first chunk and time per output chunk and to know when the stream ended: a generator
    that counts the chunks and reads the clock at each one; the span ends when it is exhausted.
    """
    create = sdk_method(client, spec)
    args = call_args(spec)
    perf = time.perf_counter
    client_kind = plan.kind
    points = plan.standard_points if conventions else plan.points

    def finish(span: Any, context: Any, started: float, first: float = 0.0, per_chunk: float = 0.0) -> None:
        duration = perf() - started
        span.set_attributes(dict(plan.end_attrs))
        span.end()
        for record, value, attrs, measured, in_span_context in points:
            if measured == "duration":
                value = duration
            elif measured == "first_chunk":
                value = first - started
            elif measured == "per_chunk":
                value = per_chunk
            record(value, dict(attrs), context if in_span_context else None)

    def timed_chunks(source: Any, span: Any, context: Any, started: float) -> Any:
        count = 0
        first = last = 0.0
        for item in source:
            last = perf()
            count += 1
            if count == 1:
                first = last
            yield item
        finish(span, context, started, first, (last - first) / max(count - 1, 1))

    def run() -> None:
        started = perf()
        span = tracer.start_span(plan.name, kind=client_kind, attributes=dict(plan.start_attrs))
        context = trace.set_span_in_context(span)
        token = otel_context.attach(context)
        try:
            result = create(**args)
        finally:
            otel_context.detach(token)
        if spec.stream:
            for _ in timed_chunks(result, span, context, started):  # the application's loop
                pass
            return
        finish(span, context, started)

    return run


def floor_async_batch(
    client: Any, spec: ScenarioSpec, plan: FloorPlan, tracer: trace.Tracer, conventions: bool = False
) -> Callable[[], Awaitable[None]]:
    create = sdk_method(client, spec)
    args = call_args(spec)
    perf = time.perf_counter
    points = plan.standard_points if conventions else plan.points

    async def one() -> None:
        started = perf()
        span = tracer.start_span(plan.name, kind=plan.kind, attributes=dict(plan.start_attrs))
        context = trace.set_span_in_context(span)
        token = otel_context.attach(context)
        try:
            await create(**args)
        finally:
            otel_context.detach(token)
        duration = perf() - started
        span.set_attributes(dict(plan.end_attrs))
        span.end()
        for record, value, attrs, measured, in_span_context in points:
            value = duration if measured == "duration" else value
            record(value, dict(attrs), context if in_span_context else None)

    async def batch() -> None:
        await asyncio.gather(*(one() for _ in range(spec.concurrent)))

    return batch
