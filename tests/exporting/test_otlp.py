"""configure() from the standard environment, real OTLP over HTTP and gRPC to a loopback receiver."""

from __future__ import annotations

import logging
import time
from typing import Any

import openai
import pytest
from opentelemetry import metrics, trace
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status as ProtoStatus
from opentelemetry.sdk.trace import TracerProvider

import tracewrap
from tracewrap.testing import FakeOpenAIServer, Scenario

from .common import MESSAGES, call_and_flush_in_fork
from .receivers import OTLPReceiver, attributes, free_port


def _env(monkeypatch: pytest.MonkeyPatch, receiver: OTLPReceiver, protocol: str) -> None:
    endpoint = receiver.grpc_endpoint if protocol == "grpc" else receiver.http_endpoint
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "checkout-api")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test,team=llm")


def _last_points(receiver: OTLPReceiver, name: str) -> list[tuple[dict[str, Any], Any]]:
    """Points of the most recent export of a cumulative metric."""
    with receiver.store.lock:
        requests = list(receiver.store.metrics)
    for request in reversed(requests):
        found = [
            (attrs, point)
            for attrs, point in receiver.store.metric_points(name)
            if any(point is p for p in _points_in(request, name))
        ]
        if found:
            return found
    return []


def _points_in(request: Any, name: str) -> list[Any]:
    points = []
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == name:
                    points.extend(getattr(metric, metric.WhichOneof("data")).data_points)
    return points


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_spans_and_metrics_arrive_over_otlp(
    protocol: str,
    monkeypatch: pytest.MonkeyPatch,
    receiver: OTLPReceiver,
    server: FakeOpenAIServer,
    make_client: Any,
) -> None:
    _env(monkeypatch, receiver, protocol)
    setup = tracewrap.configure()
    assert setup.traces_exporters == ("otlp",) and setup.metrics_exporters == ("otlp",)
    exporter = setup.span_processors[0].span_exporter
    assert type(exporter).__module__.split(".")[-2] == ("grpc" if protocol == "grpc" else "http")

    client = make_client()
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, temperature=0.2)
    assert reply.choices[0].message.content == Scenario().text
    server.enqueue(Scenario(prompt_tokens=30, completion_tokens=11, chunks=3))
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == Scenario().text
    server.enqueue(Scenario(outcome="http_error", status_code=429))
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert tracewrap.flush(5.0)

    store = receiver.store
    assert store.wait_for(lambda: len([s for s in store.spans() if s.scope == "tracewrap"]) >= 3)
    spans = [s for s in store.spans() if s.scope == "tracewrap"]
    assert [s.name for s in spans] == ["chat gpt-4o-mini", "chat gpt-4o-mini", "chat gpt-4o"]
    plain, streamed, failed = spans
    assert plain.kind == ProtoSpan.SPAN_KIND_CLIENT
    assert plain.resource["service.name"] == "checkout-api"
    assert plain.resource["deployment.environment.name"] == "test" and plain.resource["team"] == "llm"
    a = plain.attributes
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == "gpt-4o-mini"
    assert a["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert a["gen_ai.request.temperature"] == 0.2
    assert a["gen_ai.usage.input_tokens"] == 12 and a["gen_ai.usage.output_tokens"] == 7
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == server.port
    s = streamed.attributes
    assert s["gen_ai.usage.input_tokens"] == 30 and s["gen_ai.usage.output_tokens"] == 11
    assert s["tracewrap.stream.outcome"] == "completed"
    assert s["gen_ai.response.time_to_first_chunk"] > 0
    assert failed.attributes["error.type"] == "RateLimitError"
    assert failed.attributes["http.response.status_code"] == 429
    assert failed.status_code == ProtoStatus.STATUS_CODE_ERROR

    durations = _last_points(receiver, "gen_ai.client.operation.duration")
    assert sum(p.count for _, p in durations) == 3
    tokens = {
        (attrs["gen_ai.request.model"], attrs["gen_ai.token.type"]): (p.count, p.sum)
        for attrs, p in _last_points(receiver, "gen_ai.client.token.usage")
    }
    assert tokens == {("gpt-4o-mini", "input"): (2, 42), ("gpt-4o-mini", "output"): (2, 18)}
    finishes = {
        attrs["tracewrap.finish_reason"]: p.as_int
        for attrs, p in _last_points(receiver, "tracewrap.client.finishes")
    }
    assert finishes == {"stop": 2, "error": 1}


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_flush_says_when_the_collector_refused_the_export(
    protocol: str, monkeypatch: pytest.MonkeyPatch, receiver: OTLPReceiver, make_client: Any
) -> None:
    """A refused export fails within the exporter's timeout (1 s); the SDK's force_flush still
    returns True once it called the exporter. ``tracewrap.flush()`` answers False: the serverless
    handler that checks it knows its telemetry did not arrive (test_spans_and_metrics_arrive_over_otlp:
    True when it did)."""
    _env(monkeypatch, receiver, protocol)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{free_port()}")  # nobody there
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    tracewrap.configure()
    make_client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    started = time.monotonic()
    assert tracewrap.flush(5.0) is False
    assert time.monotonic() - started < 5.0  # it ended, failed, before the deadline: not a timeout


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_content_events_are_exported_as_otlp_logs(
    protocol: str,
    monkeypatch: pytest.MonkeyPatch,
    receiver: OTLPReceiver,
    server: FakeOpenAIServer,
    make_client: Any,
) -> None:
    _env(monkeypatch, receiver, protocol)
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "event_only")
    setup = tracewrap.configure()
    assert setup.logs_exporters == ("otlp",) and setup.logger_provider is not None

    reply = make_client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert tracewrap.flush(5.0)

    store = receiver.store
    assert store.wait_for(lambda: store.log_records() and store.spans())
    [(scope, record)] = store.log_records()
    [span] = [s for s in store.spans() if s.scope == "tracewrap"]
    assert scope == "tracewrap"
    assert record.event_name == "gen_ai.client.inference.operation.details"
    # the event belongs to the call's span, and carries the content the span does not (event_only)
    assert record.trace_id.hex() == span.trace_id and record.span_id.hex() == span.span_id
    content = attributes(record.attributes)
    assert MESSAGES[-1]["content"] in content["gen_ai.input.messages"]
    assert reply.choices[0].message.content in content["gen_ai.output.messages"]
    assert not any(key.startswith(("gen_ai.input", "gen_ai.output")) for key in span.attributes)
    resource = store.logs[0].resource_logs[0].resource
    assert attributes(resource.attributes)["service.name"] == "checkout-api"


