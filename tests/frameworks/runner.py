"""Runs framework apps in one fresh interpreter and prints each app's results and tracewrap's spans.

    python runner.py MODE APP=BASE_URL...   MODE: plain (untraced), auto (TRACEWRAP_ENABLED=true is
                                            set by the caller), wrap (``wrap(openai)`` first)

The apps are imported in the order given only after the mode's set-up, so under ``auto`` the first
app imports its framework (and through it ``openai``) first, as a user's program does. They run one
after the other, each against its own base URL; the spans an app's run leaves are its own (the
exporter is emptied between apps; every span has ended by the time ``run`` returns). Spans go to an
in-memory exporter on the global provider the program installs itself (tracewrap records into the
application's providers). Prints one JSON line: ``{app: {"results": ..., "spans": [...]}}``, each
span as its name, its parent's name and its attributes.
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
    mode = sys.argv[1]
    apps = dict(arg.split("=", 1) for arg in sys.argv[2:])
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    if mode == "wrap":
        import openai

        from tracewrap import wrap

        wrap(openai)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    modules = {app: importlib.import_module(f"apps.{app}") for app in apps}
    out = {}
    for app, base_url in apps.items():
        results = modules[app].run(base_url)
        provider.force_flush()
        finished = exporter.get_finished_spans()
        names = {s.context.span_id: s.name for s in finished}
        spans = [
            {
                "name": s.name,
                "parent": names.get(s.parent.span_id) if s.parent else None,
                "attributes": dict(s.attributes or {}),
            }
            for s in finished
            if s.instrumentation_scope is not None and s.instrumentation_scope.name == "tracewrap"
        ]
        exporter.clear()
        out[app] = {"results": results, "spans": spans}
    print(json.dumps(out, default=list))


if __name__ == "__main__":
    main()
