"""dspy: a ``Predict`` module (sync and ``acall``) and the LM called directly, on the litellm engine
(``dspy.LM(engine="litellm")``), so through the OpenAI client's ``post()``. dspy 3.4's default
engine (``lm15``) sends with its own stdlib HTTP client, not the OpenAI SDK: out of tracewrap's
reach. The LM's cache is off so every run asks."""

from __future__ import annotations

import asyncio
from typing import Any

import dspy

# what the fake answers (tests/frameworks/test_frameworks.py): dspy's chat-adapter format
ANSWER = "[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]"


def run(base_url: str) -> dict[str, Any]:
    lm = dspy.LM(
        "openai/gpt-4o-mini",
        api_base=base_url,
        api_key="sk-test",
        cache=False,
        num_retries=0,
        engine="litellm",
    )
    predict = dspy.Predict("question -> answer")
    with dspy.context(lm=lm):
        answer = predict(question="Capital of France?").answer
        async_answer = asyncio.run(predict.acall(question="Capital of France?")).answer
    direct = lm("Say hello")
    usage = [(entry["usage"] or {}).get("prompt_tokens") for entry in lm.history]
    return {"predict": answer, "acall": async_answer, "direct": direct, "usage": usage}
