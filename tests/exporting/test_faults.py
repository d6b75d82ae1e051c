"""A broken telemetry backend must never reach the user's calls or hold the process open."""

from __future__ import annotations

import logging
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
from tracewrap.exporting import config
from tracewrap.testing import FakeOpenAIServer, Scenario

from .common import MESSAGES
from .receivers import OTLPReceiver, free_port

CALLS = 30
EXIT_APP = Path(__file__).with_name("exit_app.py")
SRC = Path(__file__).resolve().parents[2] / "src"


UNDELIVERED = "tracewrap: telemetry not all delivered"


@pytest.fixture(scope="module")
def silent_port() -> Iterator[int]:
    """Accepts TCP connections (the kernel's backlog does) and never answers: the worst backend."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(512)
        yield int(sock.getsockname()[1])


@pytest.fixture
def breakable_receiver() -> Iterator[OTLPReceiver]:
    """A receiver of the test's own, stopped at its end, for a test that makes its receiver slow or
    failing. Past ``shutdown()``'s deadline the SDK's batch processor goes on draining its queue in
    the background, and its exporter retries the 500s it got: those exports arrived in the shared
    receiver seconds later, inside a later test (30 stray spans, in one CI run). Stopped, this
    receiver refuses them instead."""
    receiver = OTLPReceiver().start()
    yield receiver
    receiver.stop()


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
    breakable_receiver: OTLPReceiver,
    silent_port: int,
    server: FakeOpenAIServer,
    make_client: Any,
) -> None:
    _otlp_env(monkeypatch, breakable_receiver.http_endpoint)
    tracewrap.configure()
    healthy = _calls(make_client)
    assert tracewrap.flush(5.0)
    tracewrap.shutdown(2.0)

    from .conftest import reset_globals

    reset_globals()
    breakable_receiver.clear()
    endpoint = breakable_receiver.http_endpoint
    if mode == "refused":
        endpoint = f"http://127.0.0.1:{free_port()}"
    elif mode == "silent":
        endpoint = f"http://127.0.0.1:{silent_port}"
    else:
        breakable_receiver.store.mode = mode
        breakable_receiver.store.delay_s = 3.0
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
    monkeypatch: pytest.MonkeyPatch,
    breakable_receiver: OTLPReceiver,
    server: FakeOpenAIServer,
    make_client: Any,
) -> None:
    breakable_receiver.store.mode = "slow"
    breakable_receiver.store.delay_s = 3.0
    _otlp_env(monkeypatch, breakable_receiver.http_endpoint)
    setup = tracewrap.configure(max_queue_size=16)
    (processor,) = setup.span_processors
    _calls(make_client, 200)
    assert processor.queued() <= 16
    assert setup.dropped_spans() >= 200 - 16 - 8 * 2  # at most two batches were taken by the exporter


@pytest.mark.parametrize("signal", ["traces", "logs"])
def test_shutdown_past_its_deadline_stops_exporting(
    signal: str,
    monkeypatch: pytest.MonkeyPatch,
    breakable_receiver: OTLPReceiver,
    server: FakeOpenAIServer,
    make_client: Any,
) -> None:
    """A receiver answering each export after 3 s, four batches queued: ``shutdown(1.0)`` returns in
    time, and after it no further batch is sent. Before, the SDK's batch processor went on sending
    the queue in the background, one batch after another (its public ``shutdown()`` takes no
    timeout; with OpenTelemetry 1.42's exporter, which retries a 500, the retries too)."""
    _otlp_env(monkeypatch, breakable_receiver.http_endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "30")
    if signal == "logs":  # content events: a log record per call
        monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
        monkeypatch.setenv("OTEL_LOGS_EXPORTER", "otlp")
        monkeypatch.setenv("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "8")
        monkeypatch.setenv("OTEL_BLRP_SCHEDULE_DELAY", "100")
        monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "event_only")
    breakable_receiver.store.mode, breakable_receiver.store.delay_s = "slow", 3.0
    tracewrap.configure()
    _calls(make_client)  # 30 calls: four batches of at most 8
    path, store = f"/v1/{signal}", breakable_receiver.store
    assert store.wait_for(lambda: path in store.paths)  # the first batch is being answered
    started = time.perf_counter()
    tracewrap.shutdown(1.0)
    assert time.perf_counter() - started < 1.5
    sent = store.paths.count(path)
    time.sleep(3.5)  # the first batch's answer has come: the next would have been sent
    assert store.paths.count(path) == sent == 1


def _processor_settings(processor: Any) -> tuple[int, int, float]:
    inner = processor._batch_processor  # the SDK's own fields: what it really runs with
    return inner._max_queue_size, inner._max_export_batch_size, inner._schedule_delay_millis


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_a_queue_smaller_than_the_default_batch_still_exports(
    how: str, monkeypatch: pytest.MonkeyPatch, receiver: OTLPReceiver, make_client: Any
) -> None:
    """Only the queue size set, below the SDK's default batch size (512): the SDK refused that
    pair (ValueError), which left no span exporter at all. The batch is the queue's size now."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint)
    if how == "environment":
        monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "256")
        setup = tracewrap.configure()
    else:
        setup = tracewrap.configure(max_queue_size=256)
    (processor,) = setup.span_processors
    assert _processor_settings(processor) == (256, 256, 100.0)  # delay: the fixture's 100 ms
    _calls(make_client, 3)
    assert tracewrap.flush(5.0)
    assert receiver.store.wait_for(lambda: len(receiver.store.spans()) >= 3)
    assert [s.name for s in receiver.store.spans()] == ["chat gpt-4o-mini"] * 3


def _metric_readers(provider: Any) -> tuple[Any, ...]:
    """The SDK meter provider's readers (private: kept in its config before opentelemetry-sdk 1.45)."""
    readers = getattr(provider, "_metric_readers", None)
    return tuple(readers if readers is not None else provider._sdk_config.metric_readers)


def test_batch_settings_the_sdk_would_refuse_fall_back_with_one_warning(
    monkeypatch: pytest.MonkeyPatch,
    receiver: OTLPReceiver,
    make_client: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tracewrap import logs

    monkeypatch.setattr(logs, "_warned", set())
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint)
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4096")  # above the default queue: clamped
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "0")  # the SDK raises: the default, one warning
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "-5")  # the SDK raises: the default, one warning
    with caplog.at_level(logging.WARNING, logger="tracewrap"):
        setup = tracewrap.configure(max_queue_size=0)  # not a queue: the default, one warning
        (processor,) = setup.span_processors
        assert _processor_settings(processor) == (2048, 2048, 5000.0)
        (reader,) = _metric_readers(setup.meter_provider)
        assert reader._export_interval_millis == 60000
        _calls(make_client, 2)
        assert tracewrap.flush(5.0)
    assert [s.name for s in receiver.store.spans()] == ["chat gpt-4o-mini"] * 2
    assert receiver.store.metric_points("gen_ai.client.operation.duration")
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 3, warnings
    assert any("OTEL_BSP_SCHEDULE_DELAY='0'" in w and "5000" in w for w in warnings), warnings
    assert any("OTEL_METRIC_EXPORT_INTERVAL='-5'" in w and "60000" in w for w in warnings), warnings
    assert any("max_queue_size=0" in w and "2048" in w for w in warnings), warnings
    assert not any("could not set up" in w for w in warnings), warnings


