"""Shared fixtures: one fake OpenAI server per session, fresh in-memory OTel pipelines per test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tracewrap import logs
from tracewrap.testing import FakeOpenAIServer

API_KEY = "sk-test-SECRET-key-0123456789"


@dataclass
class Telemetry:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    spans_exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def spans(self) -> list[ReadableSpan]:
        return list(self.spans_exporter.get_finished_spans())

    def one_span(self) -> ReadableSpan:
        spans = [
            s for s in self.spans() if s.instrumentation_scope and s.instrumentation_scope.name == "tracewrap"
        ]
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def points(self, metric_name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found: list[Any] = []
        if data is None:
            return found
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name == metric_name:
                        found.extend(metric.data.data_points)
        return found

    def wrap_kwargs(self) -> dict[str, Any]:
        return {"tracer_provider": self.tracer_provider, "meter_provider": self.meter_provider}


@pytest.fixture(autouse=True)
def sdk_unpatched_after_test() -> Iterator[None]:
    """``wrap(openai)`` patches the SDK process-wide: no test leaves it patched for the next one."""
    yield
    from tracewrap.interception.sdk_patch import uninstrument_sdk

    uninstrument_sdk()


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def server(fake_server: FakeOpenAIServer) -> Iterator[FakeOpenAIServer]:
    fake_server.clear()
    yield fake_server
    fake_server.clear()


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield Telemetry(tracer_provider, meter_provider, exporter, reader)
    tracer_provider.shutdown()
    meter_provider.shutdown()


@pytest.fixture
def fresh_warnings() -> Iterator[None]:
    """Forget which one-time warnings were given, so a test can see its own."""
    saved = set(logs._warned)
    logs._warned.clear()
    yield
    logs._warned.clear()
    logs._warned.update(saved)
