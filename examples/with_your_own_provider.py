"""An application that already set up OpenTelemetry: tracewrap uses its providers, never replaces them.

Also shows the options: content capture with a redaction hook, and the cost estimate.

    python examples/with_your_own_provider.py
"""

import re

import openai
from _backend import client_kwargs
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import tracewrap

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)


def hide_emails(text: str) -> str:
    return re.sub(r"\S+@\S+", "<email>", text)


client = tracewrap.wrap(
    openai.OpenAI(**client_kwargs()),
    capture_content="span_only",  # off by default; OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT
    redact=hide_emails,  # runs before anything is recorded
    estimate_cost=True,  # tracewrap.cost.estimate_usd (pip install 'tracewrap[cost]')
    provider="openai",  # price as OpenAI even on the fake server's 127.0.0.1
)
with trace.get_tracer("my-app").start_as_current_span("handle-request"):
    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Mail bob@example.com a summary."}]
    )

parent, llm = sorted(exporter.get_finished_spans(), key=lambda s: s.name != "handle-request")
attributes = dict(llm.attributes or {})
print("span:", llm.name, "child of", parent.name, llm.parent.span_id == parent.context.span_id)
print("input messages:", attributes["gen_ai.input.messages"])
print("estimated cost (USD):", attributes.get("tracewrap.cost.estimate_usd"))
