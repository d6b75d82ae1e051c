"""An agent run as LangSmith runs (real langsmith client, loopback recorder): the same tree as the spans."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import langsmith
import openai
import pytest
from agents import GuardrailFunctionOutput, Runner, function_tool, handoff, input_guardrail
from langsmith import traceable
from opentelemetry import trace as otel_trace

import tracewrap
from tests.agent_runs.helpers import MODES, agent
from tests.agent_runs.test_agent_runs import AGENT_TURN, broken_weather, get_weather, no_homework, refund
from tests.exporting.conftest import clean, langsmith_server, otlp, receiver, recorder  # noqa: F401 (fixtures)
from tests.exporting.langsmith_recorder import LangSmithRecorder
from tests.exporting.receivers import OTLPReceiver
from tests.exporting.test_langsmith import _env
from tracewrap.testing import FakeOpenAIServer, Scenario


def _runs(recorded: LangSmithRecorder, count: int) -> dict[str, list[dict[str, Any]]]:
    assert tracewrap.flush(5.0)
    by_name: dict[str, list[dict[str, Any]]] = {}
    for run in recorded.wait_for_runs(count):
        by_name.setdefault(run["name"], []).append(run)
    assert sum(len(v) for v in by_name.values()) == count, recorded.runs
    return by_name


def _client(server: FakeOpenAIServer) -> Any:
    return tracewrap.wrap(openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0))


@pytest.mark.parametrize("mode", MODES)
def test_agent_run_is_one_langsmith_tree_under_traceable(
    mode: str,
    monkeypatch: pytest.MonkeyPatch,
    recorder: LangSmithRecorder,  # noqa: F811 (the fixture imported above)
    server: FakeOpenAIServer,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    _env(monkeypatch, recorder)
    setup = tracewrap.configure()
    weather = agent(mode, _client(server), tools=[get_weather])
    server.enqueue(AGENT_TURN, AGENT_TURN)

    @traceable(name="handle_request", client=setup.langsmith.client)
    def handle() -> str:
        return str(Runner.run_sync(weather, "Weather in Paris?").final_output)

    assert handle() == "It is sunny in Paris."
    runs = _runs(recorder, 6)
    (app,) = runs["handle_request"]
    (workflow,) = runs["Agent workflow"]
    (agent_run,) = runs["weather"]
    (tool,) = runs["get_weather"]
    llms = runs["ChatOpenAI"]  # named as langsmith.wrappers.wrap_openai names them
    assert (workflow["run_type"], agent_run["run_type"], tool["run_type"]) == ("chain", "chain", "tool")
    assert workflow["parent_run_id"] == app["id"]
    assert agent_run["parent_run_id"] == workflow["id"]
    assert tool["parent_run_id"] == agent_run["id"]
    assert len(llms) == len(server.requests) == 2
    assert all(r["run_type"] == "llm" and r["parent_run_id"] == agent_run["id"] for r in llms)
    assert {r["trace_id"] for r in recorder.runs.values()} == {app["id"]}
    assert tool["inputs"] == {"input": '{"city":"Paris"}'} and tool["outputs"] == {"output": "sunny in Paris"}
    assert all(r["end_time"] for r in recorder.runs.values())


_HI = [{"role": "user", "content": "hi"}]
_IN_TOOL: dict[str, Any] = {}  # the clients the tools' @traceable functions call the model with


@traceable(name="lookup")
def _lookup(city: str) -> str:
    _IN_TOOL["sync"].chat.completions.create(model="gpt-4o-mini", messages=_HI)
    return f"sunny in {city}"


@traceable(name="lookup")
async def _alookup(city: str) -> str:
    await _IN_TOOL["async"].chat.completions.create(model="gpt-4o-mini", messages=_HI)
    return f"sunny in {city}"


@function_tool(name_override="get_weather")
def _weather_sync(city: str) -> str:
    """The weather in a city."""
    return _lookup(city)


@function_tool(name_override="get_weather")
async def _weather_async(city: str) -> str:
    """The weather in a city."""
    return await _alookup(city)


@pytest.mark.parametrize("tool", ["sync", "async"])
@pytest.mark.parametrize("mode", MODES)
def test_traceable_inside_a_tool_nests_under_the_tools_run(
    mode: str,
    tool: str,
    monkeypatch: pytest.MonkeyPatch,
    recorder: LangSmithRecorder,  # noqa: F811 (the fixture imported above)
    server: FakeOpenAIServer,
) -> None:
    """A ``@traceable`` function the tool's body calls is a child of the tool's run, in the agent
    run's trace (before: a root run, a trace of its own), and a model call made inside it is its
    child (not the tool's)."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    _env(monkeypatch, recorder)
    tracewrap.configure()
    _IN_TOOL["sync"] = tracewrap.wrap(
        openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    )
    _IN_TOOL["async"] = _client(server)
    server.enqueue(AGENT_TURN, Scenario(), AGENT_TURN)
    weather = agent(mode, _client(server), tools=[_weather_sync if tool == "sync" else _weather_async])
    assert asyncio.run(Runner.run(weather, "Weather in Paris?")).final_output == "It is sunny in Paris."
    runs = _runs(recorder, 7)
    (workflow,) = runs["Agent workflow"]
    (tool_run,) = runs["get_weather"]
    (lookup,) = runs["lookup"]
    assert lookup["parent_run_id"] == tool_run["id"]
    (inner,) = [r for r in runs["ChatOpenAI"] if r["inputs"].get("messages") == _HI]
    assert inner["parent_run_id"] == lookup["id"]
    assert {r["trace_id"] for r in recorder.runs.values()} == {workflow["id"]}
    assert lookup["outputs"] == {"output": "sunny in Paris"} and lookup["end_time"]


def test_tool_error_on_its_langsmith_run(
    monkeypatch: pytest.MonkeyPatch,
    recorder: LangSmithRecorder,  # noqa: F811 (the fixture imported above)
    server: FakeOpenAIServer,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    _env(monkeypatch, recorder, LANGSMITH_HIDE_INPUTS="true")
    tracewrap.configure()
    server.enqueue(AGENT_TURN, AGENT_TURN)
    Runner.run_sync(agent("responses", _client(server), tools=[broken_weather]), "Weather?")
    runs = _runs(recorder, 5)
    (tool,) = runs["broken_weather"]
    assert (
        tool["error"] == "ToolError: Error running tool (non-fatal)"
    )  # the SDK's words, not the exception's
    assert not tool.get("inputs")  # LANGSMITH_HIDE_INPUTS
    (workflow,) = runs["Agent workflow"]
    assert not workflow.get("parent_run_id")


def test_handoff_and_guardrail_runs_with_langsmith_alone(
    monkeypatch: pytest.MonkeyPatch,
    recorder: LangSmithRecorder,  # noqa: F811 (the fixture imported above)
    server: FakeOpenAIServer,
) -> None:
    """LangSmith without an OTel exporter: the OTel spans do not record, and the handoff and
    guardrail runs were named from them (a NonRecordingSpan has no name), so neither was sent."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    _env(monkeypatch, recorder)
    tracewrap.configure()
    client = _client(server)
    french = agent("chat", client, name="french")
    triage = agent("chat", client, name="triage", handoffs=[french], input_guardrails=[no_homework])
    server.enqueue(AGENT_TURN, AGENT_TURN)
    assert Runner.run_sync(triage, "Bonjour").last_agent is french
    runs = _runs(recorder, 7)
    (triage_run,) = runs["triage"]
    (guard,) = runs["guardrail no_homework"]
    (handoff,) = runs["handoff triage -> french"]  # to_agent known at its end, as for the span
    assert (guard["run_type"], handoff["run_type"]) == ("chain", "chain")
    assert guard["parent_run_id"] == handoff["parent_run_id"] == triage_run["id"]
    assert guard["outputs"] == {"triggered": False}
    assert handoff["outputs"] == {"to_agent": "french"}
    assert len(runs["ChatOpenAI"]) == len(server.requests) == 2


_seen_current_span: dict[str, str] = {}  # the OTel span current in the application's code, by where


def _note_current_span(where: str) -> None:
    _seen_current_span[where] = format(otel_trace.get_current_span().get_span_context().span_id, "016x")


@traceable(name="screen")
def _screen(text: str) -> bool:
    _note_current_span("guardrail")
    return "homework" in text


@input_guardrail(name="screened")
def _screened(ctx: Any, agent_: Any, text: Any) -> GuardrailFunctionOutput:
    return GuardrailFunctionOutput(output_info=None, tripwire_triggered=_screen(str(text)))


@traceable(name="note_handoff")
def _note_handoff() -> None:
    _note_current_span("handoff")


def test_traceable_inside_a_guardrail_or_a_handoff_nests_under_its_run(
    monkeypatch: pytest.MonkeyPatch,
    recorder: LangSmithRecorder,  # noqa: F811 (the fixture imported above)
    receiver: OTLPReceiver,  # noqa: F811
    server: FakeOpenAIServer,
) -> None:
    """The application's code in a guardrail and in a handoff's ``on_handoff``, as in a tool's body:
    a ``@traceable`` function it calls is a child of the guardrail's or the handoff's run (before: a
    root run, a trace of its own), and the OTel span current there is the guardrail's or the handoff's
    span, so the spans it starts are their children (before: the application's span around the run)."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    otlp_env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.http_endpoint, "OTEL_METRICS_EXPORTER": "none"}
    _env(monkeypatch, recorder, **otlp_env)
    tracewrap.configure()
    client = _client(server)
    french = agent("chat", client, name="french")
    on_french = handoff(french, on_handoff=lambda ctx: _note_handoff())
    triage = agent("chat", client, name="triage", handoffs=[on_french], input_guardrails=[_screened])
    server.enqueue(AGENT_TURN, AGENT_TURN)
    _seen_current_span.clear()
    assert Runner.run_sync(triage, "Bonjour").last_agent is french
    runs = _runs(recorder, 9)
    (workflow,) = runs["Agent workflow"]
    (guard,) = runs["guardrail screened"]
    (handoff_run,) = runs["handoff triage -> french"]
    (screen,) = runs["screen"]
    (note,) = runs["note_handoff"]
    assert screen["parent_run_id"] == guard["id"] and screen["outputs"] == {"output": False}
    assert note["parent_run_id"] == handoff_run["id"]
    assert {r["trace_id"] for r in recorder.runs.values()} == {workflow["id"]}
    assert receiver.store.wait_for(lambda: len(receiver.store.spans()) >= 7)
    spans = {s.name: s for s in receiver.store.spans()}
    assert _seen_current_span == {
        "guardrail": spans["guardrail screened"].span_id,
        "handoff": spans["handoff triage -> french"].span_id,
    }


def test_resumed_run_is_a_langsmith_tree_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
    recorder: LangSmithRecorder,  # noqa: F811 (the fixture imported above)
    server: FakeOpenAIServer,
) -> None:
    """A run resumed from a RunState gets no trace start from the SDK: its agent is a root, as its
    span is, with its tool and model call inside (the agent and tool runs were not sent at all, and
    the model call's run was a stray root)."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    _env(monkeypatch, recorder)
    tracewrap.configure()
    turn = Scenario(agent_turn=True, tool_arguments='{"amount":5}', text="Refunded.")
    server.enqueue(turn, turn)
    clerk = agent("responses", _client(server), name="clerk", tools=[refund])
    first = Runner.run_sync(clerk, "Refund 5")
    state = first.to_state()
    state.approve(first.interruptions[0])
    assert Runner.run_sync(clerk, state).final_output == "Refunded."
    runs = _runs(recorder, 7)  # the first run: workflow, agent, model, the tool's approval request
    (workflow,) = runs["Agent workflow"]
    first_agent, resumed = sorted(runs["clerk"], key=lambda r: r["start_time"])
    asked, ran = sorted(runs["refund"], key=lambda r: r["start_time"])
    assert first_agent["parent_run_id"] == workflow["id"] and asked["parent_run_id"] == first_agent["id"]
    assert not resumed.get("parent_run_id")
    assert ran["parent_run_id"] == resumed["id"] and ran["outputs"] == {"output": "refunded 5"}
    parents = sorted(r["parent_run_id"] for r in runs["ChatOpenAI"])
    assert parents == sorted([first_agent["id"], resumed["id"]])


# ---------------------------------------------------------------------------------- LangSmith's context

SECRET_PROMPT = "my secret agent prompt 5521"
TREE = ["Agent workflow", "ChatOpenAI", "ChatOpenAI", "get_weather", "weather"]  # one agent run's runs


def _run_agent(server: FakeOpenAIServer, mode: str, prompt: str) -> None:
    """One agent run on a client of its own, closed after it (its event loop ends with it)."""

    async def main() -> None:
        client = _client(server)
        try:
            await Runner.run(agent(mode, client, tools=[get_weather]), prompt)
        finally:
            await client.close()

    asyncio.run(main())


def _in_thread(action: Any) -> None:
    worker = threading.Thread(target=action)
    worker.start()
    worker.join()


def _otel_span_names(otlp_receiver: OTLPReceiver, count: int) -> list[str]:
    def ours() -> list[Any]:
        return [s for s in otlp_receiver.store.spans() if s.scope == "tracewrap"]

    assert otlp_receiver.store.wait_for(lambda: len(ours()) >= count)
    return sorted(s.name for s in ours())


@pytest.mark.parametrize("switch", ["tracing_context", "inside_traceable", "local", "configure"])
def test_langsmith_switched_off_sends_no_agent_run(
    switch: str,
    monkeypatch: pytest.MonkeyPatch,
    recorder: LangSmithRecorder,  # noqa: F811 (the fixture imported above)
    receiver: OTLPReceiver,  # noqa: F811
    server: FakeOpenAIServer,
) -> None:
    """LangSmith's own switch says no (``tracing_context(enabled=False)`` around the run or around
    the ``@traceable`` function making it, ``enabled="local"``, ``langsmith.configure(enabled=False)``,
    process-wide: the run in another thread): no run of the agent run's tree is sent, as none of its
    model calls' (not the prompt either); its OTel spans are made as ever."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    _env(
        monkeypatch,
        recorder,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.http_endpoint,
        OTEL_METRICS_EXPORTER="none",
    )
    setup = tracewrap.configure()
    server.enqueue(AGENT_TURN, AGENT_TURN)

    def run() -> None:
        _run_agent(server, "responses", SECRET_PROMPT)

    if switch == "inside_traceable":

        @traceable(name="handle_request", client=setup.langsmith.client)
        def handle() -> None:
            run()

        with langsmith.tracing_context(enabled=False):
            handle()
    elif switch in ("tracing_context", "local"):
        with langsmith.tracing_context(enabled=False if switch == "tracing_context" else "local"):
            run()
    else:
        langsmith.configure(enabled=False)
        try:
            _in_thread(run)
        finally:
            langsmith.configure(enabled=None)
    # switched on again: this run's tree is sent, after anything the switched-off one had queued
    server.enqueue(AGENT_TURN, AGENT_TURN)
    _run_agent(server, "responses", "Weather in Paris?")
    runs = _runs(recorder, len(TREE))
    assert sorted(name for name, found in runs.items() for _ in found) == TREE
    assert SECRET_PROMPT.encode() not in b"".join(recorder.raw)
    tree = ["chat gpt-4.1-mini"] * 2 + ["execute_tool get_weather", "invoke_agent weather"]
    assert _otel_span_names(receiver, 10) == sorted(["invoke_workflow Agent workflow", *tree] * 2)


