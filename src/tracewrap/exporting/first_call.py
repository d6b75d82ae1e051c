"""The first traced call of a process: send telemetry where the environment says, or say why not.

``wrap()`` and auto-instrumentation set nothing up when they run. The first call that records into
the global providers decides, so an application's own ``configure(...)`` or own providers, set up
before its first OpenAI call, win:

* tracewrap's export already set up (``configure()`` ran): nothing to do;
* the environment names a destination (``OTEL_EXPORTER_OTLP_ENDPOINT`` and its per-signal
  variants, ``OTEL_TRACES_EXPORTER``, ``OTEL_METRICS_EXPORTER``, ``LANGSMITH_TRACING`` with a key):
  ``configure()`` exactly as the application would call it (it adopts providers that already exist,
  never adding exporters to them);
* the application has its own providers: they are used, and flushed at the ends of a process
  that skip ``atexit`` (:mod:`tracewrap.process_ends`);
* no destination and no provider: one warning per process tree naming the ways to fix it.

Never raises: a failure here is logged once and the call goes on.
"""

from __future__ import annotations

import os

from tracewrap import process_ends
from tracewrap.environment import application_has_providers, destination_in_env
from tracewrap.logs import logger

HINT_SHOWN_ENV = "TRACEWRAP_HINT_SHOWN"  # inherited by child processes: the hint prints once per tree
HINT = (
    "OpenAI calls are traced but no exporter is configured, so spans and metrics go "
    "nowhere. Send them somewhere with one of:\n"
    "  OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318   (an OTLP collector, Jaeger, Tempo, ...)\n"
    "  OTEL_TRACES_EXPORTER=console                        (print spans, to try it out)\n"
    "  LANGSMITH_TRACING=true LANGSMITH_API_KEY=...        (LangSmith)\n"
    "or call tracewrap.configure(...) or install your own OpenTelemetry providers before the first "
    "call (TRACEWRAP_ENABLED=false turns tracing off)."
)


def set_up_export() -> None:
    try:
        from tracewrap.exporting import config

        if config.current_setup() is not None:
            return
        if destination_in_env():
            config.configure_from_environment()  # it also flushes at the process's end
        elif application_has_providers():
            # the application's providers, used as they are: flushed at ends that skip atexit
            process_ends.register_flush(config.flush_at_process_end)
            process_ends.watch()
        else:
            hint_once()
    except ValueError as exc:
        # OpenTelemetry's SDK raises for a value of its own variables it refuses, some of them as
        # it is imported (OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT=abc): the user's setting, not tracewrap's bug
        from tracewrap.logs import warn_once

        warn_once(
            "export:sdk-refused",
            "telemetry export is off: OpenTelemetry's SDK refused a setting: %s",
            exc,
        )
    except Exception as exc:
        from tracewrap.telemetry.lifecycle import internal_error

        internal_error("export set-up at the first call", exc)


def hint_once() -> None:
    if os.environ.get(HINT_SHOWN_ENV):
        return
    os.environ[HINT_SHOWN_ENV] = "1"
    logger.warning(HINT)
