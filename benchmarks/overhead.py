#!/usr/bin/env python
"""Per-call overhead of tracewrap against the bare OpenAI SDK, an OpenTelemetry floor and peers.

    python benchmarks/overhead.py            # full run, a few minutes
    python benchmarks/overhead.py --quick    # CI smoke mode, well under a minute
    python benchmarks/overhead.py --json out.json

The workload is the real ``openai`` SDK whose HTTP layer is answered in process by a
``MockTransport`` (``httpx2`` on openai 3.x, ``httpx`` on 1.x/2.x) with exact OpenAI bodies and SSE
streams from :mod:`tracewrap.testing.bodies`, so everything but the network is real: request
building, JSON/SSE parsing, pydantic models, and the tracing layers under test.

Every column of one scenario is measured in the same process, interleaved call by call (one
call of each column per round, in a fresh seeded random order each round), over hundreds of
rounds; each column's overhead is its call's time minus the bare SDK's call *in the same round*,
and the table reports medians of those paired differences.
Absolute times on a shared VM drift by tens of percent within seconds; paired differences of
calls made milliseconds apart, and the ratio to the floor, do not.

The CONVENTIONS FLOOR is the reference: the OpenTelemetry SDK doing what the GenAI conventions ask
around each real call, written by hand: one CLIENT span with the same name and attributes as
tracewrap's, and the standard histogram points only (operation duration, input and output token
usage; for a stream also time to first chunk and time per output chunk), nothing else. The FULL
FLOOR (the second line) writes every metric point tracewrap emits, its own counters included, as
synchronous measurements. tracewrap's overhead divided by a floor's says how much tracewrap adds
beyond the cost OpenTelemetry itself imposes for that much telemetry.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import openai
import openai._base_client as _openai_base
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

REPO = Path(__file__).resolve().parents[1]
try:  # run from a checkout without installing: fall back to the src layout next to this file
    import tracewrap
except ImportError:
    sys.path.insert(0, str(REPO / "src"))
    import tracewrap

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling startup_hook module
from startup_hook import iqr, startup_costs, unset_hook_target  # noqa: E402
from startup_hook import report_lines as startup_report_lines  # noqa: E402

from tracewrap.testing.bodies import (  # noqa: E402  (after the src-layout fallback above)
    Scenario,
    chat_completion_body,
    chat_completion_events,
    encode_sse,
    response_body,
    response_events,
)

# openai 3.x talks httpx2, 1.x/2.x talk httpx: use whichever the installed SDK's client imports
http: Any = getattr(_openai_base, "httpx2", None) or getattr(_openai_base, "httpx", None)
if http is None:  # pragma: no cover - an SDK that imports neither
    raise SystemExit("cannot tell which HTTP library openai uses (neither httpx2 nor httpx)")

MODEL = "gpt-4o-mini"
BASE_URL = "http://mock.openai.local/v1"
STREAM_CHUNKS = 50
ASYNC_CONCURRENCY = 100
MEMORY_CHUNKS = (1_000, 10_000)
HOT_CHUNKS = 50  # per-chunk micro-benchmark: distinct chunks cycled in the "hot" variant
TAIL_CHUNKS = 4  # ... followed by the stream's real last chunks (finish reason, usage, completed)
MEMORY_RETAINED_BOUND = 200 * 1024  # bytes; the smoke test asserts the same bound
_MISSING = object()

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


# --------------------------------------------------------------------------- mock OpenAI backend


class MockBackend:
    """Prebuilt exact OpenAI bodies, served by a ``MockTransport`` handler with no I/O.

    Bodies are encoded once so the handler's cost is a dict lookup, identical for every column.
    """

    def __init__(self, chunks: int = STREAM_CHUNKS) -> None:
        # one character per chunk is enough: chunk *count* is what the tracing layers pay for
        scenario = Scenario(text="word " * max(1, chunks // 5 + 1), chunks=chunks, cached_tokens=4)
        chat_req = {**CHAT_ARGS, "stream_options": {"include_usage": True}}
        self.chat_json = json.dumps(chat_completion_body(scenario, chat_req)).encode()
        self.chat_sse = encode_sse(chat_completion_events(scenario, chat_req), True)
        self.resp_json = json.dumps(response_body(scenario, RESPONSES_ARGS)).encode()
        self.resp_sse = encode_sse(response_events(scenario, RESPONSES_ARGS), False)
        # what the SDK yields per stream (role, content, finish and usage chunks; all Responses events)
        self.chat_stream_items = len(chat_completion_events(scenario, chat_req))
        self.resp_stream_items = len(response_events(scenario, RESPONSES_ARGS))
        self.json_headers = {"content-type": "application/json", "x-request-id": "req_bench"}
        self.sse_headers = {"content-type": "text/event-stream", "x-request-id": "req_bench"}

    def handle(self, request: Any) -> Any:
        stream = b'"stream":true' in request.content
        chat = request.url.path.endswith("/chat/completions")
        if stream:
            body = self.chat_sse if chat else self.resp_sse
            return http.Response(200, content=body, headers=self.sse_headers)
        body = self.chat_json if chat else self.resp_json
        return http.Response(200, content=body, headers=self.json_headers)

    def sync_client(self) -> Any:
        transport = http.MockTransport(self.handle)
        return openai.OpenAI(
            api_key="sk-bench", base_url=BASE_URL, max_retries=0, http_client=http.Client(transport=transport)
        )

    def async_client(self) -> Any:
        transport = http.MockTransport(self.handle)
        return openai.AsyncOpenAI(
            api_key="sk-bench",
            base_url=BASE_URL,
            max_retries=0,
            http_client=http.AsyncClient(transport=transport),
        )


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


# --------------------------------------------------------------------------- the floor


class StartEndRecorder(SpanProcessor):
    """Captures a span's attributes as they were at start and at end (to replay them exactly)."""

    def __init__(self) -> None:
        self.start_attrs: dict[str, Any] = {}
        self.spans: list[tuple[str, SpanKind, dict[str, Any], dict[str, Any]]] = []

    def on_start(self, span: Span, parent_context: Any = None) -> None:
        self.start_attrs = dict(span.attributes or {})

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append((span.name, span.kind, self.start_attrs, dict(span.attributes or {})))