def test_no_tracer_provider_is_installed_when_no_span_exporter_could_be_set_up(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An empty provider records into nothing, and the application could not install its own
    after it (OpenTelemetry sets a global provider once); metrics are set up as usual."""
    from opentelemetry import trace

    from tracewrap.environment import is_placeholder
    from tracewrap.exporting import otlp

    def broken() -> Any:
        raise RuntimeError("no exporter today")

    monkeypatch.setattr(otlp, "span_exporter", broken)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "console")
    with caplog.at_level(logging.WARNING, logger="tracewrap"):
        setup = tracewrap.configure()
    assert "could not set up the otlp span exporter: RuntimeError('no exporter today')" in caplog.text
    assert setup.tracer_provider is None and setup.span_processors == []
    assert is_placeholder(trace.get_tracer_provider())
    assert setup.meter_provider is not None


def test_a_signal_the_sdk_refuses_leaves_the_others_set_up_and_flushed_at_exit(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``OTEL_METRICS_EXEMPLAR_FILTER=bogus`` makes the SDK's ``MeterProvider()`` raise. Metrics are
    off, said as such; traces are set up and flushed at exit as ever (configure() stopped half-way:
    the tracer provider installed, no exit flush registered, every span left in its queue)."""
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "console")
    monkeypatch.setenv("OTEL_METRICS_EXEMPLAR_FILTER", "bogus")
    with caplog.at_level(logging.WARNING, logger="tracewrap"):
        setup = tracewrap.configure()
    assert "metrics export is off: it could not be set up: Unknown exemplar filter 'bogus'" in caplog.text
    assert setup.tracer_provider is not None and setup.meter_provider is None
    assert config._setup is setup and config._atexit_registered


