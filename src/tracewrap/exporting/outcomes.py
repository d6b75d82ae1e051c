"""Which exports failed, and which are still under way.

The SDK's batch processors and its periodic metric reader call the exporter and drop its answer:
``force_flush`` returns True once the exporter was called, a refused or failed export included (an
OTLP exporter shut down at exit ends its retries with a failure, within any deadline). Their
``shutdown`` with a timeout stops waiting for an export stuck on a silent endpoint and returns, the
export left running in their thread. So neither outcome says whether telemetry arrived: each OTLP
exporter tracewrap builds counts here its failed exports and those under way, and a flush or
shutdown that saw a failure, or left an export running, says it lost something.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from tracewrap.fork_safe import module_lock

Exporter = TypeVar("Exporter")

_lock = module_lock(globals(), "_lock")
_failed = 0  # exports failed in this process since it started (a fork child carries its parent's on)
_under_way = 0  # exports begun and not yet returned, in this process


def failed_exports() -> int:
    return _failed


def exports_under_way() -> int:
    return _under_way


def noting_failures(exporter: Exporter) -> Exporter:
    """``exporter``, its ``export`` counted (a ``FAILURE`` result or an exception is a failure);
    patched on the instance, so its type and everything else about it stay the SDK's."""
    export: Callable[..., Any] = exporter.export  # type: ignore[attr-defined]

    def export_noting_failure(*args: Any, **kwargs: Any) -> Any:
        global _failed, _under_way
        with _lock:
            _under_way += 1
        failed = True
        try:
            result = export(*args, **kwargs)
            # SpanExportResult, MetricExportResult and LogExportResult each name it FAILURE
            failed = getattr(result, "name", None) == "FAILURE"
            return result
        finally:
            with _lock:
                _under_way -= 1
                _failed += failed

    exporter.export = export_noting_failure  # type: ignore[attr-defined]
    return exporter


def _none_under_way_in_child() -> None:
    """A fork child has none of its parent's threads, so none of their exports."""
    global _under_way
    _under_way = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_none_under_way_in_child)
