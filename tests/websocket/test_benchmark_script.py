"""``benchmarks/websocket_events.py`` runs end to end in a tiny mode (its timings are not asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_websocket_events_benchmark_prints_its_table() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO / "src"), os.environ.get("PYTHONPATH")))),
    }
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "websocket_events.py"), "--rounds", "4", "--deltas", "50"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "4 rounds x 50 text-delta events" in out
    for row in ("| bare SDK recv() |", "| traced recv() |", "| tracewrap's work (paired median, IQR) |"):
        assert any(line.startswith(row) for line in out.splitlines()), out
    assert "target: tracewrap's work < 1 µs per event: " in out
