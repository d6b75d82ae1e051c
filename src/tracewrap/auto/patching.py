"""Process-wide instrumentation from code: ``tracewrap.auto.instrument()`` / ``uninstrument()``.

The same in-place patch of the SDK's resource classes as ``wrap(openai)``
(:mod:`tracewrap.interception.sdk_patch`): every client of the process is traced, whoever built it
and whenever, while classes and clients stay the SDK's own objects.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tracewrap.endpoints import resolve
from tracewrap.environment import tracing_enabled
from tracewrap.integrations import install_integrations
from tracewrap.options import Redactor, build_options, choose_paths


def is_instrumented() -> bool:
    from tracewrap.interception.sdk_patch import current

    return current() is not None


def instrument(
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
) -> bool:
    """Trace every OpenAI client of the process; takes ``wrap()``'s options.

    Returns False (and changes nothing) when the kill switch ``TRACEWRAP_ENABLED=false`` /
    ``OTEL_SDK_DISABLED=true`` is set. Called again, it applies the new options (like a second
    ``wrap(openai)``). Imports ``openai`` (ImportError if it is missing).
    """
    chosen = choose_paths(paths, extra_paths)
    for path in chosen:
        resolve(path)  # a malformed path is an error at instrument time
    options = build_options(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        capture_content=capture_content,
        content_max_length=content_max_length,
        redact=redact,
        provider=provider,
        estimate_cost=estimate_cost,
    )
    if not tracing_enabled():
        return False
    from tracewrap import process_ends

    process_ends.reserve_exit_flush()  # before the program's own atexit handlers (process_ends)
    import openai

    from tracewrap.interception.sdk_patch import instrument_sdk

    instrument_sdk(openai, chosen, options)
    install_integrations(options)  # Agents SDK runs as one trace; LangChain's own LangSmith runs
    return True


def uninstrument() -> None:
    """Put the SDK's methods back; clients wrapped one by one with ``wrap(client)`` keep theirs."""
    from tracewrap.interception.sdk_patch import uninstrument_sdk

    uninstrument_sdk()
