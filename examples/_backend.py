"""Shared by the examples: the real OpenAI API when OPENAI_API_KEY is set, else tracewrap's fake server."""

from __future__ import annotations

import atexit
import os

from tracewrap.testing import FakeOpenAIServer, Scenario


def client_kwargs(agent_turns: bool = False) -> dict[str, str]:
    """Arguments for ``openai.OpenAI(...)``: nothing with a real key, a local fake server without.

    ``agent_turns``: the fake answers like an agent's model, a tool call first, then the answer.
    """
    if os.environ.get("OPENAI_API_KEY"):
        return {}
    default = Scenario(agent_turn=True, text="It is sunny in Paris.") if agent_turns else None
    server = FakeOpenAIServer(default).start()
    atexit.register(server.stop)
    return {"base_url": server.base_url, "api_key": "sk-fake"}
