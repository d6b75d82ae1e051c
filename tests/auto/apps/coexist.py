"""Child program: tracewrap auto-instrumentation next to another OpenAI tracer in the same process.

``genai``: opentelemetry-instrumentation-genai-openai's OpenAIInstrumentor, installed after one
client was built and before the others. ``langsmith``: ``langsmith.wrappers.wrap_openai`` around an
auto-traced client.
``explicit``: the application also calls ``tracewrap.wrap()`` itself. ``otel``: a plain client, for
``opentelemetry-instrument``. Prints ``RESULT {json}``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import openai

import tracewrap

MESSAGES: Any = [{"role": "user", "content": "hi"}]  # the SDK's TypedDicts, loosely


def _calls(client: Any, prefix: str) -> dict[str, object]:
    chat = client.chat.completions.create(model=f"{prefix}-chat", messages=MESSAGES)
    stream = client.chat.completions.create(
        model=f"{prefix}-stream", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    response = client.responses.create(model=f"{prefix}-responses", input="hi")
    return {
        "chat": chat.choices[0].message.content,
        "chat_type": type(chat).__name__,
        "stream": text,
        "responses": response.output_text,
        "responses_type": type(response).__name__,
    }


def main() -> None:
    mode = sys.argv[1]
    if mode == "genai":
        from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor

        built_before = openai.OpenAI(api_key="sk-test")
        OpenAIInstrumentor().instrument()
        client = openai.OpenAI(api_key="sk-test")
        built_before.chat.completions.create(model="m-genai-before", messages=MESSAGES)
    elif mode == "langsmith":
        from langsmith.wrappers import wrap_openai

        client = wrap_openai(openai.OpenAI(api_key="sk-test"))
    elif mode == "otel":
        client = openai.OpenAI(api_key="sk-test")
    else:
        twice = tracewrap.wrap(tracewrap.wrap(openai.OpenAI(api_key="sk-test")))
        proxied = tracewrap.wrap(openai).OpenAI(api_key="sk-test")
        print(
            "RESULT " + json.dumps({**_calls(twice, "m-explicit"), **_calls(proxied, "m-proxy")}), flush=True
        )
        return
    print("RESULT " + json.dumps(_calls(client, f"m-{mode}")), flush=True)


if __name__ == "__main__":
    main()
