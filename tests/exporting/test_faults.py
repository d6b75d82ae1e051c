"""A broken telemetry backend must never reach the user's calls or hold the process open."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tracewrap
from tracewrap.testing import FakeOpenAIServer, Scenario

from .common import MESSAGES
from .receivers import OTLPReceiver, free_port

CALLS = 30
EXIT_APP = Path(__file__).with_name("exit_app.py")
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def silent_port() -> Iterator[int]:
    """Accepts TCP connections (the kernel's backlog does) and never answers: the worst backend."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(512)
        yield int(sock.getsockname()[1])


def _calls(make_client: Any, n: int = CALLS) -> float:
    client = make_client()
    started = time.perf_counter()
    for _ in range(n):
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert reply.choices[0].message.content == Scenario().text
        assert reply.usage is not None and reply.usage.prompt_tokens == 12
    return time.perf_counter() - started


def _otlp_env(monkeypatch: pytest.MonkeyPatch, endpoint: str, protocol: str = "http/protobuf") -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "8")  # several exports during the calls


@pytest.mark.parametrize("mode", ["refused", "slow", "error", "reset", "silent"])
def test_broken_receiver_does_not_slow_or_break_calls(
    mode: str,
    monkeypatch: pytest.MonkeyPatch,
    receiver: OTLPReceiver,
    silent_port: int,
    server: FakeOpenAIServer,
    make_client: Any,
) -> None:
    _otlp_env(monkeypatch, receiver.http_endpoint)
    tracewrap.configure()
    healthy = _calls(make_client)
    assert tracewrap.flush(5.0)
    tracewrap.shutdown(2.0)

    from .conftest import reset_globals

    reset_globals()
    receiver.clear()
    endpoint = receiver.http_endpoint
    if mode == "refused":
        endpoint = f"http://127.0.0.1:{free_port()}"
    elif mode == "silent":
        endpoint = f"http://127.0.0.1:{silent_port}"
    else:
        receiver.store.mode = mode
        receiver.store.delay_s = 3.0
    _otlp_env(monkeypatch, endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "30")  # a long exporter timeout must not matter
    tracewrap.configure()
    broken = _calls(make_client)
    # generous: the calls themselves take a few ms each; export trouble would add seconds
    assert broken < healthy * 3 + 0.5, (mode, healthy, broken)

    started = time.perf_counter()
    flushed = tracewrap.flush(0.5)
    assert time.perf_counter() - started < 1.0
    if mode in ("slow", "silent"):
        assert flushed is False  # still stuck in an export: flush says so instead of waiting
    started = time.perf_counter()
    tracewrap.shutdown(1.0)
    assert time.perf_counter() - started < 1.5


def test_queue_is_bounded_and_drops_are_counted(
    monkeypatch: pytest.MonkeyPatch, receiver: OTLPReceiver, server: FakeOpenAIServer, make_client: Any
) -> None:
    receiver.store.mode = "slow"
    receiver.store.delay_s = 3.0
    _otlp_env(monkeypatch, receiver.http_endpoint)
    setup = tracewrap.configure(max_queue_size=16)
    (processor,) = setup.span_processors
    _calls(make_client, 200)
    assert processor.queued() <= 16
    assert setup.dropped_spans() >= 200 - 16 - 8 * 2  # at most two batches were taken by the exporter


def _run_exit_app(
    env: dict[str, str], base_url: str, calls: int = 20, *extra: str
) -> tuple[float, subprocess.CompletedProcess]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LANGSMITH_", "TRACEWRAP_"))}
    clean.update(env, PYTHONPATH=str(SRC))
    run = subprocess.run(
        [sys.executable, str(EXIT_APP), base_url, str(calls), *extra],
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )
    ended = time.time()
    done = [line for line in run.stdout.splitlines() if line.startswith("DONE ")]
    assert run.returncode == 0 and done, run.stderr[-3000:]
    return ended - float(done[0].split()[1]), run


@pytest.mark.parametrize(
    "sink",
    [
        "otlp-http-silent",
        "otlp-grpc-silent",
        "otlp-http-refused",
        "langsmith-silent",
        "langsmith-refused",
        "langsmith-silent-traceable",
        "langsmith-refused-traceable",
    ],
)
def test_process_exit_is_bounded(sink: str, silent_port: int, server: FakeOpenAIServer) -> None:
    # "-traceable": the calls run inside the application's own @traceable, whose runs go through
    # langsmith's default client: tracewrap's, when tracewrap set LangSmith up
    traceable = sink.endswith("-traceable")
    kind, how = sink.removesuffix("-traceable").rsplit("-", 1)
    port = silent_port if how == "silent" else free_port()
    env = {"TRACEWRAP_EXIT_TIMEOUT": "1", "OTEL_EXPORTER_OTLP_TIMEOUT": "60"}
    if kind.startswith("otlp"):
        env.update(
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}",
            OTEL_EXPORTER_OTLP_PROTOCOL="grpc" if kind == "otlp-grpc" else "http/protobuf",
            OTEL_TRACES_EXPORTER="otlp",
            OTEL_METRICS_EXPORTER="otlp",
        )
    else:
        env.update(
            LANGSMITH_TRACING="true", LANGSMITH_API_KEY="k", LANGSMITH_ENDPOINT=f"http://127.0.0.1:{port}"
        )
    exit_seconds, _ = _run_exit_app(env, server.base_url, 20, *(["traceable"] if traceable else []))
    # 1 s budget + interpreter teardown (up to ~1.6 s seen on a loaded 2-core machine); unbounded,
    # LangSmith alone takes ~15 s (refused) to minutes (silent)
    assert exit_seconds < 1 + 3, (sink, exit_seconds)


def test_exit_flushes_everything_to_a_healthy_receiver(
    receiver: OTLPReceiver, server: FakeOpenAIServer
) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.http_endpoint,
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_BSP_SCHEDULE_DELAY": "60000",  # nothing leaves before exit: the atexit flush must send it
    }
    exit_seconds, _ = _run_exit_app(env, server.base_url, calls=7)
    assert exit_seconds < 2.5
    spans = [s for s in receiver.store.spans() if s.scope == "tracewrap"]
    assert len(spans) == 7
    assert receiver.store.metric_points("gen_ai.client.operation.duration")
