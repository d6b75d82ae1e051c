"""Every dashboard query, run for real against Prometheus scraping the workload's metrics.

Flow (one module-scoped run, ~15 s): PrometheusMetricReader on a free 127.0.0.1 port -> the Debian
Prometheus binary scraping it every second -> `record_synthetic_workload` -> instant queries with
Grafana's macros and template variables substituted. Exact totals are checked on the raw counters;
values from `increase(...[$__range])` are checked within a tolerance because Prometheus cannot see
the part of a counter that existed before its first scrape and extrapolates to the range ends.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from dashboard_files import load_dashboards, query_panels
from live import LiveRun
from prometheus_server import substitute

DASHBOARDS = load_dashboards()
OVERVIEW = DASHBOARDS["tracewrap-overview.json"]
# increase() over the whole run: loses what was counted before the first scrape (~3 of 24 rounds)
# and extrapolates a little past the last sample.
INCREASE_LOW, INCREASE_HIGH = 0.65, 1.20


def _panel(title: str) -> dict[str, Any]:
    for p in query_panels(OVERVIEW):
        if p["title"] == title:
            return p
    raise AssertionError(f"no panel titled {title!r}")


def _values(result: list[dict[str, Any]]) -> list[float]:
    return [float(r["value"][1]) for r in result]


def _by(result: list[dict[str, Any]], label: str) -> dict[str, float]:
    return {r["metric"].get(label, ""): float(r["value"][1]) for r in result}


def _one(
    run: LiveRun, title: str, ref: str = "A", variables: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    target = next(t for t in _panel(title)["targets"] if t["refId"] == ref)
    return run.query(target["expr"], variables or run.all_values())


def _all_targets() -> list[tuple[str, str, str, str]]:
    out = []
    for name, dash in DASHBOARDS.items():
        for p in query_panels(dash):
            for t in p.get("targets", []):
                out.append((name, p["title"], t["refId"], t["expr"]))
    return out


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
        "provider": live.expected["providers"],
        "model": live.expected["models"],
        "operation": live.expected["operations"],
    }
    variables = {v["name"]: v for v in OVERVIEW["templating"]["list"]}
    for name, want in expected.items():
        definition = variables[name]["query"]
        m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", definition, re.S)
        assert m, definition
        selector = substitute(m.group(1), {"service": ".*", "provider": ".*"})
        got = sorted(
            {
                r["metric"].get(m.group(2), "")
                for r in live.prom.query(f"group by ({m.group(2)}) ({selector})", at=live.eval_time)
            }
        )
        assert got == sorted(want), name


def test_raw_counters_match_the_workload_exactly(live: LiveRun) -> None:
    exp = live.expected
    q = live.prom.query
    finishes = _by(
        q("sum by (tracewrap_finish_reason) (tracewrap_client_finishes_total)", at=live.eval_time),
        "tracewrap_finish_reason",
    )
    assert finishes == pytest.approx({k: float(v) for k, v in exp["finishes"].items()})
    tokens = _by(
        q("sum by (gen_ai_token_type) (tracewrap_client_token_usage_total)", at=live.eval_time),
        "gen_ai_token_type",
    )
    assert tokens == pytest.approx({k: float(v) for k, v in exp["tokens"].items()})
    calls = _values(q("sum(gen_ai_client_operation_duration_seconds_count)", at=live.eval_time))
    assert calls == [exp["calls"]]
    hist_tokens = _by(
        q("sum by (gen_ai_token_type) (gen_ai_client_token_usage_sum)", at=live.eval_time),
        "gen_ai_token_type",
    )
    assert hist_tokens == pytest.approx({t: float(exp["tokens"][t]) for t in ("input", "output")})
    cost = _values(q("sum(tracewrap_client_cost_usd_total)", at=live.eval_time))
    assert cost == [pytest.approx(exp["cost_usd"])]
    assert exp["cost_usd"] > 0


def _within_increase(got: float, want: float) -> bool:
    return INCREASE_LOW * want <= got <= INCREASE_HIGH * want


def test_finish_reason_stats_show_length_and_content_filter(live: LiveRun) -> None:
    exp = live.expected["finishes"]
    length = _values(_one(live, "Truncated calls (finish_reason = length)"))
    content_filter = _values(_one(live, "Filtered calls (finish_reason = content_filter)"))
    assert _within_increase(length[0], exp["length"]), (length, exp["length"])
    assert _within_increase(content_filter[0], exp["content_filter"]), (content_filter, exp["content_filter"])
    reasons = _by(_one(live, "Calls by finish reason"), "tracewrap_finish_reason")
    assert set(reasons) == set(exp)
    # Every round is the same, so rates are in the same proportions as the totals.
    assert reasons["error"] / reasons["length"] == pytest.approx(exp["error"] / exp["length"], rel=0.05)


def test_top_models_by_tokens_and_cost(live: LiveRun) -> None:
    exp = live.expected
    tokens = _by(_one(live, "Top models by tokens"), "gen_ai_request_model")
    assert set(tokens) == set(exp["tokens_by_model"])
    for model, want in exp["tokens_by_model"].items():
        assert _within_increase(tokens[model], want), (model, tokens[model], want)
    cost = _by(_one(live, "Top models by estimated cost (USD)"), "gen_ai_request_model")
    assert set(cost) == set(exp["cost_by_model"])
    for model, want in exp["cost_by_model"].items():
        assert _within_increase(cost[model], want), (model, cost[model], want)
    assert max(cost, key=cost.__getitem__) == max(exp["cost_by_model"], key=exp["cost_by_model"].__getitem__)
    total = _values(_one(live, "Estimated cost in range (USD)"))[0]
    assert _within_increase(total, exp["cost_usd"])


def test_ratios_match_the_workload(live: LiveRun) -> None:
    exp = live.expected
    (error_ratio,) = _values(_one(live, "Error ratio"))
    assert error_ratio == pytest.approx(exp["error_ratio"], rel=0.05)
    (cache_ratio,) = _values(_one(live, "Prompt cache hit ratio"))
    assert cache_ratio == pytest.approx(exp["cache_hit_ratio"], rel=0.05)
    errors = _by(_one(live, "Errors/s by error.type"), "error_type")
    assert set(errors) == set(exp["errors"])
    tokens = _by(_one(live, "Tokens/s by type"), "gen_ai_token_type")
    assert set(tokens) == {"input", "output", "cache_read", "reasoning"}
    assert tokens["reasoning"] / tokens["output"] == pytest.approx(
        exp["tokens"]["reasoning"] / exp["tokens"]["output"], rel=0.05
    )


def test_requests_and_latency_by_model(live: LiveRun) -> None:
    rps = _one(live, "Requests/s by model and operation")
    got = {f"{r['metric']['gen_ai_request_model']}|{r['metric']['gen_ai_operation_name']}" for r in rps}
    assert got == set(live.expected["calls_by_model_operation"])
    # gpt-4o-mini durations are 0.05, 0.7, 0.9 and 1.5 s: p50 lies in the 0.64-1.28 bucket, p99 in 1.28-2.56.
    p50 = _by(_one(live, "Latency p50 / p95 / p99 by model", "A"), "gen_ai_request_model")["gpt-4o-mini"]
    p99 = _by(_one(live, "Latency p50 / p95 / p99 by model", "C"), "gen_ai_request_model")["gpt-4o-mini"]
    assert 0.64 <= p50 <= 1.28 and 1.28 <= p99 <= 2.56, (p50, p99)
    # Streams: TTFC 0.25 s and 0.6 s -> p50 in the 0.16-0.64 range; only gpt-4o-mini streams.
    ttfc = _by(_one(live, "Time to first chunk p50 / p95 (streams)", "A"), "gen_ai_request_model")
    assert set(ttfc) == {"gpt-4o-mini"} and 0.16 <= ttfc["gpt-4o-mini"] <= 0.64
