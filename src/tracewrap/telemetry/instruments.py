"""The tracer and the metric instruments, created once per (tracer provider, meter provider).

With no providers given, the global ones are used through OpenTelemetry's proxies, so an
application that sets its providers after ``wrap()`` is still honoured.
"""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics as GenAIMetrics

from tracewrap._version import __version__

# advisory buckets from the GenAI conventions; the SDK's defaults (0 … 10000) are wrong for seconds
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (
    1,
    4,
    16,
    64,
    256,
    1024,
    4096,
    16384,
    65536,
    262144,
    1048576,
    4194304,
    16777216,
    67108864,
)

# tracewrap's own low-cardinality metrics, for what the standard ones do not carry
TOKENS_COUNTER = "tracewrap.client.token.usage"
FINISHES_COUNTER = "tracewrap.client.finishes"
COST_COUNTER = "tracewrap.client.cost.usd"
SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"


class Instruments:
    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        self.tracer = trace.get_tracer("tracewrap", __version__, tracer_provider, schema_url=SCHEMA_URL)
        meter = metrics.get_meter("tracewrap", __version__, meter_provider, schema_url=SCHEMA_URL)
        self.duration = meter.create_histogram(
            GenAIMetrics.GEN_AI_CLIENT_OPERATION_DURATION,
            unit="s",
            description="Duration of GenAI client operations",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.token_usage = meter.create_histogram(
            GenAIMetrics.GEN_AI_CLIENT_TOKEN_USAGE,
            unit="{token}",
            description="Input and output tokens used per call",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self.time_to_first_chunk = meter.create_histogram(
            GenAIMetrics.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
            unit="s",
            description="Time from the request to the first chunk of a streamed response",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.time_per_output_chunk = meter.create_histogram(
            GenAIMetrics.GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK,
            unit="s",
            description="Mean time between chunks after the first, one point per stream",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.tokens = meter.create_counter(
            TOKENS_COUNTER,
            unit="{token}",
            description="Tokens by type: input, output, cache_read, reasoning",
        )
        self.finishes = meter.create_counter(
            FINISHES_COUNTER,
            unit="{call}",
            description="Calls by finish reason (stop, length, error...)",
        )
        self.cost = meter.create_counter(
            COST_COUNTER,
            unit="{USD}",
            description="Estimated cost in US dollars (an estimate)",
        )


_cache: dict[tuple[int, int], Instruments] = {}
_lock = threading.Lock()


def instruments_for(tracer_provider: Any = None, meter_provider: Any = None) -> Instruments:
    key = (id(tracer_provider), id(meter_provider))
    found = _cache.get(key)
    if found is None:
        with _lock:
            found = _cache.get(key)
            if found is None:
                found = _cache[key] = Instruments(tracer_provider, meter_provider)
    return found
