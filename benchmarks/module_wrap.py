#!/usr/bin/env python
"""``wrap(openai)`` (the SDK's classes patched in place) against ``wrap(client)``, per call; and what
``wrap(openai)`` / ``unwrap(openai)`` themselves cost.

    python benchmarks/module_wrap.py                 # chat and responses, 20 rounds
    python benchmarks/module_wrap.py --rounds 40

The class patch reaches every client of the process, so the two cannot run side by side call by
call as ``ab.py`` does. Here each round runs a block of calls per mode (bare, ``wrap(client)``,
``wrap(openai)``), in an order that rotates every round, the module patch installed just for its
block; the median over rounds of each block's per-call time is reported, with the modes'
differences paired by round. Same in-process ``MockTransport`` backend and telemetry pipeline as
``overhead.py``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import overhead as ov  # noqa: E402  (this checkout's src/ first, like overhead.py)
from overhead import openai, tracewrap  # noqa: E402

BLOCK = 200


def _block(call: Callable[[], Any], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - started) / calls * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--block", type=int, default=BLOCK, help="calls per mode per round")
    opts = parser.parse_args()
    telemetry = ov.make_telemetry()
    backend = ov.MockBackend()
    options = {
        "tracer_provider": telemetry.tracer_provider,
        "meter_provider": telemetry.meter_provider,
        "capture_content": "no_content",
    }
    bare = backend.sync_client()
    per_client = tracewrap.wrap(backend.sync_client(), **options)
    module_client = backend.sync_client()  # traced only while the module patch is on

    cost = []
    for _ in range(20):
        started = time.perf_counter()
        tracewrap.wrap(openai, **options)
        installed = time.perf_counter()
        tracewrap.unwrap(openai)
        cost.append(((installed - started) * 1e3, (time.perf_counter() - installed) * 1e3))
    print(
        f"wrap(openai): {statistics.median(c[0] for c in cost):.2f} ms, "
        f"unwrap(openai): {statistics.median(c[1] for c in cost):.2f} ms (median of 20)"
    )

    for spec in (s for s in ov.SCENARIOS if s.key in ("chat", "responses")):
        args = ov.call_args(spec)
        calls = {
            "bare": ov.sdk_method(bare, spec),
            "client": ov.sdk_method(per_client, spec),
            "module": ov.sdk_method(module_client, spec),
        }
        times: dict[str, list[float]] = {mode: [] for mode in calls}
        order = list(calls)
        for _ in range(3):  # warm-up, every mode
            for mode in order:
                _run(mode, calls[mode], args, opts.block // 4, options)
        for round_index in range(opts.rounds):
            rotation = order[round_index % 3 :] + order[: round_index % 3]
            for mode in rotation:
                times[mode].append(_run(mode, calls[mode], args, opts.block, options))
        bare_us = statistics.median(times["bare"])
        parts = [f"{spec.key:10s} bare {bare_us:6.1f} µs"]
        for mode in ("client", "module"):
            overhead = [t - b for t, b in zip(times[mode], times["bare"], strict=True)]
            parts.append(f"wrap({mode}) +{statistics.median(overhead):.1f} µs (IQR {ov.iqr(overhead):.1f})")
        paired = [m - c for m, c in zip(times["module"], times["client"], strict=True)]
        parts.append(f"module - client {statistics.median(paired):+.1f} µs (IQR {ov.iqr(paired):.1f})")
        print(" | ".join(parts), flush=True)
    return 0


def _run(
    mode: str, call: Callable[..., Any], args: dict[str, Any], calls: int, options: dict[str, Any]
) -> float:
    if mode != "module":
        return _block(lambda: call(**args), calls)
    tracewrap.wrap(openai, **options)
    try:
        return _block(lambda: call(**args), calls)
    finally:
        tracewrap.unwrap(openai)


if __name__ == "__main__":
    sys.exit(main())
