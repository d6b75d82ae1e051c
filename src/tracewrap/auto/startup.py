"""The work auto-instrumentation does once the program has imported ``openai``.

Reached from the start-up stage (:mod:`tracewrap.auto.boot`): trace every client
(:func:`tracewrap.auto.instrument`); the first traced call sets up export from the environment or
says once why telemetry goes nowhere, as after ``wrap(openai)``. Nothing here may stop the program:
any failure is one line on stderr, then it runs untraced.
"""

from __future__ import annotations

from types import ModuleType

from tracewrap.logs import say


def on_openai_import(module: ModuleType) -> None:
    """Trace every client; where telemetry goes is decided at the first traced call
    (:mod:`tracewrap.exporting.first_call`), so the program's own set-up before it wins."""
    try:
        from tracewrap.auto.patching import instrument

        instrument()
    except Exception as exc:
        say(f"auto-instrumentation failed ({type(exc).__name__}: {exc}); the program runs untraced")
