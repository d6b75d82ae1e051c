"""Real openai-agents runs against the fake server: one trace each, one model span per request."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import agents
import openai
import pytest
from agents import (
    Agent,
    GuardrailFunctionOutput,
    InputGuardrailTripwireTriggered,
    MaxTurnsExceeded,
    Runner,
    function_tool,
    input_guardrail,
    tool_namespace,
)
from agents.tracing.scope import Scope
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from tests.agent_runs.helpers import MODES, Tree, agent, traced_client
from tests.conftest import Telemetry
from tracewrap.testing import FakeOpenAIServer, Scenario

AGENT_TURN = Scenario(agent_turn=True, tool_arguments='{"city":"Paris"}', text="It is sunny in Paris.")


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@function_tool
def broken_weather(city: str) -> str:
    """Always fails."""
    raise RuntimeError(f"weather service down for {city}")


@pytest.fixture(autouse=True)
def _no_openai_export(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    # the SDK's own exporter stays registered (we add, never replace); without a key it sends nothing
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_AGENTS_DISABLE_TRACING", raising=False)
    yield
    assert Scope.get_current_span() is None and Scope.get_current_trace() is None
    assert trace.get_current_span() is trace.INVALID_SPAN, "an OTel context was left attached"
    from tracewrap.integrations.openai_agents import processor

    left = processor()
    assert left is not None and not left._nodes and not left._runs, "spans or runs left in the maps"
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR" or "tracewrap" in r.name]
    assert not [m for m in errors if "detach" in m or "internal error" in m], errors


def _request_call_id(body: dict[str, Any]) -> str:
    """The tool call id the SDK sent back with the tool's result (the ground truth)."""
    for message in body.get("messages") or ():
        if message.get("role") == "tool":
            return str(message["tool_call_id"])
    for item in body.get("input") or ():
        if isinstance(item, dict) and item.get("type") == "function_call_output":
            return str(item["call_id"])
    raise AssertionError("no tool result in the request")


def _check_tool_run(tree: Tree, server: FakeOpenAIServer, mode: str) -> None:
    root = tree.one("invoke_workflow Agent workflow")
    agent_span = tree.one("invoke_agent weather")
    tool = tree.one("execute_tool get_weather")
    assert tree.roots() == [root]
    assert tree.parent(agent_span) is root
    assert tree.children(agent_span) == ["chat gpt-4.1-mini", "chat gpt-4.1-mini", "execute_tool get_weather"]
    assert len(tree.model_spans()) == len(server.requests) == 2
    assert len({s.context.trace_id for s in tree.spans}) == 1
    assert agent_span.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert agent_span.attributes["gen_ai.agent.name"] == "weather"
    assert agent_span.attributes["gen_ai.provider.name"] == "openai_compatible"
    assert agent_span.attributes["gen_ai.request.model"] == "gpt-4.1-mini"
    assert agent_span.attributes["tracewrap.agents.agent.tools"] == ("get_weather",)
    assert "gen_ai.usage.input_tokens" not in agent_span.attributes  # usage only on the model spans
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["gen_ai.tool.name"] == "get_weather"
    assert tool.attributes["gen_ai.tool.type"] == "function"
    assert tool.attributes["gen_ai.tool.call.id"] == _request_call_id(server.requests[1].body or {})
    assert "gen_ai.tool.call.arguments" not in tool.attributes  # content capture is off
    assert tool.status.status_code is StatusCode.UNSET
    first, second = sorted(tree.model_spans(), key=lambda s: s.start_time)
    assert first.attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert second.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert first.end_time <= tool.start_time and tool.end_time <= second.start_time
    bodies = [r.body or {} for r in server.requests]
    chat_stream_without_usage = [
        "messages" in b and b.get("stream") and not (b.get("stream_options") or {}).get("include_usage")
        for b in bodies
    ]
    if not any(chat_stream_without_usage):
        assert sum(s.attributes["gen_ai.usage.input_tokens"] for s in tree.model_spans()) == 24
    else:  # a chat stream without include_usage reports none: absent, not 0
        assert all("gen_ai.usage.input_tokens" not in s.attributes for s in tree.model_spans())
    assert root.attributes["openai_agents.trace_id"].startswith("trace_")


