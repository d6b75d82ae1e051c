"""``tracewrap demo``: trace a realistic mix of OpenAI calls with no API key and no network.

The real ``openai`` SDK talks over HTTP to tracewrap's fake OpenAI server on 127.0.0.1, through
``wrap(openai)``. Each call prints the console exporter's one line (exactly what an OTLP
backend would receive, condensed); the end prints the metric totals the dashboards are built on.

    tracewrap demo               # the default mix
    tracewrap demo --verbose     # also every span attribute
    tracewrap demo --capture-content  # record prompts and outputs too (off by default)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from tracewrap.exporting.console import ConsoleCallExporter, is_tracewrap_span
from tracewrap.testing import FakeOpenAIServer, Scenario

MESSAGES = [{"role": "user", "content": "Say hello."}]


class _AttributePrinter(SpanExporter):
    """--verbose: every attribute of each tracewrap span, indented under its console line."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        for span in spans:
            if is_tracewrap_span(span):
                for key, value in sorted((span.attributes or {}).items()):
                    self._out.write(f"      {key} = {value!r}\n")
        return SpanExportResult.SUCCESS


def _calls(
    openai: Any, client: Any, server: FakeOpenAIServer
) -> list[tuple[str, Scenario | None, Callable[[], Any] | None]]:
    """The demo's calls, each with the scenario the fake server answers it with (None: the call
    brings its own server); a call of None cannot run on this SDK (a note is printed instead)."""

    def chat() -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, temperature=0.2)

    def chat_stream() -> None:
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        with stream:
            for _ in stream:
                pass

    def chat_stream_break() -> None:
        with client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True) as stream:
            for _ in stream:
                break  # the user stops reading: the span ends here, marked closed_early

    def chat_truncated() -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=5)

    def chat_filtered() -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    def responses() -> Any:
        return client.responses.create(model="gpt-4.1-mini", input="Say hello.")

    def responses_stream() -> Any:
        with client.responses.stream(model="o4-mini", input="Think, then say hello.") as stream:
            for _ in stream:
                pass
            return stream.get_final_response()

    def responses_incomplete() -> Any:
        return client.responses.create(model="gpt-4.1-mini", input="Write an essay.", max_output_tokens=16)

    def rate_limited() -> Any:
        try:
            return client.with_options(max_retries=0).chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES
            )
        except openai.RateLimitError as exc:  # the very exception the bare SDK raises
            return exc

    def embeddings() -> Any:
        return client.embeddings.create(model="text-embedding-3-small", input=["hello", "world"])

    def responses_websocket() -> None:
        # Responses WebSocket mode: a long-lived connection, one span per response on it
        from tracewrap.testing.websocket import FakeResponsesWebSocketServer

        with FakeResponsesWebSocketServer() as ws_server:
            ws_server.add(Scenario(chunks=5))
            ws_client = openai.OpenAI(base_url=ws_server.base_url, api_key="sk-demo-not-a-real-key")
            with ws_client.responses.connect() as connection:
                connection.response.create(model="gpt-4.1-mini", input="Say hello.")
                for event in connection:
                    if event.type in (
                        "response.completed",
                        "response.incomplete",
                        "response.failed",
                        "error",
                    ):
                        break
            ws_client.close()

    def async_chat() -> Any:
        async def run() -> Any:
            async_client = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-demo-not-a-real-key")
            async with async_client:
                return await async_client.chat.completions.create(model="gpt-4o", messages=MESSAGES)

        return asyncio.run(run())

    return [
        ("chat completion", Scenario(cached_tokens=8), chat),
        ("chat completion, streamed", Scenario(chunks=6), chat_stream),
        ("chat stream, reader stops early", Scenario(chunks=6), chat_stream_break),
        ("chat cut at max_tokens", Scenario(outcome="length", completion_tokens=5), chat_truncated),
        ("chat completion, content filtered", Scenario(outcome="content_filter"), chat_filtered),
        ("Responses API", Scenario(), responses),
        ("Responses .stream() helper", Scenario(chunks=5, reasoning_tokens=64), responses_stream),
        ("Responses incomplete", Scenario(outcome="length", completion_tokens=16), responses_incomplete),
        ("rate limited (429)", Scenario(outcome="http_error", status_code=429), rate_limited),
        ("embeddings", Scenario(), embeddings),
        ("async chat completion", Scenario(), async_chat),
        (
            "Responses WebSocket mode, one turn on a connection",
            None,
            _websocket_or_none(client, responses_websocket),
        ),
    ]


