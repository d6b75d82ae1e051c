"""tracewrap's own counters, summed in process and observed at collection, against the synchronous
counters they replaced: the same workload over the fake server, the same sums per attribute set,
with delta and cumulative temporality, past the table's bound, and in a fork child."""

from __future__ import annotations

import json
import os
import traceback
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry import metrics
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.metrics import _internal as metrics_internal
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, ObservableCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as GenAI
from opentelemetry.util._once import Once

import tracewrap
from tests.core.helpers import API_KEY, MESSAGES
from tracewrap.observers import ObservedCall, add_observer, remove_observer
from tracewrap.telemetry import aggregated, instruments
from tracewrap.telemetry import attributes as attrs_of
from tracewrap.telemetry.lifecycle import _estimate_cost
from tracewrap.testing import FakeOpenAIServer, Scenario

COUNTERS = ("tracewrap.client.token.usage", "tracewrap.client.finishes", "tracewrap.client.cost.usd")
DELTA = {
    Counter: AggregationTemporality.DELTA,
    ObservableCounter: AggregationTemporality.DELTA,
    Histogram: AggregationTemporality.DELTA,
}


class PreviousCounters:
    """The synchronous counters as ``_record_metrics`` made them before (one add per measurement),
    on a meter provider of their own, fed every ended call by an observer."""

    wants_content = False

    def __init__(self, meter_provider: MeterProvider) -> None:
        meter = meter_provider.get_meter("previous")
        self.tokens = meter.create_counter(COUNTERS[0], unit="{token}")
        self.finishes = meter.create_counter(COUNTERS[1], unit="{call}")
        self.cost = meter.create_counter(COUNTERS[2], unit="{USD}")

    def on_start(self, call: ObservedCall) -> None:
        pass

    def on_end(self, call: ObservedCall) -> None:
        record = call.record
        if not record.counted:
            return
        metric_attrs = attrs_of.metric_attributes(record, attrs_of.shared_attributes(record))
        usage = record.usage
        for token_type, count in (
            ("input", usage.input_tokens),
            ("output", usage.output_tokens),
            ("cache_read", usage.cache_read_tokens),
            ("reasoning", usage.reasoning_tokens),
        ):
            if count is not None:
                self.tokens.add(count, {**metric_attrs, GenAI.GEN_AI_TOKEN_TYPE: token_type})
        finish_attrs = {
            GenAI.GEN_AI_OPERATION_NAME: record.operation,
            GenAI.GEN_AI_PROVIDER_NAME: record.provider,
        }
        if record.request_model:
            finish_attrs[GenAI.GEN_AI_REQUEST_MODEL] = record.request_model
        reason = record.main_finish_reason or (
            "error" if record.error_type is not None else "cancelled" if record.cancelled else "none"
        )
        self.finishes.add(1, {**finish_attrs, attrs_of.FINISH_REASON: reason})
        cost = _estimate_cost(record)
        if cost is not None:
            self.cost.add(cost, finish_attrs)


Sums = dict[str, dict[frozenset[tuple[str, Any]], float]]


def collect(reader: InMemoryMetricReader) -> Sums:
    """This collection's point values per counter and attribute set (zero deltas left out)."""
    found: Sums = {name: {} for name in COUNTERS}
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name in found:
                    for point in metric.data.data_points:
                        if point.value:
                            found[metric.name][frozenset(point.attributes.items())] = point.value
    return found


def add(total: Sums, more: Sums) -> None:
    for name, points in more.items():
        into = total.setdefault(name, {})
        for key, value in points.items():
            into[key] = into.get(key, 0) + value


def rounded(sums: Sums) -> Sums:
    return {name: {k: round(v, 9) for k, v in points.items()} for name, points in sums.items()}


class Pipelines:
    """tracewrap on one meter provider, the previous counters on another; each with a delta and a
    cumulative reader."""

    def __init__(self) -> None:
        self.delta = InMemoryMetricReader(preferred_temporality=DELTA)
        self.cumulative = InMemoryMetricReader()
        self.provider = MeterProvider(metric_readers=[self.delta, self.cumulative])
        self.ref_delta = InMemoryMetricReader(preferred_temporality=DELTA)
        self.ref_cumulative = InMemoryMetricReader()
        self.ref_provider = MeterProvider(metric_readers=[self.ref_delta, self.ref_cumulative])
        self.previous = PreviousCounters(self.ref_provider)
        self.tracer_provider = TracerProvider()

    def shutdown(self) -> None:
        self.provider.shutdown()
        self.ref_provider.shutdown()
        self.tracer_provider.shutdown()


