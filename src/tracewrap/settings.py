"""Switches read from the environment: the kill switch, content capture, the cost estimate.

Invalid values never raise: they are logged once and the documented default applies.
"""

from __future__ import annotations

import enum
import logging
import os

logger = logging.getLogger("tracewrap")
_warned: set[str] = set()
PREFIX = "tracewrap: "


class _NameWhenUnconfigured(logging.Filter):
    """tracewrap's messages do not repeat the logger's name (an application's ``%(name)s:`` format
    shows it once); but with no logging set up at all Python prints the bare message
    (``logging.lastResort``), so only then is the name put in front."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and not record.msg.startswith(PREFIX) and not logger.hasHandlers():
            record.msg = PREFIX + record.msg
        return True


if not any(isinstance(f, _NameWhenUnconfigured) for f in logger.filters):
    logger.addFilter(_NameWhenUnconfigured())

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
CONTENT_MAX_LENGTH_ENV = "TRACEWRAP_CONTENT_MAX_LENGTH"
DEFAULT_CONTENT_MAX_LENGTH = 16_384
ESTIMATE_COST_ENV = "TRACEWRAP_ESTIMATE_COST"


def warn_once(key: str, message: str, *args: object) -> None:
    if key not in _warned:
        _warned.add(key)
        logger.warning(message, *args)


def env_flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    warn_once(name, "%s=%r is not a boolean (true/false); using %s", name, raw, default)
    return default


def tracing_enabled() -> bool:
    """The kill switch: ``TRACEWRAP_ENABLED=false`` or ``OTEL_SDK_DISABLED=true`` turns tracing off."""
    return env_flag("TRACEWRAP_ENABLED", True) and not env_flag("OTEL_SDK_DISABLED", False)


def estimate_cost_from_env() -> bool:
    """``TRACEWRAP_ESTIMATE_COST=true``: the cost estimate for zero-code set-ups (off by default)."""
    return env_flag(ESTIMATE_COST_ENV, False)


class ContentCapture(enum.Enum):
    NONE = "no_content"
    SPAN = "span_only"
    EVENT = "event_only"
    SPAN_AND_EVENT = "span_and_event"

    @property
    def on_span(self) -> bool:
        return self in (ContentCapture.SPAN, ContentCapture.SPAN_AND_EVENT)

    @property
    def on_event(self) -> bool:
        return self in (ContentCapture.EVENT, ContentCapture.SPAN_AND_EVENT)

    @property
    def enabled(self) -> bool:
        return self is not ContentCapture.NONE


def content_capture_from_env() -> ContentCapture:
    raw = os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower()
    if not raw or raw in _FALSE:
        return ContentCapture.NONE
    if raw in _TRUE:  # older instrumentations read a boolean as span_only
        return ContentCapture.SPAN
    for mode in ContentCapture:
        if mode.value == raw:
            return mode
    warn_once(
        CAPTURE_CONTENT_ENV,
        "%s=%r is not one of %s; content is not captured",
        CAPTURE_CONTENT_ENV,
        raw,
        ", ".join(m.value for m in ContentCapture),
    )
    return ContentCapture.NONE


def content_max_length_from_env() -> int:
    raw = os.environ.get(CONTENT_MAX_LENGTH_ENV)
    if raw is None:
        return DEFAULT_CONTENT_MAX_LENGTH
    try:
        value = int(raw)
        if value > 0:
            return value
    except ValueError:
        pass
    warn_once(
        CONTENT_MAX_LENGTH_ENV,
        "%s=%r is not a positive integer; using %d",
        CONTENT_MAX_LENGTH_ENV,
        raw,
        DEFAULT_CONTENT_MAX_LENGTH,
    )
    return DEFAULT_CONTENT_MAX_LENGTH


# Where telemetry goes. Any of these set means the user chose a destination (or "none" on purpose).
# An OTLP endpoint alone means OTLP (tracewrap.exporting.settings reads them the same way).
DESTINATION_ENV = (
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
)


def langsmith_tracing_in_env() -> bool:
    """LangSmith's own switch: tracing on and an API key (``LANGCHAIN_*`` are its older names)."""
    on = env_flag("LANGSMITH_TRACING", False) or env_flag("LANGCHAIN_TRACING_V2", False)
    return on and bool(os.environ.get("LANGSMITH_API_KEY") or os.environ.get("LANGCHAIN_API_KEY"))


def destination_in_env() -> bool:
    return any(os.environ.get(name, "").strip() for name in DESTINATION_ENV) or langsmith_tracing_in_env()


def application_has_providers() -> bool:
    """A real TracerProvider is installed globally (the application's, a distro's, or tracewrap's).

    Before anything is installed the API hands out placeholders (``ProxyTracerProvider``), and
    ``NoOpTracerProvider`` is what ``OTEL_SDK_DISABLED`` and some test set-ups install: neither records.
    """
    from opentelemetry import trace

    return type(trace.get_tracer_provider()).__name__ not in ("ProxyTracerProvider", "NoOpTracerProvider")
