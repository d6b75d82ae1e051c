"""pydantic-ai: an agent with one tool on the OpenAI chat model and on the Responses model.

Each model runs ``run_sync``, ``run`` (async) and ``run_stream``; every run is two requests (the
fake answers with a call of the tool, then with text once the tool's result is in). pydantic-ai
asks for stream usage (``stream_options.include_usage``) itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

import openai
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.providers.openai import OpenAIProvider


def _agent(model: Any) -> Agent[None, str]:
    agent: Agent[None, str] = Agent(model, instructions="Answer briefly.")

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    return agent


def _usage(result: Any) -> list[Any]:
    usage = result.usage() if callable(result.usage) else result.usage
    return [usage.requests, usage.input_tokens, usage.output_tokens, usage.tool_calls]


def _model(kind: type[Any], client: openai.AsyncOpenAI) -> Any:
    return kind("gpt-4o-mini", provider=OpenAIProvider(openai_client=client))


async def _runs(kind: type[Any], base_url: str) -> dict[str, Any]:
    # its own client, closed in this loop (asyncio.run closes the loop; run_sync keeps its own)
    async with openai.AsyncOpenAI(base_url=base_url, api_key="sk-test", max_retries=0) as client:
        agent = _agent(_model(kind, client))
        ran = await agent.run("Weather in Paris?")
        async with agent.run_stream("Weather in Paris?") as streamed:
            text = await streamed.get_output()
            streamed_usage = _usage(streamed)
    return {"run": [ran.output, _usage(ran)], "run_stream": [text, streamed_usage]}


def run(base_url: str) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, kind in (("chat", OpenAIChatModel), ("responses", OpenAIResponsesModel)):
        client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
        synced = _agent(_model(kind, client)).run_sync("Weather in Paris?")
        results[name] = {"run_sync": [synced.output, _usage(synced)], **asyncio.run(_runs(kind, base_url))}
    return results
