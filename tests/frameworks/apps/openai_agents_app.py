"""openai-agents: ``Runner.run_sync`` and ``Runner.run_streamed`` of an agent with one tool, on
``OpenAIChatCompletionsModel`` and on ``OpenAIResponsesModel``.

Every run is two requests (a call of the tool, then the answer). The SDK asks for stream usage on
Chat Completions only with ``ModelSettings(include_usage=True)``; the second chat agent does.
"""

from __future__ import annotations

import asyncio
from typing import Any

import openai
from agents import (
    Agent,
    ModelSettings,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    Runner,
    function_tool,
)


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def _usage(result: Any) -> list[Any]:
    usage = result.context_wrapper.usage
    return [usage.requests, usage.input_tokens, usage.output_tokens]


def _agent(kind: type[Any], client: openai.AsyncOpenAI, usage: bool) -> Agent[Any]:
    settings = ModelSettings(include_usage=True) if usage else ModelSettings()
    return Agent(
        name="weather",
        instructions="Answer briefly.",
        model=kind("gpt-4o-mini", openai_client=client),
        tools=[get_weather],
        model_settings=settings,
    )


async def _streamed(kind: type[Any], usage: bool, base_url: str) -> list[Any]:
    # its own client, closed in this loop (run_sync and asyncio.run each run their own loop)
    async with openai.AsyncOpenAI(base_url=base_url, api_key="sk-test", max_retries=0) as client:
        streamed = Runner.run_streamed(_agent(kind, client, usage), "Weather in Paris?")
        async for _ in streamed.stream_events():
            pass
    return [str(streamed.final_output), _usage(streamed)]


def run(base_url: str) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, kind, usage in (
        ("chat", OpenAIChatCompletionsModel, False),
        ("chat_usage", OpenAIChatCompletionsModel, True),
        ("responses", OpenAIResponsesModel, False),
    ):
        client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
        ran = Runner.run_sync(_agent(kind, client, usage), "Weather in Paris?")
        results[name] = {
            "run_sync": [str(ran.final_output), _usage(ran)],
            "streamed": asyncio.run(_streamed(kind, usage, base_url)),
        }
    return results