@dataclass
class FloorPlan:
    """The telemetry tracewrap emitted for one call of a scenario, to be replayed by hand."""

    name: str
    kind: SpanKind
    start_attrs: dict[str, Any]
    end_attrs: dict[str, Any]
    # (bound record/add method, value, attributes, is the duration point) as the reader listed them
    points: list[tuple[Callable[..., None], float, dict[str, Any], bool]] = field(default_factory=list)
    # the conventions' floor: the same, the standard (gen_ai.*) histogram points only
    standard_points: list[tuple[Callable[..., None], float, dict[str, Any], bool]] = field(
        default_factory=list
    )
    span_count: int = 1
    point_count: int = 0
    attribute_count: int = 0


def capture_plan(backend: MockBackend, spec: ScenarioSpec, telemetry: Telemetry) -> FloorPlan:
    """Run one call through tracewrap (content off) on private providers and read what it emitted."""
    recorder = StartEndRecorder()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(recorder)
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    client = tracewrap.wrap(
        backend.sync_client(),
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        capture_content="no_content",
    )
    plain_call(client, ScenarioSpec(spec.key, spec.title, spec.api, spec.stream))()
    if len(recorder.spans) != 1:
        raise RuntimeError(f"{spec.key}: tracewrap emitted {len(recorder.spans)} spans, expected 1")
    name, kind, start_attrs, final_attrs = recorder.spans[0]
    end_attrs = {k: v for k, v in final_attrs.items() if start_attrs.get(k, _MISSING) != v}
    plan = FloorPlan(name, kind, start_attrs, end_attrs, attribute_count=len(final_attrs))

    # the floor's instruments: same names, kinds, units and bucket boundaries, on the shared pipeline
    meter = telemetry.meter_provider.get_meter("benchmark.floor")
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.data.data_points:
                    attrs = dict(point.attributes or {})
                    if isinstance(point, HistogramDataPoint):
                        histogram = meter.create_histogram(
                            metric.name,
                            unit=metric.unit,
                            description=metric.description,
                            explicit_bucket_boundaries_advisory=list(point.explicit_bounds),
                        )
                        is_duration = metric.name == "gen_ai.client.operation.duration"
                        plan.points.append((histogram.record, point.sum, attrs, is_duration))
                        if metric.name.startswith("gen_ai.client."):
                            plan.standard_points.append((histogram.record, point.sum, attrs, is_duration))
                    elif isinstance(point, NumberDataPoint):
                        counter = meter.create_counter(
                            metric.name,
                            unit=metric.unit,
                            description=metric.description,
                        )
                        plan.points.append((counter.add, point.value, attrs, False))
    plan.point_count = len(plan.points)
    return plan


def floor_call(
    client: Any, spec: ScenarioSpec, plan: FloorPlan, tracer: trace.Tracer, conventions: bool = False
) -> Callable[[], None]:
    """Hand-written minimal instrumentation emitting exactly ``plan``: the cost OTel itself imposes.
    ``conventions``: the standard histogram points only (the conventions' floor).

    It does what any correct tracer must (start the span with its attributes, make it current
    while the SDK sends so HTTP spans nest, set the response attributes, end it, record the
    points, each with fresh attribute dicts as real code builds them) and nothing else: no
    request/response normalisation, and for streams no per-chunk work beyond the application's
    own loop (only the first chunk is timed, for time-to-first-chunk).
    """
    create = sdk_method(client, spec)
    args = call_args(spec)
    perf = time.perf_counter
    client_kind = plan.kind
    points = plan.standard_points if conventions else plan.points

    def finish(span: Any, started: float) -> None:
        duration = perf() - started
        span.set_attributes(dict(plan.end_attrs))
        span.end()
        for record, value, attrs, is_duration in points:
            record(duration if is_duration else value, dict(attrs))

    def run() -> None:
        started = perf()
        span = tracer.start_span(plan.name, kind=client_kind, attributes=dict(plan.start_attrs))
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            result = create(**args)
        finally:
            otel_context.detach(token)
        if spec.stream:
            chunks = iter(result)
            for _ in chunks:
                perf()  # time to first chunk
                break
            for _ in chunks:
                pass
        finish(span, started)

    return run


def floor_async_batch(
    client: Any, spec: ScenarioSpec, plan: FloorPlan, tracer: trace.Tracer, conventions: bool = False
) -> Callable[[], Awaitable[None]]:
    create = sdk_method(client, spec)
    args = call_args(spec)
    perf = time.perf_counter
    points = plan.standard_points if conventions else plan.points

    async def one() -> None:
        started = perf()
        span = tracer.start_span(plan.name, kind=plan.kind, attributes=dict(plan.start_attrs))
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            await create(**args)
        finally:
            otel_context.detach(token)
        duration = perf() - started
        span.set_attributes(dict(plan.end_attrs))
        span.end()
        for record, value, attrs, is_duration in points:
            record(duration if is_duration else value, dict(attrs))

    async def batch() -> None:
        await asyncio.gather(*(one() for _ in range(spec.concurrent)))

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


