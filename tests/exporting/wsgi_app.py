"""WSGI app for a real gunicorn (tests/exporting/test_gunicorn.py): each request makes one chat call.

``TW_SETUP=wrap``: ``tracewrap.wrap(openai)`` here, at import (in each worker, or once in the
master under ``--preload``); ``auto``: nothing (``TRACEWRAP_ENABLED=true`` does it). The model is
the request's path; the answer says which worker served it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

import openai

import tracewrap

if os.environ.get("TW_SETUP") == "wrap":
    tracewrap.wrap(openai)


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    model = environ["PATH_INFO"].strip("/")
    client = openai.OpenAI(base_url=os.environ["TW_BASE_URL"], api_key="sk-test", max_retries=0)
    try:
        reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    finally:
        client.close()
    assert reply.usage is not None
    body = json.dumps({"model": model, "pid": os.getpid(), "total_tokens": reply.usage.total_tokens}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
