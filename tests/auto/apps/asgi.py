"""Child program for uvicorn: an ASGI endpoint that streams a chat completion through AsyncOpenAI.

A plain ASGI callable (no framework): the path names the model. ``app`` uses a client built at
import, in each worker process; ``make_app`` serves any client (``asgi_configured`` wraps one).
"""

from __future__ import annotations

import json
import os
from typing import Any

import openai


def make_app(client: openai.AsyncOpenAI) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await _serve(client, scope, receive, send)

    return app


async def _serve(client: openai.AsyncOpenAI, scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    model = scope["path"].strip("/") or "m-asgi"
    stream = await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, answered_model, total_tokens = "", None, None
    async for chunk in stream:
        answered_model = chunk.model
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage is not None:
            total_tokens = chunk.usage.total_tokens
    body = json.dumps(
        {"pid": os.getpid(), "model": answered_model, "text": text, "total_tokens": total_tokens}
    ).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})


app = make_app(openai.AsyncOpenAI(api_key="sk-test"))