def test_no_logs_pipeline_without_content_events(
    monkeypatch: pytest.MonkeyPatch, receiver: OTLPReceiver, make_client: Any
) -> None:
    _env(monkeypatch, receiver, "http/protobuf")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "span_only")
    setup = tracewrap.configure()
    assert setup.logs_exporters == () and setup.logger_provider is None
    make_client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert tracewrap.flush(5.0)
    assert receiver.store.wait_for(lambda: receiver.store.spans())
    assert receiver.store.log_records() == []


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_forked_child_exports_over_the_parents_pipeline(
    protocol: str,
    monkeypatch: pytest.MonkeyPatch,
    receiver: OTLPReceiver,
    make_client: Any,
) -> None:
    # gunicorn --preload: the exporter (a gRPC channel, an HTTP session) was created and used in the
    # parent before the fork; the child's calls must still reach the collector
    _env(monkeypatch, receiver, protocol)
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    tracewrap.configure()
    client = make_client()
    client.chat.completions.create(model="before-fork", messages=MESSAGES)
    assert tracewrap.flush(5.0)
    child = call_and_flush_in_fork(
        lambda: client.chat.completions.create(model="in-child", messages=MESSAGES)
    )
    assert child == 0
    client.chat.completions.create(model="after-fork", messages=MESSAGES)
    assert tracewrap.flush(5.0)
    store = receiver.store
    assert store.wait_for(lambda: len([s for s in store.spans() if s.scope == "tracewrap"]) >= 3)
    models = sorted(s.attributes["gen_ai.request.model"] for s in store.spans() if s.scope == "tracewrap")
    assert models == ["after-fork", "before-fork", "in-child"]


def test_signal_specific_variables_win(
    monkeypatch: pytest.MonkeyPatch, receiver: OTLPReceiver, server: FakeOpenAIServer, make_client: Any
) -> None:
    # the generic endpoint is dead; the traces endpoint and protocol point at the gRPC receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.grpc_endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    setup = tracewrap.configure(service_name="explicit-name")
    assert setup.traces_exporters == ("otlp",) and setup.meter_provider is None
    make_client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert tracewrap.flush(5.0)
    spans = [s for s in receiver.store.spans() if s.scope == "tracewrap"]
    assert len(spans) == 1 and spans[0].resource["service.name"] == "explicit-name"
    assert receiver.store.headers[-1]["x-tenant"] == "acme"


def test_configure_is_idempotent_and_disabled_by_kill_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    first = tracewrap.configure()
    assert tracewrap.configure(traces_exporter="otlp") is first
    assert trace.get_tracer_provider() is first.tracer_provider
    tracewrap.shutdown(1.0)

    from .conftest import reset_globals

    reset_globals()
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    off = tracewrap.configure()
    assert not off.enabled and off.tracer_provider is None
    assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"


