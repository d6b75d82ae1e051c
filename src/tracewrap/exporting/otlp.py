"""OTLP exporters of the protocol the environment asks for.

The exporters are built without arguments so they read endpoint, headers, timeout, compression
and certificates from the standard ``OTEL_EXPORTER_OTLP_*`` variables themselves. Each counts its
failed exports (:mod:`tracewrap.exporting.outcomes`): a flush says when it lost something.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.trace.export import SpanExporter

from tracewrap.environment import GRPC, otlp_protocol
from tracewrap.exporting.outcomes import noting_failures


def span_exporter() -> SpanExporter:
    if otlp_protocol("traces") == GRPC:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return noting_failures(GrpcExporter())
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return noting_failures(HttpExporter())


def metric_exporter() -> MetricExporter:
    if otlp_protocol("metrics") == GRPC:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as GrpcMetricExporter,
        )

        return noting_failures(GrpcMetricExporter())
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HttpMetricExporter,
    )

    return noting_failures(HttpMetricExporter())


def log_exporter() -> Any:  # a LogRecordExporter (the SDK's logs API is still underscored)
    if otlp_protocol("logs") == GRPC:
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter

        return noting_failures(GrpcLogExporter())
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter

    return noting_failures(HttpLogExporter())
