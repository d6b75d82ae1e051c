"""``wrap(openai)`` and nothing else: the first traced call exports where the environment says.

Real OTLP over HTTP and gRPC into the loopback receiver, real LangSmith runs into the recorder;
the application's own ``configure(...)`` before its first call wins, and a later one that differs
says what it did not apply.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import openai
import pytest

import tracewrap
from tracewrap.testing import FakeOpenAIServer

from .common import API_KEY, MESSAGES
from .langsmith_recorder import LangSmithRecorder
from .receivers import OTLPReceiver

SRC = Path(__file__).resolve().parents[2] / "src"


def _app_env(**settings: str) -> dict[str, str]:
    """An application's environment: none of the test run's OTEL_, TRACEWRAP_ or LANGSMITH_ settings,
    this checkout's src first on the path, then ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACEWRAP_", "LANGSMITH_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    return {**env, **settings}


def _call(server: FakeOpenAIServer, model: str = "gpt-4o-mini") -> None:
    client = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    client.chat.completions.create(model=model, messages=MESSAGES)
    client.close()


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_otlp_from_the_environment_alone(
    protocol: str, monkeypatch: pytest.MonkeyPatch, receiver: OTLPReceiver, server: FakeOpenAIServer
) -> None:
    endpoint = receiver.grpc_endpoint if protocol == "grpc" else receiver.http_endpoint
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "env-only")
    tracewrap.wrap(openai)
    _call(server, "gpt-env")
    _call(server, "gpt-env")
    assert tracewrap.flush(5.0)
    assert receiver.store.wait_for(lambda: len(receiver.store.spans()) >= 2)
    spans = receiver.store.spans()
    assert [s.name for s in spans] == ["chat gpt-env", "chat gpt-env"]
    assert {s.resource["service.name"] for s in spans} == {"env-only"}
    points = receiver.store.metric_points("gen_ai.client.operation.duration")
    assert sum(point.count for _, point in points) >= 2


def test_langsmith_from_the_environment_alone(
    monkeypatch: pytest.MonkeyPatch, recorder: LangSmithRecorder, server: FakeOpenAIServer
) -> None:
    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    monkeypatch.setenv("LANGSMITH_API_KEY", "lsv2_pt_SECRET_key_1")
    monkeypatch.setenv("LANGSMITH_ENDPOINT", recorder.url)
    monkeypatch.setenv("LANGSMITH_PROJECT", "env-only")
    tracewrap.wrap(openai)
    _call(server, "gpt-ls")
    assert tracewrap.flush(5.0)
    runs = [r for r in recorder.wait_for_runs(1) if r.get("run_type") == "llm"]
    assert len(runs) == 1
    assert runs[0]["extra"]["metadata"]["ls_model_name"] == "gpt-ls"


def test_the_applications_own_configure_before_the_first_call_wins(
    monkeypatch: pytest.MonkeyPatch, receiver: OTLPReceiver, server: FakeOpenAIServer
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint)
    tracewrap.wrap(openai)
    setup = tracewrap.configure(service_name="my-service", metrics_exporter="none")
    _call(server)
    assert tracewrap.configure() is setup  # what the first call found: no second set-up
    assert tracewrap.flush(5.0)
    assert receiver.store.wait_for(lambda: len(receiver.store.spans()) >= 1)
    assert receiver.store.spans()[0].resource["service.name"] == "my-service"
    assert setup.metrics_exporters == ()


def test_a_later_configure_that_differs_says_what_it_did_not_apply(
    monkeypatch: pytest.MonkeyPatch,
    receiver: OTLPReceiver,
    server: FakeOpenAIServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tracewrap import logs

    monkeypatch.setattr(logs, "_warned", set())
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint)
    tracewrap.wrap(openai)
    _call(server)  # sets export up from the environment
    with caplog.at_level(logging.WARNING, logger="tracewrap"):
        tracewrap.configure(service_name="my-service", traces_exporter="console")
        tracewrap.configure(service_name="my-service", traces_exporter="console")
    warnings = [r.getMessage() for r in caplog.records if "not applied" in r.getMessage()]
    assert len(warnings) == 1
    assert "service_name, traces_exporter" in warnings[0]
    assert "by the first traced call" in warnings[0]


