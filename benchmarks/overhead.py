#!/usr/bin/env python
"""Per-call overhead of tracewrap against the bare OpenAI SDK, an OpenTelemetry floor and peers.

    python benchmarks/overhead.py            # full run, a few minutes
    python benchmarks/overhead.py --quick    # CI smoke mode, well under a minute
    python benchmarks/overhead.py --json out.json

The workload is the real ``openai`` SDK whose HTTP layer is answered in process by
``tracewrap.testing.MockOpenAI`` (a ``MockTransport`` on ``httpx2`` for openai 3.x, ``httpx`` on
1.x/2.x) with exact OpenAI bodies and SSE streams, so everything but the network is real: request
building, JSON/SSE parsing, pydantic models, and the tracing layers under test.

Every column of one scenario is measured in the same process, interleaved call by call (one
call of each column per round, in a fresh seeded random order each round), over hundreds of
rounds; each column's overhead is its call's time minus the bare SDK's call *in the same round*,
and the table reports medians of those paired differences.
Absolute times on a shared VM drift by tens of percent within seconds; paired differences of
calls made milliseconds apart, and the ratio to the floor, do not.

The CONVENTIONS FLOOR is the reference: the OpenTelemetry SDK doing what the GenAI conventions ask
around each real call, written by hand: one CLIENT span with the same name and attributes as
tracewrap's, and the standard histogram points only (operation duration, input and output token
usage; for a stream also time to first chunk and time per output chunk), nothing else. The FULL
FLOOR (the second line) writes every metric point tracewrap emits, its own counters included, as
synchronous measurements. tracewrap's overhead divided by a floor's says how much tracewrap adds
beyond the cost OpenTelemetry itself imposes for that much telemetry.

This file is the entry point; the pieces live in ``bench/`` (``harness``: workload, scenarios and
columns; ``floor``; ``peers``; ``timing``: the interleaved rounds; ``side``: per-chunk, memory and
import measures; ``report``: targets and the printed report).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import harness
from bench.floor import capture_plan
from bench.harness import MEMORY_CHUNKS, SCENARIOS, core_columns, make_telemetry, mock_backend
from bench.peers import peer_columns
from bench.report import judge, machine_info, per_chunk_end_to_end, report
from bench.side import import_costs, per_chunk_costs, stream_memory
from bench.timing import measure_scenario
from startup_hook import iqr, startup_costs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short CI mode (well under a minute)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--no-peers", action="store_true", help="skip peers even when importable")
    parser.add_argument("--seconds", type=float, help="seconds of interleaved rounds per scenario")
    parser.add_argument("--min-rounds", type=int, help="at least this many rounds per scenario")
    opts = parser.parse_args(argv)
    seconds = opts.seconds or (3.0 if opts.quick else 45.0)
    min_rounds = opts.min_rounds or (3 if opts.quick else 15)

    telemetry = make_telemetry()
    backend = mock_backend()
    results: dict[str, Any] = {
        "machine": machine_info(),
        "mode": "quick" if opts.quick else "full",
        "seconds_per_scenario": seconds,
        "min_rounds": min_rounds,
        "scenarios": {},
        "seconds": {},
    }

    def section(name: str, fn: Callable[[], Any]) -> Any:
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        value = fn()
        results["seconds"][name] = round(time.perf_counter() - started, 1)
        return value

    # memory and micro-benchmarks first, while no peer (LangSmith's batch thread) allocates meanwhile
    results["memory"] = section("stream memory", lambda: stream_memory(telemetry, MEMORY_CHUNKS))
    results["per_chunk_ns"] = section(
        "stream aggregation",
        lambda: per_chunk_costs(mock_backend(2_000), telemetry, 21 if opts.quick else 301),
    )
    results["imports"] = section("import cost", lambda: import_costs(3 if opts.quick else 21))
    results["startup"] = section(
        "start-up hook", lambda: startup_costs(20 if opts.quick else 200, 1 if opts.quick else 20)
    )

    columns = core_columns(backend, telemetry)
    skipped: list[str] = []
    if not opts.no_peers:
        peers, skipped = peer_columns(backend, telemetry)
        columns += peers
    results["columns"] = [{"key": c.key, "title": c.title, "note": c.note} for c in columns]
    results["skipped_peers"] = skipped
    loop = asyncio.new_event_loop()
    try:
        for spec in SCENARIOS:
            plan = capture_plan(backend, spec, telemetry)
            cells, rounds = section(
                spec.title,
                lambda spec=spec, plan=plan: measure_scenario(  # type: ignore[misc]
                    spec, columns, plan, telemetry, seconds, min_rounds, loop
                ),
            )
            results["scenarios"][spec.key] = {
                "rounds": rounds,
                "plan": {
                    "attributes": plan.attribute_count,
                    "points": plan.point_count,
                    "standard_points": len(plan.standard_points),
                },
                **{
                    key: {
                        "per_call": statistics.median(cell.per_call),
                        "overhead": statistics.median(cell.overhead),
                        "overhead_iqr": iqr(cell.overhead),
                        "traced": cell.traced,
                        "rounds_per_call": cell.per_call,
                    }
                    for key, cell in cells.items()
                },
            }
    finally:
        loop.close()

    results["stream_items"] = harness.stream_items()
    results["per_chunk_e2e_ns"] = per_chunk_end_to_end(results)
    results["targets"] = judge(results)
    telemetry.tracer_provider.shutdown()
    telemetry.meter_provider.shutdown()

    print(report(results))
    if opts.json:
        Path(opts.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
