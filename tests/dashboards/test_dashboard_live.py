"""Every dashboard query, run for real against Prometheus scraping a real traced workload.

Flow (one module-scoped run, ~18 s): the openai SDK wrapped by tracewrap (`estimate_cost=True`)
calls the fake OpenAI server (tests/dashboards/workload.py) -> a `PrometheusMetricReader` on a free
127.0.0.1 port -> the Debian Prometheus binary scraping it every second -> every panel query with
Grafana's macros and template variables substituted (see live.py for how the range and the scrapes
are lined up with the workload's rounds).

Expected numbers come from what the workload saw through the SDK (usage, finish reasons, statuses,
exceptions, its own clock) and from genai-prices, never from tracewrap. Counts and sums are checked
exactly; rates, whose absolute value depends on when Prometheus scraped, are checked as exact shares;
latency quantiles are checked against the histogram bucket the measured durations put them in.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from dashboard_files import load_dashboards, query_panels
from live import LiveRun
from prometheus_server import substitute
from workload import (
    CONCRETE,
    INNER_CLOCK_SLACK_S,
    bucket_of,
    has_websocket_mode,
    quantile_bucket,
    summarize,
)

DASHBOARDS = load_dashboards()
OVERVIEW = DASHBOARDS["tracewrap-overview.json"]
EXACT = 1e-9  # float sums of the same numbers in another order
RANGE = 1e-3  # increase() over $__range: the range reaches 1 ms before the first sample
SHARE = 1e-6  # ratios of rates over the same samples


def _panel(title: str) -> dict[str, Any]:
    for p in query_panels(OVERVIEW):
        if p["title"] == title:
            return p
    raise AssertionError(f"no panel titled {title!r}")


def _values(result: list[dict[str, Any]]) -> list[float]:
    return [float(r["value"][1]) for r in result]


def _by(result: list[dict[str, Any]], *labels: str) -> dict[str, float]:
    return {"|".join(r["metric"].get(label, "") for label in labels): float(r["value"][1]) for r in result}


def _one(
    run: LiveRun, title: str, ref: str = "A", variables: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    target = next(t for t in _panel(title)["targets"] if t["refId"] == ref)
    return run.query(target["expr"], variables or run.all_values())


def _raw(run: LiveRun, promql: str, *labels: str, at: float | None = None) -> dict[str, float]:
    return _by(run.prom.query(promql, at=run.eval_time if at is None else at), *labels)


def _shares(d: dict[str, float]) -> dict[str, float]:
    total = sum(d.values())
    return {k: v / total for k, v in d.items()}


def _floats(d: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in d.items()}


def _all_targets() -> list[tuple[str, str, str, str]]:
    out = []
    for name, dash in DASHBOARDS.items():
        for p in query_panels(dash):
            for t in p.get("targets", []):
                out.append((name, p["title"], t["refId"], t["expr"]))
    return out


# --- every query --------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["all", "concrete"])
def test_every_panel_query_returns_finite_data(live: LiveRun, mode: str) -> None:
    variables = live.all_values() if mode == "all" else live.concrete_values()
    empty, bad = [], []
    for name, title, ref, expr in _all_targets():
        result = live.query(expr, variables)
        if not result:
            empty.append(f"{name}: {title} [{ref}]: {substitute(expr, variables)}")
        elif not all(math.isfinite(v) for v in _values(result)):
            bad.append(f"{name}: {title} [{ref}]: {result}")
    assert not empty, "queries returned no data:\n" + "\n".join(empty)
    assert not bad, "queries returned NaN/Inf:\n" + "\n".join(bad)


def test_template_variable_queries_list_the_workload_values(live: LiveRun) -> None:
    expected = {
        "service": [live.job],
        "provider": live.totals["providers"],  # openai + openai_compatible (the local embeddings client)
        "model": live.totals["models"],
        "operation": live.totals["operations"],
    }
    variables = {v["name"]: v for v in OVERVIEW["templating"]["list"]}
    for name, want in expected.items():
        definition = variables[name]["query"]
        m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", definition, re.S)
        assert m, definition
        selector = substitute(m.group(1), {"service": ".*", "provider": ".*"})
        # label_values lists the values series have: not the absent model of a generic api_call
        got = sorted(
            {
                r["metric"][m.group(2)]
                for r in live.prom.query(f"group by ({m.group(2)}) ({selector})", at=live.eval_time)
                if m.group(2) in r["metric"]
            }
        )
        assert got == sorted(want), name
    assert "api_call" in live.totals["operations"]


# --- raw series: the whole run ---------------------------------------------------------------------------
def test_raw_counters_match_the_workload_exactly(live: LiveRun) -> None:
    exp = live.totals
    finishes = _raw(
        live, "sum by (tracewrap_finish_reason) (tracewrap_client_finishes_total)", "tracewrap_finish_reason"
    )
    assert finishes == _floats(exp["finishes"])
    assert set(finishes) == {"stop", "length", "content_filter", "tool_calls", "error", "none"}
    tokens = _raw(
        live, "sum by (gen_ai_token_type) (tracewrap_client_token_usage_total)", "gen_ai_token_type"
    )
    assert tokens == _floats(exp["tokens"])
    assert set(tokens) == {"input", "output", "cache_read", "reasoning"}

    calls = _raw(
        live,
        "sum by (gen_ai_request_model, gen_ai_operation_name)"
        " (gen_ai_client_operation_duration_seconds_count)",
        "gen_ai_request_model",
        "gen_ai_operation_name",
    )
    assert calls == _floats(exp["calls_by_model_operation"])
    # a generic span (files.list) is on the dashboard under api_call, with no model label
    assert calls["|api_call"] == exp["rounds"]
    # Responses turns over the WebSocket connection count as chat calls of their model
    websocket = [o for o in live.observed if o.call.api == "websocket"]
    assert len(websocket) == (exp["rounds"] if has_websocket_mode() else 0)
    assert all(o.usage and o.finish_reason == "stop" for o in websocket)
    errors = _raw(
        live,
        'sum by (error_type) (gen_ai_client_operation_duration_seconds_count{error_type!=""})',
        "error_type",
    )
    assert errors == _floats(exp["errors"])
    # 429 and 500/503 from the SDK's exceptions, a failed Response's error code, a broken stream
    assert {"RateLimitError", "InternalServerError", "server_error", "APIError"} <= set(errors)

    hist = "sum by (gen_ai_token_type) (gen_ai_client_token_usage_{})"
    assert _raw(live, hist.format("sum"), "gen_ai_token_type") == {
        t: float(exp["tokens"][t]) for t in ("input", "output")
    }
    assert _raw(live, hist.format("count"), "gen_ai_token_type") == _floats(exp["token_points"])
    ttfc = _raw(
        live,
        "sum by (gen_ai_request_model) (gen_ai_client_operation_time_to_first_chunk_seconds_count)",
        "gen_ai_request_model",
    )
    assert ttfc == {m: float(len(v)) for m, v in exp["ttfc"].items()}
    tpoc = _raw(
        live,
        "sum by (gen_ai_request_model) (gen_ai_client_operation_time_per_output_chunk_seconds_count)",
        "gen_ai_request_model",
    )
    assert tpoc == {m: float(len(v)) for m, v in exp["tpoc"].items()}

    cost = _raw(
        live, "sum by (gen_ai_request_model) (tracewrap_client_cost_usd_total)", "gen_ai_request_model"
    )
    assert cost == pytest.approx(exp["cost_by_model"], rel=EXACT)
    assert exp["cost_usd"] > 0
    # the local embeddings server (openai_compatible) gets no list price
    priced = _raw(
        live, "sum by (gen_ai_provider_name) (tracewrap_client_cost_usd_total)", "gen_ai_provider_name"
    )
    assert set(priced) == {"openai"}
    # the cost counter alone carries the tier the response reported (flex, priority, default)
    tiers = _raw(
        live,
        "sum by (openai_response_service_tier) (tracewrap_client_cost_usd_total)",
        "openai_response_service_tier",
    )
    assert tiers == pytest.approx(exp["cost_by_tier"], rel=EXACT)
    assert {"flex", "priority", "default"} <= set(tiers)


def test_first_sample_holds_only_the_first_round(live: LiveRun) -> None:
    before = live.totals["calls"] - live.in_range["calls"]
    assert live.first_round_in_range == 1  # round 0 was scraped alone
    got = _values(
        live.prom.query("sum(gen_ai_client_operation_duration_seconds_count)", at=live.first_sample)
    )
    assert got == [float(before)]
    assert live.in_range["rounds"] == live.totals["rounds"] - 1 >= 5


# --- range panels (increase over $__range) -------------------------------------------------------------
def test_finish_reason_stats_count_length_and_content_filter(live: LiveRun) -> None:
    exp = live.in_range["finishes"]
    (length,) = _values(_one(live, "Truncated calls (finish_reason = length)"))
    (content_filter,) = _values(_one(live, "Filtered calls (finish_reason = content_filter)"))
    assert length == pytest.approx(exp["length"], rel=RANGE)
    assert content_filter == pytest.approx(exp["content_filter"], rel=RANGE)
    assert exp["length"] > 0 and exp["content_filter"] > 0
    # with one model selected, only that model's calls
    mine = summarize(
        [o for o in live.observed if o.call.model == CONCRETE["model"]], live.first_round_in_range
    )["finishes"]
    (length,) = _values(
        _one(live, "Truncated calls (finish_reason = length)", variables=live.concrete_values())
    )
    assert length == pytest.approx(mine["length"], rel=RANGE)
    assert mine["length"] < exp["length"]  # o4-mini's truncated Responses stream is not counted


def test_top_models_by_tokens_and_cost(live: LiveRun) -> None:
    exp = live.in_range
    tokens = _by(_one(live, "Top models by tokens"), "gen_ai_request_model")
    assert tokens == pytest.approx(_floats(exp["tokens_by_model"]), rel=RANGE)
    cost = _by(_one(live, "Top models by estimated cost (USD)"), "gen_ai_request_model")
    assert cost == pytest.approx(exp["cost_by_model"], rel=RANGE)
    (total,) = _values(_one(live, "Estimated cost in range (USD)"))
    assert total == pytest.approx(exp["cost_usd"], rel=RANGE)
    by_tier = _by(_one(live, "Estimated cost by service tier (USD)"), "openai_response_service_tier")
    expected = {tier or "unreported": cost for tier, cost in exp["cost_by_tier"].items()}
    assert by_tier == pytest.approx(expected, rel=RANGE)
    # o4-mini at flex is half its list price, at priority more: the tiers are priced, not just labelled
    flex = [o for o in live.observed if o.service_tier == "flex" and o.cost_usd]
    assert flex and all(o.call.model == "o4-mini" for o in flex)


# --- rate panels: exact shares of the workload's mix -----------------------------------------------
def test_ratios_match_the_workload(live: LiveRun) -> None:
    exp = live.in_range
    (error_ratio,) = _values(_one(live, "Error ratio"))
    assert error_ratio == pytest.approx(exp["error_ratio"], rel=SHARE)
    (cache_ratio,) = _values(_one(live, "Prompt cache hit ratio"))
    assert cache_ratio == pytest.approx(exp["cache_hit_ratio"], rel=SHARE)


MODEL_OP = ("gen_ai_request_model", "gen_ai_operation_name")


@pytest.mark.parametrize(
    ("title", "labels", "key"),
    [
        ("Requests/s by model and operation", MODEL_OP, "calls_by_model_operation"),
        ("Errors/s by error.type", ("error_type",), "errors"),
        ("Tokens/s by type", ("gen_ai_token_type",), "tokens"),
        ("Calls by finish reason", ("tracewrap_finish_reason",), "finishes"),
        ("Estimated cost per hour (USD)", ("gen_ai_request_model",), "cost_by_model"),
    ],
)
def test_rate_panels_split_like_the_workload(
    live: LiveRun, title: str, labels: tuple[str, ...], key: str
) -> None:
    got = _by(_one(live, title), *labels)
    assert all(v > 0 for v in got.values()), got
    assert _shares(got) == pytest.approx(_shares(_floats(live.in_range[key])), rel=SHARE)


# --- latency histograms ---------------------------------------------------------------------------------
def test_latency_quantiles_match_the_measured_durations(live: LiveRun) -> None:
    exp = live.in_range
    p50 = _by(_one(live, "Latency p50 / p95 / p99 by model", "A"), "gen_ai_request_model")
    p99 = _by(_one(live, "Latency p50 / p95 / p99 by model", "C"), "gen_ai_request_model")
    assert set(p50) == set(exp["durations"])
    ranges = {model: quantile_bucket(d, 0.5, INNER_CLOCK_SLACK_S) for model, d in exp["durations"].items()}
    for model, durations in exp["durations"].items():
        low, high = ranges[model]
        assert low <= p50[model] <= high, (model, p50[model], sorted(durations))
        # p99 stays within the bucket of the model's slowest call of the run, not only of the range:
        # the panel's rate() extrapolates each bucket series to the window's edges, capped where the
        # series would reach zero, and that cap depends on the series' value. A slow call before
        # the window (round 0: the process's first Responses call builds the SDK's models) leaves
        # its bucket series higher than the one below it, so it is extrapolated a little further and
        # p99, at the top of the ranks, moves into it: once (Python 3.15, loaded) gpt-4o's p99 read
        # 0.243 s with every in-range call under 0.12 s and the range's exact counts right.
        slowest = max(live.totals["durations"][model])
        assert p50[model] <= p99[model] <= bucket_of(slowest)[1], (model, p99[model], max(durations), slowest)
    # The server-side delays order the models (gpt-4o-mini answers faster than gpt-4o and o4-mini) as
    # long as the machine's load leaves their medians in separate buckets: the panel orders them alike.
    for slow in ("gpt-4o", "o4-mini"):
        if ranges["gpt-4o-mini"][1] <= ranges[slow][0]:
            assert p50["gpt-4o-mini"] <= p50[slow], (p50, ranges)


@pytest.mark.parametrize(
    ("title", "key"),
    [
        ("Time to first chunk p50 / p95 (streams)", "ttfc"),
        ("Time per output chunk p50 / p95 (streams)", "tpoc"),
    ],
)
def test_stream_timing_quantiles_match_the_measured_streams(live: LiveRun, title: str, key: str) -> None:
    measured = live.in_range[key]
    p50 = _by(_one(live, title, "A"), "gen_ai_request_model")
    assert set(p50) == set(measured) == {"gpt-4o-mini", "gpt-4o", "o4-mini"}
    for model, values in measured.items():
        # a chunk reaches tracewrap before the workload, in a call tracewrap's clock entered after it
        low, high = quantile_bucket(values, 0.5, INNER_CLOCK_SLACK_S if key == "ttfc" else 0.0)
        assert low <= p50[model] <= high, (model, p50[model], sorted(values))
