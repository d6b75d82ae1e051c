#!/usr/bin/env python
"""tracewrap against the conventions floor with the SDK's work taken away, then put back.

    python benchmarks/warm_vs_in_place.py                  # chat and responses, 15 s per setting
    python benchmarks/warm_vs_in_place.py chat --seconds 30

The bare call, the conventions floor and tracewrap (content off) each wrap one stand-in for the
SDK method, interleaved call by call in a shuffled order, in three settings:

- ``warm``: the stand-in returns a response made once; nothing runs between calls, so each column's
  own code and data stay in the caches: what the work costs by itself.
- ``SDK between``: a real SDK call (untimed, on an unwrapped client) before every timed call, whose
  stand-in still returns the response made once: everything starts cold, but a call's start and
  its end run back to back.
- ``in place``: the stand-in is the real SDK call, between the span's start and its end, and
  returns its fresh response, as in use (``overhead.py``'s setting, without the wire).

The rounds are ``bench.timing.measure_scenario``'s, as ``overhead.py``'s. Each line gives the bare
call's median, the paired medians over it and tracewrap's ratio to the floor with a 95 % bootstrap
interval over rounds (``bench.report.ratio_interval``). The run checks that every call of a traced
column, warm-up included, ended exactly one span.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MethodType, SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench.floor import FloorPlan, capture_plan
from bench.harness import (
    SCENARIOS,
    Column,
    ScenarioSpec,
    Telemetry,
    call_args,
    make_telemetry,
    mock_backend,
    sdk_method,
)
from bench.report import ratio_interval
from bench.timing import WARM_UP_CALLS, measure_scenario

import tracewrap

SETTINGS = ("warm", "SDK between", "in place")


@dataclass
class Bench:
    """One scenario's three columns around one stand-in for the SDK method."""

    spec: ScenarioSpec
    columns: list[Column]
    plan: FloorPlan
    telemetry: Telemetry
    use: Callable[[str], None]  # the setting the stand-in answers for
    sdk_call: Callable[[], Any]  # a real call on an unwrapped client ("SDK between")


def bench_for(key: str) -> Bench:
    spec = next(s for s in SCENARIOS if s.key == key)
    telemetry = make_telemetry()
    backend = mock_backend()
    args = call_args(spec)
    sdk = sdk_method(backend.client(), spec)
    made_once = sdk(**args)
    stand_ins: dict[str, Callable[[], Any]] = {
        "warm": lambda: made_once,
        "SDK between": lambda: made_once,
        "in place": lambda: sdk(**args),
    }
    current = [stand_ins["warm"]]

    def answer(*_args: Any, **_kwargs: Any) -> Any:
        return current[0]()

    def use(setting: str) -> None:
        current[0] = stand_ins[setting]

    plain = _client_with(answer)
    client = tracewrap.wrap(
        backend.client(),
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
        capture_content="no_content",
    )
    installed = client.chat.completions.create if spec.api == "chat" else client.responses.create
    # the method tracewrap installed on the client's resource (a wrapt FunctionWrapper around the
    # bound SDK method), rebuilt around the stand-in bound to the same resource: the same wrapper,
    # reached through the same wrapt hop, finds the same call site
    resource = installed.__wrapped__.__self__
    traced = _client_with(type(installed)(MethodType(answer, resource), wrapper=installed._self_wrapper))
    columns = [
        Column("bare", "bare", plain),
        Column("floor", "conventions floor", plain, floor=True, conventions=True),
        Column("tracewrap", "tracewrap", traced),
    ]
    plan = capture_plan(backend, spec, telemetry)
    return Bench(spec, columns, plan, telemetry, use, lambda: sdk(**args))


def _client_with(create: Callable[..., Any]) -> Any:
    """A stand-in client whose ``chat.completions.create`` and ``responses.create`` are ``create``:
    every column looks its method up per call, as ``overhead.py``'s columns do."""
    resource = SimpleNamespace(create=create)
    return SimpleNamespace(chat=SimpleNamespace(completions=resource), responses=resource)


def measure(bench: Bench, setting: str, seconds: float, loop: asyncio.AbstractEventLoop) -> str:
    """One setting's rounds through ``bench.timing.measure_scenario`` (its warm-up, shuffled order,
    flushes and ``gc.freeze``); "SDK between" runs its SDK call as each column's untimed ``enter``."""
    bench.use(setting)
    before_each = bench.sdk_call if setting == "SDK between" else _nothing
    for column in bench.columns:
        column.enter = before_each
    spec, telemetry = bench.spec, bench.telemetry
    spans_before = telemetry.counter.ended
    cells, rounds = measure_scenario(spec, bench.columns, bench.plan, telemetry, seconds, 15, loop)
    telemetry.tracer_provider.force_flush()
    spans = telemetry.counter.ended - spans_before
    traced_calls = 2 * (WARM_UP_CALLS + rounds)  # the floor's span and tracewrap's, every call
    if spans != traced_calls:
        raise RuntimeError(f"{spec.key}, {setting}: {spans} spans ended, not {traced_calls}")
    floor = statistics.median(cells["floor"].overhead)
    ours = statistics.median(cells["tracewrap"].overhead)
    low, high = ratio_interval(
        {column: {"rounds_per_call": cell.per_call} for column, cell in cells.items()}, "tracewrap"
    )
    bare = statistics.median(cells["bare"].per_call)
    return (
        f"  {setting:<12} {rounds:>6} rounds  bare {bare:7.1f} µs  "
        f"floor +{floor:6.1f} µs  tracewrap +{ours:6.1f} µs  own {ours - floor:+5.1f} µs  "
        f"{ours / floor:.2f}x ({low:.2f}-{high:.2f}x)"
    )


def _nothing() -> None:
    pass


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenarios", nargs="*", help="chat and/or responses (default: both)")
    parser.add_argument("--seconds", type=float, default=15.0, help="per scenario and setting")
    opts = parser.parse_args()
    if not set(opts.scenarios) <= {"chat", "responses"}:
        parser.error("scenarios: chat and/or responses")
    loop = asyncio.new_event_loop()  # (measure_scenario's; these scenarios are not async)
    try:
        for key in opts.scenarios or ("chat", "responses"):
            bench = bench_for(key)
            print(f"{key}:", flush=True)
            for setting in SETTINGS:
                print(measure(bench, setting, opts.seconds, loop), flush=True)
    finally:
        loop.close()


if __name__ == "__main__":
    main()