def core_columns(backend: MockBackend, telemetry: Telemetry) -> list[Column]:
    tp, mp = telemetry.tracer_provider, telemetry.meter_provider
    columns = [Column("bare", "bare SDK", backend.sync_client(), backend.async_client())]
    # the kill switch: wrap() must hand back the very client, so calls cost exactly the bare SDK's
    plain_sync, plain_async = backend.sync_client(), backend.async_client()
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
            backend.sync_client(),
            backend.async_client(),
            floor=True,
            conventions=True,
        )
    )
    columns.append(Column("floor", "full floor", backend.sync_client(), backend.async_client(), floor=True))
    for key, title, mode in (
        ("tw_off", "tracewrap no content", "no_content"),
        ("tw_on", "tracewrap content", "span_only"),
    ):
        providers: dict[str, Any] = {"tracer_provider": tp, "meter_provider": mp, "capture_content": mode}
        columns.append(
            Column(
                key,
                title,
                tracewrap.wrap(backend.sync_client(), **providers),
                tracewrap.wrap(backend.async_client(), **providers),
            )
        )
    return columns


class PatchToggle:
    """Switches a peer's monkeypatches on and off around its own calls, and only those.

    Peers patch the SDK's classes globally, so left installed they would also sit under the bare
    and tracewrap columns. Their ``uninstrument()`` then ``instrument()`` again per call is not
    reliable (some leave wrappers behind, which then stack up call after call), so the peer is
    instrumented once, every attribute it changed on the ``openai`` modules and their classes is
    recorded, and each call swaps the patched values in and the original ones back.
    """

    def __init__(self, changes: list[tuple[Any, str, Any, Any]]) -> None:
        self.changes = changes  # (owner, name, original, patched)
        self.off()

    @staticmethod
    def _namespaces() -> list[Any]:
        spaces: dict[int, Any] = {}
        for name, module in list(sys.modules.items()):
            if module is None or not (name == "openai" or name.startswith("openai.")):
                continue
            spaces[id(module)] = module
            for value in list(vars(module).values()):
                if isinstance(value, type) and getattr(value, "__module__", "").startswith("openai"):
                    spaces[id(value)] = value
        return list(spaces.values())

    @classmethod
    def around(cls, instrument: Callable[[], Any]) -> PatchToggle:
        spaces = cls._namespaces()
        before = {id(space): dict(vars(space)) for space in spaces}
        instrument()
        changes = []
        for space in spaces:
            old = before[id(space)]
            for name, value in list(vars(space).items()):
                # a name new on the class (e.g. an inherited method patched on a subclass) is
                # switched off by deleting it again
                if old.get(name, _MISSING) is not value:
                    changes.append((space, name, old.get(name, _MISSING), value))
        if not changes:
            raise RuntimeError("instrument() changed nothing on the openai modules")
        return cls(changes)

    def on(self) -> None:
        for owner, name, _, patched in self.changes:
            setattr(owner, name, patched)

    def off(self) -> None:
        for owner, name, original, _ in self.changes:
            if original is _MISSING:
                with contextlib.suppress(AttributeError):
                    delattr(owner, name)
            else:
                setattr(owner, name, original)


def peer_columns(backend: MockBackend, telemetry: Telemetry) -> tuple[list[Column], list[str]]:
    """Other OpenAI instrumentations, each when importable, content capture off where it has a switch."""
    tp, mp = telemetry.tracer_provider, telemetry.meter_provider
    columns: list[Column] = []
    skipped: list[str] = []

    def instrumentor_column(key: str, title: str, build: Callable[[], Any], **kwargs: Any) -> None:
        try:
            instrumentor = build()
            toggle = PatchToggle.around(
                lambda: instrumentor.instrument(tracer_provider=tp, meter_provider=mp, **kwargs)
            )
        except Exception as exc:  # ImportError, or a peer that does not load on this SDK
            skipped.append(f"{title}: {type(exc).__name__}: {exc}")
            return
        columns.append(
            Column(
                key,
                title,
                backend.sync_client(),
                backend.async_client(),
                enter=toggle.on,
                exit=toggle.off,
            )
        )

    def otel_genai() -> Any:
        from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor

        return OpenAIInstrumentor()

    def openllmetry() -> Any:
        os.environ.setdefault("TRACELOOP_TRACE_CONTENT", "false")
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor

        return OpenAIInstrumentor()

    genai_version = _version("opentelemetry-instrumentation-genai-openai")
    instrumentor_column("otel_genai", f"otel-genai-openai {genai_version}", otel_genai)
    instrumentor_column(
        "openllmetry", f"OpenLLMetry {_version('opentelemetry-instrumentation-openai')}", openllmetry
    )
    try:
        from openinference.instrumentation import TraceConfig
        from openinference.instrumentation.openai import OpenAIInstrumentor as OIInstrumentor

        instrumentor_column(
            "openinference",
            f"OpenInference {_version('openinference-instrumentation-openai')}",
            OIInstrumentor,
            config=TraceConfig(hide_inputs=True, hide_outputs=True),
        )
    except Exception as exc:
        skipped.append(f"OpenInference: {type(exc).__name__}: {exc}")
    try:
        columns.append(_langsmith_column(backend))
    except Exception as exc:
        skipped.append(f"LangSmith wrap_openai: {type(exc).__name__}: {exc}")
    return columns, skipped