@pytest.mark.parametrize("mode", MODES)
def test_run_with_function_tool(mode: str, server: FakeOpenAIServer, telemetry: Telemetry) -> None:
    server.enqueue(AGENT_TURN, AGENT_TURN)
    weather = agent(mode, traced_client(server, telemetry), tools=[get_weather])
    result = asyncio.run(Runner.run(weather, "Weather in Paris?"))
    assert result.final_output == "It is sunny in Paris."
    _check_tool_run(Tree(telemetry.spans()), server, mode)


@pytest.mark.parametrize("streamed", [False, True])
def test_a_tool_in_a_namespace_gets_its_call_id(
    streamed: bool, server: FakeOpenAIServer, telemetry: Telemetry
) -> None:
    """A function tool grouped by ``tool_namespace`` (Responses only): the model calls it by name and
    namespace, and the SDK names its function span ``namespace.name``; the call id, read from the
    model's response by name, must be found under that name too (before: no gen_ai.tool.call.id)."""
    server.enqueue(AGENT_TURN, AGENT_TURN)
    tools = tool_namespace(name="weather_tools", description="Weather lookups", tools=[get_weather])
    weather = agent("responses", traced_client(server, telemetry), tools=tools)

    async def main() -> str:
        if not streamed:
            return str((await Runner.run(weather, "Weather in Paris?")).final_output)
        result = Runner.run_streamed(weather, "Weather in Paris?")
        async for _ in result.stream_events():
            pass
        return str(result.final_output)

    assert asyncio.run(main()) == "It is sunny in Paris."
    assert server.requests[0].body["tools"][0]["type"] == "namespace"
    tool = Tree(telemetry.spans()).one("execute_tool weather_tools.get_weather")
    assert tool.attributes["gen_ai.tool.name"] == "weather_tools.get_weather"
    assert tool.attributes["gen_ai.tool.call.id"] == _request_call_id(server.requests[1].body or {})


@pytest.mark.parametrize("mode", MODES)
def test_run_streamed_to_the_end(mode: str, server: FakeOpenAIServer, telemetry: Telemetry) -> None:
    server.enqueue(AGENT_TURN, AGENT_TURN)
    weather = agent(mode, traced_client(server, telemetry), tools=[get_weather])

    async def main() -> str:
        result = Runner.run_streamed(weather, "Weather in Paris?")
        async for _ in result.stream_events():
            pass
        return str(result.final_output)

    assert asyncio.run(main()) == "It is sunny in Paris."
    tree = Tree(telemetry.spans())
    _check_tool_run(tree, server, mode)
    assert all(s.attributes["gen_ai.request.stream"] is True for s in tree.model_spans())


@pytest.mark.parametrize("mode", MODES)
def test_run_streamed_cancelled(mode: str, server: FakeOpenAIServer, telemetry: Telemetry) -> None:
    server.enqueue(AGENT_TURN, AGENT_TURN)
    weather = agent(mode, traced_client(server, telemetry), tools=[get_weather])

    async def main() -> None:
        result = Runner.run_streamed(weather, "Weather in Paris?")
        async for event in result.stream_events():
            if event.type == "run_item_stream_event" and event.name == "tool_output":
                result.cancel()

    asyncio.run(main())
    tree = Tree(telemetry.spans())
    root = tree.one("invoke_workflow Agent workflow")
    assert tree.roots() == [root]
    assert tree.parent(tree.one("invoke_agent weather")) is root
    assert len(tree.model_spans()) == len(server.requests)
    assert all(s.end_time is not None for s in tree.spans)


