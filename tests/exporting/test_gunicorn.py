"""A real gunicorn (sync workers) exports every request's span and metrics.

``--max-requests 1``: each worker leaves after one request and the arbiter starts another; then
SIGTERM to the arbiter (graceful: it stops the workers with SIGTERM and waits for them). Nothing
leaves on a timer (``OTEL_BSP_SCHEDULE_DELAY``, ``OTEL_METRIC_EXPORT_INTERVAL``): only the flushes
at each worker's end send it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from tracewrap.testing import FakeOpenAIServer

from .receivers import OTLPReceiver, free_port
from .test_billiard import COMPLETION_TOKENS, PROMPT_TOKENS, _env, _per_model
from .test_processes import ROOT, _models


def _get(url: str, deadline: float) -> dict[str, object]:
    """GET ``url``, retrying while gunicorn is not listening yet."""
    while True:
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return json.loads(response.read())  # type: ignore[no-any-return]
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.parametrize(
    ("setup", "preload"), [("wrap", False), ("auto", True)], ids=["wrap", "auto-preload"]
)
def test_gunicorn_workers_recycled_and_stopped_export_every_request(
    setup: str, preload: bool, tmp_path: Path, receiver: OTLPReceiver, server: FakeOpenAIServer
) -> None:
    env = _env(receiver, server)
    env["TW_SETUP"] = setup
    if setup == "auto":
        env["TRACEWRAP_ENABLED"] = "true"
    port = free_port()
    command = [
        *(sys.executable, "-m", "gunicorn", "--workers=2", "--worker-class=sync", "--max-requests=1"),
        *(f"--bind=127.0.0.1:{port}", "--graceful-timeout=30", "--chdir", str(Path(__file__).parent)),
        *(["--preload"] if preload else []),
        "wsgi_app:app",
    ]
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("wb") as log:
        arbiter = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        models = [f"g-{setup}-{i}" for i in range(5)]
        answers = [_get(f"http://127.0.0.1:{port}/{model}", deadline) for model in models]
        arbiter.send_signal(signal.SIGTERM)  # graceful: the arbiter stops its workers and waits
        arbiter.wait(60)
    finally:
        if arbiter.poll() is None:
            arbiter.kill()
            arbiter.wait(30)
    output = log_path.read_text(errors="replace")
    assert arbiter.returncode == 0, output
    assert [a["model"] for a in answers] == models
    assert all(a["total_tokens"] == PROMPT_TOKENS + COMPLETION_TOKENS for a in answers)
    assert len({a["pid"] for a in answers}) == len(models), answers  # one request per worker
    assert len(server.requests) == len(models)

    receiver.store.wait_for(lambda: sum(_models(receiver).values()) >= len(models), timeout=10)
    assert _models(receiver) == Counter(models), output  # each request's span, exactly once
    durations = "gen_ai.client.operation.duration"
    receiver.store.wait_for(lambda: len(_per_model(receiver, durations, "count")) >= len(models), timeout=10)
    assert _per_model(receiver, durations, "count") == {(model, ""): 1 for model in models}
    assert _per_model(receiver, "gen_ai.client.token.usage", "sum") == {
        **{(model, "input"): PROMPT_TOKENS for model in models},
        **{(model, "output"): COMPLETION_TOKENS for model in models},
    }
    assert "Traceback" not in output, output
