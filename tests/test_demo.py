"""`tracewrap demo`: the README's first command, run as a user would (fresh interpreter, no key)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_prints_one_line_per_call_and_the_metric_totals() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OPENAI_", "TRACEWRAP_"))}
    env["PYTHONPATH"] = str(ROOT / "src")
    result = subprocess.run(
        [sys.executable, "-m", "tracewrap.cli", "demo"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("tracewrap  ")]
    assert len(lines) == 11, result.stdout
    assert "finish=length  status=ok" in lines[3]  # chat cut at max_tokens
    assert "finish=content_filter" in lines[4]
    assert "finish=length  status=incomplete" in lines[7]  # Responses incomplete -> length
    assert "status=error RateLimitError (429)" in lines[8]
    assert "(stream closed_early" in lines[2]
    assert "tracewrap.client.finishes          content_filter=1  error=1  length=2  none=2  stop=5" in (
        result.stdout
    )
    assert "gen_ai.client.operation.duration   11 calls recorded" in result.stdout
