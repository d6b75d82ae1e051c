#!/usr/bin/env python
"""What each piece of tracewrap's call path costs where it runs, by ablation.

    python benchmarks/ablation.py                      # chat and responses, 20 s each
    python benchmarks/ablation.py chat chat --seconds 30

Copies of this tree's tracewrap run side by side with the bare SDK and the conventions floor,
interleaved call by call exactly as in ``overhead.py``. In each copy but one, one piece of the call
path is replaced by a replay of what it produced on its first call: the span, its attributes and
the points stay the same, only that piece's work is gone. The paired difference to the unmodified
copy is then what the piece costs in place, after ~1 ms of the SDK's own work has made everything
cold, which a profile (warm, one function at a time) does not show.

One more column, the *intercepted floor*, does the conventions floor's work from inside the
interception tracewrap needs (a wrapt ``FunctionWrapper`` on the resource method and one on the
client's request layer, a re-entrancy flag): what intercepting a call costs by itself.

Then a ladder from that floor up to tracewrap, each rung checked to emit tracewrap's span: the
*reading floor* reads every attribute and metric series from the call's arguments and response in
one function; *with record* stores those reads in tracewrap's record and takes the end attributes
and the counter table from tracewrap; *with readers* uses tracewrap's own readers too. What is left
between the top rung and the unmodified copy is tracewrap's glue. Every rung runs its own copy of
the code: a code object two columns share runs twice a round and reads warmer than it is.

An ablation names the exact source line it replaces; when that line changes, the run stops and
says which ablation to update.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import itertools
import shutil
import statistics
import sys
import tempfile
import threading
import time
import types
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import wrapt  # noqa: E402
from ab import rename_imports  # noqa: E402
from bench.floor import FloorPlan, capture_plan  # noqa: E402
from bench.harness import SCENARIOS, Column, make_telemetry, mock_backend, plain_call  # noqa: E402
from bench.timing import measure_scenario  # noqa: E402
from opentelemetry import context as otel_context  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from startup_hook import iqr  # noqa: E402

import tracewrap  # noqa: E402

# installed into every copy as ``<copy>._replay``: what each ablated piece produced on its first
# call, replayed on the others by plain assignments (what a replay costs stays in the figure)
REPLAY_MODULE = """
import copy

request = response = end = entry = None


def changes_made(record, work):
    names = type(record).__slots__
    before = {name: copy.copy(getattr(record, name)) for name in names}
    work()
    return tuple((name, getattr(record, name)) for name in names if getattr(record, name) != before[name])
