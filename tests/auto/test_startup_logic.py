"""What happens on ``import openai`` under auto-instrumentation (in this process, collaborators faked)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

import tracewrap
from tracewrap.auto import patching, startup

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
    startup.HINT_SHOWN_ENV,
)


class Fakes:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.configured = 0
        self.instrumented = 0
        self.monkeypatch = monkeypatch
        monkeypatch.setattr(tracewrap, "configure", self._configure)
        monkeypatch.setattr(patching, "instrument", self._instrument)
        self.provider_installed(False)
        self.configure_error: BaseException | None = None

    def provider_installed(self, installed: bool) -> None:
        self.monkeypatch.setattr(startup, "_sdk_provider_installed", lambda: installed)

    def _configure(self, **kwargs: Any) -> None:
        self.configured += 1
        if self.configure_error is not None:
            raise self.configure_error

    def _instrument(self, **kwargs: Any) -> bool:
        self.instrumented += 1
        return True


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    for name in DESTINATION_VARS:
        monkeypatch.delenv(name, raising=False)
    return Fakes(monkeypatch)


def _import_openai() -> None:
    startup.on_openai_import(ModuleType("openai"))


def test_nothing_configured_configures_and_hints_once(
    fakes: Fakes, capsys: pytest.CaptureFixture[str]
) -> None:
    _import_openai()
    _import_openai()
    assert (fakes.configured, fakes.instrumented) == (2, 2)
    err = capsys.readouterr().err
    assert err.count("no exporter is configured") == 1
    assert "OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318" in err


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_TRACES_EXPORTER": "none"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
        {"LANGSMITH_TRACING": "true", "LANGSMITH_API_KEY": "lsv2-x"},
    ],
)
def test_a_chosen_destination_silences_the_hint(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    _import_openai()
    assert fakes.configured == 1 and capsys.readouterr().err == ""


def test_langsmith_key_without_its_switch_still_hints(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LANGSMITH_API_KEY", "lsv2-x")
    _import_openai()
    assert "LANGSMITH_TRACING=true" in capsys.readouterr().err


def test_a_provider_the_program_installed_owns_export(
    fakes: Fakes, capsys: pytest.CaptureFixture[str]
) -> None:
    fakes.provider_installed(True)
    _import_openai()
    assert (fakes.configured, fakes.instrumented) == (0, 1)
    assert capsys.readouterr().err == ""


def test_configure_missing_or_failing(fakes: Fakes, capsys: pytest.CaptureFixture[str]) -> None:
    fakes.configure_error = ModuleNotFoundError("no config", name="tracewrap.exporting.config")
    _import_openai()
    assert fakes.instrumented == 1  # still traced, into whatever provider exists
    fakes.configure_error = RuntimeError("bad endpoint")
    _import_openai()
    assert fakes.instrumented == 1
    assert "auto-instrumentation failed (RuntimeError: bad endpoint); the program runs untraced" in (
        capsys.readouterr().err
    )


def test_flush_quietly(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    flushed: list[float] = []

    def flush(timeout: float = 5.0) -> bool:
        flushed.append(timeout)
        return True

    monkeypatch.setattr(tracewrap, "flush", flush)
    monkeypatch.setattr(patching, "is_instrumented", lambda: False)
    startup.flush_quietly(1.5)
    assert flushed == []  # a process that traced nothing has nothing to flush
    monkeypatch.setattr(patching, "is_instrumented", lambda: True)
    startup.flush_quietly(1.5)
    assert flushed == [1.5]

    def broken(timeout: float = 5.0) -> bool:
        raise OSError("collector gone")

    monkeypatch.setattr(tracewrap, "flush", broken)
    startup.flush_quietly(1.5)
    assert "could not flush telemetry at process exit (OSError: collector gone)" in capsys.readouterr().err
