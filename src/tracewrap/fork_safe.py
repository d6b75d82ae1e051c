"""Module-level locks that a fork's child gets new.

A lock some other thread holds at the moment the process forks stays held in the child, where that
thread does not exist: the child's first call that takes it waits for good (a ``multiprocessing``
fork taken while another thread's first call was setting export up hung its child). Each module's
lock that a call or a set-up can hold is made by :func:`module_lock` and replaced by a new one in
the child (``os.register_at_fork``), before any of the child's code runs.

Only the lock is new: what it guards is as the fork left it (single dict and list operations are
atomic under the GIL, so a half-made change is not among the cases). Locks with more state to reset
at a fork reset it themselves (``telemetry.lifecycle``, ``telemetry.deferred``,
``telemetry.aggregated``, ``exporting.bounded``, ``process_ends``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

_renewed: list[tuple[dict[str, Any], str, Callable[[], Any]]] = []


def module_lock(namespace: dict[str, Any], name: str, factory: Callable[[], Any] = threading.Lock) -> Any:
    """A new lock for the global ``name`` of the module whose ``globals()`` is ``namespace``, which a
    fork's child replaces by ``factory()`` (its code must read the global at each use)."""
    _renewed.append((namespace, name, factory))
    return factory()


def _renew_in_child() -> None:
    for namespace, name, factory in _renewed:
        namespace[name] = factory()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_in_child)
