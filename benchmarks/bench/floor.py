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
from typing import Any

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


@dataclass
class FloorPlan:
    """The telemetry tracewrap emitted for one call of a scenario, to be replayed by hand."""

    name: str
    kind: SpanKind
    start_attrs: dict[str, Any]
    end_attrs: dict[str, Any]
    # (bound record/add method, value, attributes, is the duration point) as the reader listed them
    points: list[tuple[Callable[..., None], float, dict[str, Any], bool]] = field(default_factory=list)
    # the conventions' floor: the same, the standard (gen_ai.*) histogram points only
    standard_points: list[tuple[Callable[..., None], float, dict[str, Any], bool]] = field(
        default_factory=list
    )
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
                        is_duration = metric.name == "gen_ai.client.operation.duration"
                        plan.points.append((histogram.record, point.sum, attrs, is_duration))
                        if metric.name.startswith("gen_ai.client."):
                            plan.standard_points.append((histogram.record, point.sum, attrs, is_duration))
                    elif isinstance(point, NumberDataPoint):
                        counter = meter.create_counter(
                            metric.name,
                            unit=metric.unit,
                            description=metric.description,
                        )
                        plan.points.append((counter.add, point.value, attrs, False))
    plan.point_count = len(plan.points)
    return plan


def floor_call(
    client: Any, spec: ScenarioSpec, plan: FloorPlan, tracer: trace.Tracer, conventions: bool = False
) -> Callable[[], None]:
    """Hand-written minimal instrumentation emitting exactly ``plan``: the cost OTel itself imposes.
    ``conventions``: the standard histogram points only (the conventions' floor).

    It does what any correct tracer must (start the span with its attributes, make it current
    while the SDK sends so HTTP spans nest, set the response attributes, end it, record the
    points, each with fresh attribute dicts as real code builds them) and nothing else: no
    request/response normalisation, and for streams no per-chunk work beyond the application's
    own loop (only the first chunk is timed, for time-to-first-chunk).
    """
    create = sdk_method(client, spec)
    args = call_args(spec)
    perf = time.perf_counter
    client_kind = plan.kind
    points = plan.standard_points if conventions else plan.points

    def finish(span: Any, started: float) -> None:
        duration = perf() - started
        span.set_attributes(dict(plan.end_attrs))
        span.end()
        for record, value, attrs, is_duration in points:
            record(duration if is_duration else value, dict(attrs))

    def run() -> None:
        started = perf()
        span = tracer.start_span(plan.name, kind=client_kind, attributes=dict(plan.start_attrs))
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            result = create(**args)
        finally:
            otel_context.detach(token)
        if spec.stream:
            chunks = iter(result)
            for _ in chunks:
                perf()  # time to first chunk
                break
            for _ in chunks:
                pass
        finish(span, started)

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
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            await create(**args)
        finally:
            otel_context.detach(token)
        duration = perf() - started
        span.set_attributes(dict(plan.end_attrs))
        span.end()
        for record, value, attrs, is_duration in points:
            record(duration if is_duration else value, dict(attrs))

    async def batch() -> None:
        await asyncio.gather(*(one() for _ in range(spec.concurrent)))

    return batch
