"""Fixtures for export tests: loopback receivers, a clean environment and clean OTel globals.

``configure()`` installs global providers, which OpenTelemetry lets a process set only once; each
test here gets them reset (and tracewrap's cached instruments dropped) so it can configure anew.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import openai
import pytest
from opentelemetry import trace
from opentelemetry._logs import _internal as logs_internal
from opentelemetry.metrics import _internal as metrics_internal
from opentelemetry.util._once import Once

import tracewrap
from tracewrap.exporting import config
from tracewrap.telemetry import instruments, lifecycle
from tracewrap.testing import FakeOpenAIServer

from .common import API_KEY
from .langsmith_recorder import LangSmithRecorder
from .receivers import OTLPReceiver

_ENV_PREFIXES = ("OTEL_", "LANGSMITH_", "LANGCHAIN_", "TRACEWRAP_")


def reset_globals() -> None:
    trace._TRACER_PROVIDER_SET_ONCE = Once()  # type: ignore[attr-defined]
    trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]
    metrics_internal._METER_PROVIDER_SET_ONCE = Once()
    metrics_internal._METER_PROVIDER = None
    logs_internal._LOGGER_PROVIDER_SET_ONCE = Once()
    logs_internal._LOGGER_PROVIDER = None
    instruments._cache.clear()
    lifecycle._export_checked = False  # the next traced call looks at the environment again
    config._end_deadline = None  # a test's process-end flush does not spend the next one's budget
    import langsmith.run_trees
    import langsmith.utils

    langsmith.utils.get_env_var.cache_clear()
    langsmith.utils.get_tracer_project.cache_clear()
    langsmith.run_trees._CLIENT = None  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")  # export promptly in tests
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "60000")  # metrics leave on flush()
    reset_globals()
    yield
    tracewrap.shutdown(2.0)
    assert config._setup is None
    reset_globals()


@pytest.fixture(scope="session")
def otlp() -> Iterator[OTLPReceiver]:
    receiver = OTLPReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def receiver(otlp: OTLPReceiver) -> Iterator[OTLPReceiver]:
    otlp.clear()
    yield otlp
    otlp.clear()


@pytest.fixture(scope="session")
def langsmith_server() -> Iterator[LangSmithRecorder]:
    recorder = LangSmithRecorder().start()
    yield recorder
    recorder.stop()


@pytest.fixture
def recorder(langsmith_server: LangSmithRecorder) -> Iterator[LangSmithRecorder]:
    langsmith_server.clear()
    langsmith_server.zstd = True
    yield langsmith_server
    langsmith_server.clear()


@pytest.fixture
def make_client(server: FakeOpenAIServer) -> Iterator[object]:
    made: list[openai.OpenAI] = []

    def make() -> openai.OpenAI:
        client = tracewrap.wrap(
            openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0, timeout=10)
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
