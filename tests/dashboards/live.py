"""One live run: metrics endpoint -> real Prometheus scraping it -> traced workload -> queries.

Shared by test_dashboard_live.py and scripts/render_dashboard_png.py so the PNG shows the very data
the test checks.

The workload (workload.py) drives the real openai SDK, wrapped by tracewrap with a MeterProvider whose
`PrometheusMetricReader` is served on a free 127.0.0.1 port, against the fake OpenAI server. Two
things make the numbers Prometheus computes comparable with what the workload did, exactly:

* the endpoint serves the metrics as they were when the last round ended (`RoundRegistry`): a scrape
  never sees half a round, so the increase between any two samples is whole rounds of the same mix
  and ratios of rates (error ratio, cache hit ratio, shares by type) equal the workload's ratios;
* round 0 runs alone before any other and is scraped on its own, so every series exists from that
  first sample on. `increase(...[$__range])` cannot see what a series counted before its first
  sample, so `$__range` is the span from that first sample to the last one and the queries are
  evaluated at the last one (no extrapolation beyond a millisecond): range panels must show exactly
  the rounds after the first sample (`in_range`), raw counters the whole run (`totals`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from dashboard_files import DASHBOARD_DIR, load_dashboards, query_panels  # noqa: F401 - re-exported
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_server import PrometheusServer, free_port, substitute
from workload import CONCRETE, Observed, TracedWorkload, summarize

JOB = "tracewrap-live"
# Grafana computes $__rate_interval as max($__interval + scrape interval, 4 * scrape interval); with
# 1 s scrapes and ~1.3 s rounds a window of 8 s always holds several rounds.
RATE_INTERVAL = "8s"
# Pauses before the rounds after round 0: the test's run (~9 s of rounds).
TEST_SCHEDULE: tuple[float, ...] = (0.1,) * 6


class RoundRegistry(CollectorRegistry):
    """A registry that serves the metrics as they were at the last `publish()` (end of a round)."""

    def __init__(self) -> None:
        super().__init__(auto_describe=True)
        self._lock = threading.Lock()
        self._snapshot: list[Metric] = []
        self._rounds = 0
        self.scraped_rounds: list[int] = []  # how many rounds each scrape saw, in scrape order

    def publish(self, rounds: int) -> None:
        snapshot = list(super().collect())  # the PrometheusMetricReader collects here
        with self._lock:
            self._snapshot, self._rounds = snapshot, rounds

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            self.scraped_rounds.append(self._rounds)
            return list(self._snapshot)

    def wait_until_scraped(self, rounds: int, timeout: float = 15.0) -> None:
        """Wait until a scrape has read the snapshot holding `rounds` rounds."""
        deadline = time.monotonic() + timeout
        while rounds not in self.scraped_rounds:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no scrape saw round {rounds}: {self.scraped_rounds}")
            time.sleep(0.02)


@dataclass
class LiveRun:
    prom: PrometheusServer
    observed: list[Observed]
    totals: dict[str, Any]  # every round: what raw counters hold
    in_range: dict[str, Any]  # rounds after the first sample: what increase(...[$__range]) shows
    first_round_in_range: int  # rounds before it are in the first sample (normally just round 0)
    first_sample: float  # unix seconds of the first sample of every tracewrap series
    eval_time: float  # the last sample: instant queries are evaluated here
    started_at: float
    job: str

    @property
    def range_ms(self) -> int:
        # One millisecond more than first -> last, so the first sample is inside the range whether
        # the range is closed (Prometheus 2.x) or left-open (3.x).
        return round((self.eval_time - self.first_sample) * 1000) + 1

    def macros(self) -> dict[str, str]:
        return {"__rate_interval": RATE_INTERVAL, "__range": f"{self.range_ms}ms", "__interval": "1s"}

    def all_values(self) -> dict[str, str]:
        """Every template variable on "All" (Grafana's allValue is `.*`)."""
        return {**self.macros(), "service": ".*", "provider": ".*", "model": ".*", "operation": ".*"}

    def concrete_values(self) -> dict[str, str]:
        """One concrete value per variable, one that has data in every panel."""
        return {**self.macros(), "service": self.job, **CONCRETE}

    def query(self, expr: str, variables: dict[str, str], at: float | None = None) -> list[dict[str, Any]]:
        return self.prom.query(substitute(expr, variables), at=self.eval_time if at is None else at)


def _sample_window(prom: PrometheusServer, job: str) -> tuple[float, float]:
    """(first, last) sample timestamps of tracewrap's series; every series must start together."""
    series = prom.query(f'tracewrap_client_finishes_total{{job="{job}"}}[1h]', at=time.time())
    if not series:
        raise RuntimeError(f"no tracewrap_client_finishes_total samples in Prometheus:\n{prom.log_tail()}")
    firsts = {float(s["values"][0][0]) for s in series}
    if len(firsts) != 1:
        raise RuntimeError(f"series did not all appear in the same scrape: {sorted(firsts)}")
    return firsts.pop(), max(float(s["values"][-1][0]) for s in series)


@contextmanager
def live_run(schedule: Sequence[float] = TEST_SCHEDULE, job: str = JOB) -> Iterator[LiveRun]:
    """Round 0, then one round after each pause in `schedule` (seconds)."""
    registry = RoundRegistry()
    reader = PrometheusMetricReader(registry=registry)
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": job}))
    port = free_port()
    server, _thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    prom = PrometheusServer([f"127.0.0.1:{port}"], job=job)
    try:
        prom.start()
        prom.wait_for_scrapes(1)  # the target is up before anything is counted
        started = time.time()
        with TracedWorkload(provider) as workload:
            workload.run_round()  # round 0 creates every series ...
            registry.publish(workload.rounds)
            registry.wait_until_scraped(1)  # ... and is scraped alone
            for pause in schedule:
                time.sleep(pause)
                workload.run_round()
                registry.publish(workload.rounds)
        registry.wait_until_scraped(workload.rounds)
        prom.wait_for_scrapes(1)  # that scrape is in the TSDB
        seen = [n for n in registry.scraped_rounds if n > 0]
        first, last = _sample_window(prom, job)
        yield LiveRun(
            prom=prom,
            observed=workload.observed,
            totals=summarize(workload.observed),
            in_range=summarize(workload.observed, from_round=seen[0]),
            first_round_in_range=seen[0],
            first_sample=first,
            eval_time=last,
            started_at=started,
            job=job,
        )
    finally:
        prom.stop()
        server.shutdown()
        server.server_close()
        provider.shutdown()
