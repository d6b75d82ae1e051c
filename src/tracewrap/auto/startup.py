"""The work auto-instrumentation does once the program has imported ``openai``, and at its end.

Reached from the start-up stage (:mod:`tracewrap.auto._boot`): trace every client
(:func:`tracewrap.auto.instrument`); the first traced call sets up export from the environment or
says once why telemetry goes nowhere, as after ``wrap(openai)``. Nothing here may stop the program:
any failure is one line on stderr, then it runs untraced.
"""

from __future__ import annotations

import sys
from types import ModuleType


def on_openai_import(module: ModuleType) -> None:
    """Trace every client; where telemetry goes is decided at the first traced call
    (:mod:`tracewrap.exporting.first_call`), so the program's own set-up before it wins."""
    try:
        from tracewrap.auto.patching import instrument

        instrument()
    except Exception as exc:
        _say(f"auto-instrumentation failed ({type(exc).__name__}: {exc}); the program runs untraced")


def flush_quietly(timeout: float | None = None) -> None:
    """Export what this process recorded within ``timeout`` (``TRACEWRAP_EXIT_TIMEOUT``); never raises.

    Both tracewrap's own exporters and the global providers: ``configure()`` adopts a provider the
    application installed, and that one is only flushed through the global API.
    """
    try:
        if timeout is None:
            from tracewrap.exporting.settings import exit_timeout

            timeout = exit_timeout(None)
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
