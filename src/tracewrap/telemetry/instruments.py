"""The tracer and the metric instruments, created once per (tracer provider, meter provider).

With no providers given, the global ones are used through OpenTelemetry's proxies, so an
application that sets its providers after ``wrap()`` is still honoured.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import NoOpMeter, NoOpMeterProvider
from opentelemetry.metrics._internal import _ProxyMeterProvider
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics as GenAIMetrics

from tracewrap._version import __version__
from tracewrap.fork_safe import module_lock
from tracewrap.telemetry.aggregated import CounterTable, table_for

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
        # tracewrap's own counters: summed in process per attribute set and read at collection
        # (telemetry.aggregated), one table per meter provider; the call path adds plain numbers
        # instead of making measurements. For the global provider, found once one is set.
        self.table: CounterTable | None = None
        self._meter_provider = meter_provider
        self._global_meter = meter_provider is None
        self.live = False  # metrics recorded somewhere: checked per call until it is so
        self.check_live()

    def check_live(self) -> bool:
        """Whether a measurement would be kept: not with no meter provider set (the API's
        placeholder drops them; ``OTEL_METRICS_EXPORTER=none`` leaves it so), nor a no-op or
        disabled one. Once true it stays true (a global provider is set once); until then each call
        looks again, which costs less than the measurements the placeholder would drop."""
        provider = metrics.get_meter_provider() if self._global_meter else self._meter_provider
        if isinstance(provider, (_ProxyMeterProvider, NoOpMeterProvider)) or getattr(
            provider, "_disabled", False
        ):
            return False
        meter = provider.get_meter("tracewrap", __version__, schema_url=SCHEMA_URL)
        if isinstance(meter, NoOpMeter):
            return False
        table = table_for(provider)
        table.register(meter, TOKENS_COUNTER, FINISHES_COUNTER, COST_COUNTER)
        self.table = table
        self.live = True
        return True


# Keyed by the providers' ids, checked against weak references (an id is reused once its object is
# freed), most recently used last and bounded: wrap(..., tracer_provider=...) with providers made
# and dropped one after another keeps at most MAX_CACHED entries, not one per provider ever seen.
MAX_CACHED = 32
_cache: OrderedDict[tuple[int, int], tuple[Instruments, Any, Any]] = OrderedDict()
_lock = module_lock(globals(), "_lock")


def _ref(provider: Any) -> Any:
    if provider is None:
        return None
    try:
        return weakref.ref(provider)
    except TypeError:  # not weak-referenceable: hold it (bounded by MAX_CACHED all the same)
        return lambda: provider


def _alive(ref: Any, provider: Any) -> bool:
    return ref is None if provider is None else ref is not None and ref() is provider


def instruments_for(tracer_provider: Any = None, meter_provider: Any = None) -> Instruments:
    key = (id(tracer_provider), id(meter_provider))
    with _lock:
        found = _cache.get(key)
        if found is not None and _alive(found[1], tracer_provider) and _alive(found[2], meter_provider):
            _cache.move_to_end(key)
            return found[0]
        instruments = Instruments(tracer_provider, meter_provider)
        _cache[key] = (instruments, _ref(tracer_provider), _ref(meter_provider))
        _cache.move_to_end(key)
        for stale in [
            k
            for k, (_, t, m) in _cache.items()
            if (t is not None and t() is None) or (m is not None and m() is None)
        ]:
            del _cache[stale]
        while len(_cache) > MAX_CACHED:
            _cache.popitem(last=False)
        return instruments
