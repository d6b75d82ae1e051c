"""An OpenAI Agents SDK app without a line of tracing code, traced from the outside.

    OTEL_TRACES_EXPORTER=console tracewrap run -- python examples/agents_traced.py
    TRACEWRAP_ENABLED=true OTEL_TRACES_EXPORTER=console python examples/agents_traced.py  # installed wheel

Each run is one trace: ``invoke_workflow`` > ``invoke_agent weather`` > the model calls
(``chat gpt-4.1-mini``, one span per request) and ``execute_tool get_weather``. The console prints one
line per span as it ends. ``TRACEWRAP_AGENTS=false`` leaves only the model calls. The SDK's own
export to OpenAI is untouched (it needs OPENAI_API_KEY; without one the SDK logs that it skips it).

Runs against the real API when OPENAI_API_KEY is set, otherwise against tracewrap's fake server.
"""

from _backend import client_kwargs
from agents import Agent, Runner, function_tool, set_default_openai_client
from openai import AsyncOpenAI


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


# the app's own client (here: pointed at the fake server when there is no API key)
set_default_openai_client(AsyncOpenAI(**client_kwargs(agent_turns=True)), use_for_tracing=False)
agent = Agent(name="weather", instructions="Answer briefly.", model="gpt-4.1-mini", tools=[get_weather])
result = Runner.run_sync(agent, "What is the weather in Paris?")
print("answer:", result.final_output)