@pytest.fixture
def pipelines() -> Iterator[Pipelines]:
    found = Pipelines()
    add_observer(found.previous)
    yield found
    remove_observer(found.previous)
    found.shutdown()


def client_for(server: FakeOpenAIServer, pipelines: Pipelines) -> openai.OpenAI:
    client = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    # provider="openai": priced (a server on 127.0.0.1 is an unknown provider, never given a price)
    return tracewrap.wrap(
        client,
        tracer_provider=pipelines.tracer_provider,
        meter_provider=pipelines.provider,
        provider="openai",
        estimate_cost=True,
    )


def workload(
    client: openai.OpenAI, server: FakeOpenAIServer, models: tuple[str, ...], enqueue: bool = True
) -> None:
    """Eight calls per model. ``enqueue=False``: their scenarios are queued already (a fork child
    cannot queue on its parent's server)."""
    if enqueue:
        server.enqueue(scenarios(models))
    for model in models:
        client.chat.completions.create(model=model, messages=MESSAGES)
        client.chat.completions.create(model=model, messages=MESSAGES)
        client.chat.completions.create(model=model, messages=MESSAGES)
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model=model, messages=MESSAGES)
        stream = client.chat.completions.create(
            model=model, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        assert sum(1 for _ in stream) >= 4
        client.responses.create(model=model, input="Say hello")
        with client.responses.stream(model=model, input="Say hello") as events:
            for _ in events:
                pass
        client.embeddings.create(model="text-embedding-3-small", input="hello")


def scenarios(models: tuple[str, ...]) -> list[Scenario]:
    return [
        scenario
        for _ in models
        for scenario in (
            Scenario(),
            Scenario(cached_tokens=5, reasoning_tokens=3, prompt_tokens=40),
            Scenario(outcome="length"),
            Scenario(outcome="http_error", status_code=429),
            Scenario(chunks=4, prompt_tokens=30, completion_tokens=11),
            Scenario(),
            Scenario(chunks=3),
            Scenario(),
        )
    ]


def test_same_sums_per_attribute_set_delta_and_cumulative(
    server: FakeOpenAIServer, pipelines: Pipelines
) -> None:
    client = client_for(server, pipelines)
    delta: Sums = {}
    ref_delta: Sums = {}
    for models in (("gpt-4o-mini",), ("gpt-4o-mini", "gpt-4o"), ()):
        workload(client, server, models)
        this, previous = collect(pipelines.delta), collect(pipelines.ref_delta)
        assert rounded(this) == rounded(previous)  # each interval's deltas, set by set
        add(delta, this)
        add(ref_delta, previous)
    cumulative = collect(pipelines.cumulative)
    assert rounded(cumulative) == rounded(collect(pipelines.ref_cumulative))
    assert rounded(delta) == rounded(cumulative) == rounded(ref_delta)
    # the workload reached every counter and several attribute sets of each
    tokens = cumulative["tracewrap.client.token.usage"]
    types = {dict(k)[GenAI.GEN_AI_TOKEN_TYPE] for k in tokens}
    assert types == {"input", "output", "cache_read", "reasoning"}
    reasons = {dict(k)[attrs_of.FINISH_REASON] for k in cumulative["tracewrap.client.finishes"]}
    assert {"stop", "length", "error"} <= reasons
    assert sum(cumulative["tracewrap.client.finishes"].values()) == 3 * 8  # calls that count
    assert len(cumulative["tracewrap.client.cost.usd"]) == 2  # gpt-4o-mini and gpt-4o


def test_fork_child_reports_its_own_calls(server: FakeOpenAIServer, pipelines: Pipelines) -> None:
    client = client_for(server, pipelines)
    workload(client, server, ("gpt-4o-mini",))
    parent = collect(pipelines.cumulative)
    ref_parent = collect(pipelines.ref_cumulative)
    assert rounded(parent) == rounded(ref_parent) and parent["tracewrap.client.finishes"]
    read_end, write_end = os.pipe()
    server.enqueue(scenarios(("gpt-4o", "gpt-4o-mini")))
    pid = os.fork()
    if pid == 0:  # the child: its own calls, then what both pipelines report, to the parent
        code = 1
        try:
            os.close(read_end)
            workload(client, server, ("gpt-4o", "gpt-4o-mini"), enqueue=False)
            child = collect(pipelines.cumulative)
            ref_child = collect(pipelines.ref_cumulative)
            encode = {n: [[sorted(k), v] for k, v in points.items()] for n, points in child.items()}
            ref = {n: [[sorted(k), v] for k, v in points.items()] for n, points in ref_child.items()}
            os.write(write_end, json.dumps([encode, ref]).encode())
            code = 0
        except BaseException:
            traceback.print_exc()  # shown in the test's captured output
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        raw = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    child_json, ref_json = json.loads(raw)

    def decode(found: dict[str, Any]) -> Sums:
        return {n: {frozenset(tuple(kv) for kv in k): v for k, v in pts} for n, pts in found.items()}

    child, ref_child = decode(child_json), decode(ref_json)
    # the synchronous counters' storage was copied with the process: the child reports its
    # parent's totals again; the summed counters were emptied in the child, so they report its own
    own = {n: {k: v - ref_parent[n].get(k, 0) for k, v in pts.items()} for n, pts in ref_child.items()}
    own = {n: {k: v for k, v in pts.items() if round(v, 9)} for n, pts in own.items()}
    assert rounded(child) == rounded(own)
    assert sum(child["tracewrap.client.finishes"].values()) == 2 * 8
    # and the parent's sums are untouched by the child's calls
    assert rounded(collect(pipelines.cumulative)) == rounded(parent)


def test_past_the_bound_one_overflow_set(
    server: FakeOpenAIServer, pipelines: Pipelines, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aggregated, "MAX_ENTRIES", 2)
    client = client_for(server, pipelines)
    for model in ("m-1", "m-2", "m-3", "m-4"):
        server.enqueue(Scenario(model=model))
        client.chat.completions.create(model=model, messages=MESSAGES)
    sums = collect(pipelines.cumulative)
    overflow = frozenset({("otel.metric.overflow", True)})
    finishes = sums["tracewrap.client.finishes"]
    assert finishes[overflow] == 2 and sum(finishes.values()) == 4 and len(finishes) == 3
    tokens = sums["tracewrap.client.token.usage"]
    assert tokens[overflow] == 2 * (12 + 7) and len(tokens) == 2 * 2 + 1
    # the histograms keep every call's own attributes (the SDK's limit applies to them)
    durations = {
        p.attributes.get(GenAI.GEN_AI_REQUEST_MODEL)
        for p in _points(pipelines.cumulative, "gen_ai.client.operation.duration")
    }
    assert durations == {"m-1", "m-2", "m-3", "m-4"}


def _points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    return [
        p
        for rm in (data.resource_metrics if data else ())
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == name
        for p in m.data.data_points
    ]


def test_nothing_summed_without_a_meter_provider(
    server: FakeOpenAIServer, telemetry: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As before: the API's placeholder drops what is measured before a global provider is set,
    and a no-op provider keeps nothing; tracewrap does not even sum those calls."""
    noop = NoOpMeterProvider()
    client = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    tracewrap.wrap(client, tracer_provider=telemetry.tracer_provider, meter_provider=noop)
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert not instruments.instruments_for(telemetry.tracer_provider, noop).live
    assert instruments.instruments_for(telemetry.tracer_provider, noop).table is None

    # no global meter provider yet (OTEL_METRICS_EXPORTER=none leaves it so)
    monkeypatch.setattr(metrics_internal, "_METER_PROVIDER_SET_ONCE", Once())
    monkeypatch.setattr(metrics_internal, "_METER_PROVIDER", None)
    monkeypatch.setattr(metrics_internal._PROXY_METER_PROVIDER, "_real_meter_provider", None)
    monkeypatch.setattr(metrics_internal._PROXY_METER_PROVIDER, "_meters", [])
    monkeypatch.setattr(instruments, "_cache", OrderedDict())
    client = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    tracewrap.wrap(client, tracer_provider=telemetry.tracer_provider)
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    found = instruments.instruments_for(telemetry.tracer_provider, None)
    assert not found.live and found.table is None
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics.set_meter_provider(provider)  # set later: from then on, every metric is recorded
    try:
        server.enqueue(Scenario(outcome="length"))
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert found.live and found.table is aggregated.table_for(provider)
        finishes = {dict(k)[attrs_of.FINISH_REASON]: v for k, v in collect(reader)[COUNTERS[1]].items()}
        assert finishes == {"length": 1}
        assert sum(p.count for p in _points(reader, "gen_ai.client.operation.duration")) == 1
    finally:
        provider.shutdown()