APP = textwrap.dedent(
    """
    import sys
    import openai
    import tracewrap

    tracewrap.wrap(openai)
    client = openai.OpenAI(base_url=sys.argv[1], api_key="sk-test", max_retries=0)
    for _ in range(3):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    print("done")
    """
)


def _run_app(
    tmp_path: Path, server: FakeOpenAIServer, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    app = tmp_path / "app.py"
    app.write_text(APP)
    return subprocess.run(
        [sys.executable, str(app), server.base_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_program_with_only_wrap_exports_at_exit_or_says_why_not(
    tmp_path: Path, receiver: OTLPReceiver, server: FakeOpenAIServer
) -> None:
    base = _app_env()
    quiet = _run_app(tmp_path, server, base)
    assert quiet.returncode == 0 and quiet.stdout.strip() == "done"
    assert quiet.stderr.count("no exporter is configured") == 1, quiet.stderr  # once, not per call
    exported = _run_app(tmp_path, server, {**base, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.http_endpoint})
    assert exported.returncode == 0 and "no exporter" not in exported.stderr, exported.stderr
    assert receiver.store.wait_for(lambda: len(receiver.store.spans()) >= 3)
    assert [s.name for s in receiver.store.spans()] == ["chat m"] * 3  # flushed at exit


OPEN_AT_EXIT_APP = textwrap.dedent(
    """
    import sys
    import openai
    import tracewrap

    tracewrap.wrap(openai)
    client = openai.OpenAI(base_url=sys.argv[1], api_key="sk-test", max_retries=0)
    messages = [{"role": "user", "content": "hi"}]
    stream = client.chat.completions.create(model="stream", messages=messages, stream=True)
    next(stream)  # read half-way, still open at exit
    unread = client.chat.completions.with_streaming_response.create(model="unread", messages=messages)
    response = unread.__enter__()  # neither parsed nor closed
    print("done")
    # Python 3.13.0 segfaults collecting a half-read httpx2 stream while the interpreter finalizes,
    # without tracewrap too (docs/gc-safety.md): kept out of that last collection; what this test
    # checks (the exit hooks) runs before it
    import gc
    gc.freeze()
    """
)


def test_what_is_still_open_at_exit_is_exported_abandoned(
    tmp_path: Path, receiver: OTLPReceiver, server: FakeOpenAIServer
) -> None:
    """A stream half-read and a streaming response never read, both still held as the program exits:
    their spans are queued as abandoned before the exit flush, which exports them."""
    app = tmp_path / "open_at_exit.py"
    app.write_text(OPEN_AT_EXIT_APP)
    env = _app_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.http_endpoint)
    done = subprocess.run(
        [sys.executable, str(app), server.base_url], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr
    assert receiver.store.wait_for(lambda: len(receiver.store.spans()) >= 2)
    outcomes = {s.name: s.attributes.get("tracewrap.stream.outcome") for s in receiver.store.spans()}
    assert outcomes == {"chat stream": "abandoned", "chat unread": "abandoned"}


AT_EXIT_APP = textwrap.dedent(
    """
    import atexit
    import sys

    base_url, setup = sys.argv[1], sys.argv[2]
    messages = [{"role": "user", "content": "hi"}]


    def final_report():  # registered before the first call, as applications and libraries do
        import openai

        client = openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
        client.chat.completions.create(model="at-exit", messages=messages)
        print("atexit call made", flush=True)


    if setup == "wrap":
        import openai
        import tracewrap

        tracewrap.wrap(openai)
        atexit.register(final_report)
    else:  # auto: TRACEWRAP_ENABLED=true started tracewrap before this line; handler before openai
        atexit.register(final_report)
        import openai
    client = openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
    client.chat.completions.create(model="main", messages=messages)  # export is set up here
    print("done", flush=True)
    """
)


@pytest.mark.parametrize("setup", ["wrap", "auto"])
def test_a_call_in_an_atexit_handler_registered_before_the_first_call_is_exported(
    setup: str,
    tmp_path: Path,
    receiver: OTLPReceiver,
    recorder: LangSmithRecorder,
    server: FakeOpenAIServer,
) -> None:
    """atexit runs the last registered first: the exit flush registered at the first call ran before
    the program's handler and shut the exporters down, and the handler's call was lost (span, metric
    points and LangSmith run). The flush's hook is registered when tracewrap starts now."""
    app = tmp_path / "at_exit.py"
    app.write_text(AT_EXIT_APP)
    env = _app_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.http_endpoint,
        OTEL_BSP_SCHEDULE_DELAY="60000",  # nothing leaves before exit: only the exit flush sends
        LANGSMITH_TRACING="true",
        LANGSMITH_API_KEY="lsv2_pt_SECRET_key_1",
        LANGSMITH_ENDPOINT=recorder.url,
    )
    if setup == "auto":
        env["TRACEWRAP_ENABLED"] = "true"
    done = subprocess.run(
        [sys.executable, str(app), server.base_url, setup],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["done", "atexit", "call", "made"], done.stdout
    assert "Error" not in done.stderr, done.stderr
    assert receiver.store.wait_for(lambda: len(receiver.store.spans()) >= 2)
    assert sorted(s.name for s in receiver.store.spans()) == ["chat at-exit", "chat main"]
    points = receiver.store.metric_points("gen_ai.client.operation.duration")
    assert sum(point.count for _, point in points) == 2
    runs = [r for r in recorder.wait_for_runs(2) if r.get("run_type") == "llm"]
    assert sorted(r["extra"]["metadata"]["ls_model_name"] for r in runs) == ["at-exit", "main"]


SLOW_LAST_FRAME_APP = textwrap.dedent(
    """
    import atexit
    import sys
    import time

    import langsmith
    import openai
    import tracewrap

    send = langsmith.Client._send_compressed_multipart_req


    def far_endpoint_send(self, *args, **kwargs):  # a frame takes 0.5 s to leave, as over a far link
        time.sleep(0.5)
        return send(self, *args, **kwargs)


    langsmith.Client._send_compressed_multipart_req = far_endpoint_send
    tracewrap.wrap(openai)
    client = openai.OpenAI(base_url=sys.argv[1], api_key="sk-test", max_retries=0)
    client.chat.completions.create(model="last", messages=[{"role": "user", "content": "hi"}])
    # the program's own exit work, run before tracewrap's exit flush: meanwhile langsmith's
    # compression thread sees the main thread gone and sends the last frame itself
    atexit.register(time.sleep, 0.3)
    print("done")
    """
)


def test_the_last_langsmith_frame_sent_by_langsmith_s_own_thread_at_exit_arrives(
    tmp_path: Path, recorder: LangSmithRecorder, server: FakeOpenAIServer
) -> None:
    """At exit langsmith's compression thread takes the last frame and sends it itself, outside what
    ``Client.flush`` waits for: the exit flush found nothing left, returned, and the process ended
    while the frame was still leaving (the run of a one-call script was lost behind a slow link).
    The exit flush now also waits, within the exit timeout, for the client's own threads."""
    app = tmp_path / "slow_last_frame.py"
    app.write_text(SLOW_LAST_FRAME_APP)
    env = _app_env(
        OTEL_TRACES_EXPORTER="none",
        OTEL_METRICS_EXPORTER="none",
        LANGSMITH_TRACING="true",
        LANGSMITH_API_KEY="lsv2_pt_SECRET_key_1",
        LANGSMITH_ENDPOINT=recorder.url,
    )
    done = subprocess.run(
        [sys.executable, str(app), server.base_url], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr
    assert recorder.zstd  # the compressed road, where langsmith's own thread sends the last frame
    runs = [r for r in recorder.wait_for_runs(1, timeout=3.0) if r.get("run_type") == "llm"]
    assert [r["extra"]["metadata"]["ls_model_name"] for r in runs] == ["last"]