def test_existing_global_providers_are_used_not_replaced(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from opentelemetry.sdk.metrics import MeterProvider

    app_tracer_provider = TracerProvider()
    app_meter_provider = MeterProvider()
    trace.set_tracer_provider(app_tracer_provider)
    metrics.set_meter_provider(app_meter_provider)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp,console")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "otlp")
    with caplog.at_level(logging.INFO, logger="tracewrap"):
        setup = tracewrap.configure()
    assert setup.uses_existing_tracer_provider and setup.uses_existing_meter_provider
    assert setup.tracer_provider is None and setup.meter_provider is None
    assert trace.get_tracer_provider() is app_tracer_provider
    assert metrics.get_meter_provider() is app_meter_provider
    assert "its own TracerProvider" in caplog.text and "its own MeterProvider" in caplog.text
    app_tracer_provider.shutdown()
    app_meter_provider.shutdown()


@pytest.mark.parametrize("configured", [False, True])
def test_flush_flushes_the_applications_own_providers(configured: bool, server: FakeOpenAIServer) -> None:
    """README: ``tracewrap.flush()`` at the end of a serverless handler. With the application's own
    providers (which tracewrap records into) it returned True and flushed nothing: spans and metric
    points waited for the next scheduled export, which a frozen handler never reaches."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        MetricExporter,
        MetricExportResult,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    class Points(MetricExporter):
        def __init__(self) -> None:
            super().__init__(preferred_temporality={}, preferred_aggregation={})
            self.names: list[str] = []

        def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> Any:
            for rm in metrics_data.resource_metrics:
                self.names += [m.name for sm in rm.scope_metrics for m in sm.metrics]
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis: float = 10_000) -> bool:
            return True

        def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
            pass

    spans, points = InMemorySpanExporter(), Points()
    app_tracer_provider = TracerProvider()
    app_tracer_provider.add_span_processor(BatchSpanProcessor(spans, schedule_delay_millis=3_600_000))
    reader = PeriodicExportingMetricReader(points, export_interval_millis=3_600_000)
    app_meter_provider = MeterProvider(metric_readers=[reader])
    trace.set_tracer_provider(app_tracer_provider)
    metrics.set_meter_provider(app_meter_provider)
    if configured:
        tracewrap.configure()  # adopts them
    tracewrap.wrap(openai)
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-x", max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    client.close()
    assert spans.get_finished_spans() == ()  # still queued: the next export is an hour away
    assert tracewrap.flush(5.0)
    assert [s.name for s in spans.get_finished_spans()] == ["chat gpt-4o-mini"]
    assert "gen_ai.client.operation.duration" in points.names
    app_tracer_provider.shutdown()
    app_meter_provider.shutdown()


def test_flush_after_shutdown_is_true(receiver: OTLPReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """tracewrap's own providers stay the global ones after shutdown(): flush() leaves them alone."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint)
    setup = tracewrap.configure()
    assert setup.tracer_provider is trace.get_tracer_provider()
    tracewrap.shutdown(2.0)
    assert tracewrap.flush(2.0)


def test_invalid_values_warn_once_and_fall_back(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from tracewrap import logs

    logs._warned.clear()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin2000")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "console,statsd")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    monkeypatch.setenv("TRACEWRAP_EXIT_TIMEOUT", "soon")
    monkeypatch.setenv("TRACEWRAP_PROMETHEUS_PORT", "99999")
    from tracewrap import environment as settings

    with caplog.at_level(logging.WARNING, logger="tracewrap"):
        setup = tracewrap.configure()
        assert settings.otlp_protocol("traces") == "http/protobuf"
        assert settings.otlp_protocol("traces") == "http/protobuf"
        assert settings.prometheus_port(None) == 9464
    assert setup.traces_exporters == ()  # nothing valid and no endpoint: the documented default
    assert setup.metrics_exporters == ("console",)
    assert setup.exit_timeout == 3.0
    for needle in (
        "zipkin2000",
        "statsd",
        "http/json",
        "TRACEWRAP_EXIT_TIMEOUT",
        "TRACEWRAP_PROMETHEUS_PORT",
    ):
        assert caplog.text.count(needle) == 1, (needle, caplog.text)


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("traces_exporter", b"console"),  # was iterated: one "unknown exporter" warning per byte
        ("traces_exporter", [b"console"]),
        ("metrics_exporter", bytearray(b"otlp")),
        ("metrics_exporter", 5),
        ("service_name", b"svc"),
        ("exit_timeout", "3"),
        ("exit_timeout", True),
        ("prometheus_port", 9464.0),
        ("max_queue_size", "256"),
        ("langsmith_client", "lsv2_pt_key"),  # was accepted: every call then an internal error
        ("langsmith_client", object()),
    ],
)
def test_an_argument_of_the_wrong_type_is_a_type_error(argument: str, value: Any) -> None:
    from tracewrap.exporting import config

    with pytest.raises(TypeError, match=rf"configure\({argument}=\.\.\.\) takes"):
        tracewrap.configure(**{argument: value})
    assert config._setup is None  # nothing was set up: the corrected call still applies