@pytest.mark.parametrize("mode", MODES)
def test_handoff(mode: str, server: FakeOpenAIServer, telemetry: Telemetry) -> None:
    client = traced_client(server, telemetry)
    french = agent(mode, client, name="french")
    triage = agent(mode, client, name="triage", handoffs=[french])
    server.enqueue(AGENT_TURN, AGENT_TURN)
    result = Runner.run_sync(triage, "Bonjour")
    assert result.last_agent is french
    tree = Tree(telemetry.spans())
    root = tree.one("invoke_workflow Agent workflow")
    first, second = tree.one("invoke_agent triage"), tree.one("invoke_agent french")
    handoff = tree.one("handoff triage -> french")
    assert tree.parent(first) is root and tree.parent(second) is root
    assert tree.parent(handoff) is first
    assert handoff.attributes["tracewrap.agents.handoff.from_agent"] == "triage"
    assert handoff.attributes["tracewrap.agents.handoff.to_agent"] == "french"
    assert first.attributes["tracewrap.agents.agent.handoffs"] == ("french",)
    assert tree.children(first) == ["chat gpt-4.1-mini", "handoff triage -> french"]
    assert tree.children(second) == ["chat gpt-4.1-mini"]
    assert len(tree.model_spans()) == len(server.requests) == 2


@input_guardrail
async def no_homework(ctx: Any, agent: Agent[Any], text: Any) -> GuardrailFunctionOutput:
    return GuardrailFunctionOutput(output_info="homework", tripwire_triggered="homework" in str(text))


@pytest.mark.parametrize("mode", MODES)
def test_guardrail_trips(mode: str, server: FakeOpenAIServer, telemetry: Telemetry) -> None:
    weather = agent(mode, traced_client(server, telemetry), input_guardrails=[no_homework])
    with pytest.raises(InputGuardrailTripwireTriggered):
        Runner.run_sync(weather, "Do my homework")
    tree = Tree(telemetry.spans())
    guard = tree.one("guardrail no_homework")
    agent_span = tree.one("invoke_agent weather")
    assert tree.parent(guard) is agent_span
    assert guard.attributes["tracewrap.agents.guardrail.name"] == "no_homework"
    assert guard.attributes["tracewrap.agents.guardrail.triggered"] is True
    assert agent_span.status.status_code is StatusCode.ERROR
    assert agent_span.attributes["error.type"] == "GuardrailTripwireTriggered"
    assert len(tree.model_spans()) == len(server.requests)  # the model call may already have gone out


@pytest.mark.parametrize("mode", MODES)
def test_guardrail_passes(mode: str, server: FakeOpenAIServer, telemetry: Telemetry) -> None:
    weather = agent(mode, traced_client(server, telemetry), input_guardrails=[no_homework])
    Runner.run_sync(weather, "Weather?")
    tree = Tree(telemetry.spans())
    assert tree.one("guardrail no_homework").attributes["tracewrap.agents.guardrail.triggered"] is False
    assert tree.one("invoke_agent weather").status.status_code is StatusCode.UNSET


@pytest.mark.parametrize("mode", MODES)
def test_tool_that_raises(mode: str, server: FakeOpenAIServer, telemetry: Telemetry) -> None:
    server.enqueue(AGENT_TURN, AGENT_TURN)
    weather = agent(mode, traced_client(server, telemetry), tools=[broken_weather])
    result = Runner.run_sync(weather, "Weather?")
    assert result.final_output == "It is sunny in Paris."  # the default handler tells the model
    tree = Tree(telemetry.spans())
    tool = tree.one("execute_tool broken_weather")
    assert tool.status.status_code is StatusCode.ERROR
    assert tool.attributes["error.type"] == "ToolError"
    assert "weather service down" not in (tool.status.description or "")  # the exception text is content
    assert tree.one("invoke_agent weather").status.status_code is StatusCode.UNSET
    assert len(tree.model_spans()) == len(server.requests) == 2


