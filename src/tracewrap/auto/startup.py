"""The work auto-instrumentation does once the program has imported ``openai``.

Reached from the start-up stage (:mod:`tracewrap.auto._boot`): set up exporters from the environment
(``tracewrap.configure()``), trace every client (:func:`tracewrap.auto.instrument`), and tell the
user once when their telemetry has nowhere to go. Nothing here may stop the program: any failure
is one line on stderr, then it runs untraced.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

HINT_SHOWN_ENV = "TRACEWRAP_HINT_SHOWN"  # inherited by child processes: the hint prints once per tree
CHILD_FLUSH_TIMEOUT_S = 2.0  # bounded, so a dead collector cannot hold a worker's exit for long

# Any of these set means the user chose where telemetry goes (or chose "none" on purpose): no hint.
# The same rules as tracewrap.exporting.settings: an OTLP endpoint alone means OTLP.
_DESTINATION_ENV = (
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
)

HINT = (
    "tracewrap: auto-instrumentation is on (TRACEWRAP_ENABLED=true) but no exporter is configured, "
    "so OpenAI spans and metrics go nowhere. Send them somewhere with one of:\n"
    "  OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318   (an OTLP collector, Jaeger, Tempo, ...)\n"
    "  OTEL_TRACES_EXPORTER=console                        (print spans, to try it out)\n"
    "  LANGSMITH_TRACING=true LANGSMITH_API_KEY=...        (LangSmith)\n"
    "  TRACEWRAP_ENABLED=false                             (turn tracing off)\n"
)


def on_openai_import(module: ModuleType) -> None:
    try:
        # A provider the program (or opentelemetry-instrument's distro) installed before `import
        # openai` owns export: configuring ours from the same OTEL_* variables would export twice.
        program_owns_export = _sdk_provider_installed()
        if not program_owns_export:
            _configure_exporters()
        from tracewrap.auto.patching import instrument

        if instrument() and not program_owns_export and not _destination_in_env():
            _hint_once()
    except Exception as exc:
        _say(f"auto-instrumentation failed ({type(exc).__name__}: {exc}); the program runs untraced")


def _configure_exporters() -> None:
    import tracewrap

    try:
        tracewrap.configure()
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("tracewrap"):
            raise
        # no exporter set-up in this build of tracewrap: spans go to whatever global provider exists


def _sdk_provider_installed() -> bool:
    from opentelemetry import trace

    return type(trace.get_tracer_provider()).__name__ not in ("ProxyTracerProvider", "NoOpTracerProvider")


def _destination_in_env() -> bool:
    if any(os.environ.get(name, "").strip() for name in _DESTINATION_ENV):
        return True
    from tracewrap.settings import env_flag

    # LangSmith's own switch: tracing on and an API key (LANGCHAIN_* are its older names)
    langsmith_on = env_flag("LANGSMITH_TRACING", False) or env_flag("LANGCHAIN_TRACING_V2", False)
    return langsmith_on and bool(os.environ.get("LANGSMITH_API_KEY") or os.environ.get("LANGCHAIN_API_KEY"))


def _hint_once() -> None:
    if os.environ.get(HINT_SHOWN_ENV):
        return
    os.environ[HINT_SHOWN_ENV] = "1"
    _say(HINT[len("tracewrap: ") :].rstrip("\n"))


def flush_quietly(timeout: float = CHILD_FLUSH_TIMEOUT_S) -> None:
    """Export what this process recorded, if it traced anything; never raises.

    Both tracewrap's own exporters and the global providers: ``configure()`` adopts a provider the
    application installed, and that one is only flushed through the global API.
    """
    from tracewrap.auto.patching import is_instrumented

    if not is_instrumented():
        return
    try:
        import tracewrap

        try:
            tracewrap.flush(timeout)
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith("tracewrap"):
                raise
        from opentelemetry import metrics, trace

        for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
            force_flush = getattr(provider, "force_flush", None)
            if force_flush is not None:
                force_flush(int(timeout * 1000))
    except Exception as exc:
        _say(f"could not flush telemetry at process exit ({type(exc).__name__}: {exc})")


def _say(message: str) -> None:
    try:
        sys.stderr.write(f"tracewrap: {message}\n")
        sys.stderr.flush()
    except Exception:
        pass  # no usable stderr (pythonw, closed fd): stay silent rather than break the program
