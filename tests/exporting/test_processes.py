"""No span lost to the process lifecycle: every multiprocessing shape, fork and spawn, set up by
``configure()`` or lazily by the first traced call, exports exactly one span per call.

The batch span processor's delay is set far beyond the test (``OTEL_BSP_SCHEDULE_DELAY``), so a
worker's spans arrive only through the flushes tracewrap adds at its end: ``BaseProcess._bootstrap``
(workers leave by ``os._exit``, past ``atexit``) and SIGTERM (``with Pool(...)`` terminates them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tracewrap.testing import FakeOpenAIServer

from .receivers import OTLPReceiver

APP = Path(__file__).with_name("mp_app.py")
ROOT = Path(__file__).resolve().parents[2]
EXPECTED = [
    "m-parent",
    "m-process",
    *(f"m-pool-{i}" for i in range(3)),
    *(f"m-with-pool-{i}" for i in range(3)),
    *(f"m-executor-{i}" for i in range(3)),
]


def _models(receiver: OTLPReceiver) -> Counter[str]:
    return Counter(s.attributes["gen_ai.request.model"] for s in receiver.store.spans())


@pytest.mark.parametrize("method", ["fork", "spawn"])
@pytest.mark.parametrize("setup", ["configure", "lazy"])
def test_every_worker_shape_exports_each_call_once(
    setup: str, method: str, receiver: OTLPReceiver, server: FakeOpenAIServer
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACEWRAP_", "LANGSMITH_"))}
    env.update(
        TW_BASE_URL=server.base_url,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.http_endpoint,
        OTEL_METRICS_EXPORTER="none",
        OTEL_BSP_SCHEDULE_DELAY="600000",  # nothing leaves on a timer: only the process-end flushes
        TRACEWRAP_EXIT_TIMEOUT="5",
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")]),
    )
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, str(APP), setup, method], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.split("RESULT ", 1)[1])
    assert sorted(result) == sorted(EXPECTED)
    receiver.store.wait_for(lambda: sum(_models(receiver).values()) >= len(EXPECTED), timeout=10)
    assert _models(receiver) == Counter(EXPECTED), run.stderr  # each call exactly once
    assert len(server.requests) == len(EXPECTED)
    assert time.monotonic() - started < 60  # the flushes are bounded; nothing hangs
    assert "Traceback" not in run.stderr, run.stderr