@pytest.mark.parametrize("mode", MODES)
def test_max_turns_exceeded(mode: str, server: FakeOpenAIServer, telemetry: Telemetry) -> None:
    server.enqueue(AGENT_TURN, AGENT_TURN)
    weather = agent(mode, traced_client(server, telemetry), tools=[get_weather])
    with pytest.raises(MaxTurnsExceeded):
        Runner.run_sync(weather, "Weather?", max_turns=1)
    tree = Tree(telemetry.spans())
    agent_span = tree.one("invoke_agent weather")
    assert agent_span.status.status_code is StatusCode.ERROR
    assert agent_span.attributes["error.type"] == "MaxTurnsExceeded"
    assert len(tree.model_spans()) == len(server.requests) == 1
    assert tree.roots() == [tree.one("invoke_workflow Agent workflow")]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("streamed", [False, True], ids=["run", "streamed"])
def test_model_error_on_the_agent_span(
    mode: str, streamed: bool, server: FakeOpenAIServer, telemetry: Telemetry
) -> None:
    """A failed model call: its own span has the real error, its agent span ModelError with the SDK's
    fixed message (the SDK's generic "Error in agent run", which arrives after, replaced it: _OTHER)."""
    server.enqueue(Scenario(outcome="stream_error" if streamed else "http_error"))
    weather = agent(mode, traced_client(server, telemetry))

    async def main() -> None:
        if not streamed:
            await Runner.run(weather, "Weather?")
            return
        result = Runner.run_streamed(weather, "Weather?")
        async for _ in result.stream_events():
            pass

    with pytest.raises(Exception) as raised:
        asyncio.run(main())
    assert isinstance(raised.value, (openai.APIError, agents.exceptions.AgentsException)), raised.value
    tree = Tree(telemetry.spans())
    (model,) = tree.model_spans()
    agent_span = tree.one("invoke_agent weather")
    assert tree.parent(model) is agent_span and model.status.status_code is StatusCode.ERROR
    assert agent_span.status.status_code is StatusCode.ERROR
    assert agent_span.attributes["error.type"] == "ModelError"
    expected = "Error streaming response" if streamed else "Error getting response"
    assert agent_span.status.description == expected
    assert len(server.requests) == 1


def test_content_only_when_captured_with_limit_and_redaction(
    server: FakeOpenAIServer, telemetry: Telemetry
) -> None:
    server.enqueue(AGENT_TURN, AGENT_TURN)
    client = traced_client(
        server, telemetry, capture_content="span_only", content_max_length=8, redact=lambda s: s.upper()
    )
    weather = agent("responses", client, tools=[get_weather])
    Runner.run_sync(weather, "Weather?")
    tool = Tree(telemetry.spans()).one("execute_tool get_weather")
    assert tool.attributes["gen_ai.tool.call.arguments"] == '{"CITY":…[truncated 8 chars]'
    assert tool.attributes["gen_ai.tool.call.result"] == "SUNNY IN…[truncated 6 chars]"


def test_runs_nest_under_the_applications_span(server: FakeOpenAIServer, telemetry: Telemetry) -> None:
    weather = agent("responses", traced_client(server, telemetry))
    tracer = telemetry.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handle-request") as app:
        Runner.run_sync(weather, "Hi")
        Runner.run_sync(weather, "Hi again")
    tree = Tree(telemetry.spans())
    roots = tree.named("invoke_workflow Agent workflow")
    assert len(roots) == 2
    assert all(tree.parent(r) is tree.one("handle-request") for r in roots)
    assert {s.context.trace_id for s in tree.spans} == {app.get_span_context().trace_id}


def test_a_tools_own_spans_nest_under_execute_tool(server: FakeOpenAIServer, telemetry: Telemetry) -> None:
    tracer = telemetry.tracer_provider.get_tracer("app")

    @function_tool
    def lookup(city: str) -> str:
        """Looks the city up."""
        with tracer.start_as_current_span("db-query"):
            return "sunny"

    server.enqueue(AGENT_TURN, AGENT_TURN)
    Runner.run_sync(agent("chat", traced_client(server, telemetry), tools=[lookup]), "Weather?")
    tree = Tree(telemetry.spans())
    assert tree.parent(tree.one("db-query")) is tree.one("execute_tool lookup")