"""


@dataclass(frozen=True)
class Ablation:
    """One source line of the call path, and what replaces it (``_replay`` is imported for it)."""

    file: str  # under the package
    line: str
    replacement: str


def _replay_fields(key: str, indent: str, record: str, work: str) -> str:
    return (
        f"{indent}if _replay.{key} is None:\n"
        f"{indent}    _replay.{key} = _replay.changes_made({record}, lambda: {work})\n"
        f"{indent}else:\n"
        f"{indent}    for _name, _value in _replay.{key}:\n"
        f"{indent}        setattr({record}, _name, _value)\n"
    )


def _replay_result(key: str, indent: str, target: str, work: str, suffix: str = "") -> str:
    return (
        f"{indent}if _replay.{key} is None:\n"
        f"{indent}    _replay.{key} = {work}\n"
        f"{indent}{target} = _replay.{key}{suffix}\n"
    )


ABLATIONS: dict[str, list[Ablation]] = {
    "request read": [
        Ablation(
            "telemetry/lifecycle.py",
            "        endpoint.read_request(kwargs, record)\n",
            _replay_fields("request", " " * 8, "record", "endpoint.read_request(kwargs, record)"),
        )
    ],
    "response read": [
        Ablation(
            "interception/results.py",
            "        call.site.endpoint.read_response(result, call.record, call.capture_content)\n",
            _replay_fields(
                "response",
                " " * 8,
                "call.record",
                "call.site.endpoint.read_response(result, call.record, call.capture_content)",
            ),
        )
    ],
    "end attributes": [
        Ablation(
            "telemetry/lifecycle.py",
            "        attributes = attrs_of.end_attributes(record)\n",
            _replay_result("end", " " * 8, "attributes", "attrs_of.end_attributes(record)", ".copy()"),
        )
    ],
    "counter table": [
        Ablation(
            "telemetry/lifecycle.py",
            "        entry = instruments.table.add(record, shared, cost)  # tracewrap's own counters\n",
            _replay_result("entry", " " * 8, "entry", "instruments.table.add(record, shared, cost)"),
        )
    ],
}
ABLATIONS["all four"] = [a for pieces in list(ABLATIONS.values()) for a in pieces]


def make_copy(into: Path, name: str, ablations: list[Ablation]) -> Any:
    package = into / name
    shutil.copytree(Path(tracewrap.__file__).parent, package)
    rename_imports(package, name)
    (package / "_replay.py").write_text(REPLAY_MODULE)
    for ablation in ablations:
        path = package / ablation.file
        text = path.read_text()
        if ablation.line not in text:
            raise SystemExit(f"ablation: {ablation.file} no longer has the line {ablation.line.strip()!r}")
        text = text.replace(ablation.line, ablation.replacement)
        future = "\nfrom __future__ import annotations\n"
        if "import _replay\n" not in text:
            text = text.replace(future, f"{future}\nfrom {name} import _replay\n", 1)
        path.write_text(text)
    return importlib.import_module(name)


def check_replays_are_faithful(copies: dict[str, Any], backend: Any, spec: Any) -> None:
    """Each copy's second call (a replay, in the ablated ones) emits the unmodified copy's span:
    same name, same attributes. A replay that drifted would time something else."""
    spans = {}
    for label, module in copies.items():
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        client = module.wrap(backend.client(), tracer_provider=provider, capture_content="no_content")
        run = plain_call(client, spec)
        run()
        run()
        second = exporter.get_finished_spans()[-1]
        spans[label] = (second.name, dict(second.attributes or {}))
    for label, span in spans.items():
        if span != spans["unmodified"]:
            raise SystemExit(f"ablation {label!r}: its replayed call emits {span}, not {spans['unmodified']}")


_in_call: ContextVar[bool] = ContextVar("ablation_in_call", default=False)


def intercepted_floor(client: Any, plan: FloorPlan, tracer: trace.Tracer) -> Any:
    """``client`` with the conventions floor's work done by wrappers, as an instrumentation must."""
    points = plan.standard_points
    perf = time.perf_counter

    def traced(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        if _in_call.get():
            return wrapped(*args, **kwargs)
        started = perf()
        span = tracer.start_span(plan.name, kind=plan.kind, attributes=dict(plan.start_attrs))
        context = trace.set_span_in_context(span)
        flag = _in_call.set(True)
        token = otel_context.attach(context)
        try:
            result = wrapped(*args, **kwargs)
        finally:
            otel_context.detach(token)
            _in_call.reset(flag)
        duration = perf() - started
        span.set_attributes(dict(plan.end_attrs))
        span.end()
        for record, value, attrs, measured, _in_span_context in points:
            record(duration if measured == "duration" else value, dict(attrs), context)
        return result

    return _intercept(client, traced)


def _pass_through(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """The floors' request layer: what tracewrap's does for a call a traced method is making."""
    if _in_call.get():  # a traced method is on the way (tracewrap's first check)
        return wrapped(*args, **kwargs)
    return wrapped(*args, **kwargs)


def _intercept(client: Any, traced: Any, request_layer: Any = _pass_through) -> Any:
    """``client`` with ``traced`` around both create methods and ``request_layer`` on its requests."""
    for resource in (client.chat.completions, client.responses):
        resource.create = wrapt.FunctionWrapper(resource.create, traced)
    client.request = wrapt.FunctionWrapper(client.request, request_layer)
    return client


# the request parameters tracewrap reads on these two APIs: name -> (attribute, accepted type)
_READ_PARAMS: dict[str, tuple[str, type]] = {
    "temperature": ("gen_ai.request.temperature", float),
    "top_p": ("gen_ai.request.top_p", float),
    "frequency_penalty": ("gen_ai.request.frequency_penalty", float),
    "presence_penalty": ("gen_ai.request.presence_penalty", float),
    "seed": ("gen_ai.request.seed", int),
    "max_tokens": ("gen_ai.request.max_tokens", int),
    "max_completion_tokens": ("gen_ai.request.max_tokens", int),
    "max_output_tokens": ("gen_ai.request.max_tokens", int),
    "service_tier": ("openai.request.service_tier", str),
}
_READ_NAMES = frozenset(_READ_PARAMS)
# looked for on each call, by API (responses_api False / True)
_ABSENT_HERE = (("response_format", "n"), ("conversation", "background", "text_format", "text"))
# what a call site's calls share (tracewrap works them out once per wrapped method, as here)
_SHARED_KEYS = (
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "openai.api.type",
    "server.address",
    "server.port",
)


# The rungs of the ladder from the reading floor up to tracewrap (each adds to the one before)
READING = "reading"  # the reads inline, straight into the attribute dicts: no tracewrap code
# the same reads stored in tracewrap's record, which its end attributes and counter table then read
RECORD = "with record"
READERS = "with readers"  # tracewrap's own request and response readers, span name and start attributes
RUNGS = (READING, RECORD, READERS)


@dataclass(frozen=True)
class Site:
    """What a rung above the reading floor takes from its own copy of tracewrap."""

    module: Any  # the copy
    call_site: Any  # its ``CallSite`` for the scenario's method on the benchmark's client

    @classmethod
    def of(cls, module: Any, client: Any, responses_api: bool, providers: dict[str, Any]) -> Site:
        module.wrap(client, capture_content="no_content", **providers)
        install = importlib.import_module(f"{module.__name__}.interception.install")
        endpoints = importlib.import_module(f"{module.__name__}.endpoints")
        lifecycle = importlib.import_module(f"{module.__name__}.telemetry.lifecycle")
        options = install.installation_of(client).options
        endpoint = endpoints.RESPONSE if responses_api else endpoints.CHAT
        return cls(module, lifecycle.CallSite(endpoint, options, install.client_info(client, options)))


def reading_floor(
    client: Any,
    plan: FloorPlan,
    tracer: trace.Tracer,
    responses_api: bool,
    rung: str = READING,
    site: Any = None,
) -> Any:
    """The intercepted floor that also *reads* what it emits (rung ``READING``): every span attribute
    and metric attribute set comes from the call's arguments and the SDK's response, by the least
    Python that gives the same values on these calls (one function, exact-type checks, no record,
    no fallbacks for dicts or odd values, a metric series' attribute dicts built once, counters
    summed under a lock). Not an instrumentation: a lower bound for any that reads instead of
    replaying. The rungs above it (``RECORD``, ``READERS``) put back tracewrap's pieces from
    ``site`` (a :class:`Site`, its own copy of tracewrap) one layer at a time.

    Each call of this builds the wrapper from its own copy of the code: a code object two columns
    share runs twice a round and is warmer than one a single column runs, which would flatter both.
    """
    points = plan.standard_points
    perf = time.perf_counter
    shared = {k: v for k, v in plan.start_attrs.items() if k in _SHARED_KEYS}
    series: dict[tuple[Any, Any], list[Any]] = {}
    lock = threading.Lock()
    duration_record = next(p.record for p in points if p.measured == "duration")
    tokens_record = next(p.record for p in points if p.measured is None)
    level = RUNGS.index(rung)
    if level:
        attributes = importlib.import_module(f"{site.module.__name__}.telemetry.attributes")
        call_site = site.call_site
        endpoint = call_site.endpoint
        table = call_site.options.instruments.table

    def traced(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        if _in_call.get():
            return wrapped(*args, **kwargs)
        started = perf()
        record = call_site.new_record() if level else None
        if level == 2:
            endpoint.read_request(kwargs, record)
            start = attributes.start_attributes(record, call_site.span_attributes)
            span = tracer.start_span(attributes.span_name(record), kind=plan.kind, attributes=start)
        else:
            start = shared.copy()
            model = kwargs.get("model")
            if model.__class__ is str and model:
                start["gen_ai.request.model"] = model
                if level:
                    record.request_model = model
            else:
                model = None
            for name in _READ_NAMES.intersection(kwargs):
                value = kwargs[name]
                key, kind = _READ_PARAMS[name]
                if value.__class__ is kind:
                    start[key] = value
            # what tracewrap also looks for (an output type, a conversation...), absent on these calls
            for name in _ABSENT_HERE[responses_api]:
                if kwargs.get(name) is not None:
                    raise NotImplementedError(f"the reading floor does not read {name}")
            stop = kwargs.get("stop")
            if stop is not None:
                start["gen_ai.request.stop_sequences"] = (stop,) if stop.__class__ is str else tuple(stop)
            span = tracer.start_span(f"chat {model}" if model else "chat", kind=plan.kind, attributes=start)
        # the call in its span, as intercepted_floor makes it: written out in both, not shared, so
        # that neither floor pays a helper's call
        context = trace.set_span_in_context(span)
        flag = _in_call.set(True)
        token = otel_context.attach(context)
        try:
            result = wrapped(*args, **kwargs)
        finally:
            otel_context.detach(token)
            _in_call.reset(flag)
        duration = perf() - started
        if level == 2:
            endpoint.read_response(result, record, False)
            span.set_attributes(attributes.end_attributes(record))
        else:
            get = result.__dict__.get
            end: dict[str, Any] = {}
            response_model = get("model")
            if response_model.__class__ is str and response_model:
                end["gen_ai.response.model"] = response_model
            value = get("id")
            if value.__class__ is str and value:
                end["gen_ai.response.id"] = value
            if responses_api:
                status = get("status")
                output = get("output")
                reason = None
                if status == "completed":  # ending with a tool call is "tool_calls" (tracewrap's table)
                    reason = "tool_calls" if output and output[-1].type.endswith("_call") else "stop"
                reasons = (reason,) if reason else ()
                end["openai.response.status"] = status
            else:
                reasons = tuple(choice.finish_reason for choice in get("choices"))
            if reasons:
                end["gen_ai.response.finish_reasons"] = reasons
            value = get("service_tier")
            if value.__class__ is str and value:
                end["openai.response.service_tier"] = value
            value = get("system_fingerprint")
            if value.__class__ is str and value:
                end["openai.response.system_fingerprint"] = value
            usage = get("usage").__dict__.get
            input_tokens = usage("input_tokens" if responses_api else "prompt_tokens")
            output_tokens = usage("output_tokens" if responses_api else "completion_tokens")
            end["gen_ai.usage.input_tokens"] = input_tokens
            end["gen_ai.usage.output_tokens"] = output_tokens
            details = usage("input_tokens_details" if responses_api else "prompt_tokens_details")
            cached = audio = reasoning = None
            if details is not None:
                detail = details.__dict__.get
                cached = detail("cached_tokens")
                audio = detail("audio_tokens")
                if cached is not None:
                    end["gen_ai.usage.cache_read.input_tokens"] = cached
                if audio is not None:
                    end["tracewrap.usage.audio.input_tokens"] = audio
            details = usage("output_tokens_details" if responses_api else "completion_tokens_details")
            if details is not None:
                reasoning = details.__dict__.get("reasoning_tokens")
                if reasoning is not None:
                    end["gen_ai.usage.reasoning.output_tokens"] = reasoning
            if level:  # the record, which the end attributes and the counter table read
                record.response_model = end.get("gen_ai.response.model")
                record.response_id = end.get("gen_ai.response.id")
                record.finish_reasons = reasons or None
                record.service_tier = end.get("openai.response.service_tier")
                record.system_fingerprint = end.get("openai.response.system_fingerprint")
                record.status = end.get("openai.response.status")
                counts = record.usage
                counts.input_tokens = input_tokens
                counts.output_tokens = output_tokens
                counts.cache_read_tokens = cached
                counts.input_audio_tokens = audio
                counts.reasoning_tokens = reasoning
                end = attributes.end_attributes(record)
            span.set_attributes(end)
        span.end()
        if level:
            entry = table.add(record, call_site.shared_attributes, None)
            duration_record(duration, entry.attrs, context)
            tokens_record(record.usage.input_tokens, entry.input_attrs, context)
            tokens_record(record.usage.output_tokens, entry.output_attrs, context)
            return result
        key = (model, response_model)
        found = series.get(key)
        if found is None:
            metric = {**shared, "gen_ai.request.model": model, "gen_ai.response.model": response_model}
            found = series[key] = [
                metric,
                {**metric, "gen_ai.token.type": "input"},
                {**metric, "gen_ai.token.type": "output"},
                [0, 0, 0, 0, {}],
            ]
        metric, input_attrs, output_attrs, sums = found
        duration_record(duration, metric, context)
        tokens_record(input_tokens, input_attrs, context)
        tokens_record(output_tokens, output_attrs, context)
        with lock:
            sums[0] += input_tokens
            sums[1] += output_tokens
            if cached is not None:
                sums[2] += cached
            if reasoning is not None:
                sums[3] += reasoning
            finishes = sums[4]
            reason = reasons[0] if reasons else "none"
            finishes[reason] = finishes.get(reason, 0) + 1
        return result

    return _intercept(client, _own_code(traced), _own_code(_pass_through))


def _own_code(function: Any) -> Any:
    """``function`` with a code object of its own (``code.replace`` copies it)."""
    code = function.__code__.replace(co_name=f"{function.__name__}_{next(_copies)}")
    return types.FunctionType(code, function.__globals__, None, function.__defaults__, function.__closure__)


_copies = itertools.count()


def check_reading_floor(
    backend: Any, spec: Any, plan: FloorPlan, copies: dict[str, Any], providers: dict[str, Any]
) -> None:
    """Each rung's span is tracewrap's: same name, same attributes (else it would time less)."""
    responses_api = spec.api != "chat"
    spans = {}
    for label in ("unmodified", *RUNGS):
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        if label == "unmodified":
            client = copies[label].wrap(backend.client(), tracer_provider=provider)
        else:
            site = Site.of(copies["unmodified"], backend.client(), responses_api, providers)
            tracer = provider.get_tracer("check")
            client = reading_floor(backend.client(), plan, tracer, responses_api, label, site)
        plain_call(client, spec)()
        span = exporter.get_finished_spans()[-1]
        spans[label] = (span.name, dict(span.attributes or {}))
    for label in RUNGS:
        if spans[label] != spans["unmodified"]:
            raise SystemExit(f"the {label!r} floor emits {spans[label]}, tracewrap {spans['unmodified']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("scenarios", nargs="*", default=["chat", "responses"])
    parser.add_argument("--seconds", type=float, default=20.0, help="per scenario (default 20)")
    opts = parser.parse_args()
    specs = {spec.key: spec for spec in SCENARIOS if not spec.stream and not spec.concurrent}
    unknown = [key for key in opts.scenarios if key not in specs]
    if unknown:
        parser.error(f"unknown scenarios {unknown}; known (non-streamed, sync): {list(specs)}")

    with tempfile.TemporaryDirectory(prefix="tracewrap-ablation-") as tmp:
        sys.path.insert(0, tmp)
        copies = {"unmodified": make_copy(Path(tmp), "tw_unmodified", [])}
        for index, rung in enumerate(RUNGS[1:]):
            copies[rung] = make_copy(Path(tmp), f"tw_rung{index}", [])
        for index, (label, ablations) in enumerate(ABLATIONS.items()):
            copies[label] = make_copy(Path(tmp), f"tw_ablation{index}", ablations)

        telemetry = make_telemetry()
        backend = mock_backend()
        providers = {"tracer_provider": telemetry.tracer_provider, "meter_provider": telemetry.meter_provider}
        tracer = telemetry.tracer_provider.get_tracer("benchmark.floor")
        loop = asyncio.new_event_loop()
        print(f"copies of {Path(tracewrap.__file__).parent}; {opts.seconds:.0f} s per scenario")
        for key in opts.scenarios:
            spec = specs[key]
            for module in copies.values():  # what a copy replays is one scenario's
                replay = importlib.import_module(f"{module.__name__}._replay")
                replay.request = replay.response = replay.end = replay.entry = None
            check_replays_are_faithful(copies, backend, spec)
            plan = capture_plan(backend, spec, telemetry)
            check_reading_floor(backend, spec, plan, copies, providers)
            responses_api = spec.api != "chat"
            columns = [
                Column("bare", "bare", backend.client()),
                Column("conv", "conv", backend.client(), floor=True, conventions=True),
                Column("intercepted", "intercepted", intercepted_floor(backend.client(), plan, tracer)),
                Column(READING, READING, reading_floor(backend.client(), plan, tracer, responses_api)),
            ]
            for rung in RUNGS[1:]:  # each on its own copy of tracewrap
                site = Site.of(copies[rung], backend.client(), responses_api, providers)
                client = reading_floor(backend.client(), plan, tracer, responses_api, rung, site)
                columns.append(Column(rung, rung, client))
            for label, module in copies.items():
                if label in RUNGS:
                    continue
                client = module.wrap(backend.client(), capture_content="no_content", **providers)
                columns.append(Column(label, label, client))
            cells, rounds = measure_scenario(spec, columns, plan, telemetry, opts.seconds, 15, loop)
            conv = statistics.median(cells["conv"].overhead)
            print(f"\n{key}: {rounds} rounds, conventions floor +{conv:.1f} µs")
            unmodified = cells["unmodified"].per_call
            for label in ["intercepted", *RUNGS, *(c for c in copies if c not in RUNGS)]:
                overhead = statistics.median(cells[label].overhead)
                line = f"  {label:16s} +{overhead:6.1f} µs  {overhead / conv:.3f}x"
                if label in ABLATIONS:
                    diff = [a - b for a, b in zip(cells[label].per_call, unmodified, strict=True)]
                    line += f"  piece costs {-statistics.median(diff):+5.1f} µs (IQR {iqr(diff):.1f})"
                print(line, flush=True)
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
