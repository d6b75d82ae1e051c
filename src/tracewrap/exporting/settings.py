"""Exporter choices read from arguments and the environment; never raises on a bad value.

Only what the OpenTelemetry SDK does not read itself lives here: the exporter lists, the OTLP
protocol choice, the LangSmith switch and tracewrap's own knobs. Endpoints, headers, timeouts,
resource attributes and batch sizes stay with the SDK and its exporters.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from tracewrap.settings import env_flag, warn_once

TRACES_EXPORTER_ENV = "OTEL_TRACES_EXPORTER"
METRICS_EXPORTER_ENV = "OTEL_METRICS_EXPORTER"
LOGS_EXPORTER_ENV = "OTEL_LOGS_EXPORTER"
EXIT_TIMEOUT_ENV = "TRACEWRAP_EXIT_TIMEOUT"
PROMETHEUS_PORT_ENV = "TRACEWRAP_PROMETHEUS_PORT"
DEFAULT_EXIT_TIMEOUT = 3.0
DEFAULT_PROMETHEUS_PORT = 9464

TRACE_EXPORTERS = ("otlp", "console", "langsmith", "none")
METRIC_EXPORTERS = ("otlp", "console", "prometheus", "none")
LOG_EXPORTERS = ("otlp", "console", "none")
GRPC = "grpc"
HTTP_PROTOBUF = "http/protobuf"

# an endpoint in the environment means "send OTLP there" even without OTEL_*_EXPORTER
_TRACE_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_METRIC_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value is not None and value.strip() else None


def _names(
    value: str | Iterable[str] | None, source: str, choices: tuple[str, ...]
) -> tuple[str, ...] | None:
    """Known names in order, without duplicates; None when nothing valid was given."""
    if value is None:
        return None
    raw = value.split(",") if isinstance(value, str) else list(value)
    chosen: list[str] = []
    for item in raw:
        name = str(item).strip().lower()
        if not name:
            continue
        if name not in choices:
            warn_once(
                f"{source}:{name}",
                "%s contains %r, which is not one of %s; ignored",
                source,
                name,
                ", ".join(choices),
            )
        elif name not in chosen:
            chosen.append(name)
    if not chosen:
        return None
    return tuple(n for n in chosen if n != "none")


def traces_exporters(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """``traces_exporter`` argument, else ``OTEL_TRACES_EXPORTER``, else otlp when an endpoint is set.

    LangSmith is added when ``LANGSMITH_TRACING`` is on with an API key, whatever the list says:
    it is LangSmith's own switch.
    """
    names = _names(value, "traces_exporter", TRACE_EXPORTERS) if value is not None else None
    if names is None:
        names = _names(_env(TRACES_EXPORTER_ENV), TRACES_EXPORTER_ENV, TRACE_EXPORTERS)
    if names is None:
        names = ("otlp",) if any(_env(n) for n in _TRACE_ENDPOINTS) else ()
    if langsmith_from_env() and "langsmith" not in names:
        names = (*names, "langsmith")
    return names


def metrics_exporters(value: str | Iterable[str] | None) -> tuple[str, ...]:
    names = _names(value, "metrics_exporter", METRIC_EXPORTERS) if value is not None else None
    if names is None:
        names = _names(_env(METRICS_EXPORTER_ENV), METRICS_EXPORTER_ENV, METRIC_EXPORTERS)
    if names is None:
        names = ("otlp",) if any(_env(n) for n in _METRIC_ENDPOINTS) else ()
    return names


def logs_exporters(traces: tuple[str, ...], content_events: bool) -> tuple[str, ...]:
    """Where content log events go: ``OTEL_LOGS_EXPORTER`` when set; else, only when content events
    are asked for, the same OTLP / console destinations as the spans."""
    names = _names(_env(LOGS_EXPORTER_ENV), LOGS_EXPORTER_ENV, LOG_EXPORTERS)
    if names is not None:
        return names
    return tuple(n for n in traces if n in LOG_EXPORTERS) if content_events else ()


def otlp_protocol(signal: str) -> str:
    """``OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL``, else ``OTEL_EXPORTER_OTLP_PROTOCOL``, else http/protobuf."""
    for name in (f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        raw = _env(name)
        if raw is None:
            continue
        value = raw.lower()
        if value in (GRPC, HTTP_PROTOBUF):
            return value
        warn_once(name, "%s=%r is not supported (grpc, http/protobuf); using http/protobuf", name, raw)
        return HTTP_PROTOBUF
    return HTTP_PROTOBUF


def exit_timeout(value: float | None) -> float:
    if value is not None:
        return max(0.0, float(value))
    raw = _env(EXIT_TIMEOUT_ENV)
    if raw is None:
        return DEFAULT_EXIT_TIMEOUT
    try:
        parsed = float(raw)
        if parsed >= 0:
            return parsed
    except ValueError:
        pass
    warn_once(
        EXIT_TIMEOUT_ENV,
        "%s=%r is not a number of seconds >= 0; using %s",
        EXIT_TIMEOUT_ENV,
        raw,
        DEFAULT_EXIT_TIMEOUT,
    )
    return DEFAULT_EXIT_TIMEOUT


def prometheus_port(value: int | None) -> int:
    if value is not None:
        return int(value)
    raw = _env(PROMETHEUS_PORT_ENV)
    if raw is None:
        return DEFAULT_PROMETHEUS_PORT
    try:
        parsed = int(raw)
        if 0 <= parsed <= 65535:
            return parsed
    except ValueError:
        pass
    warn_once(
        PROMETHEUS_PORT_ENV,
        "%s=%r is not a port number; using %d",
        PROMETHEUS_PORT_ENV,
        raw,
        DEFAULT_PROMETHEUS_PORT,
    )
    return DEFAULT_PROMETHEUS_PORT


LANGSMITH_NAME_ENVS = {
    "chat": "TRACEWRAP_LANGSMITH_CHAT_NAME",
    "completions": "TRACEWRAP_LANGSMITH_COMPLETIONS_NAME",
    "embeddings": "TRACEWRAP_LANGSMITH_EMBEDDINGS_NAME",
}


@dataclass(frozen=True)
class LangSmithSettings:
    project: str | None
    hide_inputs: bool
    hide_outputs: bool
    # run names; None: LangSmith's wrapper's defaults (ChatOpenAI, OpenAI; Azure* for Azure)
    chat_name: str | None = None
    completions_name: str | None = None
    embeddings_name: str | None = None


def langsmith_from_env() -> bool:
    """LangSmith's own switch: ``LANGSMITH_TRACING=true`` (or LANGCHAIN_TRACING_V2) and an API key."""
    on = env_flag("LANGSMITH_TRACING", False) or env_flag("LANGCHAIN_TRACING_V2", False)
    return on and bool(_env("LANGSMITH_API_KEY") or _env("LANGCHAIN_API_KEY"))


def langsmith_settings() -> LangSmithSettings:
    return LangSmithSettings(
        project=_env("LANGSMITH_PROJECT") or _env("LANGCHAIN_PROJECT"),
        hide_inputs=env_flag("LANGSMITH_HIDE_INPUTS", False),
        hide_outputs=env_flag("LANGSMITH_HIDE_OUTPUTS", False),
        chat_name=_env(LANGSMITH_NAME_ENVS["chat"]),
        completions_name=_env(LANGSMITH_NAME_ENVS["completions"]),
        embeddings_name=_env(LANGSMITH_NAME_ENVS["embeddings"]),
    )
