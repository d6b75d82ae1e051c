"""tracewrap: one line to trace every OpenAI SDK call into OpenTelemetry spans and metrics.

    import openai
    from tracewrap import wrap

    wrap(openai)                     # every OpenAI client of the process is traced, in place
    client = wrap(openai.OpenAI())   # or one client (also async, Azure, any compatible base_url)

How it is built, in the order a call flows through it:
``interception`` (wrappers on the SDK's methods, streams traced in place) → ``endpoints`` (what each
path means) → ``normalize`` (each API's response read into one ``record.CallRecord``) →
``telemetry`` (the record as a span and metric points) → ``exporting`` (where it goes).
"""

from __future__ import annotations

# Importing ``tracewrap`` loads nothing else: the start-up stage (``tracewrap.auto.boot``, run in
# every process with TRACEWRAP_ENABLED set) imports from this package, and ``wrap``'s modules cost
# ~40 ms. The names below are loaded on first use (``__getattr__``).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any, TypeVar

    from tracewrap._version import __version__
    from tracewrap.endpoints import DEFAULT_PATHS
    from tracewrap.observers import CallObserver, ObservedCall, add_observer, remove_observer
    from tracewrap.options import Redactor
    from tracewrap.record import CallRecord, Usage

    T = TypeVar("T")

_LAZY = {
    "__version__": "tracewrap._version",
    "DEFAULT_PATHS": "tracewrap.endpoints",
    "CallObserver": "tracewrap.observers",
    "ObservedCall": "tracewrap.observers",
    "add_observer": "tracewrap.observers",
    "remove_observer": "tracewrap.observers",
    "CallRecord": "tracewrap.record",
    "Usage": "tracewrap.record",
}

__all__ = [
    "DEFAULT_PATHS",
    "CallObserver",
    "CallRecord",
    "ObservedCall",
    "Usage",
    "__version__",
    "add_observer",
    "configure",
    "flush",
    "remove_observer",
    "shutdown",
    "unwrap",
    "wrap",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tracewrap' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def wrap(
    target: T,
    *,
    paths: Iterable[str] | None = None,
    extra_paths: Iterable[str] = (),
    tracer_provider: Any = None,
    meter_provider: Any = None,
    capture_content: str | None = None,
    content_max_length: int | None = None,
    redact: Redactor | None = None,
    provider: str | None = None,
    estimate_cost: bool | None = None,
) -> T:
    """Trace the ``openai`` module (process-wide) or one client; returns ``target`` itself.

    ``wrap(openai)`` patches the SDK in place: every client of the process is traced, whoever built
    it and whenever, and the module, its classes and clients stay the SDK's own objects. Calling it
    again with other options applies them. ``wrap(client)`` traces one client, and its options win
    for that client. ``paths`` replaces the default set of traced dotted paths, ``extra_paths``
    extends it. While every default path is traced, any other request the client sends (files,
    batches, ``responses.delete``...) is a generic ``api_call`` span named ``{METHOD} {route}``
    (:mod:`tracewrap.routes`); a ``paths`` naming fewer turns those off.
    ``capture_content`` overrides ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``
    (``no_content`` | ``span_only`` | ``event_only`` | ``span_and_event``).
    ``estimate_cost`` overrides ``TRACEWRAP_ESTIMATE_COST`` (off when neither is set).
    With ``TRACEWRAP_ENABLED=false`` or ``OTEL_SDK_DISABLED=true`` the target is returned untouched.
    """
    from types import ModuleType

    from tracewrap.environment import tracing_enabled
    from tracewrap.integrations import install_integrations
    from tracewrap.interception.install import is_client, wrap_client
    from tracewrap.options import build_options, choose_paths

    is_module = isinstance(target, ModuleType) and getattr(target, "__name__", "") == "openai"
    if not is_module and not is_client(target):
        raise TypeError(
            "tracewrap.wrap() takes the openai module or an OpenAI client "
            f"(OpenAI, AsyncOpenAI, AzureOpenAI, AsyncAzureOpenAI), not {type(target).__name__}"
        )
    chosen = choose_paths(paths, extra_paths)
    options = build_options(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        capture_content=capture_content,
        content_max_length=content_max_length,
        redact=redact,
        provider=provider,
        estimate_cost=estimate_cost,
    )
    from tracewrap.endpoints import resolve

    for path in chosen:
        # a malformed path is an error now, also one whose walk is deferred, and also with the kill
        # switch on: a mistake in the code must not pass where tracing is off and fail where it is on
        resolve(path)
    if not tracing_enabled():
        return target
    install_integrations(options)  # Agents SDK runs as one trace; LangChain's own LangSmith runs
    _watch_process_ends()
    if is_module:
        from tracewrap.interception.sdk_patch import instrument_sdk

        instrument_sdk(target, chosen, options)
        return target
    return wrap_client(target, chosen, options)


def _watch_process_ends() -> None:
    """From ``wrap()``, not only once export is set up: a multiprocessing worker can install its
    SIGTERM flush only on its main thread, as it starts (its bootstrap, patched here), before its
    first traced call, which may run in one of its threads (``tracewrap.process_ends``)."""
    from tracewrap import process_ends

    try:
        process_ends.watch()
    except Exception as exc:  # a safety net for exports: never a reason for wrap() to fail
        from tracewrap.logs import logger

        logger.debug("cannot watch for process ends: %r", exc)


def unwrap(target: Any) -> Any:
    """Undo ``wrap``: ``unwrap(openai)`` restores the SDK's classes, a client loses its own wrappers
    and options (under ``wrap(openai)`` it is still traced, with the process-wide ones); anything
    else is returned unchanged."""
    from types import ModuleType

    from tracewrap.interception.install import unwrap_client

    if isinstance(target, ModuleType) and getattr(target, "__name__", "") == "openai":
        from tracewrap.interception.sdk_patch import uninstrument_sdk

        uninstrument_sdk()
        return target
    return unwrap_client(target)


def configure(**kwargs: Any) -> Any:
    """Set up exporters (OTLP, LangSmith, console, Prometheus) from arguments and the environment.

    Existing global providers are used, never replaced. See ``tracewrap.exporting.config``.
    """
    from tracewrap.exporting.config import configure as _configure

    return _configure(**kwargs)


def flush(timeout: float = 5.0) -> bool:
    """Export everything finished so far (tracewrap's pipelines and the application's own global
    providers), waiting at most ``timeout`` seconds; False when something did not make it."""
    from tracewrap.exporting.config import flush as _flush

    return _flush(timeout)


def shutdown(timeout: float = 5.0) -> None:
    """Flush and stop the exporters tracewrap set up (bounded by ``timeout``)."""
    from tracewrap.exporting.config import shutdown as _shutdown

    _shutdown(timeout)
