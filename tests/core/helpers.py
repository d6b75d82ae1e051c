"""Clients and call styles shared by the core tests."""

from __future__ import annotations

from typing import Any

import openai
from pydantic import BaseModel

import tracewrap
from tracewrap.testing import FakeOpenAIServer

API_KEY = "sk-test-SECRET-key-0123456789"
MESSAGES = [{"role": "user", "content": "Say hello"}]


class Greeting(BaseModel):
    greeting: str


GREETING_JSON = '{"greeting": "hi"}'


def sync_client(server: FakeOpenAIServer, telemetry: Any, **wrap_kwargs: Any) -> openai.OpenAI:
    client = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    return tracewrap.wrap(client, **telemetry.wrap_kwargs(), **wrap_kwargs)


def async_client(server: FakeOpenAIServer, telemetry: Any, **wrap_kwargs: Any) -> openai.AsyncOpenAI:
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    return tracewrap.wrap(client, **telemetry.wrap_kwargs(), **wrap_kwargs)


def attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


def finishes(telemetry: Any) -> dict[str, int]:
    """``tracewrap.client.finishes`` as it stands: the count per finish reason."""
    return {
        p.attributes["tracewrap.finish_reason"]: p.value
        for p in telemetry.points("tracewrap.client.finishes")
    }
