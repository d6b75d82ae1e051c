"""haystack-ai: ``OpenAIChatGenerator`` (run, structured output through ``parse``, streamed with and
without stream usage, ``run_async``), ``OpenAIResponsesChatGenerator`` (run, streamed) and
``OpenAITextEmbedder``. haystack asks for no stream usage unless
``generation_kwargs={"stream_options": {"include_usage": True}}``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from haystack.components.embedders import OpenAITextEmbedder
from haystack.components.generators.chat import OpenAIChatGenerator, OpenAIResponsesChatGenerator
from haystack.dataclasses import ChatMessage, StreamingChunk
from haystack.utils import Secret
from pydantic import BaseModel


class Person(BaseModel):
    name: str
    age: int


def _reply(result: dict[str, Any]) -> list[Any]:
    reply = result["replies"][0]
    usage = reply.meta.get("usage") or {}
    return [
        reply.text,
        {k: usage.get(k) for k in ("prompt_tokens", "completion_tokens", "input_tokens", "output_tokens")},
    ]


def run(base_url: str) -> dict[str, Any]:
    common: dict[str, Any] = {
        "api_key": Secret.from_token("sk-test"),
        "api_base_url": base_url,
        "max_retries": 0,
    }
    ask = [ChatMessage.from_user("Say hello")]
    chunks: list[str] = []

    def collect(chunk: StreamingChunk) -> None:
        chunks.append(chunk.content)

    chat = OpenAIChatGenerator(model="gpt-4o-mini", **common)
    counted = OpenAIChatGenerator(
        model="gpt-4o-mini", generation_kwargs={"stream_options": {"include_usage": True}}, **common
    )
    structured = OpenAIChatGenerator(
        model="gpt-4o-mini", generation_kwargs={"response_format": Person}, **common
    )
    responses = OpenAIResponsesChatGenerator(model="gpt-4o-mini", **common)
    embedder = OpenAITextEmbedder(
        model="text-embedding-3-small", **{k: common[k] for k in ("api_key", "api_base_url")}
    )
    results = {
        "run": _reply(chat.run(ask)),
        "stream": _reply(chat.run(ask, streaming_callback=collect)),
        "stream_usage": _reply(counted.run(ask, streaming_callback=collect)),
        "structured": structured.run([ChatMessage.from_user("Who is Ada?")])["replies"][0].text,
        "async": _reply(asyncio.run(chat.run_async(ask))),
        "responses": _reply(responses.run(ask)),
        "responses_stream": _reply(responses.run(ask, streaming_callback=collect)),
    }
    embedded = embedder.run("hello")
    results["embedding"] = [len(embedded["embedding"]), embedded["meta"]["usage"]]
    results["chunks"] = "".join(chunks)
    return results