def test_direct_calls_in_guardrails_and_instructions_nest_in_the_run_under_an_app_span(
    server: FakeOpenAIServer, telemetry: Telemetry
) -> None:
    """A client called directly from an input guardrail, the agent's dynamic instructions or a tool,
    in a run inside the application's span: each call nests under its guardrail, agent or tool span,
    as it does with no application span (they went straight under the application's span, beside
    the workflow, because it was current and in the run's trace)."""
    client = traced_client(server, telemetry)

    async def classify(model: str) -> None:
        await client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])

    @input_guardrail
    async def moderated(ctx: Any, agent: Agent[Any], text: Any) -> GuardrailFunctionOutput:
        await classify("guard-model")
        return GuardrailFunctionOutput(output_info="ok", tripwire_triggered=False)

    async def instructions(ctx: Any, agent: Agent[Any]) -> str:
        await classify("instructions-model")
        return "Answer briefly."

    @function_tool
    async def lookup(city: str) -> str:
        """Looks the city up."""
        await classify("tool-model")
        return "sunny"

    weather = agent("chat", client, tools=[lookup], input_guardrails=[moderated])
    weather.instructions = instructions
    server.default = AGENT_TURN  # per request, whichever comes first (the guardrail runs beside the model)
    try:
        with telemetry.tracer_provider.get_tracer("app").start_as_current_span("handle-request"):
            Runner.run_sync(weather, "Weather?")
    finally:
        server.default = Scenario()
    tree = Tree(telemetry.spans())
    agent_span = tree.one("invoke_agent weather")
    assert tree.parent(tree.one("chat guard-model")) is tree.one("guardrail moderated")
    assert tree.named("chat instructions-model")
    assert all(tree.parent(s) is agent_span for s in tree.named("chat instructions-model"))
    assert tree.parent(tree.one("chat tool-model")) is tree.one("execute_tool lookup")
    assert tree.children(tree.one("handle-request")) == ["invoke_workflow Agent workflow"]
    assert len(tree.named("chat gpt-4.1-mini")) == 2
    assert len(tree.model_spans()) == len(server.requests)


@pytest.mark.parametrize("mode", MODES)
def test_100_concurrent_runs(mode: str, server: FakeOpenAIServer, telemetry: Telemetry) -> None:
    server.default = AGENT_TURN  # per request: a tool call, then the answer
    try:
        weather = agent(mode, traced_client(server, telemetry), tools=[get_weather])

        async def main() -> list[Any]:
            streamed = [Runner.run_streamed(weather, f"Weather {i}?") for i in range(50)]

            async def drain(result: Any) -> None:
                async for _ in result.stream_events():
                    pass

            runs = [Runner.run(weather, f"Weather {i}?") for i in range(50)]
            return await asyncio.gather(*runs, *(drain(r) for r in streamed))

        asyncio.run(main())
    finally:
        server.default = Scenario()
    tree = Tree(telemetry.spans())
    roots = tree.named("invoke_workflow Agent workflow")
    assert len(roots) == 100
    assert len(tree.model_spans()) == len(server.requests) == 200
    for root in roots:  # each run: its own trace, with exactly its own spans
        mine = [s for s in tree.spans if s.context.trace_id == root.context.trace_id]
        assert sorted(s.name for s in mine) == [
            "chat gpt-4.1-mini",
            "chat gpt-4.1-mini",
            "execute_tool get_weather",
            "invoke_agent weather",
            "invoke_workflow Agent workflow",
        ]
    assert otel_context.get_current() == {} or trace.get_current_span() is trace.INVALID_SPAN


