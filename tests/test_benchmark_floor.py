"""The benchmark's conventions floor emits what it claims (benchmarks/bench/floor.py).

Its ratio is the issue-23 target, so what it does is checked on real values: one span per call,
the standard histogram points recorded in that span's context (an exemplar naming the span, as
tracewrap's points carry, issue 19), and for a stream time to first chunk and time per output
chunk measured from its own generator, not copied from tracewrap's capture.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench.floor import capture_plan, floor_call
from bench.harness import SCENARIOS, SpanCounter, Telemetry, mock_backend


def histogram_points(reader: InMemoryMetricReader) -> dict[str, list[HistogramDataPoint]]:
    found: dict[str, list[HistogramDataPoint]] = {}
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.data.data_points:
                    if isinstance(point, HistogramDataPoint):
                        found.setdefault(metric.name, []).append(point)
    return found


def run_floor(key: str, conventions: bool) -> tuple[Any, dict[str, list[HistogramDataPoint]]]:
    spec = next(s for s in SCENARIOS if s.key == key)
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    telemetry = Telemetry(tracer_provider, MeterProvider(metric_readers=[reader]), SpanCounter())
    backend = mock_backend()
    plan = capture_plan(backend, spec, telemetry)
    floor_call(backend.client(), spec, plan, tracer_provider.get_tracer("floor"), conventions)()
    spans = exporter.get_finished_spans()
    assert len(spans) == 1
    return spans[0], histogram_points(reader)


@pytest.mark.parametrize("key", ["chat", "responses", "chat_stream", "responses_stream"])
def test_conventions_floor_points_carry_its_span_as_exemplar(key: str) -> None:
    span, histograms = run_floor(key, conventions=True)
    assert span.attributes["gen_ai.operation.name"] in ("chat", "responses")
    names = set(histograms)
    expected = {"gen_ai.client.operation.duration", "gen_ai.client.token.usage"}
    if key.endswith("_stream"):
        expected |= {
            "gen_ai.client.operation.time_to_first_chunk",
            "gen_ai.client.operation.time_per_output_chunk",
        }
    assert names == expected  # the standard points only
    for points in histograms.values():
        for point in points:
            assert [e.span_id for e in point.exemplars] == [span.context.span_id]
            assert point.exemplars[0].trace_id == span.context.trace_id


@pytest.mark.parametrize("key", ["chat_stream", "responses_stream"])
def test_stream_floor_measures_its_own_chunk_times(key: str) -> None:
    span, histograms = run_floor(key, conventions=True)
    duration = histograms["gen_ai.client.operation.duration"][0].sum
    first = histograms["gen_ai.client.operation.time_to_first_chunk"][0].sum
    per_chunk = histograms["gen_ai.client.operation.time_per_output_chunk"][0].sum
    # measured here: the first chunk came after the start and before the end, and the chunks after
    # it took less than the whole call each
    assert 0 < first < duration
    assert 0 < per_chunk < duration - first
    wall = (span.end_time - span.start_time) / 1e9
    assert duration == pytest.approx(wall, abs=0.005)


def test_full_floor_counters_have_no_exemplars() -> None:
    """tracewrap's counters are observable (no exemplars): the full floor's replay has none either."""
    spec = next(s for s in SCENARIOS if s.key == "chat")
    tracer_provider = TracerProvider()
    reader = InMemoryMetricReader()
    telemetry = Telemetry(tracer_provider, MeterProvider(metric_readers=[reader]), SpanCounter())
    backend = mock_backend()
    plan = capture_plan(backend, spec, telemetry)
    counters = [p for p in plan.points if not p.in_span_context]
    assert counters  # tracewrap.client.token.usage, .finishes: replayed as synchronous adds
    floor_call(backend.client(), spec, plan, tracer_provider.get_tracer("floor"), conventions=False)()
    data = reader.get_metrics_data()
    sums = [
        point
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name.startswith("tracewrap.")
        for point in metric.data.data_points
    ]
    assert sums and all(not point.exemplars for point in sums)