@pytest.mark.parametrize("where", ["tracing_context", "inside_traceable", "configure"])
def test_agent_runs_take_langsmiths_project_tags_and_metadata(
    where: str,
    monkeypatch: pytest.MonkeyPatch,
    recorder: LangSmithRecorder,  # noqa: F811 (the fixture imported above)
    server: FakeOpenAIServer,
) -> None:
    """The project, tags and metadata of LangSmith's context (``tracing_context``, an enclosing
    ``@traceable`` function's, ``langsmith.configure``'s, also in another thread): every run of the
    agent run's tree carries the tags and metadata, as its model calls' runs and ``@traceable``'s
    children do, and the tree goes to that project (a child of ``@traceable``: to its parent's)."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    _env(monkeypatch, recorder)
    setup = tracewrap.configure()
    server.enqueue(AGENT_TURN, AGENT_TURN)

    def run() -> None:
        _run_agent(server, "chat", "Weather in Paris?")

    if where == "tracing_context":
        with langsmith.tracing_context(project_name="team-b", tags=["exp-7"], metadata={"tenant": "acme"}):
            run()
    elif where == "inside_traceable":

        @traceable(
            name="handle_request",
            tags=["parent-tag"],
            metadata={"tenant": "acme"},
            client=setup.langsmith.client,
        )
        def handle() -> None:
            with langsmith.tracing_context(tags=["inner-tag"], metadata={"step": 2}):
                run()

        handle()
    else:
        langsmith.configure(project_name="team-c", tags=["global-tag"], metadata={"tenant": "acme"})
        try:
            _in_thread(run)
        finally:
            langsmith.configure(project_name=None, tags=None, metadata=None)
    project, tags, metadata = {
        "tracing_context": ("team-b", ["exp-7"], {"tenant": "acme"}),
        "inside_traceable": ("tw-tests", ["inner-tag", "parent-tag"], {"tenant": "acme", "step": 2}),
        "configure": ("team-c", ["global-tag"], {"tenant": "acme"}),
    }[where]
    by_name = _runs(recorder, len(TREE) + (where == "inside_traceable"))
    tree = [run for name, found in by_name.items() if name != "handle_request" for run in found]
    assert sorted(run["name"] for run in tree) == TREE
    (workflow,) = by_name["Agent workflow"]
    if where == "inside_traceable":
        assert workflow["parent_run_id"] == by_name["handle_request"][0]["id"]
    else:
        assert not workflow.get("parent_run_id")
    for run in tree:
        assert run["session_name"] == project, run["name"]
        assert sorted(run.get("tags") or []) == tags, run["name"]
        found = run["extra"]["metadata"]
        assert {key: found.get(key) for key in metadata} == metadata, run["name"]
        assert "ls_method" not in found, run["name"]  # the @traceable parent's own mark
