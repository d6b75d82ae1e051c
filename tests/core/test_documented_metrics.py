"""The README's Metrics table, as a user reads it: each instrument's name, kind, unit and attributes."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from opentelemetry.sdk.metrics.export import Histogram, Sum

from tests.core.helpers import MESSAGES, sync_client
from tracewrap.testing import Scenario

BASE = {
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "openai.api.type",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "server.address",
    "server.port",
}
# name -> (kind, unit, attribute keys of a successful streamed chat call's points)
DOCUMENTED = {
    "gen_ai.client.operation.duration": (Histogram, "s", BASE),
    "gen_ai.client.token.usage": (Histogram, "{token}", BASE | {"gen_ai.token.type"}),
    "gen_ai.client.operation.time_to_first_chunk": (Histogram, "s", BASE),
    "gen_ai.client.operation.time_per_output_chunk": (Histogram, "s", BASE),
    "tracewrap.client.token.usage": (Sum, "{token}", BASE | {"gen_ai.token.type"}),
    "tracewrap.client.finishes": (
        Sum,
        "{call}",
        {"gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model", "tracewrap.finish_reason"},
    ),
    "tracewrap.client.cost.usd": (
        Sum,
        "{USD}",
        {
            "gen_ai.operation.name",
            "gen_ai.provider.name",
            "gen_ai.request.model",
            "openai.response.service_tier",
        },
    ),
}


def _metrics(telemetry: Any) -> dict[str, Any]:
    data = telemetry.reader.get_metrics_data()
    return {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}


def test_every_documented_metric_has_its_kind_unit_and_attributes(server, telemetry) -> None:
    server.enqueue(Scenario(cached_tokens=4, reasoning_tokens=2))
    client = sync_client(server, telemetry, provider="openai", estimate_cost=True)
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    with stream:
        for _ in stream:
            pass
    metrics = _metrics(telemetry)
    assert set(metrics) == set(DOCUMENTED)  # no gen_ai.server.* metric, nothing undocumented
    for name, (kind, unit, keys) in DOCUMENTED.items():
        metric = metrics[name]
        assert (type(metric.data), metric.unit) == (kind, unit), name
        if kind is Sum:
            assert metric.data.is_monotonic, name
        for point in metric.data.data_points:
            assert set(point.attributes) == keys, (name, dict(point.attributes))
    token_types = {
        p.attributes["gen_ai.token.type"] for p in metrics["tracewrap.client.token.usage"].data.data_points
    }
    assert token_types == {"input", "output", "cache_read", "reasoning"}
    histogram_types = {
        p.attributes["gen_ai.token.type"] for p in metrics["gen_ai.client.token.usage"].data.data_points
    }
    assert histogram_types == {"input", "output"}


def test_a_failed_call_adds_error_type_to_the_duration_only(server, telemetry) -> None:
    server.enqueue(Scenario(outcome="http_error", status_code=429))
    client = sync_client(server, telemetry, provider="openai")
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    metrics = _metrics(telemetry)
    (duration,) = metrics["gen_ai.client.operation.duration"].data.data_points
    assert duration.attributes["error.type"] == "RateLimitError"
    (finish,) = metrics["tracewrap.client.finishes"].data.data_points
    assert dict(finish.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "tracewrap.finish_reason": "error",
    }
    assert (
        "gen_ai.client.token.usage" not in metrics
        or not metrics["gen_ai.client.token.usage"].data.data_points
    )
