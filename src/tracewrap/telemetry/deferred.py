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

import atexit
import gc
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

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


# Objects whose span is owed an end if they are dropped first (a stream, a response not read yet, a
# WebSocket connection), by a weak reference to each, mapped to what queues that end. Held here,
# outside any cycle the object is in, so the callback runs when it is collected; a plain
# ``weakref.ref`` rather than ``weakref.finalize`` (that costs a registry entry per object and a
# second call when it is freed, though almost every one ends first). dict set and pop are atomic:
# no lock, so the GC side may pop.
_watched: dict[weakref.ref[Any], Callable[[], None]] = {}
_exit_hook = False


def watch_until_end(obj: Any, when_freed: Callable[[], None]) -> weakref.ref[Any]:
    """Call ``when_freed`` if ``obj`` is freed, or the process exits, before :func:`forget` is called
    with the returned watch. ``when_freed`` runs inside the garbage collector: it may only queue
    (:func:`defer`); build it on the call path, so the GC side allocates nothing of its own."""
    watch = weakref.ref(obj, _freed)
    _watched[watch] = when_freed
    if not _exit_hook:
        _watch_until_exit()
    ensure_drainer()
    return watch


def forget(watch: weakref.ref[Any]) -> None:
    """``obj`` ended: its collection has nothing left to tell (and runs no tracewrap code)."""
    _watched.pop(watch, None)


def _freed(watch: weakref.ref[Any]) -> None:
    when_freed = _watched.pop(watch, None)
    if when_freed is not None:
        when_freed()


def _watch_until_exit() -> None:
    # registered at the first watch, so after tracewrap's exit flush (whose hook wrap(), instrument()
    # and start-up reserve: process_ends.reserve_exit_flush) and run before it (atexit runs
    # last-registered first): what is still open at exit is queued, and the flush ends it
    global _exit_hook
    _exit_hook = True
    atexit.register(_open_at_exit)


def _open_at_exit() -> None:
    for watch in list(_watched):
        _freed(watch)
