"""`tracewrap demo`: the README's first command, run as a user would (fresh interpreter, no key)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import openai
from openai.resources.responses import Responses

ROOT = Path(__file__).resolve().parents[1]


def test_demo_prints_one_line_per_call_and_the_metric_totals() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OPENAI_", "TRACEWRAP_"))}
    env["PYTHONPATH"] = str(ROOT / "src")
    result = subprocess.run(
        [sys.executable, "-m", "tracewrap.cli", "demo"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("tracewrap  ")]
    websocket = hasattr(Responses, "connect")  # Responses WebSocket mode: late 2.x and 3.x
    assert len(lines) == (12 if websocket else 11), result.stdout
    assert "finish=length  status=ok" in lines[3]  # chat cut at max_tokens
    assert "finish=content_filter" in lines[4]
    assert "finish=length  status=incomplete" in lines[7]  # Responses incomplete -> length
    assert "status=error RateLimitError (429)" in lines[8]
    assert "(stream closed_early" in lines[2]
    stops = 6 if websocket else 5
    assert (
        f"tracewrap.client.finishes          content_filter=1  error=1  length=2  none=2  stop={stops}"
        in (result.stdout)
    )
    calls = 12 if websocket else 11
    assert f"gen_ai.client.operation.duration   {calls} calls recorded" in result.stdout
    if websocket:  # one turn on a Responses WebSocket connection, traced as a Responses stream
        assert "\n- Responses WebSocket mode, one turn on a connection\n" in result.stdout
        assert lines[11].startswith("tracewrap  chat gpt-4.1-mini  in=12 out=7  finish=stop  status=ok  ")
        assert "(stream, ttfc " in lines[11]
        assert "time_to_first_chunk                4 streams" in result.stdout
    else:
        assert (
            "- Responses WebSocket mode, one turn on a connection: skipped, needs responses.connect() and"
            f" the websockets package (openai {openai.__version__} here)"
        ) in result.stdout