def test_exporter_names_may_be_any_iterable_of_str_and_bad_values_warn(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from tracewrap import logs

    monkeypatch.setattr(logs, "_warned", set())
    monkeypatch.setenv("TRACEWRAP_PROMETHEUS_PORT", "9999")
    with caplog.at_level(logging.WARNING, logger="tracewrap"):
        setup = tracewrap.configure(
            traces_exporter=(name for name in ["console", "zipkin"]),
            metrics_exporter=["none"],
            prometheus_port=70000,  # the right type, no port: a warning and the variable's port
        )
        from tracewrap import environment

        assert environment.prometheus_port(70000) == 9999
    assert setup.traces_exporters == ("console",) and setup.metrics_exporters == ()
    assert caplog.text.count("zipkin") == 1 and caplog.text.count("prometheus_port=70000") == 1


def test_prometheus_endpoint_serves_our_metrics(
    monkeypatch: pytest.MonkeyPatch, server: FakeOpenAIServer, make_client: Any
) -> None:
    import urllib.request

    from .receivers import free_port

    port = free_port()
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "prometheus")
    monkeypatch.setenv("TRACEWRAP_PROMETHEUS_PORT", str(port))
    setup = tracewrap.configure()
    assert setup.prometheus_server is not None
    make_client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    page = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    line = next(x for x in page.splitlines() if x.startswith("gen_ai_client_token_usage_sum{"))
    assert 'gen_ai_token_type="input"' in line or 'gen_ai_token_type="output"' in line
    assert "gen_ai_client_operation_duration_seconds_count" in page


def test_metric_points_carry_their_calls_span_as_exemplar(
    monkeypatch: pytest.MonkeyPatch, receiver: OTLPReceiver, server: FakeOpenAIServer, make_client: Any
) -> None:
    """Each call's histogram points are recorded in its span's context: the exemplar names the span
    (a backend jumps from a latency point to its trace)."""
    _env(monkeypatch, receiver, "http/protobuf")
    tracewrap.configure()
    client = make_client()
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    server.enqueue(Scenario(prompt_tokens=30, completion_tokens=11, chunks=3))
    stream = client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == Scenario().text
    assert tracewrap.flush(5.0)

    store = receiver.store
    assert store.wait_for(lambda: len([s for s in store.spans() if s.scope == "tracewrap"]) >= 2)
    span_of = {s.attributes["gen_ai.request.model"]: s for s in store.spans() if s.scope == "tracewrap"}
    assert set(span_of) == {"gpt-4o-mini", "gpt-4o"}
    assert span_of["gpt-4o-mini"].trace_id != span_of["gpt-4o"].trace_id

    def exemplars(name: str) -> dict[tuple[str, ...], list[tuple[str, str, float]]]:
        found = {}
        for attrs, point in _last_points(receiver, name):
            key = (attrs["gen_ai.request.model"], attrs.get("gen_ai.token.type", ""))
            found[key] = [
                (e.trace_id.hex(), e.span_id.hex(), getattr(e, e.WhichOneof("value")))
                for e in point.exemplars
            ]
        return found

    durations = exemplars("gen_ai.client.operation.duration")
    assert set(durations) == {("gpt-4o-mini", ""), ("gpt-4o", "")}
    for (model, _), found in durations.items():
        span = span_of[model]
        assert [(t, s) for t, s, _ in found] == [(span.trace_id, span.span_id)]
        assert found[0][2] > 0  # the call's duration in seconds
    tokens = exemplars("gen_ai.client.token.usage")
    mini, big = span_of["gpt-4o-mini"], span_of["gpt-4o"]
    assert tokens == {
        ("gpt-4o-mini", "input"): [(mini.trace_id, mini.span_id, 12)],
        ("gpt-4o-mini", "output"): [(mini.trace_id, mini.span_id, 7)],
        ("gpt-4o", "input"): [(big.trace_id, big.span_id, 30)],
        ("gpt-4o", "output"): [(big.trace_id, big.span_id, 11)],
    }
    first_chunk = exemplars("gen_ai.client.operation.time_to_first_chunk")
    assert [(t, s) for t, s, _ in first_chunk[("gpt-4o", "")]] == [(big.trace_id, big.span_id)]
