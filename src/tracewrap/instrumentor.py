"""``opentelemetry-instrument python app.py`` support: the ``tracewrap`` ``opentelemetry_instrumentor``.

``opentelemetry-instrument`` loads every ``opentelemetry_instrumentor`` entry point and calls
``instrument()`` on it; exporters are then the OpenTelemetry distro's job (``OTEL_*`` variables), so
this never calls ``tracewrap.configure()``. Turn it off with
``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=tracewrap`` (or the kill switch ``TRACEWRAP_ENABLED=false``).
Needs ``opentelemetry-instrumentation``, which ``opentelemetry-instrument`` itself comes with.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

# keyword arguments of instrument() passed through to tracewrap.auto.instrument (wrap()'s options)
_OPTIONS = (
    "paths",
    "extra_paths",
    "tracer_provider",
    "meter_provider",
    "capture_content",
    "content_max_length",
    "redact",
    "provider",
    "estimate_cost",
)


class TraceWrapInstrumentor(BaseInstrumentor):
    """Traces every OpenAI client of the process, like ``tracewrap.auto.instrument()``.

    ``TraceWrapInstrumentor().instrument(tracer_provider=..., capture_content="span_only")`` takes
    the options of ``tracewrap.wrap()``.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("openai >= 1.0",)

    def _instrument(self, **kwargs: Any) -> None:
        from tracewrap.auto import instrument

        instrument(**{name: kwargs[name] for name in _OPTIONS if name in kwargs})

    def _uninstrument(self, **kwargs: Any) -> None:
        from tracewrap.auto import uninstrument

        uninstrument()
