"""Test-only span sink, copied into the test venv next to ``00_twtest_sink.pth``.

With ``TWTEST_SPANS=/path`` it installs the global TracerProvider before tracewrap's start-up hook runs
(``.pth`` files are read in name order), writing one JSON line per finished span. Lines are written
with one ``os.write`` on an ``O_APPEND`` file, so forked and spawned children can share the file.
``TWTEST_SPAN_PROCESSOR=batch`` uses a BatchSpanProcessor whose timer never fires during a test:
spans then only arrive if something flushes them (the multiprocessing exit flush).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)


class JsonLinesExporter(SpanExporter):
    def __init__(self, path: str) -> None:
        self.path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(json.dumps(_record(span)) + "\n" for span in spans)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, lines.encode())
        finally:
            os.close(fd)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def _record(span: ReadableSpan) -> dict[str, object]:
    scope = span.instrumentation_scope
    return {
        "name": span.name,
        "scope": scope.name if scope else None,
        "pid": os.getpid(),
        "trace_id": f"{span.context.trace_id:032x}",
        "span_id": f"{span.context.span_id:016x}",
        "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "status": span.status.status_code.name,
        "attributes": {key: _plain(value) for key, value in (span.attributes or {}).items()},
    }


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


_installed = False


def install() -> None:
    # Python 3.11's site.py reads a venv's .pth files twice when lib64 is a symlink to lib
    global _installed
    if _installed:
        return
    _installed = True
    exporter = JsonLinesExporter(os.environ["TWTEST_SPANS"])
    processor: SpanProcessor
    if os.environ.get("TWTEST_SPAN_PROCESSOR") == "batch":
        processor = BatchSpanProcessor(
            exporter, schedule_delay_millis=600_000, max_queue_size=10_000, max_export_batch_size=10_000
        )
    else:
        processor = SimpleSpanProcessor(exporter)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
