#!/usr/bin/env python
"""Where tracewrap's per-call time goes: N traced calls of one scenario under a profiler.

    python benchmarks/profile_calls.py chat                       # cProfile, tracewrap + OTel rows
    python benchmarks/profile_calls.py chat_stream --pyinstrument # call tree (pip install pyinstrument)
    python benchmarks/profile_calls.py chat --lines               # line_profiler on the hot functions

Uses the same mock backend, shared BatchSpanProcessor/discarding exporter and metric reader as
``overhead.py``, so the profile is of exactly what the benchmark times.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: F401  (bench/ puts this checkout's src/ first)
from bench.harness import SCENARIOS, make_telemetry, mock_backend, plain_call

import tracewrap


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=[s.key for s in SCENARIOS if not s.concurrent])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--content", action="store_true", help="capture_content=span_only")
    parser.add_argument("--pyinstrument", action="store_true")
    parser.add_argument("--lines", action="store_true", help="line_profiler on tracewrap's hot functions")
    opts = parser.parse_args()

    spec = next(s for s in SCENARIOS if s.key == opts.scenario)
    telemetry = make_telemetry()
    client = tracewrap.wrap(
        mock_backend().client(),
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
        capture_content="span_only" if opts.content else "no_content",
    )
    run = plain_call(client, spec)
    for _ in range(20):
        run()

    def loop() -> None:
        for _ in range(opts.calls):
            run()

    if opts.pyinstrument:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0001)
        profiler.start()
        loop()
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=False))
        return 0
    if opts.lines:
        from line_profiler import LineProfiler

        from tracewrap.interception import calls, results, streams
        from tracewrap.normalize import chat, requests, responses
        from tracewrap.telemetry import attributes, lifecycle

        lp = LineProfiler()
        for fn in (
            lifecycle.start,
            lifecycle.TracedCall.end,
            lifecycle.TracedCall._end_span,
            lifecycle.TracedCall._span_attributes,
            lifecycle.TracedCall._metric_points,
            lifecycle.TracedCall.__init__,
            results.finish_sync,
            attributes.start_attributes,
            attributes.end_attributes,
            requests._read_common,
            chat.read_chat_completion,
            chat.ChatStreamAccumulator.add,
            responses.read_response,
            responses.ResponsesStreamAccumulator.add,
            streams._traced_iterator,
            streams.StreamTracker.end,
            streams.instrument_stream,
        ):
            lp.add_function(fn)
        _ = calls  # the wrapper closure itself is profiled through cProfile instead
        lp.runcall(loop)
        lp.print_stats(output_unit=1e-6, stripzeros=True)
        return 0

    profile = cProfile.Profile()
    profile.runcall(loop)
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("cumulative").print_stats(r"src/tracewrap|opentelemetry", 45)
    stats.sort_stats("tottime").print_stats(r"src/tracewrap|opentelemetry", 40)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
