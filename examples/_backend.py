"""Shared by the examples: the real OpenAI API when OPENAI_API_KEY is set, else tracewrap's fake server."""

from __future__ import annotations

import atexit
import os

from tracewrap.testing import FakeOpenAIServer


def client_kwargs() -> dict[str, str]:
    """Arguments for ``openai.OpenAI(...)``: nothing with a real key, a local fake server without."""
    if os.environ.get("OPENAI_API_KEY"):
        return {}
    server = FakeOpenAIServer().start()
    atexit.register(server.stop)
    return {"base_url": server.base_url, "api_key": "sk-fake"}
