"""LangChain calls with LangSmith export on: ``python langchain_langsmith_app.py MODE BASE_URL``.

MODE: ``auto`` (the caller sets ``TRACEWRAP_ENABLED=true``) or ``wrap`` (``wrap(openai)`` first).
The caller's environment says whether LangChain traces to LangSmith (``LANGSMITH_TRACING``) and
where LangSmith is. The app makes eight calls through ``ChatOpenAI`` (``invoke``, ``stream``,
``ainvoke``, ``astream``, a ``batch`` of two, a Responses API ``invoke``, an ``invoke`` given a
``LangChainTracer`` in its callbacks), one with the SDK inside a
``RunnableLambda`` (a chain run of LangChain's, no ``llm`` run) and one with the SDK directly,
after the others, in the same thread. It waits for LangChain's tracer and tracewrap to send
everything and prints one JSON line: tracewrap's model-call spans and the id LangChain gave the
lambda's run.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

MESSAGES = [{"role": "user", "content": "hi"}]


def main() -> None:
    mode, base_url = sys.argv[1], sys.argv[2]
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    import openai

    import tracewrap

    if mode == "wrap":
        tracewrap.wrap(openai)
    from apps.langchain_app import chat_settings  # this script's folder is on sys.path
    from langchain_core.runnables import RunnableConfig, RunnableLambda
    from langchain_core.tracers.langchain import LangChainTracer, wait_for_all_tracers
    from langchain_openai import ChatOpenAI

    common = chat_settings(base_url)
    chat = ChatOpenAI(**common, stream_usage=True)
    texts = [
        chat.invoke("hi").text,
        "".join(chunk.text for chunk in chat.stream("hi")),
        *asyncio.run(_async_calls(chat)),  # one loop: the model's async client stays on it
        *(reply.text for reply in chat.batch(["hi", "hello"])),
        ChatOpenAI(**common, use_responses_api=True).invoke("hi").text,
        # a tracer passed by hand: LangChain's run even where LangSmith's switch is off
        chat.invoke("hi", config={"callbacks": [LangChainTracer()]}).text,
    ]
    client = openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0)

    def direct(_: Any) -> str:
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        return reply.choices[0].message.content or ""

    lambda_config: RunnableConfig = {"run_name": "direct_in_lambda"}
    texts.append(RunnableLambda(direct).invoke("hi", config=lambda_config))
    texts.append(direct(None))
    wait_for_all_tracers()
    assert tracewrap.flush(10.0)
    spans = [
        dict(s.attributes or {})
        for s in exporter.get_finished_spans()
        if s.instrumentation_scope is not None and s.instrumentation_scope.name == "tracewrap"
    ]
    print(json.dumps({"texts": texts, "spans": spans}))


async def _async_calls(chat: Any) -> list[str]:
    invoked = (await chat.ainvoke("hi")).text
    return [invoked, "".join([chunk.text async for chunk in chat.astream("hi")])]


if __name__ == "__main__":
    main()
