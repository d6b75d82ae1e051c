"""What ``import openai`` under auto-instrumentation does, and what the first traced call decides
(in this process, collaborators faked; the real thing end to end is in tests/exporting/test_first_call.py)."""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

import pytest

from tracewrap.auto import patching, startup
from tracewrap.exporting import config, first_call

DESTINATION_VARS = (
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "LANGSMITH_TRACING",
    "LANGCHAIN_TRACING_V2",
    "LANGSMITH_API_KEY",
    "LANGCHAIN_API_KEY",
    first_call.HINT_SHOWN_ENV,
)


class Fakes:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.configured = 0
        self.instrumented = 0
        self.monkeypatch = monkeypatch
        monkeypatch.setattr(config, "configure_from_environment", self._configure)
        monkeypatch.setattr(config, "current_setup", lambda: None)
        monkeypatch.setattr(patching, "instrument", self._instrument)
        self.provider_installed(False)
        self.configure_error: BaseException | None = None
        self.instrument_error: BaseException | None = None

    def provider_installed(self, installed: bool) -> None:
        self.monkeypatch.setattr(first_call, "application_has_providers", lambda: installed)

    def _configure(self, **kwargs: Any) -> None:
        self.configured += 1
        if self.configure_error is not None:
            raise self.configure_error

    def _instrument(self, **kwargs: Any) -> bool:
        self.instrumented += 1
        if self.instrument_error is not None:
            raise self.instrument_error
        return True


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    for name in DESTINATION_VARS:
        monkeypatch.delenv(name, raising=False)
    return Fakes(monkeypatch)


def _first_call(caplog: pytest.LogCaptureFixture) -> None:
    """What the first traced call of a process does about export, warnings captured."""
    with caplog.at_level(logging.WARNING, logger="tracewrap"):
        first_call.set_up_export()


def test_import_openai_only_instruments(fakes: Fakes, capsys: pytest.CaptureFixture[str]) -> None:
    startup.on_openai_import(ModuleType("openai"))
    assert (fakes.instrumented, fakes.configured) == (1, 0)  # export waits for the first call
    fakes.instrument_error = RuntimeError("odd SDK")
    startup.on_openai_import(ModuleType("openai"))
    assert "auto-instrumentation failed (RuntimeError: odd SDK); the program runs untraced" in (
        capsys.readouterr().err
    )


def test_nothing_configured_hints_once(fakes: Fakes, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="tracewrap"):
        first_call.set_up_export()
        first_call.set_up_export()
    assert fakes.configured == 0
    assert caplog.text.count("no exporter is configured") == 1
    assert "OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318" in caplog.text
    assert "tracewrap.configure(" in caplog.text


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_TRACES_EXPORTER": "none"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
        {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://collector:4318/v1/metrics"},
        {"LANGSMITH_TRACING": "true", "LANGSMITH_API_KEY": "lsv2-x"},
        {"LANGCHAIN_TRACING_V2": "true", "LANGCHAIN_API_KEY": "lsv2-x"},
    ],
)
def test_a_destination_in_the_environment_is_configured(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, env: dict[str, str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    _first_call(caplog)
    assert fakes.configured == 1 and caplog.text == ""


def test_langsmith_key_without_its_switch_still_hints(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("LANGSMITH_API_KEY", "lsv2-x")
    _first_call(caplog)
    assert fakes.configured == 0 and "LANGSMITH_TRACING=true" in caplog.text


def test_a_provider_the_program_installed_owns_export(fakes: Fakes, caplog: pytest.LogCaptureFixture) -> None:
    fakes.provider_installed(True)
    _first_call(caplog)
    assert fakes.configured == 0 and caplog.text == ""


def test_a_failing_set_up_never_reaches_the_call(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    fakes.configure_error = RuntimeError("bad endpoint")
    with caplog.at_level(logging.WARNING, logger="tracewrap"):
        first_call.set_up_export()  # does not raise
    assert "RuntimeError('bad endpoint')" in caplog.text


def test_flush_at_process_end_is_bounded_and_quiet(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    flushed: list[float] = []

    def flush(timeout: float = 5.0) -> bool:
        flushed.append(timeout)
        return True

    monkeypatch.setattr(config, "flush", flush)
    monkeypatch.setenv("TRACEWRAP_EXIT_TIMEOUT", "0.5")
    monkeypatch.setattr(config, "_end_deadline", None)  # (this process's end budget: not spent yet)
    config.flush_at_process_end()
    monkeypatch.setattr(config, "_end_deadline", None)
    config.flush_at_process_end(1.5)
    assert flushed == [0.5, 1.5]  # bounded by TRACEWRAP_EXIT_TIMEOUT unless told otherwise
    monkeypatch.setattr(config, "_end_deadline", None)

    def broken(timeout: float = 5.0) -> bool:
        raise OSError("collector gone")

    monkeypatch.setattr(config, "flush", broken)
    config.flush_at_process_end(1.5)
    assert "could not flush telemetry at process exit (OSError: collector gone)" in capsys.readouterr().err
