"""Runs one framework app in a fresh interpreter and prints its results and tracewrap's spans as JSON.

    python runner.py MODE APP BASE_URL      MODE: plain (untraced), auto (TRACEWRAP_ENABLED=true is
                                            set by the caller), wrap (``wrap(openai)`` first)

The app is imported only after the mode's set-up, so under ``auto`` it imports its framework (and
through it ``openai``) first, as a user's program does. Spans go to an in-memory exporter on the
global provider the program installs itself (tracewrap records into the application's providers).
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


def main() -> None:
    mode, app, base_url = sys.argv[1:4]
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    if mode == "wrap":
        import openai

        from tracewrap import wrap

        wrap(openai)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    results = importlib.import_module(f"apps.{app}").run(base_url)
    provider.force_flush()
    spans = [
        {"name": s.name, "attributes": dict(s.attributes or {})}
        for s in exporter.get_finished_spans()
        if s.instrumentation_scope is not None and s.instrumentation_scope.name == "tracewrap"
    ]
    print(json.dumps({"results": results, "spans": spans}, default=list))


if __name__ == "__main__":
    main()
