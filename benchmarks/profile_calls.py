#!/usr/bin/env python
"""Where tracewrap's per-call time goes: N traced calls of one scenario under a profiler.

    python benchmarks/profile_calls.py chat                       # cProfile, tracewrap + OTel rows
    python benchmarks/profile_calls.py chat_stream --pyinstrument # call tree (pip install pyinstrument)
    python benchmarks/profile_calls.py chat --lines               # line_profiler on the hot functions
    python benchmarks/profile_calls.py chat --bytecodes           # bytecodes one call executes, per function

Uses the same mock backend, shared BatchSpanProcessor/discarding exporter and metric reader as
``overhead.py``, so the profile is of exactly what the benchmark times.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: F401  (bench/ puts this checkout's src/ first)
from bench.floor import capture_plan, floor_call
from bench.harness import SCENARIOS, ScenarioSpec, Telemetry, make_telemetry, mock_backend, plain_call

import tracewrap


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=[s.key for s in SCENARIOS if not s.concurrent])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--content", action="store_true", help="capture_content=span_only")
    parser.add_argument("--pyinstrument", action="store_true")
    parser.add_argument("--lines", action="store_true", help="line_profiler on tracewrap's hot functions")
    parser.add_argument("--bytecodes", action="store_true", help="bytecodes one call executes, per function")
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

    if opts.bytecodes:
        print_bytecodes(run, conventions_floor(spec, telemetry))
        return 0
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


def conventions_floor(spec: ScenarioSpec, telemetry: Telemetry) -> Callable[[], None]:
    """The conventions floor's call of the scenario (``bench/floor.py``), warmed up."""
    backend = mock_backend()
    plan = capture_plan(backend, spec, telemetry)
    tracer = telemetry.tracer_provider.get_tracer("benchmark.floor")
    run = floor_call(backend.client(), spec, plan, tracer, conventions=True)
    for _ in range(20):
        run()
    return run


def print_bytecodes(run: Callable[[], None], floor: Callable[[], None]) -> None:
    """Bytecodes one (warm) call executes in tracewrap's functions and in OpenTelemetry's, and in
    OpenTelemetry's for one call of the conventions floor (the same span and histogram points).

    Deterministic, unlike time: on this VM each call's tracewrap code runs cold after ~1 ms of the
    SDK's own work, so what a call costs grows with how much of its own code it executes.
    """
    executed = _bytecodes(run)
    ours = str(Path(tracewrap.__file__).parent)
    otel = sum(count for (filename, _name), count in executed.items() if filename.startswith("opentelemetry"))
    own = {key: count for key, count in executed.items() if not key[0].startswith("opentelemetry")}
    floor_otel = sum(_bytecodes(floor).values())
    print(f"one call: {sum(own.values())} bytecodes in tracewrap, {otel} in OpenTelemetry on its behalf")
    print(f"the conventions floor's call: {floor_otel} in OpenTelemetry")
    for (filename, name), count in sorted(own.items(), key=lambda item: -item[1]):
        print(f"{count:6d}  {Path(filename).relative_to(ours)}:{name}")


def _bytecodes(run: Callable[[], None]) -> Counter[tuple[str, str]]:
    """Per (file, function): bytecodes one call of ``run`` executes in tracewrap and OpenTelemetry."""
    executed: Counter[tuple[str, str]] = Counter()
    ours = str(Path(tracewrap.__file__).parent)

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        filename = frame.f_code.co_filename
        if (filename.startswith(ours) and "/testing/" not in filename) or "opentelemetry" in filename:
            frame.f_trace_opcodes = True
            if event == "opcode":
                executed[filename.rsplit("site-packages/", 1)[-1], frame.f_code.co_name] += 1
            return trace
        return None

    sys.settrace(trace)
    try:
        run()
    finally:
        sys.settrace(None)
    return executed


if __name__ == "__main__":
    sys.exit(main())
