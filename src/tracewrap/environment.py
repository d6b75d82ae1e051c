"""Every rule tracewrap reads from the environment, in one place; standard library only.

Start-up (:mod:`tracewrap.auto.boot`, which runs in every Python process that has
``TRACEWRAP_ENABLED`` set), wrapping and exporting all ask this module, so a value means the same
thing everywhere: the truthy words, the kill switch, content capture, the cost estimate, where
telemetry goes, and whether the application already has its own providers.

Only what the OpenTelemetry SDK does not read itself is here, and the few SDK variables whose bad
values the SDK turns into an exception (the batch processors' sizes and delay, the metric export
interval: a queue below the default batch size was a ``ValueError`` that left no span exporter):
endpoints, headers, timeouts and resource attributes stay with the SDK and its exporters. Invalid
values never raise: they are logged once (:func:`tracewrap.logs.warn_once`) and the documented
default applies.
"""

from __future__ import annotations

import os

# start-up imports this module in every process with TRACEWRAP_ENABLED set: only ``os`` at import
# time (enum, dataclasses and typing would cost more than the rest of start-up); the types built
# from these values live with their users (``options.ContentCapture``, ``LangSmithSettings``)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

# tracewrap_autoinstrument.pth repeats FALSE_WORDS (a .pth line cannot import without a cost to every
# Python start): it starts the start-up stage for any other value it finds set, which then reads the
# value by these rules (a typo is warned about there); tests/auto/test_boot.py fails if the two differ
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def _warn_once(key: str, message: str, *args: object) -> None:
    from tracewrap.logs import warn_once  # logging is only imported once there is something to say

    warn_once(key, message, *args)


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value is not None and value.strip() else None


def env_flag(name: str, default: bool) -> bool:
    raw = _env(name)
    if raw is None:
        return default
    value = raw.lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    _warn_once(name, "%s=%r is not a boolean (true/false); using %s", name, raw, default)
    return default


# ------------------------------------------------------------------------------ on and off

ENABLED_ENV = "TRACEWRAP_ENABLED"
SDK_DISABLED_ENV = "OTEL_SDK_DISABLED"


def _enabled_flag(default: bool) -> bool:
    """``TRACEWRAP_ENABLED``, read by the two rules that share it: unset means off for zero-code
    tracing, on for ``wrap()``. A value that is not a boolean is read as unset by both, and the one
    warning says so for both (it said "using False" and ``wrap()`` went on tracing)."""
    raw = _env(ENABLED_ENV)
    if raw is not None and raw.lower() not in TRUE_WORDS and raw.lower() not in FALSE_WORDS:
        _warn_once(
            ENABLED_ENV,
            "%s=%r is not a boolean (true/false); read as unset: no zero-code tracing, "
            "and wrap() / instrument() still trace",
            ENABLED_ENV,
            raw,
        )
        return default
    return env_flag(ENABLED_ENV, default)


def tracing_enabled() -> bool:
    """The kill switch: ``TRACEWRAP_ENABLED=false`` or ``OTEL_SDK_DISABLED=true`` turns tracing off."""
    return _enabled_flag(True) and not env_flag(SDK_DISABLED_ENV, False)


def auto_instrumentation_requested() -> bool:
    """Zero-code tracing: ``TRACEWRAP_ENABLED`` explicitly true (unset means no), the SDK not disabled.

    The ``.pth`` line only checks that the variable is set to other than a false word, then asks
    this (so ``TRACEWRAP_ENABLED=ture`` is warned about, as under ``tracewrap run``).
    """
    return _enabled_flag(False) and not env_flag(SDK_DISABLED_ENV, False)


AGENTS_ENV = "TRACEWRAP_AGENTS"


def agents_tracing_enabled() -> bool:
    """``TRACEWRAP_AGENTS=false`` leaves the OpenAI Agents SDK's own tracing alone."""
    return env_flag(AGENTS_ENV, True)


# ------------------------------------------------------------------------------ what is recorded

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
CONTENT_MAX_LENGTH_ENV = "TRACEWRAP_CONTENT_MAX_LENGTH"
DEFAULT_CONTENT_MAX_LENGTH = 16_384
ESTIMATE_COST_ENV = "TRACEWRAP_ESTIMATE_COST"


CONTENT_MODES = ("no_content", "span_only", "event_only", "span_and_event")
NO_CONTENT = "no_content"


def content_mode_from_env() -> str:
    """One of :data:`CONTENT_MODES` from ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``;
    a boolean true means span_only (what older instrumentations read), anything else no content."""
    raw = (_env(CAPTURE_CONTENT_ENV) or "").lower()
    if not raw or raw in FALSE_WORDS:
        return NO_CONTENT
    if raw in TRUE_WORDS:
        return "span_only"
    if raw in CONTENT_MODES:
        return raw
    _warn_once(
        CAPTURE_CONTENT_ENV,
        "%s=%r is not one of %s; content is not captured",
        CAPTURE_CONTENT_ENV,
        raw,
        ", ".join(CONTENT_MODES),
    )
    return NO_CONTENT


