"""Child program: builds OpenAI clients every way an application does and calls each once.

Run in the test venv with ``OPENAI_BASE_URL`` pointing at the fake server; prints ``RESULT {json}``
with what each call returned, so the test checks results as well as spans.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
from openai import AsyncOpenAI

MESSAGES: Any = [{"role": "user", "content": "hi"}]  # the SDK's TypedDicts, loosely


class MyClient(openai.OpenAI):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tenant = "acme"


async def _async_call() -> str | None:
    client = AsyncOpenAI(api_key="sk-test")
    response = await client.chat.completions.create(model="m-async", messages=MESSAGES)
    return response.choices[0].message.content


def main() -> None:
    results: dict[str, object] = {}
    client = openai.OpenAI(api_key="sk-test")
    results["sync"] = (
        client.chat.completions.create(model="m-sync", messages=MESSAGES).choices[0].message.content
    )
    derived = client.with_options(timeout=30)
    results["with_options"] = derived.chat.completions.create(model="m-options", messages=MESSAGES).model
    results["subclass"] = (
        MyClient(api_key="sk-test").responses.create(model="m-subclass", input="hi").output_text
    )
    results["module"] = openai.chat.completions.create(model="m-module", messages=MESSAGES).model
    results["async"] = asyncio.run(_async_call())
    stream = client.chat.completions.create(
        model="m-stream",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    results["stream"] = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    results["embeddings"] = len(client.embeddings.create(model="m-embed", input="hi").data[0].embedding)
    print("RESULT " + json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
