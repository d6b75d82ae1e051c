"""Development output: one readable line per traced call on stderr.

    tracewrap  chat gpt-4o-mini  in=12 out=7  finish=stop  status=ok  412 ms  (stream, ttfc 80 ms)

Built from the span's attributes only, so it shows exactly what an OTLP backend would receive.
Spans from other instrumentation are skipped.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

SCOPE_NAME = "tracewrap"
AGENT_OPERATIONS = frozenset({"invoke_workflow", "invoke_agent", "execute_tool"})


def is_tracewrap_span(span: ReadableSpan) -> bool:
    scope = span.instrumentation_scope
    return scope is not None and scope.name == SCOPE_NAME


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def format_call_line(span: ReadableSpan) -> str:
    """The one line for a tracewrap span (pure: reads the span, writes nothing)."""
    attrs: Mapping[str, Any] = dict(span.attributes or {})
    operation = attrs.get("gen_ai.operation.name")
    if operation is not None and operation not in AGENT_OPERATIONS:
        model = attrs.get("gen_ai.request.model") or attrs.get("gen_ai.response.model") or "?"
        parts = [f"{operation} {model}"]
    else:  # an agent run's own spans (invoke_agent, execute_tool, handoff, ...): their name says it
        parts = [span.name]
    tokens = [
        f"{label}={attrs[key]}"
        for label, key in (("in", "gen_ai.usage.input_tokens"), ("out", "gen_ai.usage.output_tokens"))
        if key in attrs
    ]
    if tokens:
        parts.append(" ".join(tokens))
    finish = attrs.get("gen_ai.response.finish_reasons")
    if finish:
        parts.append("finish=" + ",".join(str(f) for f in finish))
    parts.append(f"status={_status(attrs)}")
    if span.start_time is not None and span.end_time is not None:
        parts.append(_ms((span.end_time - span.start_time) / 1e9))
    outcome = attrs.get("tracewrap.stream.outcome")
    if outcome is not None:
        stream = "stream" if outcome == "completed" else f"stream {outcome}"
        ttfc = attrs.get("gen_ai.response.time_to_first_chunk")
        if isinstance(ttfc, (int, float)):
            stream += f", ttfc {_ms(ttfc)}"
        parts.append(f"({stream})")
    return "tracewrap  " + "  ".join(parts)


def _status(attrs: Mapping[str, Any]) -> str:
    error = attrs.get("error.type")
    if error:
        code = attrs.get("http.response.status_code")
        return f"error {error}" + (f" ({code})" if code is not None else "")
    if attrs.get("tracewrap.cancelled"):  # the caller gave up: not a failure, and not "ok" either
        return "cancelled"
    status = attrs.get("openai.response.status")
    return str(status) if status and status != "completed" else "ok"


class ConsoleCallExporter(SpanExporter):
    """Writes :func:`format_call_line` for each tracewrap span; ``out`` defaults to the current stderr."""

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = [format_call_line(s) for s in spans if is_tracewrap_span(s)]
        if lines:
            out = self._out or sys.stderr  # read late: tests and apps may swap sys.stderr
            try:
                out.write("\n".join(lines) + "\n")
                out.flush()
            except (OSError, ValueError):
                return SpanExportResult.FAILURE  # closed or missing stderr: nothing to do
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