def _langsmith_column(backend: MockBackend) -> Column:
    """LangSmith's ``wrap_openai`` posting runs through a requests session that answers locally."""
    import langsmith
    import requests
    from langsmith.wrappers import wrap_openai

    class DiscardingAdapter(requests.adapters.BaseAdapter):
        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            response = requests.Response()
            response.status_code = 200
            response._content = b"{}"
            response.headers["content-type"] = "application/json"
            response.request = request
            response.url = request.url
            return response

        def close(self) -> None:
            return None

    session = requests.Session()
    session.mount("http://", DiscardingAdapter())
    session.mount("https://", DiscardingAdapter())
    ls_client = langsmith.Client(
        api_url="http://langsmith.bench.local",
        api_key="lsv2-bench",
        session=session,
        hide_inputs=True,
        hide_outputs=True,
    )
    # the client mounts its own retrying adapters on the session it is given: put ours back on top
    ls_client.session.mount("http://", DiscardingAdapter())
    ls_client.session.mount("https://", DiscardingAdapter())
    extra: Any = {"client": ls_client}
    state: dict[str, Any] = {}

    def enter() -> None:
        state["ctx"] = langsmith.tracing_context(enabled=True, client=ls_client)
        state["ctx"].__enter__()

    def leave() -> None:
        state.pop("ctx").__exit__(None, None, None)

    return Column(
        "langsmith",
        f"LangSmith wrap_openai {_version('langsmith')}",
        wrap_openai(backend.sync_client(), tracing_extra=extra),
        wrap_openai(backend.async_client(), tracing_extra=extra),
        enter=enter,
        exit=leave,
        settle=ls_client.flush,
        note="runs go to LangSmith's batch thread (not OTel)",
        otel=False,
    )


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


# --------------------------------------------------------------------------- timing


@dataclass
class Cell:
    per_call: list[float] = field(default_factory=list)  # µs per call, one per round
    overhead: list[float] = field(default_factory=list)  # µs, minus the same round's bare
    traced: bool = True  # False: the column emitted no span for this scenario


def measure_scenario(
    spec: ScenarioSpec,
    columns: list[Column],
    plan: FloorPlan,
    telemetry: Telemetry,
    seconds: float,
    min_rounds: int,
    loop: asyncio.AbstractEventLoop,
) -> tuple[dict[str, Cell], int]:
    """Rounds of one call per column (one gather of ``spec.concurrent`` calls for async), in a fresh
    random order each round, for ``seconds`` (at least ``min_rounds`` rounds).

    Interleaving single calls, not blocks, is what makes the paired differences usable on a shared
    VM: its speed drifts by 30 % and more over seconds (a fixed pure-Python loop measured 378-518 ms
    in six runs in a row), and a round of single calls takes tens of milliseconds, so the bare call
    and the traced one of the same round run at the same speed. Medians over hundreds of rounds
    then shrug off the calls hit by a collection, an export or the OS.
    """
    tracer = telemetry.tracer_provider.get_tracer("benchmark.floor")
    per = spec.concurrent or 1
    runners: dict[str, Callable[[], Any]] = {}
    for col in columns:
        if spec.concurrent:
            batch = (
                floor_async_batch(col.async_client, spec, plan, tracer, col.conventions)
                if col.floor
                else plain_async_batch(col.async_client, spec)
            )
            runners[col.key] = lambda batch=batch: loop.run_until_complete(batch())  # type: ignore[misc]
        else:
            runners[col.key] = (
                floor_call(col.sync_client, spec, plan, tracer, col.conventions)
                if col.floor
                else plain_call(col.sync_client, spec)
            )

    clock = time.perf_counter_ns

    def timed(col: Column) -> float:
        """µs per call of one call (or gather) of this column; peers switch on only around it."""
        run = runners[col.key]
        col.enter()
        try:
            started = clock()
            run()
            return (clock() - started) / per / 1000.0
        finally:
            col.exit()

    def settle() -> None:
        # drain background exporters (the batch span processor, LangSmith's batch thread) between
        # rounds, untimed, so export work lands in no column's call
        telemetry.tracer_provider.force_flush()
        for col in columns:
            col.settle()

    cells = {col.key: Cell() for col in columns}
    for col in columns:  # warm-up: imports, caches, metric attribute sets; and did it trace?
        before = telemetry.counter.ended
        for _ in range(1 if spec.concurrent else 5):
            timed(col)
        settle()
        emitted = telemetry.counter.ended > before
        cells[col.key].traced = emitted or col.key in ("bare", "disabled") or not col.otel
    # setup objects (clients, peers, pydantic schemas) live for the whole run: freezing them keeps
    # the collections that fall inside timed calls to what the calls themselves allocated
    gc.collect()
    gc.freeze()
    rng = random.Random(f"{spec.key}")  # seeded: the same orders every run
    deadline = time.perf_counter() + seconds
    rounds = 0
    while rounds < min_rounds or time.perf_counter() < deadline:
        # a fresh random order each round: a fixed order would make each column always follow the
        # same neighbour and inherit its leftovers (cache state, a pending collection)
        order = rng.sample(columns, len(columns))
        times = {col.key: timed(col) for col in order}
        for col in columns:
            cells[col.key].per_call.append(times[col.key])
            cells[col.key].overhead.append(times[col.key] - times["bare"])
        rounds += 1
        if spec.concurrent or rounds % 8 == 0:
            settle()
    return cells, rounds


# --------------------------------------------------------------------------- stream aggregation


def hot_chunks(items: list[Any]) -> list[Any]:
    """As many chunks as ``items``, its first ``HOT_CHUNKS`` cycled, then its real last ones.

    In a live stream each chunk reaches tracewrap just after the SDK parsed it, hot in the CPU
    cache; 2,000 distinct prebuilt chunks are not: reading each one's fields is then a chain of
    cache misses the real path does not pay.
    """
    head, tail = items[:HOT_CHUNKS], items[-TAIL_CHUNKS:]
    return [head[i % HOT_CHUNKS] for i in range(len(items) - TAIL_CHUNKS)] + tail


