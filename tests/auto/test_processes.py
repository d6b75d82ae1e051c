"""Spans from processes the program starts: multiprocessing fork/spawn children, billiard (Celery's
prefork pool) workers, gunicorn and uvicorn workers."""

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
from tests.exporting.receivers import OTLPReceiver
from tracewrap.testing import FakeOpenAIServer

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


def _serve_uvicorn(
    venv: AutoVenv, app: str, workers: int, env: dict[str, str], count: int
) -> tuple[list[dict[str, object]], int, str]:
    """Start uvicorn, GET ``count`` models, stop it with SIGTERM; (answers, exit code, stderr)."""
    port = _free_port()
    argv = [str(venv.bin / "uvicorn"), app, "--port", str(port), "--workers", str(workers)]
    server = subprocess.Popen(
        argv, cwd=APPS, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        answers = [_get(f"http://127.0.0.1:{port}/m-uvicorn-{i}", deadline) for i in range(count)]
    finally:
        server.send_signal(signal.SIGTERM)  # graceful: the spans leave with the shutdown flush
        _, stderr = server.communicate(timeout=30)
    for answer in answers:
        assert workers == 1 or answer["pid"] != server.pid  # served by a spawned worker
    # uvicorn 0.29+ re-raises the SIGTERM once shut down: the process dies by it, past atexit
    assert server.returncode in (0, -signal.SIGTERM), stderr
    return answers, server.returncode, stderr


@pytest.mark.parametrize("workers", [1, 2], ids=["single-process", "spawned-workers"])
def test_uvicorn_traces_async_streamed_requests(venv: AutoVenv, tmp_path: Path, workers: int) -> None:
    # uvicorn --workers N (N > 1) runs the app in *spawned* children: fresh interpreters in which the
    # start-up hook runs again; with one worker the app runs in the uvicorn process itself
    spans_file = tmp_path / "spans.jsonl"
    env = venv.env({**ON, "TWTEST_SPAN_PROCESSOR": "batch"}, spans_file)
    answers, _, stderr = _serve_uvicorn(venv, "asgi:app", workers, env, 4)
    assert [a["model"] for a in answers] == [dated(f"m-uvicorn-{i}") for i in range(4)]
    assert all(a["text"] and a["total_tokens"] == 19 for a in answers)
    spans = read_spans(spans_file)
    by_model = {s["attributes"]["gen_ai.request.model"]: s for s in spans if s["scope"] == "tracewrap"}
    assert sorted(by_model) == [f"m-uvicorn-{i}" for i in range(4)], (spans, stderr)
    for i, answer in enumerate(answers):
        span = by_model[f"m-uvicorn-{i}"]
        assert span["pid"] == answer["pid"]
        assert span["attributes"]["gen_ai.request.stream"] is True
        assert span["attributes"]["tracewrap.stream.outcome"] == "completed"
        assert span["attributes"]["gen_ai.usage.output_tokens"] == 7


def test_uvicorn_app_with_configure_exports_its_last_spans(venv: AutoVenv) -> None:
    receiver = OTLPReceiver().start()
    try:
        env = venv.env(
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.http_endpoint,
                "OTEL_METRICS_EXPORTER": "none",
                "OTEL_BSP_SCHEDULE_DELAY": "600000",  # only a flush sends the spans
            }
        )
        answers, _, stderr = _serve_uvicorn(venv, "asgi_configured:app", 1, env, 3)
        assert [a["model"] for a in answers] == [dated(f"m-uvicorn-{i}") for i in range(3)]
        assert receiver.store.wait_for(lambda: len(receiver.store.spans()) >= 3, timeout=5)
        spans = [s for s in receiver.store.spans() if s.scope == "tracewrap"]
        assert sorted(s.attributes["gen_ai.request.model"] for s in spans) == [
            f"m-uvicorn-{i}" for i in range(3)
        ], stderr
        assert all(s.attributes["tracewrap.stream.outcome"] == "completed" for s in spans)
    finally:
        receiver.stop()


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_every_worker_shape_exports_each_call_once(
    venv: AutoVenv, tmp_path: Path, server: FakeOpenAIServer, method: str
) -> None:
    """``tests/exporting/mp_app.py`` under ``TRACEWRAP_ENABLED=true`` alone: the OTLP endpoint from the
    environment, nothing on a timer, so every worker span arrives through a process-end flush."""
    from collections import Counter

    from tests.exporting.test_processes import APP, EXPECTED

    receiver = OTLPReceiver().start()
    try:
        env = {
            **ON,
            "TW_BASE_URL": venv.base_url,
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.http_endpoint,
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_BSP_SCHEDULE_DELAY": "600000",
        }
        run = venv.run([venv.python, str(APP), "auto", method], tmp_path, env, sink=False, timeout=120)
        assert sorted(run.result) == sorted(EXPECTED)
        receiver.store.wait_for(lambda: len(receiver.store.spans()) >= len(EXPECTED), timeout=10)
        models = Counter(s.attributes["gen_ai.request.model"] for s in receiver.store.spans())
        assert models == Counter(EXPECTED), run.stderr
        assert len(server.requests) == len(EXPECTED)
    finally:
        receiver.stop()


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_billiard_workers_export_every_span_and_metric(
    venv: AutoVenv, tmp_path: Path, server: FakeOpenAIServer, method: str
) -> None:
    """``tests/exporting/billiard_app.py`` under ``TRACEWRAP_ENABLED=true`` alone, as a Celery prefork
    worker runs: billiard's bootstrap and its pool workers' ``os._exit`` are hooked when billiard is
    imported; nothing leaves on a timer, so every worker's spans and metrics arrive through its end flush."""
    from collections import Counter

    from tests.exporting.test_billiard import APP, COMPLETION_TOKENS, EXPECTED, PROMPT_TOKENS, _per_model

    receiver = OTLPReceiver().start()
    try:
        env = {
            **ON,
            "TW_BASE_URL": venv.base_url,
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.http_endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "600000",
            "OTEL_METRIC_EXPORT_INTERVAL": "600000",
        }
        run = venv.run([venv.python, str(APP), "auto", method], tmp_path, env, sink=False, timeout=120)
        assert run.result["called"] == EXPECTED
        receiver.store.wait_for(lambda: len(receiver.store.spans()) >= len(EXPECTED), timeout=10)
        models = Counter(s.attributes["gen_ai.request.model"] for s in receiver.store.spans())
        assert models == Counter(EXPECTED), run.stderr
        assert len(server.requests) == len(EXPECTED)
        durations = "gen_ai.client.operation.duration"
        receiver.store.wait_for(
            lambda: len(_per_model(receiver, durations, "count")) >= len(EXPECTED), timeout=10
        )
        assert _per_model(receiver, durations, "count") == {(model, ""): 1 for model in EXPECTED}
        assert _per_model(receiver, "gen_ai.client.token.usage", "sum") == {
            **{(model, "input"): PROMPT_TOKENS for model in EXPECTED},
            **{(model, "output"): COMPLETION_TOKENS for model in EXPECTED},
        }
    finally:
        receiver.stop()


def test_a_fork_during_the_export_set_up_does_not_hang_the_child(venv: AutoVenv, tmp_path: Path) -> None:
    """A fork taken while another thread's first call sets export up (holding tracewrap's set-up
    lock): the child's own first call goes on, and both calls' spans are exported. The child waited
    for good before (tracewrap.fork_safe)."""
    receiver = OTLPReceiver().start()
    try:
        env = {
            **ON,
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.http_endpoint,
            "OTEL_METRICS_EXPORTER": "none",
        }
        run = venv.run([venv.python, "fork_during_setup.py"], tmp_path, env, sink=False, timeout=120)
        assert run.result == {"done": ["m-thread"], "child_exitcode": 0}, run.stderr
        receiver.store.wait_for(lambda: len(receiver.store.spans()) >= 2, timeout=10)
        spans = [s for s in receiver.store.spans() if s.scope == "tracewrap"]
        assert sorted(s.attributes["gen_ai.request.model"] for s in spans) == ["m-fork-child", "m-thread"]
    finally:
        receiver.stop()
