"""One live run: metrics endpoint -> real Prometheus scraping it -> workload -> queries.

Shared by test_dashboard_live.py and scripts/render_dashboard_png.py so the PNG shows the very data
the test checks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from dashboard_files import DASHBOARD_DIR, load_dashboards, query_panels  # noqa: F401 - re-exported
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import MeterProvider as ApiMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_server import PrometheusServer, free_port, substitute
from workload import record_synthetic_workload

JOB = "tracewrap-live"
# Grafana computes $__rate_interval as max($__interval + scrape interval, 4 * scrape interval); the
# workload lasts ~9 s with 1 s scrapes, so a window of 8 s always holds several changing samples.
RATE_INTERVAL = "8s"

Workload = Callable[[ApiMeterProvider], dict[str, Any]]


@dataclass
class LiveRun:
    prom: PrometheusServer
    expected: dict[str, Any]
    eval_time: float  # unix seconds to evaluate instant queries at
    job: str

    def macros(self) -> dict[str, str]:
        span = math.ceil(self.eval_time - self.expected["started_at"]) + 5
        return {"__rate_interval": RATE_INTERVAL, "__range": f"{span}s", "__interval": "1s"}

    def all_values(self) -> dict[str, str]:
        """Every template variable on "All" (Grafana's allValue is `.*`)."""
        return {**self.macros(), "service": ".*", "provider": ".*", "model": ".*", "operation": ".*"}

    def concrete_values(self) -> dict[str, str]:
        """One concrete value per variable; the workload names them (its `concrete` key)."""
        concrete = {"provider": "openai", "model": "gpt-4o-mini", "operation": "chat"}
        concrete.update(self.expected.get("concrete", {}))
        return {**self.macros(), "service": self.job, **concrete}

    def query(self, expr: str, variables: dict[str, str]) -> list[dict[str, Any]]:
        return self.prom.query(substitute(expr, variables), at=self.eval_time)


def _make_reader(registry: CollectorRegistry) -> PrometheusMetricReader:
    try:
        return PrometheusMetricReader(registry=registry)
    except TypeError:  # older exporter without `registry`: falls back to the global registry
        return PrometheusMetricReader()


@contextmanager
def live_run(workload: Workload = record_synthetic_workload, job: str = JOB) -> Iterator[LiveRun]:
    registry = CollectorRegistry(auto_describe=True)
    reader = _make_reader(registry)
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": job}))
    port = free_port()
    server, _thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    prom = PrometheusServer([f"127.0.0.1:{port}"], job=job)
    try:
        prom.start()
        prom.wait_for_scrapes(1)  # target is up before the first point is recorded
        expected = workload(provider)
        prom.wait_for_scrapes(2)  # the final values are in the TSDB
        yield LiveRun(prom, expected, time.time(), job)
    finally:
        prom.stop()
        server.shutdown()
        server.server_close()
        provider.shutdown()
