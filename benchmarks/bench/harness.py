"""The workload every column runs: scenarios, the in-process OpenAI, the telemetry pipeline, columns.

The SDK's HTTP layer is answered in process by ``tracewrap.testing.MockOpenAI`` (a ``MockTransport``
on ``httpx2`` or ``httpx``, whichever the SDK uses) with exact OpenAI bodies and SSE streams; each
distinct request's answer is encoded once, so the handler costs a dictionary lookup, the same for
every column.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import tracewrap
from tracewrap.testing import MockOpenAI, Scenario, chat_completion_events, response_events

MODEL = "gpt-4o-mini"
STREAM_CHUNKS = 50
ASYNC_CONCURRENCY = 100
MEMORY_CHUNKS = (1_000, 10_000)
HOT_CHUNKS = 50  # per-chunk micro-benchmark: distinct chunks cycled in the "hot" variant
TAIL_CHUNKS = 4  # ... followed by the stream's real last chunks (finish reason, usage, completed)
MEMORY_RETAINED_BOUND = 200 * 1024  # bytes; the smoke test asserts the same bound
MISSING = object()

CHAT_MESSAGES = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Say hello to the benchmark."},
]
# request parameters that tracewrap turns into span attributes: ~10-16 attributes per span
CHAT_ARGS: dict[str, Any] = {
    "model": MODEL,
    "messages": CHAT_MESSAGES,
    "temperature": 0.2,
    "top_p": 0.9,
    "max_tokens": 256,
    "seed": 7,
    "stop": ["\n\n"],
}
RESPONSES_ARGS: dict[str, Any] = {
    "model": MODEL,
    "input": "Say hello to the benchmark.",
    "instructions": "You are a terse assistant.",
    "temperature": 0.2,
    "top_p": 0.9,
    "max_output_tokens": 256,
}


# --------------------------------------------------------------------------- the in-process OpenAI


def mock_backend(chunks: int = STREAM_CHUNKS) -> MockOpenAI:
    """The in-process OpenAI every column calls; streams have ``chunks`` content chunks."""
    return MockOpenAI(stream_scenario(chunks), api_key="sk-bench", request_id="req_bench")


def stream_scenario(chunks: int) -> Scenario:
    # one word per chunk is enough: chunk *count* is what the tracing layers pay for
    return Scenario(text="word " * max(1, chunks // 5 + 1), chunks=chunks, cached_tokens=4)


def stream_items(chunks: int = STREAM_CHUNKS) -> dict[str, int]:
    """What the SDK yields per stream (role, content, finish and usage chunks; all Responses events)."""
    scenario = stream_scenario(chunks)
    return {
        "chat_stream": len(chat_completion_events(scenario, call_args(SCENARIOS[1]))),
        "responses_stream": len(response_events(scenario, call_args(SCENARIOS[3]))),
    }


# --------------------------------------------------------------------------- shared telemetry


class DiscardingExporter(SpanExporter):
    """Receives batches and drops them: the export pipeline runs, nothing is sent or kept."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


class SpanCounter(SpanProcessor):
    """Counts ended spans, to tell whether a column traced a scenario at all (peers may not)."""

    def __init__(self) -> None:
        self.ended = 0

    def on_end(self, span: ReadableSpan) -> None:
        self.ended += 1


@dataclass
class Telemetry:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    counter: SpanCounter


def make_telemetry() -> Telemetry:
    # every column exports through this one pipeline: same processor, same exporter, same reader
    counter = SpanCounter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(counter)
    tracer_provider.add_span_processor(BatchSpanProcessor(DiscardingExporter()))
    # InMemoryMetricReader only collects on demand; aggregation still happens at each record()
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    return Telemetry(tracer_provider, meter_provider, counter)


# --------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class ScenarioSpec:
    key: str
    title: str
    api: str  # "chat" | "responses"
    stream: bool
    concurrent: int = 0  # >0: async, that many calls at once through asyncio.gather