def _websocket_or_none(client: Any, call: Callable[[], Any]) -> Callable[[], Any] | None:
    """The WebSocket turn where it can run: an SDK with ``responses.connect()`` and ``websockets``."""
    if not hasattr(client.responses, "connect"):
        return None
    try:
        import websockets  # noqa: F401  (the SDK's connect() and the fake server both need it)
    except ModuleNotFoundError:
        return None
    return call


def _metric_totals(reader: InMemoryMetricReader) -> dict[str, dict[tuple[tuple[str, Any], ...], float]]:
    """Sum of each counter and count of each histogram, by attribute set."""
    totals: dict[str, dict[tuple[tuple[str, Any], ...], float]] = {}
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                by_attrs = totals.setdefault(metric.name, {})
                for point in metric.data.data_points:
                    key = tuple(sorted((point.attributes or {}).items()))
                    value = getattr(point, "count", None)
                    if metric.name.endswith(("token.usage", "finishes", "cost.usd")):
                        value = getattr(point, "sum", getattr(point, "value", value))
                    by_attrs[key] = by_attrs.get(key, 0) + (value or 0)
    return totals


def _print_summary(reader: InMemoryMetricReader, out: TextIO) -> None:
    totals = _metric_totals(reader)
    out.write("\nmetrics (what the Grafana dashboard queries):\n")
    calls = totals.get("gen_ai.client.operation.duration", {})
    out.write(f"  gen_ai.client.operation.duration   {sum(calls.values()):.0f} calls recorded\n")
    tokens: dict[str, float] = {}
    for attrs, value in totals.get("gen_ai.client.token.usage", {}).items():
        kind = dict(attrs).get("gen_ai.token.type", "?")
        tokens[kind] = tokens.get(kind, 0) + value
    out.write("  gen_ai.client.token.usage          " + _pairs(tokens) + "\n")
    finishes: dict[str, float] = {}
    for attrs, value in totals.get("tracewrap.client.finishes", {}).items():
        reason = dict(attrs).get("tracewrap.finish_reason", "?")
        finishes[reason] = finishes.get(reason, 0) + value
    out.write("  tracewrap.client.finishes          " + _pairs(finishes) + "\n")
    first_chunk = totals.get("gen_ai.client.operation.time_to_first_chunk", {})
    out.write(f"  time_to_first_chunk                {sum(first_chunk.values()):.0f} streams\n")


def _pairs(values: dict[str, float]) -> str:
    return "  ".join(f"{k}={v:g}" for k, v in sorted(values.items())) or "(none)"


def main(argv: Sequence[str] | None = None) -> int:
    # the module docstring's first line, without its reST quotes (--help printed ``tracewrap demo``)
    description = __doc__.split("\n\n")[0].replace("``", "")
    parser = argparse.ArgumentParser(prog="tracewrap demo", description=description)
    parser.add_argument("--verbose", action="store_true", help="print every attribute of each span")
    parser.add_argument(
        "--capture-content", action="store_true", help="record prompts and outputs (off by default)"
    )
    args = parser.parse_args(argv)
    out = sys.stdout
    if args.capture_content:
        os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "span_only"

    try:
        import openai
    except ModuleNotFoundError:
        sys.stderr.write("tracewrap demo needs the openai SDK: pip install 'tracewrap[demo]'\n")
        return 2

    from tracewrap import wrap

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleCallExporter(out)))
    if args.verbose:
        tracer_provider.add_span_processor(SimpleSpanProcessor(_AttributePrinter(out)))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])

    # the one line a user writes; providers are passed here only so the demo prints to stdout
    wrap(openai, tracer_provider=tracer_provider, meter_provider=meter_provider)

    with FakeOpenAIServer() as server:
        out.write(f"tracewrap demo: openai {openai.__version__} SDK -> fake OpenAI on {server.base_url}\n")
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-demo-not-a-real-key")
        for title, scenario, call in _calls(openai, client, server):
            if call is None:
                needs = "responses.connect() and the websockets package"
                out.write(f"\n- {title}: skipped, needs {needs} (openai {openai.__version__} here)\n")
                continue
            out.write(f"\n- {title}\n")
            out.flush()
            if scenario is not None:
                server.enqueue(scenario)
            call()
            out.flush()
        client.close()
    tracer_provider.shutdown()
    _print_summary(reader, out)
    meter_provider.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
