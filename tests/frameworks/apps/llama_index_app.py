"""llama-index (llms-openai 0.8, which needs openai < 3: its own venv): ``OpenAI`` (``complete``,
``chat``, ``stream_chat`` with and without stream usage, ``achat``), ``OpenAIResponses`` (``chat``,
``stream_chat``) and ``OpenAIEmbedding``. llama-index asks for no stream usage unless
``additional_kwargs={"stream_options": {"include_usage": True}}``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core.llms import ChatMessage
from llama_index.embeddings.openai import OpenAIEmbedding
from llama_index.llms.openai import OpenAI, OpenAIResponses

ASK = [ChatMessage(role="user", content="Say hello")]


def _usage(raw: Any) -> Any:
    usage = raw.get("usage") if isinstance(raw, dict) else getattr(raw, "usage", None)
    return usage.model_dump() if usage is not None and hasattr(usage, "model_dump") else usage


def _streamed(chunks: list[Any]) -> list[Any]:
    return [chunks[-1].message.content if chunks else None, [_usage(c.raw) for c in chunks if _usage(c.raw)]]


def run(base_url: str) -> dict[str, Any]:
    common: dict[str, Any] = {"api_base": base_url, "api_key": "sk-test", "max_retries": 0}
    llm = OpenAI(model="gpt-4o-mini", **common)
    counted = OpenAI(
        model="gpt-4o-mini", additional_kwargs={"stream_options": {"include_usage": True}}, **common
    )
    responses = OpenAIResponses(model="gpt-4o-mini", **common)
    embedding = OpenAIEmbedding(model="text-embedding-3-small", **common).get_text_embedding("hello")
    chat = llm.chat(ASK)
    return {
        "complete": llm.complete("Say hello").text,
        "chat": [chat.message.content, _usage(chat.raw)],
        "stream_chat": _streamed(list(llm.stream_chat(ASK))),
        "stream_usage": _streamed(list(counted.stream_chat(ASK))),
        "achat": asyncio.run(llm.achat(ASK)).message.content,
        "responses": responses.chat(ASK).message.content,
        "responses_stream": _streamed(list(responses.stream_chat(ASK)))[0],
        "embedding": len(embedding),
    }
