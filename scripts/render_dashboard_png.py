#!/usr/bin/env python3
"""Render the key panels of dashboards/tracewrap-overview.json to a PNG with matplotlib.

By default it does what the live dashboard test does -- the real openai SDK wrapped by tracewrap
calling the fake OpenAI server (tests/dashboards/workload.py; here in three load phases, quiet / busy /
quiet, so the graphs have a shape), its metrics endpoint, the real Prometheus binary scraping it --
then runs every rendered panel's PromQL through /api/v1/query_range (or /api/v1/query for stat and
bar-gauge panels) exactly as Grafana would, with its macros substituted. Stat and bar-gauge panels
cover the range from the first sample to the last, as in the test.

    PYTHONPATH=src python scripts/render_dashboard_png.py                  # -> docs/dashboard.png
    python scripts/render_dashboard_png.py --prometheus-port 9090 --minutes 30
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "dashboards"))

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # headless
import matplotlib.pyplot as plt  # noqa: E402
from dashboard_files import load_dashboards, query_panels  # noqa: E402
from prometheus_server import PrometheusServer, substitute  # noqa: E402

DEFAULT_OUT = REPO / "docs" / "dashboard.png"
# Panels shown, in reading order (titles in the dashboard JSON).
PANELS = [
    "Requests/s by model and operation",
    "Error ratio",
    "Latency p50 / p95 / p99 by model",
    "Time to first chunk p50 / p95 (streams)",
    "Tokens/s by type",
    "Prompt cache hit ratio",
    "Calls by finish reason",
    "Estimated cost per hour (USD)",
    "Top models by tokens",
    "Truncated calls (finish_reason = length)",
    "Filtered calls (finish_reason = content_filter)",
    "Estimated cost in range (USD)",
]
COLORS = {
    "length": "#ff9830",
    "content_filter": "#f2495c",
    "error": "#8f0000",
    "stop": "#73bf69",
    "tool_calls": "#5794f2",
    "none": "#8e8e8e",
    "input": "#5794f2",
    "output": "#73bf69",
    "cache_read": "#b877d9",
    "reasoning": "#ff9830",
}


def fmt_value(v: float, unit: str) -> str:
    if unit == "percentunit":
        return f"{v * 100:.1f}%"
    if unit == "currencyUSD":
        return f"${v:,.4f}" if abs(v) < 1 else f"${v:,.2f}"
    if unit == "s":
        return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"
    if unit == "reqps":
        return f"{v:.2f} req/s"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def legend(fmt: str, metric: dict[str, str]) -> str:
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: metric.get(m.group(1), ""), fmt).strip() or "value"


def render(prom: PrometheusServer, variables: dict[str, str], start: float, end: float, out: Path) -> None:
    dash = load_dashboards()["tracewrap-overview.json"]
    panels = {p["title"]: p for p in query_panels(dash)}
    step = max(1.0, (end - start) / 200)
    fig, axes = plt.subplots(4, 3, figsize=(18, 16), facecolor="#111217")
    fig.suptitle(
        f"{dash['title']}  (rendered from Prometheus; openai SDK + tracewrap against the fake OpenAI server)",
        color="white",
        fontsize=16,
    )
    for ax, title in zip(axes.flat, PANELS, strict=True):
        panel = panels[title]
        unit = panel["fieldConfig"]["defaults"].get("unit", "short")
        ax.set_facecolor("#181b1f")
        ax.set_title(title, color="white", fontsize=11, loc="left")
        for spine in ax.spines.values():
            spine.set_color("#444")
        ax.tick_params(colors="#ccc", labelsize=8)
        if panel["type"] == "timeseries":
            _timeseries(ax, prom, panel, variables, start, end, step, unit)
        elif panel["type"] == "bargauge":
            _bars(ax, prom, panel, variables, end, unit)
        else:
            _stat(ax, prom, panel, variables, end, unit)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80, facecolor=fig.get_facecolor())
    plt.close(fig)


def _timeseries(
    ax: Any,
    prom: PrometheusServer,
    panel: dict[str, Any],
    variables: dict[str, str],
    start: float,
    end: float,
    step: float,
    unit: str,
) -> None:
    lines: list[tuple[str, dict[float, float]]] = []
    for target in panel["targets"]:
        for series in prom.query_range(substitute(target["expr"], variables), start, end, step):
            pts = {float(t) - start: float(v) for t, v in series["values"] if math.isfinite(float(v))}
            if pts:
                lines.append((legend(target.get("legendFormat", ""), series["metric"]), pts))
    stacked = panel["fieldConfig"]["defaults"].get("custom", {}).get("stacking", {}).get("mode") == "normal"
    if stacked and lines:  # as Grafana draws it: series on top of each other
        xs = sorted({x for _, pts in lines for x in pts})
        ax.stackplot(
            xs,
            [[pts.get(x, 0.0) for x in xs] for _, pts in lines],
            labels=[n for n, _ in lines],
            colors=[COLORS.get(n, f"C{i}") for i, (n, _) in enumerate(lines)],
            alpha=0.85,
        )
    else:
        for name, pts in lines:
            xs, ys = zip(*sorted(pts.items()), strict=True)
            ax.plot(xs, ys, label=name, linewidth=1.6, color=COLORS.get(name))
    ax.set_xlabel("seconds since start", color="#aaa", fontsize=8)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: fmt_value(v, unit)))
    ax.grid(color="#2a2d33")
    if lines:
        ax.legend(fontsize=7, facecolor="#22252b", labelcolor="white", edgecolor="#444", loc="upper left")


def _bars(
    ax: Any, prom: PrometheusServer, panel: dict[str, Any], variables: dict[str, str], at: float, unit: str
) -> None:
    target = panel["targets"][0]
    rows = sorted(
        (
            (legend(target.get("legendFormat", ""), r["metric"]), float(r["value"][1]))
            for r in prom.query(substitute(target["expr"], variables), at=at)
        ),
        key=lambda r: r[1],
    )
    ax.barh([n for n, _ in rows], [v for _, v in rows], color="#5794f2")
    for i, (_, v) in enumerate(rows):
        ax.text(v, i, " " + fmt_value(v, unit), va="center", color="white", fontsize=9)
    ax.set_xticks([])


def _stat(
    ax: Any, prom: PrometheusServer, panel: dict[str, Any], variables: dict[str, str], at: float, unit: str
) -> None:
    result = prom.query(substitute(panel["targets"][0]["expr"], variables), at=at)
    value = sum(float(r["value"][1]) for r in result)
    steps = panel["fieldConfig"]["defaults"].get("thresholds", {}).get("steps", [])
    color = "#cccccc"
    for s in steps:  # the highest threshold reached wins, as in Grafana
        if s["value"] is None or value >= s["value"]:
            color = {"green": "#73bf69", "orange": "#ff9830", "red": "#f2495c"}.get(s["color"], "#cccccc")
    text = fmt_value(value, unit) if unit != "short" else f"{value:.0f}"
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=40, color=color, transform=ax.transAxes)
    ax.text(
        0.5,
        0.12,
        "over the dashboard range (increase)",
        ha="center",
        color="#aaa",
        fontsize=8,
        transform=ax.transAxes,
    )
    ax.set_xticks([])
    ax.set_yticks([])


# Pauses (s) before each round after the first: quiet, busy, quiet (a round takes ~1.2 s).
PHASED_SCHEDULE = (2.5,) * 8 + (0.0,) * 20 + (2.5,) * 8


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--prometheus-port", type=int, help="render from a Prometheus already on 127.0.0.1:PORT")
    ap.add_argument("--minutes", type=float, default=15, help="range to render with --prometheus-port")
    args = ap.parse_args(argv)
    if args.prometheus_port:
        prom = PrometheusServer([])  # only its HTTP API client is used; nothing is started
        prom.port = args.prometheus_port
        end = time.time()
        start = end - args.minutes * 60
        variables = {
            "__rate_interval": "1m",
            "__range": f"{int(args.minutes * 60)}s",
            "__interval": "15s",
            "service": ".*",
            "provider": ".*",
            "model": ".*",
            "operation": ".*",
        }
        render(prom, variables, start, end, args.out)
    else:
        from live import live_run

        with live_run(schedule=PHASED_SCHEDULE) as run:
            render(run.prom, run.all_values(), run.started_at - 2, run.eval_time, args.out)
            print(f"{run.totals['calls']} calls in {run.totals['rounds']} rounds")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