def per_chunk_costs(backend: MockBackend, telemetry: Telemetry, repeats: int) -> dict[str, float | str]:
    """ns per chunk of tracewrap's in-place stream tracing, on prebuilt SDK chunk objects.

    ``*_accumulate``: the accumulator's ``add`` alone. ``*_in_place``: what a traced stream adds
    to each chunk (the generator hop, the timing, the accumulator), i.e. everything beyond a floor
    that does nothing per chunk. Both are net of the bare ``for`` loop over the same list.
    """
    out: dict[str, float | str] = {}
    try:  # internals: if another change moves them, report it instead of failing the run
        from tracewrap.endpoints import CHAT, RESPONSE
        from tracewrap.interception.streams import StreamTracker, _traced_iterator
        from tracewrap.normalize.chat import ChatStreamAccumulator
        from tracewrap.normalize.responses import ResponsesStreamAccumulator
        from tracewrap.options import ContentCapture, TraceOptions
        from tracewrap.telemetry.lifecycle import CallSite, ClientInfo, start
    except ImportError as exc:
        return {"error": f"tracewrap internals moved: {exc}"}

    client = backend.sync_client()
    streams = {
        "chat": list(client.chat.completions.create(**call_args(SCENARIOS[1]))),
        "responses": list(client.responses.create(**call_args(SCENARIOS[3]))),
    }
    options = TraceOptions(
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
        capture=ContentCapture.NONE,
    )
    info = ClientInfo("openai", "mock.openai.local", 80)

    def timed(fn: Callable[[], None]) -> int:
        started = time.perf_counter_ns()
        fn()
        return time.perf_counter_ns() - started

    rng = random.Random("per-chunk")
    kinds = (
        ("chat", ChatStreamAccumulator, CHAT, call_args(SCENARIOS[1])),
        ("responses", ResponsesStreamAccumulator, RESPONSE, call_args(SCENARIOS[3])),
    )
    for (label, acc_type, endpoint, args), hot in itertools.product(kinds, (True, False)):
        items = hot_chunks(streams[label]) if hot else streams[label]
        label = label if hot else f"{label}_cold"
        n = len(items)

        def loop_only(items: list[Any] = items) -> None:
            for _ in items:
                pass

        def accumulate(items: list[Any] = items, acc_type: Any = acc_type, capture: bool = False) -> None:
            add = acc_type(capture).add
            for item in items:
                add(item)

        site = CallSite(endpoint, options, info)

        def in_place(items: list[Any] = items, site: Any = site, args: dict[str, Any] = args) -> None:
            call = start(site, args)
            for _ in _traced_iterator(iter(items), StreamTracker(call)):
                pass

        variants: dict[str, Callable[[], None]] = {
            "loop": loop_only,
            "accumulate": accumulate,
            "accumulate_content": lambda a=accumulate: a(capture=True),
            "in_place": in_place,
        }
        # paired like the call columns: each repeat runs all four back to back in a random order,
        # and each variant's cost is its time minus the bare loop's in the same repeat (the VM's
        # speed drifts between repeats far more than within one)
        diffs: dict[str, list[float]] = {name: [] for name in variants if name != "loop"}
        for _ in range(repeats):
            times = {name: timed(variants[name]) for name in rng.sample(list(variants), len(variants))}
            for name, values in diffs.items():
                values.append((times[name] - times["loop"]) / n)
        out[f"{label}_chunks"] = n
        for name, values in diffs.items():
            out[f"{label}_{name}"] = statistics.median(values)
    return out


# --------------------------------------------------------------------------- memory


def stream_memory(telemetry: Telemetry, chunks_list: Sequence[int]) -> dict[str, dict[str, int]]:
    """tracemalloc peak during, and retained after, one chat stream of N chunks (content off)."""
    results: dict[str, dict[str, int]] = {}
    spec = SCENARIOS[1]

    def client_pair(backend: MockBackend) -> tuple[tuple[str, Any], ...]:
        return (
            ("bare", backend.sync_client()),
            (
                "tw_off",
                tracewrap.wrap(
                    backend.sync_client(),
                    tracer_provider=telemetry.tracer_provider,
                    meter_provider=telemetry.meter_provider,
                    capture_content="no_content",
                ),
            ),
        )

    # warm on a short stream: lazy imports, pydantic caches and the metric attribute sets (the same
    # for any stream length) exist before anything is measured
    for _, client in client_pair(MockBackend()):
        plain_call(client, spec)()
    for chunks in chunks_list:
        for key, client in client_pair(MockBackend(chunks)):
            run = plain_call(client, spec)
            telemetry.tracer_provider.force_flush()
            gc.collect()
            tracemalloc.start()
            try:
                base = tracemalloc.get_traced_memory()[0]
                tracemalloc.reset_peak()
                run()
                peak = tracemalloc.get_traced_memory()[1] - base
                # the finished span waits in the batch queue until exported: flush it, it is the
                # exporter's memory, not the stream's
                telemetry.tracer_provider.force_flush()
                gc.collect()
                retained = tracemalloc.get_traced_memory()[0] - base
            finally:
                tracemalloc.stop()
            results[f"{key}_{chunks}"] = {"chunks": chunks, "peak": peak, "retained": retained}
    return results


# --------------------------------------------------------------------------- import cost


