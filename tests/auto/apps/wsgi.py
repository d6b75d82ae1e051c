"""Child program for gunicorn: a WSGI endpoint that calls OpenAI through a client built at import.

With ``--preload`` the module (openai and the client) is imported in the master before the workers
fork; without it, each worker imports it itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

import openai

client = openai.OpenAI(api_key="sk-test")


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    model = environ.get("PATH_INFO", "/").strip("/") or "m-wsgi"
    response = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    body = json.dumps(
        {
            "pid": os.getpid(),
            "model": response.model,
            "total_tokens": response.usage.total_tokens,  # type: ignore[union-attr]
        }
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
