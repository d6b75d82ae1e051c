"""examples/agents_traced.py under ``tracewrap run``: an Agents SDK app traced with no code change."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.test_examples import ROOT, call_lines


def run_traced(**env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OPENAI_", "TRACEWRAP_"))}
    env.update(OTEL_TRACES_EXPORTER="console", PYTHONPATH=str(ROOT / "src"), **env_extra)
    command = [sys.executable, "-m", "tracewrap.cli", "run", "--", sys.executable]
    result = subprocess.run(
        [*command, str(ROOT / "examples" / "agents_traced.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr
    assert "answer: It is sunny in Paris." in result.stdout
    return result


def test_agent_run_traced_without_code_change() -> None:
    lines = [line.split("  status=")[0] for line in call_lines(run_traced().stderr)]
    assert lines == [
        "tracewrap  chat gpt-4.1-mini  in=12 out=7  finish=tool_calls",
        "tracewrap  execute_tool get_weather",
        "tracewrap  chat gpt-4.1-mini  in=12 out=7  finish=stop",
        "tracewrap  invoke_agent weather",
        "tracewrap  invoke_workflow Agent workflow",
    ]


def test_agents_switch_off_leaves_the_model_calls() -> None:
    lines = [line.split("  status=")[0] for line in call_lines(run_traced(TRACEWRAP_AGENTS="false").stderr)]
    assert lines == [
        "tracewrap  chat gpt-4.1-mini  in=12 out=7  finish=tool_calls",
        "tracewrap  chat gpt-4.1-mini  in=12 out=7  finish=stop",
    ]


def test_agents_benchmark_quick() -> None:
    """benchmarks/agents_processor.py runs in its quick mode (timings are printed, not asserted)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TRACEWRAP_"))}
    env["PYTHONPATH"] = str(ROOT / "src")
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "agents_processor.py"), "--quick"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split()[:2] for line in result.stdout.splitlines()[1:3]]
    assert rows == [["one-tool", "turn"], ["unmapped", "spans"]]
    assert "tracewrap per mapped span" in result.stdout
