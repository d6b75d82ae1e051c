"""Ends asked for by the garbage collector, carried out later at a safe point.

A stream dropped half-read sits in a reference cycle, so the cyclic GC is what finds it, and on
Python 3.10/3.11 the GC runs inside whatever allocation crosses its threshold: also the allocation
inside a ``ContextVar.set``. Ending a span there is not safe: ``SimpleSpanProcessor.on_end``
attaches and detaches a context (a nested set that frees the map the interrupted set is still
walking: CPython gh-148891, a segfault or a ``MemoryError``), and metric instruments take locks
the interrupted code may hold. So code that runs inside the GC (a weak reference's callback,
a generator being closed by its collection) only appends to a queue: no context change, no lock,
no I/O. The queue is drained where nothing is interrupted: at the start of the next traced call,
by ``tracewrap.flush()`` / ``shutdown()`` / the process exit, and by a daemon thread within
``DRAIN_INTERVAL_S``. What is ended late keeps the time it was last used as its end time.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections import deque
from collections.abc import Callable

DRAIN_INTERVAL_S = 0.5
# False stops the background drain (the other safe points still drain): for a test that checks
# what the next call alone does, which the thread would otherwise race within its interval
background_drain = True

# deque.append / popleft are atomic and take no Python-level lock: safe from inside the GC
pending: deque[Callable[[], None]] = deque()

_drainer_running = False  # in this process (reset in a fork child)
_drainer_lock = threading.Lock()
_collecting_in: int | None = None  # the thread whose garbage collection pass is running


def _on_gc(phase: str, info: dict[str, int]) -> None:
    global _collecting_in
    _collecting_in = threading.get_ident() if phase == "start" else None


# Code that can run either from the user's own call or from a collection (the SDK's stream
# generator closes its HTTP response when it is collected) asks this to know which one it is.
gc.callbacks.append(_on_gc)


def collecting() -> bool:
    """True while a garbage collection pass runs in this thread, so the code asking runs inside it.

    Only this thread's: another thread's pass lets this one run while its finalizers wait (a lock,
    I/O), and what this thread does meanwhile (a stream closed early, or failing) is its own; read
    as the GC's, it became "abandoned" and lost its error."""
    return _collecting_in is not None and _collecting_in == threading.get_ident()


def defer(end: Callable[[], None]) -> None:
    """The only thing done inside the GC: remember what to end."""
    pending.append(end)


def run_deferred() -> None:
    """Carry out every queued end; call only where no context change is in progress."""
    from tracewrap.telemetry.lifecycle import internal_error

    while True:
        try:
            end = pending.popleft()
        except IndexError:
            return
        try:
            end()
        except Exception as exc:
            internal_error("deferred end", exc)


def ensure_drainer() -> None:
    """Start the draining thread of this process (again after a fork); called on the call path,
    so the usual case is one global read (it was an ``os.getpid()`` system call per stream: 0.19 µs
    warm, against 0.03 µs now)."""
    global _drainer_running
    if _drainer_running:
        return
    with _drainer_lock:
        if _drainer_running:
            return
        thread = threading.Thread(target=_drain_forever, name="tracewrap-deferred-ends", daemon=True)
        thread.start()
        _drainer_running = True


def _forget_drainer_in_child() -> None:
    # a fork child has no copy of the parent's thread: the next stream starts its own
    global _drainer_running, _drainer_lock
    _drainer_running = False
    _drainer_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_drainer_in_child)


def _drain_forever() -> None:
    while True:
        time.sleep(DRAIN_INTERVAL_S)
        if pending and background_drain:
            run_deferred()