def test_a_value_the_sdk_refuses_at_its_import_is_said_as_such(server: FakeOpenAIServer) -> None:
    """``OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT=abc`` makes importing the SDK's tracing raise: export is off,
    and the warning says which setting (it said "internal error in export set-up"). The call goes on."""
    program = (
        "import openai, tracewrap; tracewrap.wrap(openai); "
        f"c = openai.OpenAI(base_url={server.base_url!r}, api_key='k', max_retries=0); "
        "print(c.chat.completions.create(model='m', messages=[{'role': 'user', 'content': 'hi'}]).id)"
    )
    run = _run_python(
        ["-c", program], {"OTEL_TRACES_EXPORTER": "console", "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "abc"}
    )
    assert run.returncode == 0 and run.stdout.startswith("chatcmpl-"), run.stderr
    assert "internal error" not in run.stderr, run.stderr
    assert run.stderr.count("telemetry export is off: OpenTelemetry's SDK refused a setting: ") == 1
    assert "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT" in run.stderr


def _run_python(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """This Python on ``args``, with this checkout's tracewrap and none of the runner's telemetry
    settings, only ``env``'s."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LANGSMITH_", "TRACEWRAP_"))}
    clean.update(env, PYTHONPATH=str(SRC))
    return subprocess.run([sys.executable, *args], env=clean, capture_output=True, text=True, timeout=timeout)


def _run_exit_app(
    env: dict[str, str], base_url: str, calls: int = 20, *extra: str
) -> tuple[float, subprocess.CompletedProcess]:
    run = _run_python([str(EXIT_APP), base_url, str(calls), *extra], env)
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
    exit_seconds, run = _run_exit_app(env, server.base_url, 20, *(["traceable"] if traceable else []))
    # 1 s budget + interpreter teardown (up to ~1.6 s seen on a loaded 2-core machine); unbounded,
    # LangSmith alone takes ~15 s (refused) to minutes (silent)
    assert exit_seconds < 1 + 3, (sink, exit_seconds)
    # the loss is said, once: an export refused or failed as the process ended (gRPC against a silent
    # port: its exporter's shutdown ends the retries, failed, within the deadline), or one still at
    # work when the deadline came
    assert run.stderr.count(UNDELIVERED) == 1, run.stderr[-3000:]


def test_exit_flushes_everything_to_a_healthy_receiver(
    receiver: OTLPReceiver, server: FakeOpenAIServer
) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.http_endpoint,
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_BSP_SCHEDULE_DELAY": "60000",  # nothing leaves before exit: the atexit flush must send it
    }
    exit_seconds, run = _run_exit_app(env, server.base_url, calls=7)
    assert exit_seconds < 2.5
    assert UNDELIVERED not in run.stderr
    spans = [s for s in receiver.store.spans() if s.scope == "tracewrap"]
    assert len(spans) == 7
    assert receiver.store.metric_points("gen_ai.client.operation.duration")


@pytest.mark.parametrize("value", ["inf", "1e10"])
def test_an_exit_timeout_past_what_a_wait_takes_still_exports_at_exit(
    value: str, receiver: OTLPReceiver, server: FakeOpenAIServer
) -> None:
    """``inf`` (or anything past ``threading.TIMEOUT_MAX``) was accepted, then the exit flush died of
    an OverflowError in its atexit callback and nothing was exported. It means a day now."""
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.http_endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "60000",  # nothing leaves before exit: the atexit flush must send it
        "TRACEWRAP_EXIT_TIMEOUT": value,
    }
    _, run = _run_exit_app(env, server.base_url, calls=3)
    assert "Error" not in run.stderr, run.stderr
    assert receiver.store.wait_for(lambda: len(receiver.store.spans()) >= 3)
    assert [s.name for s in receiver.store.spans()] == ["chat gpt-4o-mini"] * 3


def test_an_infinite_exit_timeout_argument_and_flush_timeout_are_a_day(
    monkeypatch: pytest.MonkeyPatch, receiver: OTLPReceiver, make_client: Any
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")
    setup = tracewrap.configure(exit_timeout=float("inf"))
    assert setup.exit_timeout == 86_400.0
    _calls(make_client, 1)
    assert tracewrap.flush(float("inf")) is True
    _calls(make_client, 1)
    tracewrap.shutdown(setup.exit_timeout)  # what the exit flush runs
    assert [s.name for s in receiver.store.spans()] == ["chat gpt-4o-mini"] * 2


@pytest.mark.parametrize(
    ("env", "argument", "expected", "warned"),
    [
        ("inf", None, 86_400.0, None),
        ("1e10", None, 86_400.0, None),
        ("0", None, 0.0, None),
        ("2.5", None, 2.5, None),
        ("nan", None, 3.0, "TRACEWRAP_EXIT_TIMEOUT='nan'"),
        ("-1", None, 3.0, "TRACEWRAP_EXIT_TIMEOUT='-1'"),
        (None, float("inf"), 86_400.0, None),
        ("7", -1.0, 7.0, "exit_timeout=-1.0"),  # a bad argument: the variable's value
        (None, float("nan"), 3.0, "exit_timeout=nan"),
    ],
)
def test_exit_timeout_rules(
    env: str | None,
    argument: float | None,
    expected: float,
    warned: str | None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tracewrap import environment, logs

    monkeypatch.setattr(logs, "_warned", set())
    if env is not None:
        monkeypatch.setenv("TRACEWRAP_EXIT_TIMEOUT", env)
    with caplog.at_level(logging.WARNING, logger="tracewrap"):
        assert environment.exit_timeout(argument) == expected
    # tracewrap's own: an exporter thread left by an earlier test may log to the same root handler
    messages = [r.getMessage() for r in caplog.records if r.name.split(".")[0] == "tracewrap"]
    if warned is None:
        assert messages == []
    else:
        assert len(messages) == 1 and warned in messages[0], messages


@pytest.mark.parametrize("how", ["thread", "atexit"])
def test_a_first_call_once_the_main_thread_ended_still_exports(
    how: str, receiver: OTLPReceiver, server: FakeOpenAIServer
) -> None:
    """The first traced call comes from a thread the main thread did not wait for, or from an
    ``atexit`` handler: it sets export up then, and its span is exported. The SDK's resource
    detection runs on a thread pool, which Python refuses at that point; export was never set up
    ("internal error in export set-up") and nothing of the process arrived. Python 3.12.1 refuses
    to start any thread then (CPython gh-113964), the exporters' too: there it is said on stderr."""
    run = _run_python(
        [str(Path(__file__).with_name("late_first_call_app.py")), server.base_url, how],
        {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.http_endpoint, "OTEL_METRICS_EXPORTER": "none"},
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "internal error" not in run.stderr, run.stderr
    if "can't create new thread at interpreter shutdown" in run.stderr:
        assert sys.version_info[:2] == (3, 12), run.stderr  # only 3.12 refuses every thread then
        return
    assert receiver.store.wait_for(lambda: len(receiver.store.spans()) >= 1, timeout=10), run.stderr
    assert [s.attributes["gen_ai.request.model"] for s in receiver.store.spans()] == [f"m-late-{how}"]