def test_processor_is_added_beside_openais_exporter(server: FakeOpenAIServer, telemetry: Telemetry) -> None:
    from agents.tracing import get_trace_provider
    from agents.tracing.processors import BatchTraceProcessor

    traced_client(server, telemetry)
    processors = get_trace_provider()._multi_processor._processors  # no public list in the SDK
    names = [type(p).__name__ for p in processors]
    assert names.count("TracewrapProcessor") == 1
    assert any(isinstance(p, BatchTraceProcessor) for p in processors), names


def test_sdk_tracing_disabled_keeps_model_spans(server: FakeOpenAIServer, telemetry: Telemetry) -> None:
    weather = agent("responses", traced_client(server, telemetry))
    agents.set_tracing_disabled(True)
    try:
        Runner.run_sync(weather, "Hi")
    finally:
        agents.set_tracing_disabled(False)
    assert [s.name for s in telemetry.spans()] == ["chat gpt-4.1-mini"]


def test_tracewrap_alone_without_openais_export(server: FakeOpenAIServer, telemetry: Telemetry) -> None:
    from agents.tracing import get_trace_provider

    from tracewrap.integrations.openai_agents import processor

    weather = agent("responses", traced_client(server, telemetry))
    saved = list(get_trace_provider()._multi_processor._processors)
    agents.set_trace_processors([processor()])  # the README's recipe: OpenAI's export off
    try:
        Runner.run_sync(weather, "Hi")
        assert [type(p).__name__ for p in get_trace_provider()._multi_processor._processors] == [
            "TracewrapProcessor"
        ]
    finally:
        agents.set_trace_processors(saved)
    tree = Tree(telemetry.spans())
    assert tree.children(tree.one("invoke_agent weather")) == ["chat gpt-4.1-mini"]


@function_tool(needs_approval=True)
def refund(amount: int) -> str:
    """Refunds an amount (a human approves it first)."""
    return f"refunded {amount}"


def test_resumed_run_after_approval(server: FakeOpenAIServer, telemetry: Telemetry) -> None:
    turn = Scenario(agent_turn=True, tool_arguments='{"amount":5}', text="Refunded.")
    server.enqueue(turn, turn)
    clerk = agent("responses", traced_client(server, telemetry), name="clerk", tools=[refund])
    first = Runner.run_sync(clerk, "Refund 5")
    assert first.interruptions
    state = first.to_state()
    state.approve(first.interruptions[0])
    resumed = Runner.run_sync(clerk, state)  # the SDK reattaches the old trace: no trace start/end
    assert resumed.final_output == "Refunded."
    tree = Tree(telemetry.spans())
    assert len(tree.model_spans()) == len(server.requests) == 2
    root = tree.one("invoke_workflow Agent workflow")
    asked, ran = sorted(tree.named("execute_tool refund"), key=lambda s: s.start_time)
    first_agent, resumed_agent = sorted(tree.named("invoke_agent clerk"), key=lambda s: s.start_time)
    # the first run: the tool's approval request under the agent, in the workflow's trace
    assert tree.parent(first_agent) is root and tree.parent(asked) is first_agent
    # the resumed run has no trace start of its own: its agent is the root of its own trace
    assert resumed_agent.parent is None and tree.parent(ran) is resumed_agent
    assert tree.children(resumed_agent) == ["chat gpt-4.1-mini", "execute_tool refund"]


def test_tracewrap_alone_recipe_before_wrap(server: FakeOpenAIServer) -> None:
    """processor() called before wrap() returned None: the SDK then logged "Error in trace processor"
    for every span and the run had no agent spans. It now makes the processor, which records once
    wrap() runs."""
    app = Path(__file__).with_name("processor_first_app.py")
    done = subprocess.run(
        [sys.executable, str(app), server.base_url], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Error in trace processor" not in done.stderr, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {
        "answer": Scenario().text,
        "spans": ["chat gpt-4.1-mini", "invoke_agent weather", "invoke_workflow Agent workflow"],
    }
