"""An agent run as LangSmith runs (real langsmith client, loopback recorder): the same tree as the spans."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from agents import Runner
from langsmith import traceable

import tracewrap
from tests.agent_runs.helpers import MODES, agent
from tests.agent_runs.test_agent_runs import AGENT_TURN, broken_weather, get_weather
from tests.exporting.conftest import clean, langsmith_server, recorder  # noqa: F401 (fixtures)
from tests.exporting.langsmith_recorder import LangSmithRecorder
from tests.exporting.test_langsmith import _env
from tracewrap.testing import FakeOpenAIServer


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