def import_costs(runs: int) -> dict[str, float]:
    """Median ms over fresh interpreters; ``PYTHONPATH`` makes a src checkout importable."""
    src = str(Path(tracewrap.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)
    child_env = {**os.environ, "PYTHONPATH": path}
    snippets = {
        "import openai (context)": ("", "import openai"),
        "import tracewrap (cold)": ("", "import tracewrap"),
        "import tracewrap (openai + otel sdk loaded)": (
            "import openai, opentelemetry.sdk.trace, opentelemetry.sdk.metrics",
            "import tracewrap",
        ),
        "first wrap(client) (lazy imports)": (
            "import openai, tracewrap; c = openai.OpenAI(api_key='sk')",
            "tracewrap.wrap(c)",
        ),
    }
    results: dict[str, float] = {}
    for label, (setup, stmt) in snippets.items():
        code = f"{setup}\nimport time\nt = time.perf_counter()\n{stmt}\nprint(time.perf_counter() - t)"
        samples = []
        for _ in range(runs):
            proc = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, env=child_env, check=True
            )
            samples.append(float(proc.stdout.strip().splitlines()[-1]) * 1000)
        results[label] = statistics.median(samples)
    return results


# --------------------------------------------------------------------------- report


def _fmt_us(value: float) -> str:
    return f"{value:+.1f}" if abs(value) < 1000 else f"{value:+.0f}"


def machine_info() -> dict[str, str]:
    cpu = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "openai": openai.__version__,
        "http": f"{http.__name__} {getattr(http, '__version__', '?')}",
        "opentelemetry-sdk": _version("opentelemetry-sdk"),
        "tracewrap": getattr(tracewrap, "__version__", "?"),
    }


def report(results: dict[str, Any]) -> str:
    lines: list[str] = []
    m = results["machine"]
    lines.append(
        f"machine: {m['nproc']} CPUs, {m['cpu']}; python {m['python']}, openai {m['openai']} "
        f"({m['http']}), opentelemetry-sdk {m['opentelemetry-sdk']}, tracewrap {m['tracewrap']}"
    )
    rounds = ", ".join(str(results["scenarios"][s.key]["rounds"]) for s in SCENARIOS)
    lines.append(
        f"mode: {results['mode']}, ~{results['seconds_per_scenario']} s per scenario: rounds of one call "
        f"per column in random order ({rounds} rounds); medians; overhead = column's call - the bare "
        "call of the same round"
    )
    lines.append("")
    columns: list[dict[str, str]] = results["columns"]
    header = ["scenario", "bare µs/call"] + [c["title"] for c in columns if c["key"] != "bare"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for spec in SCENARIOS:
        row = results["scenarios"][spec.key]
        floor_oh = row["floor"]["overhead"]
        conv_oh = row["conv"]["overhead"]
        cells = [spec.title, f"{row['bare']['per_call']:.1f}"]
        for col in columns:
            if col["key"] == "bare":
                continue
            cell = row[col["key"]]
            text = f"{_fmt_us(cell['overhead'])} µs"
            if col["key"] not in ("floor", "conv", "disabled") and floor_oh > 0 and conv_oh > 0:
                text += f" ({cell['overhead'] / conv_oh:.2f}x conv., {cell['overhead'] / floor_oh:.2f}x full)"
            if not cell["traced"]:
                text += " †"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "cells: per-call overhead vs bare SDK (µs), and overhead ÷ the conventions floor's overhead "
        "(one span, the standard histogram points) and ÷ the full floor's (every point tracewrap emits, "
        "by hand); "
        "† = the column emitted no span for this scenario (not instrumented)."
    )
    for spec in SCENARIOS:
        plan = results["scenarios"][spec.key]["plan"]
        lines.append(
            f"- floors for {spec.title}: 1 span, {plan['attributes']} attributes; "
            f"{plan['standard_points']} standard metric points (conventions), {plan['points']} (full)"
        )
    if results.get("skipped_peers"):
        lines.append("- peers not measured: " + "; ".join(results["skipped_peers"]))

    chunk = results["per_chunk_ns"]
    lines.append("")
    lines.append(
        "### Stream aggregation, ns per chunk (prebuilt SDK chunk objects, net of a bare loop; "
        "paired medians)"
    )
    if "error" in chunk:
        lines.append(f"n/a: {chunk['error']}")
    else:
        lines.append(
            "| stream | accumulator.add (content off) | accumulator.add (content on) | "
            "in-place tracing per chunk (generator + timing + accumulator) |"
        )
        lines.append("|---|---|---|---|")
        for label, what in (
            ("chat", "chat, hot"),
            ("chat_cold", "chat, cold"),
            ("responses", "responses, hot"),
            ("responses_cold", "responses, cold"),
        ):
            lines.append(
                f"| {what} ({chunk[label + '_chunks']} chunks) | {chunk[label + '_accumulate']:.0f} | "
                f"{chunk[label + '_accumulate_content']:.0f} | {chunk[label + '_in_place']:.0f} |"
            )
        lines.append(
            f"- hot: the stream's first {HOT_CHUNKS} chunks cycled, then its last {TAIL_CHUNKS} (each chunk "
            "in cache, as in a live stream where the SDK has just parsed it; the target is judged on "
            "this); cold: 2,000 distinct prebuilt chunks, each read a chain of cache misses"
        )
    e2e = results["per_chunk_e2e_ns"]
    lines.append(
        "- in the real stream scenarios, ((tracewrap no content - floor) on the stream - the same "
        "on the non-stream call) ÷ chunks: "
        + ", ".join(f"{k} {v:.0f} ns/chunk" for k, v in e2e.items())
        + " (includes the stream's own start/end work and cold caches; noisy, ±2-4 µs)"
    )

    lines.append("")
    lines.append("### Memory, one chat stream, content capture off (tracemalloc, KiB)")
    lines.append(
        "| chunks | bare peak | tracewrap peak | tracewrap - bare peak | bare retained | tracewrap retained |"
    )
    lines.append("|---|---|---|---|---|---|")
    mem = results["memory"]
    for chunks in MEMORY_CHUNKS:
        b, t = mem[f"bare_{chunks}"], mem[f"tw_off_{chunks}"]
        lines.append(
            f"| {chunks:,} | {b['peak'] / 1024:.1f} | {t['peak'] / 1024:.1f} | "
            f"{(t['peak'] - b['peak']) / 1024:+.1f} | {b['retained'] / 1024:.1f} | "
            f"{t['retained'] / 1024:.1f} |"
        )

    lines.append("")
    lines.append("### Import cost (fresh interpreters, median ms)")
    lines.append("| what | ms |")
    lines.append("|---|---|")
    for label, ms in results["imports"].items():
        lines.append(f"| {label} | {ms:.1f} |")

    lines.append("")
    lines.append("### Start-up hook (`tracewrap_autoinstrument.pth`), fresh interpreters, median ms")
    lines.extend(startup_report_lines(results["startup"]))

    lines.append("")
    lines.append("### Targets")
    for target in results["targets"]:
        lines.append(f"- [{'PASS' if target['pass'] else 'FAIL'}] {target['name']}: {target['detail']}")
    return "\n".join(lines)


