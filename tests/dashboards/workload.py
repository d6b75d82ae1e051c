"""The workload the live dashboard test measures.

For now `record_synthetic_workload` records tracewrap's metric contract directly with the OTel SDK.
To switch to a real traced workload (fake OpenAI server + wrapped SDK), write a function with the same
signature that makes the same calls through tracewrap and returns the same `expected` dict; the live
test and the PNG renderer only use that dict and the metrics in Prometheus.
Every round is identical, so ratios (error ratio, cache hit ratio) are exact whatever window a
query looks at, and totals are `rounds` times one round.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.metrics import MeterProvider

from tracewrap.cost import estimate_cost_usd

DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]


@dataclass(frozen=True)
class SyntheticCall:
    operation: str
    model: str
    provider: str = "openai"
    api_type: str = "chat_completions"
    response_model: str | None = None
    duration_s: float = 0.5
    finish_reason: str = "stop"  # "none" = nothing reported (embeddings, queued background responses)
    error_type: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    reasoning_tokens: int | None = None
    ttfc_s: float | None = None  # streams only
    time_per_chunk_s: float | None = None  # streams only
    server_address: str = "api.openai.com"


# One round of traffic; known numbers the dashboard must show back.
ROUND: tuple[SyntheticCall, ...] = (
    SyntheticCall(
        "chat",
        "gpt-4o-mini",
        response_model="gpt-4o-mini-2024-07-18",
        duration_s=0.7,
        input_tokens=1000,
        output_tokens=200,
        cache_read_tokens=400,
    ),
    SyntheticCall(
        "chat",
        "gpt-4o-mini",
        response_model="gpt-4o-mini-2024-07-18",
        duration_s=1.5,
        finish_reason="length",
        input_tokens=500,
        output_tokens=300,
        reasoning_tokens=100,
        ttfc_s=0.25,
        time_per_chunk_s=0.015,
    ),
    SyntheticCall("chat", "gpt-4o-mini", duration_s=0.05, finish_reason="error", error_type="RateLimitError"),
    SyntheticCall(
        "chat",
        "gpt-4o-mini",
        response_model="gpt-4o-mini-2024-07-18",
        duration_s=0.9,
        finish_reason="content_filter",
        input_tokens=300,
        output_tokens=20,
        ttfc_s=0.6,
        time_per_chunk_s=0.03,
    ),
    SyntheticCall(
        "chat",
        "gpt-4o",
        api_type="responses",
        response_model="gpt-4o-2024-08-06",
        duration_s=3.0,
        finish_reason="tool_calls",
        input_tokens=2000,
        output_tokens=500,
        cache_read_tokens=1000,
        reasoning_tokens=200,
    ),
    SyntheticCall(
        "chat",
        "gpt-4o",
        api_type="responses",
        duration_s=0.2,
        finish_reason="error",
        error_type="APITimeoutError",
    ),
    SyntheticCall("fetch_response", "gpt-4o", api_type="responses", duration_s=0.1, finish_reason="none"),
    SyntheticCall(
        "embeddings",
        "text-embedding-3-small",
        provider="azure.ai.openai",
        api_type="",
        response_model="text-embedding-3-small",
        duration_s=0.08,
        finish_reason="none",
        input_tokens=64,
        server_address="example.openai.azure.com",
    ),
)


@dataclass
class _Instruments:
    duration: Any
    token_hist: Any
    ttfc: Any
    tpoc: Any
    tokens: Any
    finishes: Any
    cost: Any


@dataclass
class Expected:
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)  # (model, operation) -> calls
    errors: Counter[str] = field(default_factory=Counter)
    finishes: Counter[str] = field(default_factory=Counter)
    tokens: Counter[str] = field(default_factory=Counter)
    tokens_by_model: Counter[str] = field(default_factory=Counter)  # input + output
    cost_by_model: Counter[str] = field(default_factory=Counter)
    streams: int = 0


def _instruments(meter_provider: MeterProvider) -> _Instruments:
    meter = meter_provider.get_meter("tracewrap")
    return _Instruments(
        duration=meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        ),
        token_hist=meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Measures number of input and output tokens used",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        ),
        ttfc=meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            unit="s",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        ),
        tpoc=meter.create_histogram(
            "gen_ai.client.operation.time_per_output_chunk",
            unit="s",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        ),
        tokens=meter.create_counter("tracewrap.client.token.usage", unit="{token}"),
        finishes=meter.create_counter("tracewrap.client.finishes", unit="{call}"),
        cost=meter.create_counter("tracewrap.client.cost.usd", unit="{USD}"),
    )


def _record(inst: _Instruments, call: SyntheticCall, exp: Expected) -> None:
    attrs: dict[str, str | int] = {
        "gen_ai.operation.name": call.operation,
        "gen_ai.provider.name": call.provider,
        "gen_ai.request.model": call.model,
        "server.address": call.server_address,
        "server.port": 443,
    }
    if call.api_type:
        attrs["openai.api.type"] = call.api_type
    if call.response_model:
        attrs["gen_ai.response.model"] = call.response_model
    if call.error_type:
        attrs["error.type"] = call.error_type
    inst.duration.record(call.duration_s, attrs)
    exp.calls[(call.model, call.operation)] += 1
    if call.error_type:
        exp.errors[call.error_type] += 1
    if call.ttfc_s is not None:
        inst.ttfc.record(call.ttfc_s, attrs)
        exp.streams += 1
    if call.time_per_chunk_s is not None:
        inst.tpoc.record(call.time_per_chunk_s, attrs)
    for ttype, n in (
        ("input", call.input_tokens),
        ("output", call.output_tokens),
        ("cache_read", call.cache_read_tokens),
        ("reasoning", call.reasoning_tokens),
    ):
        if n is None:  # not reported: no point at all, never a 0
            continue
        if ttype in ("input", "output"):
            inst.token_hist.record(n, {**attrs, "gen_ai.token.type": ttype})
            exp.tokens_by_model[call.model] += n
        inst.tokens.add(n, {**attrs, "gen_ai.token.type": ttype})
        exp.tokens[ttype] += n
    short = {k: attrs[k] for k in ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model")}
    inst.finishes.add(1, {**short, "tracewrap.finish_reason": call.finish_reason})  # every call, as the core
    exp.finishes[call.finish_reason] += 1
    cost = estimate_cost_usd(
        call.provider, call.model, call.input_tokens, call.output_tokens, call.cache_read_tokens
    )
    if cost is not None and cost > 0:
        inst.cost.add(cost, short)
        exp.cost_by_model[call.model] += cost


def record_synthetic_workload(
    meter_provider: MeterProvider, rounds: int = 24, interval_s: float = 0.4
) -> dict[str, Any]:
    """Record `rounds` identical rounds of `ROUND`, `interval_s` apart; return the expected totals.

    Returned keys: calls, errors, error_ratio, calls_by_model_operation, finishes, tokens,
    tokens_by_model, cache_hit_ratio, cost_usd, cost_by_model, streams, models, providers,
    operations, concrete (one provider/model/operation value that every panel has data for),
    started_at, ended_at (unix seconds).
    """
    inst = _instruments(meter_provider)
    exp = Expected()
    started = time.time()
    for i in range(rounds):
        for call in ROUND:
            _record(inst, call, exp)
        if i < rounds - 1:
            time.sleep(interval_s)
    ended = time.time()
    return _as_dict(exp, started, ended)


def _as_dict(exp: Expected, started: float, ended: float) -> dict[str, Any]:
    calls = sum(exp.calls.values())
    errors = sum(exp.errors.values())
    by_mo: Mapping[tuple[str, str], int] = exp.calls
    return {
        "calls": calls,
        "errors": dict(exp.errors),
        "error_ratio": errors / calls if calls else 0.0,
        "calls_by_model_operation": {f"{m}|{o}": n for (m, o), n in by_mo.items()},
        "finishes": dict(exp.finishes),
        "tokens": dict(exp.tokens),
        "tokens_by_model": dict(exp.tokens_by_model),
        "cache_hit_ratio": exp.tokens["cache_read"] / exp.tokens["input"] if exp.tokens["input"] else 0.0,
        "cost_usd": sum(exp.cost_by_model.values()),
        "cost_by_model": dict(exp.cost_by_model),
        "streams": exp.streams,
        "models": sorted({m for m, _ in exp.calls}),
        "operations": sorted({o for _, o in exp.calls}),
        "providers": sorted({c.provider for c in ROUND}),
        "concrete": {"provider": "openai", "model": "gpt-4o-mini", "operation": "chat"},
        "started_at": started,
        "ended_at": ended,
    }
