"""Rounds of one call per column, interleaved in a fresh random order: paired per-call overheads."""

from __future__ import annotations

import asyncio
import gc
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .floor import FloorPlan, floor_async_batch, floor_call
from .harness import Column, ScenarioSpec, Telemetry, plain_async_batch, plain_call

# calls per column before the timed rounds (a gather counts as one): their spans are not a round's
WARM_UP_CALLS = 5


@dataclass
class Cell:
    per_call: list[float] = field(default_factory=list)  # µs per call, one per round
    overhead: list[float] = field(default_factory=list)  # µs, minus the same round's bare
    traced: bool = True  # False: the column emitted no span for this scenario


def measure_scenario(
    spec: ScenarioSpec,
    columns: list[Column],
    plan: FloorPlan,
    telemetry: Telemetry,
    seconds: float,
    min_rounds: int,
    loop: asyncio.AbstractEventLoop,
) -> tuple[dict[str, Cell], int]:
    """Rounds of one call per column (one gather of ``spec.concurrent`` calls for async), in a fresh
    random order each round, for ``seconds`` (at least ``min_rounds`` rounds).

    Interleaving single calls, not blocks, is what makes the paired differences usable on a shared
    VM: its speed drifts by 30 % and more over seconds (a fixed pure-Python loop measured 378-518 ms
    in six runs in a row), and a round of single calls takes tens of milliseconds, so the bare call
    and the traced one of the same round run at the same speed. Medians over hundreds of rounds
    then shrug off the calls hit by a collection, an export or the OS.
    """
    tracer = telemetry.tracer_provider.get_tracer("benchmark.floor")
    per = spec.concurrent or 1
    runners: dict[str, Callable[[], Any]] = {}
    for col in columns:
        if spec.concurrent:
            batch = (
                floor_async_batch(col.async_client, spec, plan, tracer, col.conventions)
                if col.floor
                else plain_async_batch(col.async_client, spec)
            )
            runners[col.key] = lambda batch=batch: loop.run_until_complete(batch())  # type: ignore[misc]
        else:
            runners[col.key] = (
                floor_call(col.sync_client, spec, plan, tracer, col.conventions)
                if col.floor
                else plain_call(col.sync_client, spec)
            )

    clock = time.perf_counter_ns

    def timed(col: Column) -> float:
        """µs per call of one call (or gather) of this column; peers switch on only around it."""
        run = runners[col.key]
        col.enter()
        try:
            started = clock()
            run()
            return (clock() - started) / per / 1000.0
        finally:
            col.exit()

    def settle() -> None:
        # drain background exporters (the batch span processor, LangSmith's batch thread) between
        # rounds, untimed, so export work lands in no column's call
        telemetry.tracer_provider.force_flush()
        for col in columns:
            col.settle()

    cells = {col.key: Cell() for col in columns}
    for col in columns:  # warm-up: imports, caches, metric attribute sets; and did it trace?
        before = telemetry.counter.ended
        for _ in range(1 if spec.concurrent else WARM_UP_CALLS):
            timed(col)
        settle()
        emitted = telemetry.counter.ended > before
        cells[col.key].traced = emitted or col.key in ("bare", "disabled") or not col.otel
    # setup objects (clients, peers, pydantic schemas) live for the whole run: freezing them keeps
    # the collections that fall inside timed calls to what the calls themselves allocated
    gc.collect()
    gc.freeze()
    rng = random.Random(f"{spec.key}")  # seeded: the same orders every run
    deadline = time.perf_counter() + seconds
    rounds = 0
    while rounds < min_rounds or time.perf_counter() < deadline:
        # a fresh random order each round: a fixed order would make each column always follow the
        # same neighbour and inherit its leftovers (cache state, a pending collection)
        order = rng.sample(columns, len(columns))
        times = {col.key: timed(col) for col in order}
        for col in columns:
            cells[col.key].per_call.append(times[col.key])
            cells[col.key].overhead.append(times[col.key] - times["bare"])
        rounds += 1
        if spec.concurrent or rounds % 8 == 0:
            settle()
    return cells, rounds
