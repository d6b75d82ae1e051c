"""smolagents: ``OpenAIModel`` (the OpenAI SDK's resource methods) and ``LiteLLMModel`` (litellm, so the
client's ``post()``), each ``generate`` and ``generate_stream``; both ask for stream usage."""

from __future__ import annotations

from typing import Any

from smolagents import LiteLLMModel, OpenAIModel

MESSAGES = [{"role": "user", "content": [{"type": "text", "text": "Say hello"}]}]


def _stream(model: Any) -> list[Any]:
    deltas = list(model.generate_stream(MESSAGES))
    usage = [(d.token_usage.input_tokens, d.token_usage.output_tokens) for d in deltas if d.token_usage]
    return ["".join(d.content or "" for d in deltas), usage]


def run(base_url: str) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, model in (
        (
            "openai",
            OpenAIModel(
                model_id="gpt-4o-mini", api_base=base_url, api_key="sk-test", client_kwargs={"max_retries": 0}
            ),
        ),
        ("litellm", LiteLLMModel(model_id="openai/gpt-4o-mini", api_base=base_url, api_key="sk-test")),
    ):
        message = model.generate(MESSAGES)
        usage = message.token_usage
        results[name] = {
            "generate": [message.content, usage.input_tokens, usage.output_tokens],
            "generate_stream": _stream(model),
        }
    return results
