"""litellm: completion, acompletion, a stream and an embedding, all through the OpenAI SDK's post()."""

from __future__ import annotations

import asyncio
from typing import Any

import litellm

MESSAGES = [{"role": "user", "content": "Say hello"}]


def run(base_url: str) -> dict[str, Any]:
    common = {"api_base": base_url, "api_key": "sk-test"}
    sync = litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, **common)
    aio = asyncio.run(litellm.acompletion(model="openai/gpt-4o-mini", messages=MESSAGES, **common))
    stream = litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, stream=True, **common)
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in stream)
    # litellm asks for stream usage only when told to
    counted = litellm.completion(
        model="openai/gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        **common,
    )
    counted_text = "".join(chunk.choices[0].delta.content or "" for chunk in counted if chunk.choices)
    embedding = litellm.embedding(model="openai/text-embedding-3-small", input=["hello"], **common)
    return {
        "sync": [sync.choices[0].message.content, sync.usage.prompt_tokens, sync.usage.completion_tokens],
        "async": [aio.choices[0].message.content, aio.usage.prompt_tokens, aio.usage.completion_tokens],
        "stream": streamed,
        "stream_with_usage": counted_text,
        "embedding": [
            len(embedding.data),
            len(embedding.data[0]["embedding"]),
            embedding.usage.prompt_tokens,
        ],
    }
