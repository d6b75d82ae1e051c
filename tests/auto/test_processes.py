"""Spans from processes the program starts: multiprocessing fork/spawn children and gunicorn workers."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.auto.harness import APPS, AutoVenv, read_spans
from tests.auto.helpers import PROMPT_TOKENS, assert_one_span_per_call, dated

ON = {"TRACEWRAP_ENABLED": "true"}


@pytest.mark.parametrize("processor", ["simple", "batch"])
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_children_export_their_spans(
    venv: AutoVenv, tmp_path: Path, method: str, processor: str
) -> None:
    # "batch": the sink's BatchSpanProcessor never fires on its own within the test, so child spans
    # only arrive through the flush tracewrap adds to BaseProcess._bootstrap (children skip atexit)
    run = venv.run([venv.python, "workers.py", method], tmp_path, {**ON, "TWTEST_SPAN_PROCESSOR": processor})
    *calls, exits = run.result
    assert exits == {"exitcodes": [0, 0]}
    assert all(call["prompt_tokens"] == PROMPT_TOKENS for call in calls)
    models = [call["model"] for call in calls]
    spans = assert_one_span_per_call(run, models)
    for call in calls:
        assert spans[call["model"]]["pid"] == call["pid"]
    assert len({call["pid"] for call in calls}) == 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, deadline: float) -> dict[str, object]:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.loads(response.read())  # type: ignore[no-any-return]
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.parametrize("preload", [False, True], ids=["import-in-worker", "preload-in-master"])
def test_gunicorn_workers_trace_requests(venv: AutoVenv, tmp_path: Path, preload: bool) -> None:
    port = _free_port()
    spans_file = tmp_path / "spans.jsonl"
    argv = [
        str(venv.bin / "gunicorn"),
        "--workers",
        "2",
        "--bind",
        f"127.0.0.1:{port}",
        "--graceful-timeout",
        "10",
    ]
    argv += ["--preload"] if preload else []
    env = venv.env({**ON, "TWTEST_SPAN_PROCESSOR": "batch"}, spans_file)
    server = subprocess.Popen(
        [*argv, "wsgi:app"], cwd=APPS, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        answers = [_get(f"http://127.0.0.1:{port}/m-gunicorn-{i}", deadline) for i in range(6)]
    finally:
        server.send_signal(signal.SIGTERM)  # graceful: workers exit through sys.exit, flushing at exit
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr
    assert [a["model"] for a in answers] == [dated(f"m-gunicorn-{i}") for i in range(6)]
    assert all(a["total_tokens"] == 19 for a in answers)
    spans = read_spans(spans_file)
    by_model = {s["attributes"]["gen_ai.request.model"]: s for s in spans if s["scope"] == "tracewrap"}
    assert sorted(by_model) == [f"m-gunicorn-{i}" for i in range(6)], (spans, stderr)
    assert len(spans) == 6
    for i, answer in enumerate(answers):
        span = by_model[f"m-gunicorn-{i}"]
        assert span["pid"] == answer["pid"]  # recorded in the worker that served the request
        assert span["attributes"]["gen_ai.usage.output_tokens"] == 7
