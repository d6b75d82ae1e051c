"""Async clients and concurrent streams: each call gets its own span with its own numbers.

OTEL_TRACES_EXPORTER=console python examples/async_streams.py
"""

import asyncio

import openai
from _backend import client_kwargs

import tracewrap


async def ask(client: openai.AsyncOpenAI, question: str) -> str:
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": question}],
        stream=True,
        stream_options={"include_usage": True},  # so the span gets token counts
    )
    parts = []
    async with stream:
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
    return "".join(parts)


async def main() -> None:
    client = tracewrap.wrap(openai.AsyncOpenAI(**client_kwargs()))
    answers = await asyncio.gather(*(ask(client, f"Question {i}") for i in range(5)))
    for answer in answers:
        print("answer:", answer)
    await client.close()


tracewrap.configure()
asyncio.run(main())
tracewrap.flush()
