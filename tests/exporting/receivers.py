"""Loopback receivers for tests: OTLP (traces, metrics, logs) over HTTP and gRPC, with switchable faults.

Each receiver keeps the raw bytes it was sent (for secret scans) and the decoded requests.
``mode`` makes it misbehave: ``ok``, ``error`` (HTTP 500 / gRPC UNAVAILABLE), ``slow`` (sleeps
``delay_s`` before answering), ``reset`` (closes the connection without answering).
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return tuple(any_value(v) for v in value.array_value.values)
    return getattr(value, kind) if kind else None


def attributes(items: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in items}


@dataclass
class ReceivedSpan:
    name: str
    kind: int
    scope: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    trace_id: str
    span_id: str
    status_code: int


@dataclass
class Store:
    """What a receiver got, shared by its HTTP and gRPC front ends."""

    mode: str = "ok"
    delay_s: float = 5.0
    generation: int = 0  # bumped by clear(): requests from before it are answered, not recorded
    raw: list[bytes] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # each request's, beside ``raw`` (gRPC: the signal's)
    headers: list[dict[str, str]] = field(default_factory=list)
    traces: list[trace_service_pb2.ExportTraceServiceRequest] = field(default_factory=list)
    metrics: list[metrics_service_pb2.ExportMetricsServiceRequest] = field(default_factory=list)
    logs: list[logs_service_pb2.ExportLogsServiceRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def spans(self) -> list[ReceivedSpan]:
        found = []
        with self.lock:
            requests = list(self.traces)
        for request in requests:
            for rs in request.resource_spans:
                resource = attributes(rs.resource.attributes)
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        found.append(
                            ReceivedSpan(
                                name=span.name,
                                kind=span.kind,
                                scope=ss.scope.name,
                                attributes=attributes(span.attributes),
                                resource=resource,
                                trace_id=span.trace_id.hex(),
                                span_id=span.span_id.hex(),
                                status_code=span.status.code,
                            )
                        )
        return found

    def log_records(self) -> list[tuple[str, Any]]:
        """(instrumentation scope name, LogRecord) for every log record received."""
        with self.lock:
            requests = list(self.logs)
        return [
            (sl.scope.name, record)
            for request in requests
            for rl in request.resource_logs
            for sl in rl.scope_logs
            for record in sl.log_records
        ]

    def metric_points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, data point) for every point of metric ``name`` received."""
        found = []
        with self.lock:
            requests = list(self.metrics)
        for request in requests:
            for rm in request.resource_metrics:
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        if metric.name != name:
                            continue
                        data = getattr(metric, metric.WhichOneof("data"))
                        found.extend((attributes(p.attributes), p) for p in data.data_points)
        return found

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return bool(predicate())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # or each small answer stalls ~40 ms on delayed ACKs
    store: Store

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        store = self.store
        generation = store.generation
        with store.lock:
            store.raw.append(body)
            store.paths.append(self.path)
            store.headers.append({k.lower(): v for k, v in self.headers.items()})
        if store.mode == "reset":
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            self.close_connection = True
            self.connection.close()
            return
        if store.mode == "slow":
            time.sleep(store.delay_s)
        if store.mode == "error":
            self._answer(500, b"")
            return
        if generation != store.generation:  # a test that has ended: accepted, so not retried into the next
            self._answer(200, b"")
            return
        signal = _SIGNALS.get(self.path)
        if signal is None:
            self._answer(404, b"")
            return
        request_type, reply_type, field_name = signal
        request = request_type.FromString(body)
        with store.lock:
            getattr(store, field_name).append(request)
        reply = reply_type().SerializeToString()
        self._answer(200, reply)

    def _answer(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


# OTLP signal -> (request type, reply type, the Store list it goes to)
_SIGNALS: dict[str, tuple[Any, Any, str]] = {
    "/v1/traces": (
        trace_service_pb2.ExportTraceServiceRequest,
        trace_service_pb2.ExportTraceServiceResponse,
        "traces",
    ),
    "/v1/metrics": (
        metrics_service_pb2.ExportMetricsServiceRequest,
        metrics_service_pb2.ExportMetricsServiceResponse,
        "metrics",
    ),
    "/v1/logs": (
        logs_service_pb2.ExportLogsServiceRequest,
        logs_service_pb2.ExportLogsServiceResponse,
        "logs",
    ),
}


def _servicer(base: type, reply_type: Any, field_name: str, store: Store) -> Any:
    """The gRPC side of one signal: records like the HTTP side, in the same Store."""

    class Service(base):  # type: ignore[misc,valid-type]
        def Export(self, request: Any, context: Any) -> Any:
            _grpc_record(store, request, context, field_name)
            return reply_type()

    return Service()


def _grpc_record(store: Store, request: Any, context: Any, field_name: str) -> None:
    generation = store.generation
    with store.lock:
        store.raw.append(request.SerializeToString())
        store.paths.append(f"/v1/{field_name}")
        store.headers.append({k: str(v) for k, v in context.invocation_metadata()})
    if store.mode == "slow":
        time.sleep(store.delay_s)
    if store.mode in ("error", "reset"):
        context.abort(grpc.StatusCode.UNAVAILABLE, "receiver told to fail")
    if generation != store.generation:  # as over HTTP: accepted, not recorded
        return
    with store.lock:
        getattr(store, field_name).append(request)


class OTLPReceiver:
    """OTLP/HTTP on ``http_endpoint`` and OTLP/gRPC on ``grpc_endpoint``, both on 127.0.0.1."""

    def __init__(self) -> None:
        self.store = Store()
        handler = type("Handler", (_Handler,), {"store": self.store})
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._http.daemon_threads = True
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        for module, name, field_name in (
            (trace_service_pb2_grpc, "TraceService", "traces"),
            (metrics_service_pb2_grpc, "MetricsService", "metrics"),
            (logs_service_pb2_grpc, "LogsService", "logs"),
        ):
            _, reply_type, _ = _SIGNALS[f"/v1/{field_name}"]
            servicer = _servicer(getattr(module, f"{name}Servicer"), reply_type, field_name, self.store)
            getattr(module, f"add_{name}Servicer_to_server")(servicer, self._grpc)
        self.grpc_port = self._grpc.add_insecure_port("127.0.0.1:0")

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    def start(self) -> OTLPReceiver:
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        self._grpc.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._grpc.stop(grace=0)

    def clear(self) -> None:
        fresh = Store()
        with self.store.lock:
            for name in ("raw", "paths", "headers", "traces", "metrics", "logs"):
                getattr(self.store, name).clear()
            self.store.mode = fresh.mode
            self.store.delay_s = fresh.delay_s
            self.store.generation += 1
