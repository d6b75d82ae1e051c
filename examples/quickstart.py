"""The one-liner: wrap the module, print one line per call on stderr.

    OTEL_TRACES_EXPORTER=console python examples/quickstart.py
    OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 python examples/quickstart.py   # any OTLP backend

Runs against the real API when OPENAI_API_KEY is set, otherwise against tracewrap's fake server.
"""

import openai
from _backend import client_kwargs

import tracewrap

tracewrap.wrap(openai)  # every client of the process; export is set up from the environment
# (OTEL_*, LANGSMITH_*) at the first call, unless the app set up its own providers first

client = openai.OpenAI(**client_kwargs())
reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi!"}])
print("chat:", reply.choices[0].message.content)

stream = client.responses.create(model="gpt-4o-mini", input="Say hello.", stream=True)
with stream:
    text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
print("responses stream:", text)
tracewrap.flush()