def per_chunk_end_to_end(results: dict[str, Any]) -> dict[str, float]:
    """ns/chunk beyond the floor in the real stream scenarios, net of the per-call difference.

    (stream's overhead beyond the floor - the same API's non-stream overhead beyond the floor) /
    chunks: the per-call work cancels out, what is left is per chunk plus the stream's own start and
    end (accumulator finish, close hooks). Noisy (±2-4 µs/chunk here): the micro-benchmark above
    is the precise number, this one says what a real stream sees with cold caches.
    """
    rows = results["scenarios"]
    out = {}
    for stream_key, call_key in (("chat_stream", "chat"), ("responses_stream", "responses")):
        beyond_stream = rows[stream_key]["tw_off"]["overhead"] - rows[stream_key]["floor"]["overhead"]
        beyond_call = rows[call_key]["tw_off"]["overhead"] - rows[call_key]["floor"]["overhead"]
        out[stream_key] = (beyond_stream - beyond_call) * 1000 / results["stream_items"][stream_key]
    return out


def ratio_interval(
    row: dict[str, Any], column: str, resamples: int = 400, floor_key: str = "floor"
) -> tuple[float, float]:
    """95 % bootstrap interval of (column's median overhead) / (the floor's), resampling whole rounds.

    A round's calls ran side by side, so a resample keeps each round's calls together; the spread
    says how far the VM's noise leaves the ratio undecided.
    """
    bare = row["bare"]["rounds_per_call"]
    ours = [t - b for t, b in zip(row[column]["rounds_per_call"], bare, strict=True)]
    floor = [t - b for t, b in zip(row[floor_key]["rounds_per_call"], bare, strict=True)]
    rng = random.Random("ratio-interval")
    n = len(bare)
    ratios = []
    for _ in range(resamples):
        picks = [rng.randrange(n) for _ in range(n)]
        floor_median = statistics.median(floor[i] for i in picks)
        if floor_median > 0:
            ratios.append(statistics.median(ours[i] for i in picks) / floor_median)
    if not ratios:
        return float("inf"), float("inf")
    ratios.sort()
    return ratios[int(0.025 * len(ratios))], ratios[min(len(ratios) - 1, int(0.975 * len(ratios)))]


