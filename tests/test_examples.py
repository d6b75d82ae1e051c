"""The examples run as a user would run them (fresh interpreter, fake server, console exporter)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_example(name: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OPENAI_", "TRACEWRAP_"))}
    env.update(OTEL_TRACES_EXPORTER="console", PYTHONPATH=str(ROOT / "src"))
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)], env=env, capture_output=True, text=True, timeout=90
    )
    assert result.returncode == 0, result.stderr
    return result


def call_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("tracewrap  ")]


def test_quickstart_traces_both_apis() -> None:
    result = run_example("quickstart.py")
    assert "chat: Hello! How can I help?" in result.stdout
    assert "responses stream: Hello! How can I help?" in result.stdout
    lines = call_lines(result.stderr)
    assert len(lines) == 2, result.stderr
    assert all("in=12 out=7  finish=stop  status=ok" in line for line in lines)
    assert "(stream, ttfc" in lines[1]


def test_async_streams_one_span_each() -> None:
    result = run_example("async_streams.py")
    assert result.stdout.count("answer: Hello! How can I help?") == 5
    lines = call_lines(result.stderr)
    assert len(lines) == 5
    assert all("in=12 out=7" in line and "(stream, ttfc" in line for line in lines)


def test_own_provider_content_redaction_and_cost() -> None:
    out = run_example("with_your_own_provider.py").stdout
    assert "span: chat gpt-4o-mini child of handle-request True" in out
    assert "Mail <email> a summary." in out and "bob@example.com" not in out
    cost = float(out.split("estimated cost (USD):")[1].strip())
    assert cost > 0
