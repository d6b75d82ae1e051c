"""Frameworks built on the OpenAI SDK, traced with no code change: real packages from PyPI.

Each app (``apps/``) runs in a fresh interpreter of its venv (``scripts/test.sh`` builds them:
litellm, langchain-openai, instructor, pydantic-ai, openai-agents, haystack, smolagents and dspy
share ``frameworks``, whose pins hold openai at an older 3.x; llama-index needs openai < 3:
``frameworks_openai2``) three ways: untraced, under ``TRACEWRAP_ENABLED=true`` and under
``wrap(openai)``; the apps of one venv share one interpreter per mode, each with its own fake
server. Traced, the framework's own results are identical to the untraced run, there is
exactly one model-call span per request the fake server received, and a span carries usage exactly
when the wire had it (a non-streamed answer, a Responses stream, or a Chat Completions stream whose
request asked for ``stream_options.include_usage``). The Agents SDK's runs add their own spans
(``invoke_workflow`` / ``invoke_agent`` / ``execute_tool``: tracewrap's processor), counted apart.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tracewrap.testing import FakeOpenAIServer, Scenario
from tracewrap.testing.bodies import has_tool_result

# a test may start the untraced and a traced run of every app in its venv (one interpreter each)
pytestmark = pytest.mark.timeout(300)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VENVS = Path(
    os.environ.get("TRACEWRAP_VENVS")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tracewrap" / "venvs"
)
# the venvs the apps run in: the frameworks that share openai 3.x, and llama-index (openai < 3)
PYTHONS = {
    "frameworks": Path(
        os.environ.get("TRACEWRAP_FRAMEWORKS_PYTHON") or VENVS / "frameworks" / "bin" / "python"
    ),
    "frameworks_openai2": Path(
        os.environ.get("TRACEWRAP_FRAMEWORKS_OPENAI2_PYTHON")
        or VENVS / "frameworks_openai2" / "bin" / "python"
    ),
}
VENV_OF = {"llama_index_app": "frameworks_openai2"}  # any other app: "frameworks"

PERSON = '{"name":"Ada","age":36}'
# the apps, in the order one interpreter imports and runs them (instructor first: it must be the
# first to import openai, through its find_spec probes);
# what the fake answers: (the app's default scenario, one-shot scenarios for its first requests);
# json_text answers only structured-output requests, agent_turn calls a tool until its result is in;
# a queued stream_error ends a stream with the server's error (the framework raises on it)
SCENARIOS: dict[str, tuple[Scenario, list[Scenario]]] = {
    "instructor_app": (
        Scenario(),
        [Scenario(outcome="tool_calls", tool_name="Person", tool_arguments=PERSON)],
    ),
    "litellm_app": (Scenario(), []),
    "langchain_app": (Scenario(json_text=PERSON), [Scenario(outcome="stream_error")]),
    "pydantic_ai_app": (Scenario(agent_turn=True), []),
    "openai_agents_app": (Scenario(agent_turn=True), []),
    "haystack_app": (Scenario(json_text=PERSON), []),
    "smolagents_app": (Scenario(), []),
    "dspy_app": (Scenario(text="[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]"), []),
    "llama_index_app": (Scenario(), []),
}
# spans other than model calls an app's run makes (by the span name's first word), and the span
# each model call nests under (None: a root)
OTHER_SPANS: dict[str, dict[str, int]] = {
    "openai_agents_app": {"invoke_workflow": 6, "invoke_agent": 6, "execute_tool": 6},
}
CALL_PARENT = {"openai_agents_app": "invoke_agent weather"}
# what a request to each path is: (gen_ai.operation.name, openai.api.type)
OPERATIONS = {
    "/v1/chat/completions": ("chat", "chat_completions"),
    "/v1/responses": ("chat", "responses"),
    "/v1/embeddings": ("embeddings", None),
}


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, FakeOpenAIServer]]:
    """A fake server per app, answering with the app's scenarios, so each app's requests are its own."""
    with ExitStack() as stack:
        yield {app: stack.enter_context(FakeOpenAIServer(default)) for app, (default, _) in SCENARIOS.items()}


@pytest.fixture(scope="module")
def runs(servers: dict[str, FakeOpenAIServer]) -> Callable[[str, str], dict[str, Any]]:
    """The apps run in one interpreter per venv and mode (their imports dominate the time), each
    once: ``runs(mode, app)`` is the app's results, spans and the requests its server received."""
    done: dict[tuple[str, str], dict[str, Any]] = {}

    def run(mode: str, app: str) -> dict[str, Any]:
        venv = VENV_OF.get(app, "frameworks")
        if (venv, mode) not in done:
            group = {a: s for a, s in servers.items() if VENV_OF.get(a, "frameworks") == venv}
            done[venv, mode] = _run(PYTHONS[venv], group, mode)
        return done[venv, mode][app]

    return run


