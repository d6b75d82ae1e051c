"""Shared checks for the reliability tests, and their in-process OpenAI (``MockOpenAI``)."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tracewrap.testing import JsonDict, MockOpenAI, Scenario, http_library

http: Any = http_library()  # httpx2 on openai 3.x, httpx on 1.x/2.x

API_KEY = "sk-reliability-SECRET-0123456789abcdef"
MESSAGES = [{"role": "user", "content": "Say hello"}]
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_SCALARS = (str, bool, int, float)


def attribute_problem(key: str, value: Any) -> str | None:
    """Why ``value`` is not a valid OpenTelemetry attribute value (None when it is).

    Valid: str, bool, int (signed 64-bit, as OTLP encodes it), float, or a homogeneous
    sequence of one of those.
    """
    if not isinstance(key, str) or not key:
        return f"key {key!r} is not a non-empty str"
    if isinstance(value, (bool, str, float)):
        return None
    if isinstance(value, int):
        return None if INT64_MIN <= value <= INT64_MAX else f"{key}={value} does not fit a signed 64-bit int"
    if isinstance(value, (tuple, list)):
        kinds = {next((t for t in (bool, *_SCALARS) if isinstance(v, t)), type(v)) for v in value}
        if len(kinds) > 1:
            return f"{key}={value!r} is not homogeneous"
        if kinds and not kinds <= set(_SCALARS):
            return f"{key}={value!r} holds {kinds}"
        for v in value:
            problem = attribute_problem(key, v)
            if problem:
                return problem
        return None
    return f"{key}={value!r} has type {type(value).__name__}"


def assert_valid_attributes(attrs: Mapping[str, Any]) -> None:
    problems = [p for p in (attribute_problem(k, v) for k, v in attrs.items()) if p]
    assert not problems, problems


class OpenSpans(SpanProcessor):
    """Counts spans started and ended: a span ended twice or never shows here."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.open: dict[int, str] = {}
        self.ends: dict[int, int] = {}

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        with self._lock:
            self.open[span.context.span_id] = span.name

    def on_end(self, span: ReadableSpan) -> None:
        assert span.context is not None
        with self._lock:
            self.open.pop(span.context.span_id, None)
            self.ends[span.context.span_id] = self.ends.get(span.context.span_id, 0) + 1


class Pipeline:
    """Fresh in-memory tracer and meter providers, and a count of open spans."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.opened = OpenSpans()
        self.tracer_provider.add_span_processor(self.opened)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def kwargs(self) -> dict[str, Any]:
        return {"tracer_provider": self.tracer_provider, "meter_provider": self.meter_provider}

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def traced_spans(self) -> list[ReadableSpan]:
        return [
            s for s in self.spans() if s.instrumentation_scope and s.instrumentation_scope.name == "tracewrap"
        ]

    def metric_points(self) -> list[tuple[str, Any]]:
        data = self.reader.get_metrics_data()
        found: list[tuple[str, Any]] = []
        if data is None:
            return found
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    found.extend((metric.name, p) for p in metric.data.data_points)
        return found

    def points(self, name: str) -> list[Any]:
        return [p for n, p in self.metric_points() if n == name]

    def assert_all_ended_once(self) -> None:
        assert self.opened.open == {}, f"spans left open: {self.opened.open}"
        assert all(count == 1 for count in self.opened.ends.values()), self.opened.ends

    def one_span(self) -> ReadableSpan:
        spans = self.traced_spans()
        assert len(spans) == 1, [s.name for s in spans]
        self.assert_all_ended_once()
        return spans[0]

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def echo_number(body: Mapping[str, Any]) -> int:
    """The per-request number a test puts in ``metadata.n`` (both APIs accept ``metadata``)."""
    metadata = body.get("metadata")
    if isinstance(metadata, Mapping) and str(metadata.get("n", "")).isdigit():
        return int(metadata["n"])
    return 12


def echo_backend(chunks: int | None = 4, record: bool = False) -> MockOpenAI:
    """The in-process OpenAI (no socket) whose answers tell every call's numbers apart.

    Each answer reports ``prompt_tokens = n`` and ``completion_tokens = n + 1`` (a Responses id
    ``resp_<n>``) where ``n`` is the request's ``metadata={"n": "<n>"}``.
    """

    def scenario(body: JsonDict) -> Scenario:
        n = echo_number(body)
        return Scenario(text="one two three four", chunks=chunks, prompt_tokens=n, completion_tokens=n + 1)

    return MockOpenAI(
        scenario_for=scenario, id_suffix=lambda body: str(echo_number(body)), api_key=API_KEY, record=record
    )


def all_span_text(spans: Iterable[ReadableSpan]) -> str:
    """Every string a span carries: name, attributes, events, links, status, resource."""
    parts: list[str] = []
    for span in spans:
        parts.append(span.name)
        parts.append(repr(dict(span.attributes or {})))
        parts.append(repr(span.status.description))
        for event in span.events:
            parts.append(event.name)
            parts.append(repr(dict(event.attributes or {})))
        for link in span.links:
            parts.append(repr(dict(link.attributes or {})))
        parts.append(span.to_json())
    return "\n".join(parts)


def first(items: Iterable[Any], predicate: Callable[[Any], bool]) -> Any:
    for item in items:
        if predicate(item):
            return item
    raise AssertionError("no item matched")


class GcWatch:
    """Counts what runs while a GC pass is in progress."""

    def __init__(self) -> None:
        self.collecting_thread: int | None = None
        self.passes = 0
        self.context_changes = 0
        self.span_ends = 0
        self.span_ends_total = 0

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        self.collecting_thread = threading.get_ident() if phase == "start" else None
        self.passes += phase == "start"

    @property
    def in_gc(self) -> bool:
        """This thread is inside a GC pass (another thread's own context changes are safe)."""
        return self.collecting_thread == threading.get_ident()


class CountingRuntimeContext:
    """OpenTelemetry's runtime context, counting attach/detach made while the GC runs."""

    def __init__(self, inner: Any, watch: GcWatch) -> None:
        self.inner = inner
        self.watch = watch

    def attach(self, context: Any) -> Any:
        self.watch.context_changes += self.watch.in_gc
        return self.inner.attach(context)

    def detach(self, token: Any) -> None:
        self.watch.context_changes += self.watch.in_gc
        self.inner.detach(token)

    def get_current(self) -> Any:
        return self.inner.get_current()


@contextlib.contextmanager
def watching_gc() -> Iterator[GcWatch]:
    """Count OpenTelemetry context changes made inside GC passes while the block runs."""
    watch = GcWatch()
    original = otel_context._RUNTIME_CONTEXT
    otel_context._RUNTIME_CONTEXT = CountingRuntimeContext(original, watch)  # type: ignore[assignment]
    gc.callbacks.append(watch.on_gc)
    try:
        yield watch
    finally:
        gc.callbacks.remove(watch.on_gc)
        otel_context._RUNTIME_CONTEXT = original
