"""LangChain and tracewrap both sending to LangSmith: each model call is one ``llm`` run.

The real langchain-openai and langsmith from the ``frameworks`` venv, the real ``langsmith.Client``
posting to the loopback recorder, the fake OpenAI server. With LangChain tracing on
(``LANGSMITH_TRACING=true``) LangChain's tracer sends an ``llm`` run for each ``ChatOpenAI`` call, and
tracewrap's LangSmith export sends one only for the calls made outside those runs: LangSmith would
otherwise count the tokens of each LangChain call twice. With LangChain tracing off and tracewrap's
export on (``OTEL_TRACES_EXPORTER=langsmith``), every call is tracewrap's run but one given a
``LangChainTracer`` by hand. Either way every request is one OpenTelemetry span.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.exporting.langsmith_recorder import LangSmithRecorder
from tracewrap.testing import FakeOpenAIServer, Scenario

from .test_frameworks import PYTHONS, app_env

pytestmark = pytest.mark.timeout(300)

APP = Path(__file__).with_name("langchain_langsmith_app.py")
# invoke, stream, ainvoke, astream, a batch of two, a Responses API invoke, an invoke given a tracer
LANGCHAIN_CALLS = 8
REQUESTS = LANGCHAIN_CALLS + 2  # and the SDK called in a RunnableLambda, and directly


@pytest.fixture(scope="module")
def recorder() -> Iterator[LangSmithRecorder]:
    recorder = LangSmithRecorder().start()
    yield recorder
    recorder.stop()


def _run_app(mode: str, langchain_tracing: bool, recorder: LangSmithRecorder) -> tuple[dict[str, Any], int]:
    python = PYTHONS["frameworks"]
    assert python.exists(), f"the frameworks venv is missing ({python}): run scripts/test.sh to build it"
    env = app_env(mode)
    env.update(LANGSMITH_API_KEY="ls-test", LANGSMITH_ENDPOINT=recorder.url)
    if langchain_tracing:
        env["LANGSMITH_TRACING"] = "true"  # LangChain's tracer, and tracewrap's export with it
    else:
        env["OTEL_TRACES_EXPORTER"] = "langsmith"  # tracewrap's export alone
    with FakeOpenAIServer(Scenario()) as server:
        child = subprocess.run(
            [str(python), str(APP), mode, server.base_url],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert child.returncode == 0, child.stderr[-4000:]
        requests = len(server.requests)
    return json.loads(child.stdout.strip().splitlines()[-1]), requests


def _metadata(run: dict[str, Any]) -> dict[str, Any]:
    return (run.get("extra") or {}).get("metadata") or {}


@pytest.mark.parametrize("mode", ["auto", "wrap"])
def test_a_call_langchain_records_gets_no_second_run(mode: str, recorder: LangSmithRecorder) -> None:
    recorder.clear()
    out, requests = _run_app(mode, langchain_tracing=True, recorder=recorder)
    assert requests == REQUESTS
    assert out["texts"] == [Scenario().text] * REQUESTS
    assert len(out["spans"]) == REQUESTS  # the OpenTelemetry side is not affected
    runs = recorder.wait_for_runs(REQUESTS + 1)  # the llm runs and the lambda's chain run
    llm = [r for r in runs if r.get("run_type") == "llm"]
    ours = [r for r in llm if "otel_trace_id" in _metadata(r)]  # tracewrap's runs carry its span's ids
    langchains = [r for r in llm if r not in ours]
    assert len(llm) == REQUESTS  # one llm run per request: before, LangChain's calls had two
    assert len(langchains) == LANGCHAIN_CALLS
    assert {r["name"] for r in langchains} == {"ChatOpenAI"}
    assert all(_metadata(r).get("ls_provider") == "openai" for r in langchains)
    # the two calls made outside LangChain's llm runs: one in the lambda's chain run, one a root
    (chain,) = [r for r in runs if r.get("run_type") == "chain"]
    assert chain["name"] == "direct_in_lambda"
    assert sorted((r.get("parent_run_id") or "") for r in ours) == sorted(["", chain["id"]])
    assert {r["name"] for r in ours} == {"ChatOpenAI"}
    assert all(r["outputs"]["usage_metadata"]["input_tokens"] == 12 for r in ours)


@pytest.mark.parametrize("mode", ["auto", "wrap"])
def test_without_langchain_tracing_only_a_hand_given_tracer_records(
    mode: str, recorder: LangSmithRecorder
) -> None:
    """Every call is tracewrap's run, but the one given a ``LangChainTracer`` by hand."""
    recorder.clear()
    out, requests = _run_app(mode, langchain_tracing=False, recorder=recorder)
    assert requests == REQUESTS
    assert len(out["spans"]) == REQUESTS
    runs = recorder.wait_for_runs(REQUESTS)
    assert len(runs) == REQUESTS
    assert all(r.get("run_type") == "llm" for r in runs)
    ours = [r for r in runs if "otel_trace_id" in _metadata(r)]
    assert len(ours) == REQUESTS - 1
    assert all(r.get("parent_run_id") is None for r in ours)  # no LangChain runs to be inside
