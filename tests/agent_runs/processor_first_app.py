"""The README's 'keep tracewrap's processor alone' recipe written before wrap(): run in its own
interpreter, as the processor is one per process."""

from __future__ import annotations

import json
import sys

import agents
import openai
from agents import Agent, Runner, set_default_openai_client
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import tracewrap
from tracewrap.integrations.openai_agents import processor

agents.set_trace_processors([processor()])  # before tracewrap is set up: it was [None]
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
tracewrap.wrap(openai, tracer_provider=provider)
set_default_openai_client(openai.AsyncOpenAI(base_url=sys.argv[1], api_key="sk-x"), use_for_tracing=False)
result = Runner.run_sync(Agent(name="weather", model="gpt-4.1-mini"), "Hi")
print(
    json.dumps(
        {"answer": result.final_output, "spans": sorted(s.name for s in exporter.get_finished_spans())}
    )
)
