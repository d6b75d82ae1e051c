"""The development console line: pure formatting, and one line per real call on stderr."""

from __future__ import annotations

import io
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

import tracewrap
from tracewrap.exporting.console import ConsoleCallExporter, format_call_line
from tracewrap.testing import FakeOpenAIServer, Scenario

from .common import MESSAGES

MS = 1_000_000


def span(attributes: dict[str, Any], duration_ms: int = 412, scope: str = "tracewrap") -> ReadableSpan:
    return ReadableSpan(
        name="chat gpt-4o-mini",
        attributes=attributes,
        start_time=1_000 * MS,
        end_time=(1_000 + duration_ms) * MS,
        instrumentation_scope=InstrumentationScope(scope),
    )


CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.usage.input_tokens": 12,
    "gen_ai.usage.output_tokens": 7,
    "gen_ai.response.finish_reasons": ("stop",),
}


def test_plain_call_line() -> None:
    assert format_call_line(span(CHAT)) == (
        "tracewrap  chat gpt-4o-mini  in=12 out=7  finish=stop  status=ok  412 ms"
    )


def test_stream_line_has_time_to_first_chunk() -> None:
    attrs = {**CHAT, "tracewrap.stream.outcome": "completed", "gen_ai.response.time_to_first_chunk": 0.08}
    assert format_call_line(span(attrs)) == (
        "tracewrap  chat gpt-4o-mini  in=12 out=7  finish=stop  status=ok  412 ms  (stream, ttfc 80 ms)"
    )


def test_stream_closed_early_and_responses_status() -> None:
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4.1",
        "openai.response.status": "incomplete",
        "tracewrap.stream.outcome": "closed_early",
    }
    assert format_call_line(span(attrs, 5)) == (
        "tracewrap  chat gpt-4.1  status=incomplete  5 ms  (stream closed_early)"
    )


def test_error_line() -> None:
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "error.type": "RateLimitError",
        "http.response.status_code": 429,
    }
    assert format_call_line(span(attrs, 31)) == (
        "tracewrap  chat gpt-4o  status=error RateLimitError (429)  31 ms"
    )


def test_cancelled_line() -> None:
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "tracewrap.cancelled": True}
    assert format_call_line(span(attrs, 8)) == "tracewrap  chat gpt-4o  status=cancelled  8 ms"
    streamed = {**attrs, "tracewrap.stream.outcome": "cancelled", "gen_ai.usage.input_tokens": 3}
    assert format_call_line(span(streamed, 8)) == (
        "tracewrap  chat gpt-4o  in=3  status=cancelled  8 ms  (stream cancelled)"
    )


def test_exporter_skips_other_instrumentation() -> None:
    out = io.StringIO()
    ConsoleCallExporter(out).export(
        [span(CHAT), span({"http.method": "GET"}, scope="opentelemetry.requests")]
    )
    assert out.getvalue().splitlines() == [format_call_line(span(CHAT))]


def test_configured_console_prints_one_line_per_call(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    server: FakeOpenAIServer,
    make_client: Any,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    setup = tracewrap.configure()
    assert setup.traces_exporters == ("console",)
    client = make_client()
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == Scenario().text
    lines = capsys.readouterr().err.splitlines()
    calls = [line for line in lines if line.startswith("tracewrap  ")]
    assert len(calls) == 2, lines
    assert calls[0].startswith("tracewrap  chat gpt-4o-mini  in=12 out=7  finish=stop  status=ok  ")
    assert calls[1].startswith("tracewrap  chat gpt-4o-mini  in=12 out=7  finish=stop  status=ok  ")
    assert "(stream, ttfc " in calls[1]