def app_env(mode: str) -> dict[str, str]:
    """An app interpreter's environment: none of this one's telemetry settings (no export to OpenAI,
    no LangSmith tracing), tracewrap from this checkout, ``TRACEWRAP_ENABLED=true`` under ``auto``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "TRACEWRAP_", "LANGSMITH_", "LANGCHAIN_", "OPENAI_"))
    }
    env.update(PYTHONPATH=str(ROOT / "src"), PYTHONDONTWRITEBYTECODE="1")
    if mode == "auto":
        env["TRACEWRAP_ENABLED"] = "true"
    return env


def _run(python: Path, servers: dict[str, FakeOpenAIServer], mode: str) -> dict[str, Any]:
    assert python.exists(), f"a frameworks venv is missing ({python}): run scripts/test.sh to build it"
    for app, server in servers.items():
        server.clear()
        server.enqueue(*SCENARIOS[app][1])
    env = app_env(mode)
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", HAYSTACK_TELEMETRY_ENABLED="False")
    child = subprocess.run(
        [str(python), str(HERE / "runner.py"), mode, *(f"{app}={s.base_url}" for app, s in servers.items())],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert child.returncode == 0, child.stderr[-4000:]
    out = json.loads(child.stdout.strip().splitlines()[-1])
    for app, server in servers.items():
        out[app]["requests"] = list(server.requests)
    return out


def _wire_usage(path: str, body: Mapping[str, Any] | None) -> bool:
    """Whether the answer to this request carried usage (the fake, like the API, streams chat usage
    on request; a Responses stream always ends with it)."""
    body = body or {}
    if not body.get("stream") or path == "/v1/responses":
        return True
    options = body.get("stream_options")
    return isinstance(options, Mapping) and bool(options.get("include_usage"))


def _expected_span(request: Any, error: bool) -> tuple[Any, ...]:
    """What the span of a request shows: its kind, whether it streamed, whether its answer carried
    usage (not an error stream's) and how its stream ended."""
    stream = bool((request.body or {}).get("stream"))
    outcome = ("error" if error else "completed") if stream else None
    return (*OPERATIONS[request.path], stream, _wire_usage(request.path, request.body) and not error, outcome)


@pytest.mark.parametrize("mode", ["auto", "wrap"])
@pytest.mark.parametrize("app", list(SCENARIOS))
def test_framework_traced_without_code_change(
    runs: Callable[[str, str], dict[str, Any]], app: str, mode: str
) -> None:
    plain = runs("plain", app)
    assert plain["spans"] == []
    traced = runs(mode, app)
    requests = traced["requests"]

    assert traced["results"] == plain["results"]
    assert [r.path for r in requests] == [r.path for r in plain["requests"]]
    spans = [
        s for s in traced["spans"] if s["attributes"].get("gen_ai.operation.name") in {"chat", "embeddings"}
    ]
    others = Counter(s["name"].split()[0] for s in traced["spans"] if s not in spans)
    assert others == Counter(OTHER_SPANS.get(app, {}))
    assert len(spans) == len(requests) > 0
    default, queued = SCENARIOS[app]
    failed = [i < len(queued) and queued[i].outcome == "stream_error" for i in range(len(requests))]
    # each request's kind, whether it streamed, whether its answer carried usage and how its stream
    # ended (an error event: error, though the framework stopped reading at it), span for span
    expected = sorted(_expected_span(r, error) for r, error in zip(requests, failed, strict=True))
    seen = sorted(
        (
            s["attributes"]["gen_ai.operation.name"],
            s["attributes"].get("openai.api.type"),
            bool(s["attributes"].get("gen_ai.request.stream")),
            "gen_ai.usage.input_tokens" in s["attributes"],
            s["attributes"].get("tracewrap.stream.outcome"),
        )
        for s in spans
    )
    assert seen == expected
    assert {s["parent"] for s in spans} == {CALL_PARENT.get(app)}
    for span in spans:
        attributes = span["attributes"]
        assert attributes["gen_ai.request.model"] in {"gpt-4o-mini", "text-embedding-3-small"}
        assert attributes["server.address"] == "127.0.0.1"
        if "gen_ai.usage.input_tokens" in attributes:
            assert attributes["gen_ai.usage.input_tokens"] == 12
            if attributes["gen_ai.operation.name"] == "chat":
                assert attributes["gen_ai.usage.output_tokens"] == 7
        if attributes["gen_ai.operation.name"] == "chat":
            assert attributes["gen_ai.response.id"]
            assert attributes["gen_ai.response.finish_reasons"] in (["stop"], ["tool_calls"], ["error"])
            assert (attributes["gen_ai.response.finish_reasons"] == ["error"]) is (
                attributes.get("error.type") == "server_error"
            )
    # the answers that called a tool: the queued tool-call scenarios, and an agent's turns before
    # the tool's result is in
    tool_calls = sum(s.outcome == "tool_calls" for s in queued) + sum(
        default.agent_turn and not has_tool_result(r.body or {}) for r in requests
    )
    finishes = [s["attributes"].get("gen_ai.response.finish_reasons") for s in spans]
    assert finishes.count(["tool_calls"]) == tool_calls
    assert finishes.count(["error"]) == sum(failed)
