#!/usr/bin/env python
"""What tracewrap's Agents SDK processor adds per agent and per tool span, beside a model call.

    python benchmarks/agents_processor.py            # about half a minute
    python benchmarks/agents_processor.py --quick    # a few seconds
    python benchmarks/agents_processor.py --json out.json

Drives the real SDK's own span machinery (``agents.trace`` > ``agent_span`` > ``function_span``,
the shape of a one-tool agent turn; the task/turn/response spans the SDK adds map to no OTel span
and are timed as the "unmapped spans" shape) with three processor set-ups, interleaved round by round:

* ``sdk only``: no processor at all (the SDK's own bookkeeping);
* ``tracewrap``: tracewrap's processor alone, into an OTel SDK TracerProvider (spans exported to
  a do-nothing exporter through a SimpleSpanProcessor, so export cost is in the figures);
* ``otel floor``: a hand-written processor making the same OTel spans (names, attributes, parent
  links) with no other logic: what OpenTelemetry itself costs.

Reports medians of paired differences against ``sdk only`` in µs per run shape, and per span,
next to the bare model call the same benchmark machine measures (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import agents  # noqa: E402
from agents.tracing import (  # noqa: E402
    TracingProcessor,
    agent_span,
    function_span,
    get_trace_provider,
    response_span,
    task_span,
    turn_span,
)
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult  # noqa: E402

from tracewrap.integrations import install_agents_tracing  # noqa: E402
from tracewrap.integrations.openai_agents import register  # noqa: E402
from tracewrap.options import build_options  # noqa: E402


class _Drop(SpanExporter):
    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _provider() -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_Drop()))
    return provider


class _Floor(TracingProcessor):
    """The same OTel spans by hand: root per trace, child per SDK span, parents by id."""

    def __init__(self, tracer: Any) -> None:
        self.tracer = tracer
        self.spans: dict[str, Any] = {}

    def on_trace_start(self, t: Any) -> None:
        attributes = {
            "gen_ai.operation.name": "invoke_workflow",
            "gen_ai.workflow.name": t.name,
            "openai_agents.trace_id": t.trace_id,
        }
        self.spans[t.trace_id] = self.tracer.start_span(f"invoke_workflow {t.name}", attributes=attributes)

    def on_trace_end(self, t: Any) -> None:
        self.spans.pop(t.trace_id).end()

    def on_span_start(self, s: Any) -> None:
        data = s.span_data
        if data.type not in ("agent", "function"):
            return  # unmapped, as in tracewrap
        parent = self.spans.get(s.parent_id or s.trace_id)
        context = trace.set_span_in_context(parent) if parent is not None else None
        if data.type == "agent":
            name = f"invoke_agent {data.name}"
            attributes = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": data.name}
        else:
            name = f"execute_tool {data.name}"
            attributes = {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": data.name,
                "gen_ai.tool.type": "function",
            }
        self.spans[s.span_id] = self.tracer.start_span(name, context=context, attributes=attributes)

    def on_span_end(self, s: Any) -> None:
        span = self.spans.pop(s.span_id, None)
        if span is not None:
            span.end()

    def shutdown(self) -> None:
        pass

    def force_flush(self) -> None:
        pass


def one_tool_turn() -> None:
    with (
        agents.trace("w"),
        agent_span("weather"),
        function_span("get_weather", input='{"city":"Paris"}') as fn,
    ):
        fn.span_data.output = "sunny"


def unmapped_turn() -> None:
    with agents.trace("w"), task_span(name="task"), turn_span(turn=1, agent_name="weather"), response_span():
        pass


def measure(rounds: int) -> dict[str, dict[str, float]]:
    tracewrap_processor = register(agents)
    floor = _Floor(_provider().get_tracer("floor"))
    setups: dict[str, list[Any]] = {"sdk only": [], "tracewrap": [tracewrap_processor], "otel floor": [floor]}
    shapes: dict[str, Callable[[], None]] = {"one-tool turn": one_tool_turn, "unmapped spans": unmapped_turn}
    times: dict[tuple[str, str], list[float]] = {(s, c): [] for s in shapes for c in setups}
    rng = random.Random(17)
    for _ in range(rounds):
        for shape, body in shapes.items():
            order = list(setups)
            rng.shuffle(order)
            for column in order:
                agents.set_trace_processors(setups[column])
                start = time.perf_counter()
                for _ in range(20):
                    body()
                times[(shape, column)].append((time.perf_counter() - start) / 20)
    agents.set_trace_processors([])
    result: dict[str, dict[str, float]] = {}
    for shape in shapes:
        base = times[(shape, "sdk only")]
        result[shape] = {
            column: statistics.median(a - b for a, b in zip(times[(shape, column)], base, strict=True)) * 1e6
            for column in setups
            if column != "sdk only"
        }
        result[shape]["sdk only (absolute)"] = statistics.median(base) * 1e6
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    install_agents_tracing(build_options(tracer_provider=_provider()))
    saved = list(get_trace_provider()._multi_processor._processors)
    try:
        result = measure(60 if args.quick else 600)
    finally:
        agents.set_trace_processors(saved)
    print(f"{'shape':<16} {'sdk only':>10} {'+tracewrap':>11} {'+otel floor':>12} {'ratio':>6}  (µs per run)")
    for shape, row in result.items():
        ratio = row["tracewrap"] / row["otel floor"] if row["otel floor"] > 0 else float("nan")
        print(
            f"{shape:<16} {row['sdk only (absolute)']:>10.1f} {row['tracewrap']:>11.1f}"
            f" {row['otel floor']:>12.1f} {ratio:>6.2f}"
        )
    per_span = result["one-tool turn"]["tracewrap"] / 3
    print(f"tracewrap per mapped span (workflow, agent, tool): {per_span:.1f} µs")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