def judge(results: dict[str, Any]) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = []
    rows = results["scenarios"]
    for key in ("chat", "responses"):
        row = rows[key]
        ours, conv = row["tw_off"]["overhead"], row["conv"]["overhead"]
        ratio = ours / conv if conv > 0 else float("inf")
        low, high = ratio_interval(row, "tw_off", floor_key="conv")
        decided = "decided" if high <= 1.2 or low > 1.2 else "not decided by this run"
        targets.append(
            {
                "name": f"non-streamed call overhead ≤ 1.2x the conventions floor ({key}, content off)",
                "pass": ratio <= 1.2,
                "detail": f"{ours:.1f} µs vs conventions floor {conv:.1f} µs = {ratio:.2f}x "
                f"(95 % interval over rounds {low:.2f}-{high:.2f}x: {decided})",
            }
        )
    for key in ("chat_stream", "responses_stream"):
        row = rows[key]
        ours, conv = row["tw_off"]["overhead"], row["conv"]["overhead"]
        chunks = results["stream_items"][key]
        bound = 1.2 * conv + chunks * 1.0
        targets.append(
            {
                "name": f"stream overhead ≤ 1.2x the conventions floor + 1 µs per chunk ({key}, content off)",
                "pass": ours <= bound,
                "detail": f"{ours:.1f} µs vs 1.2 x {conv:.1f} + {chunks} x 1 µs = {bound:.1f} µs "
                f"({ours / conv:.2f}x the conventions floor)",
            }
        )
    for key in ("chat", "responses", "async_chat"):
        row = rows[key]
        ours, floor = row["tw_off"]["overhead"], row["floor"]["overhead"]
        ratio = ours / floor if floor > 0 else float("inf")
        low, high = ratio_interval(row, "tw_off")
        # judged on the point estimate, as before; the interval says whether this run could decide
        decided = "decided" if high <= 1.2 or low > 1.2 else "not decided by this run"
        targets.append(
            {
                "name": f"non-streamed call overhead ≤ 1.2x the full floor ({key}, content off)",
                "pass": ratio <= 1.2,
                "detail": f"{ours:.1f} µs vs floor {floor:.1f} µs = {ratio:.2f}x "
                f"(95 % interval over rounds {low:.2f}-{high:.2f}x: {decided})",
            }
        )
    chunk = results["per_chunk_ns"]
    if "error" not in chunk:
        for label in ("chat", "responses"):
            ns = chunk[f"{label}_in_place"]
            targets.append(
                {
                    "name": f"per stream chunk < 1 µs beyond the floor ({label})",
                    "pass": ns < 1000,
                    "detail": f"{ns:.0f} ns/chunk in-place tracing, chunks hot in cache as in a live "
                    f"stream (accumulator alone {chunk[label + '_accumulate']:.0f} ns; on 2,000 distinct "
                    f"cold chunks {chunk[label + '_cold_in_place']:.0f} ns)",
                }
            )
    mem = results["memory"]
    small, large = MEMORY_CHUNKS
    growth = (mem[f"tw_off_{large}"]["peak"] - mem[f"bare_{large}"]["peak"]) - (
        mem[f"tw_off_{small}"]["peak"] - mem[f"bare_{small}"]["peak"]
    )
    retained = mem[f"tw_off_{large}"]["retained"]
    targets.append(
        {
            "name": "memory flat in stream length (content off)",
            "pass": growth < 64 * 1024 and retained < MEMORY_RETAINED_BOUND,
            "detail": f"extra peak over bare grows {growth / 1024:+.1f} KiB "
            f"from {small:,} to {large:,} chunks; "
            f"retained after a {large:,}-chunk stream {retained / 1024:.1f} KiB",
        }
    )
    for key in ("chat", "chat_stream", "responses", "responses_stream", "async_chat"):
        row = rows[key]
        diff = row["disabled"]["overhead"]
        noise = max(row["disabled"]["overhead_iqr"], 0.02 * row["bare"]["per_call"])
        targets.append(
            {
                "name": f"disabled ≈ bare within noise ({key})",
                "pass": abs(diff) <= noise,
                "detail": f"{diff:+.1f} µs on {row['bare']['per_call']:.0f} µs (noise ±{noise:.1f} µs)",
            }
        )
    targets.append(unset_hook_target(results["startup"]))
    return targets


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short CI mode (well under a minute)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--no-peers", action="store_true", help="skip peers even when importable")
    parser.add_argument("--seconds", type=float, help="seconds of interleaved rounds per scenario")
    parser.add_argument("--min-rounds", type=int, help="at least this many rounds per scenario")
    opts = parser.parse_args(argv)
    seconds = opts.seconds or (3.0 if opts.quick else 45.0)
    min_rounds = opts.min_rounds or (3 if opts.quick else 15)

    telemetry = make_telemetry()
    backend = MockBackend()
    results: dict[str, Any] = {
        "machine": machine_info(),
        "mode": "quick" if opts.quick else "full",
        "seconds_per_scenario": seconds,
        "min_rounds": min_rounds,
        "scenarios": {},
        "seconds": {},
    }

    def section(name: str, fn: Callable[[], Any]) -> Any:
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        value = fn()
        results["seconds"][name] = round(time.perf_counter() - started, 1)
        return value

    # memory and micro-benchmarks first, while no peer (LangSmith's batch thread) allocates meanwhile
    results["memory"] = section("stream memory", lambda: stream_memory(telemetry, MEMORY_CHUNKS))
    results["per_chunk_ns"] = section(
        "stream aggregation",
        lambda: per_chunk_costs(MockBackend(2_000), telemetry, 21 if opts.quick else 301),
    )
    results["imports"] = section("import cost", lambda: import_costs(3 if opts.quick else 21))
    results["startup"] = section(
        "start-up hook", lambda: startup_costs(20 if opts.quick else 200, 1 if opts.quick else 20)
    )

    columns = core_columns(backend, telemetry)
    skipped: list[str] = []
    if not opts.no_peers:
        peers, skipped = peer_columns(backend, telemetry)
        columns += peers
    results["columns"] = [{"key": c.key, "title": c.title, "note": c.note} for c in columns]
    results["skipped_peers"] = skipped
    loop = asyncio.new_event_loop()
    try:
        for spec in SCENARIOS:
            plan = capture_plan(backend, spec, telemetry)
            cells, rounds = section(
                spec.title,
                lambda spec=spec, plan=plan: measure_scenario(  # type: ignore[misc]
                    spec, columns, plan, telemetry, seconds, min_rounds, loop
                ),
            )
            results["scenarios"][spec.key] = {
                "rounds": rounds,
                "plan": {
                    "attributes": plan.attribute_count,
                    "points": plan.point_count,
                    "standard_points": len(plan.standard_points),
                },
                **{
                    key: {
                        "per_call": statistics.median(cell.per_call),
                        "overhead": statistics.median(cell.overhead),
                        "overhead_iqr": iqr(cell.overhead),
                        "traced": cell.traced,
                        "rounds_per_call": cell.per_call,
                    }
                    for key, cell in cells.items()
                },
            }
    finally:
        loop.close()

    results["stream_items"] = {
        "chat_stream": backend.chat_stream_items,
        "responses_stream": backend.resp_stream_items,
    }
    results["per_chunk_e2e_ns"] = per_chunk_end_to_end(results)
    results["targets"] = judge(results)
    telemetry.tracer_provider.shutdown()
    telemetry.meter_provider.shutdown()

    print(report(results))
    if opts.json:
        Path(opts.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
