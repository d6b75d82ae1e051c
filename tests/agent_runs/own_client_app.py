"""Child program: an Agents SDK app whose model client the SDK builds itself (from OPENAI_BASE_URL /
OPENAI_API_KEY), after a bare ``tracewrap.wrap(openai)`` statement. ``Runner.run`` then
``Runner.run_streamed``; prints ``RESULT {json}``."""

from __future__ import annotations

import asyncio
import json

import openai
from agents import Agent, Runner

import tracewrap

tracewrap.wrap(openai)  # the statement form, before the SDK has built any client

agent = Agent(name="plain", instructions="Answer briefly.", model="gpt-4.1-mini")


async def main() -> dict[str, str]:
    ran = await Runner.run(agent, "hi")
    streamed = Runner.run_streamed(agent, "hi again")
    async for _ in streamed.stream_events():
        pass
    return {"run": str(ran.final_output), "streamed": str(streamed.final_output)}


print("RESULT " + json.dumps(asyncio.run(main())), flush=True)