def content_events_from_env() -> bool:
    """Content asked for as log events (event_only, span_and_event): then logs need an exporter."""
    return content_mode_from_env() in ("event_only", "span_and_event")


def content_max_length_from_env() -> int:
    """Empty or unset: the default, as for every other integer setting; anything else not a positive
    integer: the default, with one warning."""
    return _positive_int_env(CONTENT_MAX_LENGTH_ENV, DEFAULT_CONTENT_MAX_LENGTH)


def estimate_cost_from_env() -> bool:
    """``TRACEWRAP_ESTIMATE_COST=true``: the cost estimate for zero-code set-ups (off by default)."""
    return env_flag(ESTIMATE_COST_ENV, False)


# ------------------------------------------------------------------------------ where it goes

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
# any of these set means the user chose a destination (or "none", on purpose)
DESTINATION_ENV = (TRACES_EXPORTER_ENV, METRICS_EXPORTER_ENV, *_TRACE_ENDPOINTS, _METRIC_ENDPOINTS[1])


def destination_in_env() -> bool:
    return any(_env(name) for name in DESTINATION_ENV) or langsmith_from_env()


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
            _warn_once(
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
        _warn_once(name, "%s=%r is not supported (grpc, http/protobuf); using http/protobuf", name, raw)
        return HTTP_PROTOBUF
    return HTTP_PROTOBUF


# the longest wait tracewrap hands to a lock, an event or the SDK: a day is "as long as it takes" in
# practice, and any number past threading.TIMEOUT_MAX (~292 years) is an OverflowError there
MAX_WAIT_S = 86_400.0


def _number(raw: str) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return None if value != value else value  # NaN is no number of anything


def _positive_int_env(name: str, default: int) -> int:
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = int(raw)
        if value > 0:
            return value
    except ValueError:
        pass
    _warn_once(name, "%s=%r is not a positive integer; using %d", name, raw, default)
    return default


def _delay_ms_env(name: str, default: float) -> float:
    """A positive number of milliseconds; above a day, a day."""
    raw = _env(name)
    if raw is None:
        return default
    value = _number(raw)
    if value is not None and value > 0:
        return min(value, MAX_WAIT_S * 1000)
    _warn_once(name, "%s=%r is not a positive number of milliseconds; using %d", name, raw, default)
    return default


# the SDK's defaults (OTEL_BSP_* for spans, OTEL_BLRP_* for log records)
_BATCH_DEFAULTS = {"OTEL_BSP": (2048, 512, 5000.0), "OTEL_BLRP": (2048, 512, 1000.0)}


def batching(prefix: str, max_queue_size: int | None = None) -> tuple[int, int, float]:
    """``(max_queue_size, max_export_batch_size, schedule_delay_millis)`` of a batch processor, from
    ``<prefix>_MAX_QUEUE_SIZE``, ``<prefix>_MAX_EXPORT_BATCH_SIZE`` and ``<prefix>_SCHEDULE_DELAY``
    (``OTEL_BSP`` for spans, ``OTEL_BLRP`` for log records); ``max_queue_size`` overrides the first.

    Passed to the SDK explicitly, so it reads none of them: a bad value (not a positive number) is
    one warning and the SDK's default, never the ``ValueError`` the SDK raises for it. A batch is
    never larger than the queue: a batch size above the queue size is the queue size (a small queue
    is a legitimate setting, whose batches are the whole queue; no warning).
    """
    default_queue, default_batch, default_delay = _BATCH_DEFAULTS[prefix]
    queue = _positive_int_env(f"{prefix}_MAX_QUEUE_SIZE", default_queue)
    if max_queue_size is not None:
        if max_queue_size > 0:
            queue = max_queue_size
        else:
            _warn_once(
                "max_queue_size",
                "max_queue_size=%r is not a positive integer; using %d",
                max_queue_size,
                queue,
            )
    batch = _positive_int_env(f"{prefix}_MAX_EXPORT_BATCH_SIZE", default_batch)
    delay = _delay_ms_env(f"{prefix}_SCHEDULE_DELAY", default_delay)
    return queue, min(batch, queue), delay


METRIC_EXPORT_INTERVAL_ENV = "OTEL_METRIC_EXPORT_INTERVAL"
DEFAULT_METRIC_EXPORT_INTERVAL_MS = 60_000.0


def metric_export_interval_ms() -> float:
    """``OTEL_METRIC_EXPORT_INTERVAL`` in milliseconds, for the periodic metric readers: a positive
    number; ``inf`` (or anything above a day) pushes only at flush and exit, the SDK's own meaning
    of ``inf``. Anything else is one warning and 60000: the SDK raises for 0 or a negative value,
    which left no metric reader."""
    raw = _env(METRIC_EXPORT_INTERVAL_ENV)
    if raw is None:
        return DEFAULT_METRIC_EXPORT_INTERVAL_MS
    value = _number(raw)
    if value is not None and value > 0:
        return value if value <= MAX_WAIT_S * 1000 else float("inf")
    _warn_once(
        METRIC_EXPORT_INTERVAL_ENV,
        "%s=%r is not a positive number of milliseconds; using %d",
        METRIC_EXPORT_INTERVAL_ENV,
        raw,
        DEFAULT_METRIC_EXPORT_INTERVAL_MS,
    )
    return DEFAULT_METRIC_EXPORT_INTERVAL_MS


def exit_timeout(value: float | None = None) -> float:
    """Seconds the process-end flush may take: the argument, else ``TRACEWRAP_EXIT_TIMEOUT``, else 3.

    Any number >= 0; one above a day (``inf`` included: "as long as it takes") is a day, without a
    warning: a day is no bound in practice, and past ``threading.TIMEOUT_MAX`` the exit flush died
    of an ``OverflowError`` and exported nothing. A negative or NaN argument is one warning and the
    variable's value (else 3), as the variable's own bad values are.
    """
    if value is not None:
        number = float(value)
        if number >= 0:  # NaN is not
            return min(number, MAX_WAIT_S)
        _warn_once(
            "exit_timeout", "exit_timeout=%r is not a number of seconds >= 0; using the default", value
        )
    raw = _env(EXIT_TIMEOUT_ENV)
    if raw is None:
        return DEFAULT_EXIT_TIMEOUT
    parsed = _number(raw)
    if parsed is not None and parsed >= 0:
        return min(parsed, MAX_WAIT_S)
    _warn_once(
        EXIT_TIMEOUT_ENV,
        "%s=%r is not a number of seconds >= 0; using %s",
        EXIT_TIMEOUT_ENV,
        raw,
        DEFAULT_EXIT_TIMEOUT,
    )
    return DEFAULT_EXIT_TIMEOUT


def bounded_wait(seconds: float) -> float:
    """A wait that locks, events and the SDK accept: 0 to a day (NaN: 0)."""
    return min(seconds, MAX_WAIT_S) if seconds > 0 else 0.0


def prometheus_port(value: int | None) -> int:
    """The argument, else ``TRACEWRAP_PROMETHEUS_PORT``, else 9464; one not a port number is one
    warning and the next of these."""
    if value is not None:
        if 0 <= value <= 65535:
            return int(value)
        _warn_once("prometheus_port", "prometheus_port=%r is not a port number; using the default", value)
    raw = _env(PROMETHEUS_PORT_ENV)
    if raw is None:
        return DEFAULT_PROMETHEUS_PORT
    try:
        parsed = int(raw)
        if 0 <= parsed <= 65535:
            return parsed
    except ValueError:
        pass
    _warn_once(
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


def langsmith_api_key_in_env() -> bool:
    """What the ``langsmith`` client authenticates with: ``LANGSMITH_API_KEY`` or ``LANGCHAIN_API_KEY``."""
    return bool(_env("LANGSMITH_API_KEY") or _env("LANGCHAIN_API_KEY"))


def langsmith_from_env() -> bool:
    """LangSmith's own switch: ``LANGSMITH_TRACING=true`` (or LANGCHAIN_TRACING_V2) and an API key."""
    on = env_flag("LANGSMITH_TRACING", False) or env_flag("LANGCHAIN_TRACING_V2", False)
    return on and langsmith_api_key_in_env()


def langsmith_settings_from_env() -> dict[str, str | bool | None]:
    """The arguments of ``exporting.langsmith.LangSmithSettings``: project, hidden sides, run names."""
    return dict(
        project=_env("LANGSMITH_PROJECT") or _env("LANGCHAIN_PROJECT"),
        hide_inputs=env_flag("LANGSMITH_HIDE_INPUTS", False),
        hide_outputs=env_flag("LANGSMITH_HIDE_OUTPUTS", False),
        chat_name=_env(LANGSMITH_NAME_ENVS["chat"]),
        completions_name=_env(LANGSMITH_NAME_ENVS["completions"]),
        embeddings_name=_env(LANGSMITH_NAME_ENVS["embeddings"]),
    )


# ------------------------------------------------------------------------------ the application's own


def is_placeholder(provider: object) -> bool:
    """The OpenTelemetry API's stand-in before any provider is set (``ProxyTracerProvider``,
    ``_ProxyMeterProvider``, ``_ProxyLoggerProvider``): anything else was installed by someone,
    including a ``NoOp*Provider`` (an explicit "record nothing", respected as the application's)."""
    return "Proxy" in type(provider).__name__


def application_has_providers() -> bool:
    """A real TracerProvider is installed globally (the application's, a distro's, or tracewrap's)."""
    from opentelemetry import trace

    return not is_placeholder(trace.get_tracer_provider())