SCENARIOS = (
    ScenarioSpec("chat", "chat non-stream", "chat", False),
    ScenarioSpec("chat_stream", f"chat stream ({STREAM_CHUNKS} chunks)", "chat", True),
    ScenarioSpec("responses", "Responses non-stream", "responses", False),
    ScenarioSpec("responses_stream", f"Responses stream ({STREAM_CHUNKS} chunks)", "responses", True),
    ScenarioSpec(
        "async_chat",
        f"async chat x{ASYNC_CONCURRENCY} concurrent",
        "chat",
        False,
        ASYNC_CONCURRENCY,
    ),
)


def call_args(spec: ScenarioSpec) -> dict[str, Any]:
    args = dict(CHAT_ARGS if spec.api == "chat" else RESPONSES_ARGS)
    if spec.stream:
        args["stream"] = True
        if spec.api == "chat":
            args["stream_options"] = {"include_usage": True}
    return args


def sdk_method(client: Any, spec: ScenarioSpec) -> Callable[..., Any]:
    """A caller that looks the method up at each call, as application code does.

    Binding ``client.chat.completions.create`` once would freeze the function found at build time
    and silently bypass peers that patch the SDK's classes when they are switched on.
    """
    if spec.api == "chat":

        def chat(**kwargs: Any) -> Any:
            return client.chat.completions.create(**kwargs)

        return chat

    def responses(**kwargs: Any) -> Any:
        return client.responses.create(**kwargs)

    return responses


def plain_call(client: Any, spec: ScenarioSpec) -> Callable[[], None]:
    """One complete call as an application makes it; a stream is read to its end."""
    create = sdk_method(client, spec)
    args = call_args(spec)
    if spec.stream:

        def run_stream() -> None:
            for _ in create(**args):
                pass

        return run_stream

    def run() -> None:
        create(**args)

    return run


def plain_async_batch(client: Any, spec: ScenarioSpec) -> Callable[[], Awaitable[None]]:
    create = sdk_method(client, spec)
    args = call_args(spec)

    async def batch() -> None:
        await asyncio.gather(*(create(**args) for _ in range(spec.concurrent)))

    return batch


# --------------------------------------------------------------------------- columns


def _noop() -> None:
    return None


@dataclass
class Column:
    key: str
    title: str
    sync_client: Any = None
    async_client: Any = None
    floor: bool = False
    conventions: bool = False  # a floor with the conventions' points only
    enter: Callable[[], None] = _noop  # peers that patch the SDK globally switch on/off around each call
    exit: Callable[[], None] = _noop
    settle: Callable[[], None] = _noop  # between rounds, untimed: flush what the column queued
    note: str = ""
    otel: bool = True  # emits OpenTelemetry spans (LangSmith's wrapper sends runs its own way)


@contextlib.contextmanager
def env(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def core_columns(backend: MockOpenAI, telemetry: Telemetry) -> list[Column]:
    tp, mp = telemetry.tracer_provider, telemetry.meter_provider
    columns = [Column("bare", "bare SDK", backend.client(), backend.async_client())]
    # the kill switch: wrap() must hand back the very client, so calls cost exactly the bare SDK's
    plain_sync, plain_async = backend.client(), backend.async_client()
    with env(TRACEWRAP_ENABLED="false"):
        disabled_sync = tracewrap.wrap(plain_sync, tracer_provider=tp, meter_provider=mp)
        disabled_async = tracewrap.wrap(plain_async, tracer_provider=tp, meter_provider=mp)
    untouched = disabled_sync is plain_sync and disabled_async is plain_async
    columns.append(
        Column(
            "disabled",
            "tracewrap disabled",
            disabled_sync,
            disabled_async,
            note="" if untouched else "wrap() did NOT return the client untouched",
        )
    )
    columns.append(
        Column(
            "conv",
            "conventions floor",
            backend.client(),
            backend.async_client(),
            floor=True,
            conventions=True,
        )
    )
    columns.append(Column("floor", "full floor", backend.client(), backend.async_client(), floor=True))
    for key, title, mode in (
        ("tw_off", "tracewrap no content", "no_content"),
        ("tw_on", "tracewrap content", "span_only"),
    ):
        providers: dict[str, Any] = {"tracer_provider": tp, "meter_provider": mp, "capture_content": mode}
        columns.append(
            Column(
                key,
                title,
                tracewrap.wrap(backend.client(), **providers),
                tracewrap.wrap(backend.async_client(), **providers),
            )
        )
    return columns


def version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"
