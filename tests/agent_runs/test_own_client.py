"""Issue 14's case: an Agents SDK app that builds its own client gave 0 spans after
``openai = wrap(openai)`` (a proxy); with the SDK patched in place, each model request is one span."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.test_examples import ROOT, call_lines
from tracewrap.testing import FakeOpenAIServer

APP = Path(__file__).with_name("own_client_app.py")


def test_the_sdks_own_client_is_traced_after_a_module_wrap(server: FakeOpenAIServer) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OPENAI_", "TRACEWRAP_"))}
    env.update(
        OPENAI_BASE_URL=server.base_url,
        OPENAI_API_KEY="sk-test",
        # the SDK's own trace export would post to OpenAI with that key; tracewrap's model spans
        # are what this test is about (agent spans: test_agent_runs.py)
        OPENAI_AGENTS_DISABLE_TRACING="1",
        OTEL_TRACES_EXPORTER="console",
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
    )
    run = subprocess.run([sys.executable, str(APP)], env=env, capture_output=True, text=True, timeout=90)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.split("RESULT ", 1)[1])
    assert result == {"run": "Hello! How can I help?", "streamed": "Hello! How can I help?"}
    lines = [line.split("  status=")[0] for line in call_lines(run.stderr)]
    assert lines == ["tracewrap  chat gpt-4.1-mini  in=12 out=7  finish=stop"] * 2, run.stderr
    assert len(server.requests) == 2  # one span per request the server received
