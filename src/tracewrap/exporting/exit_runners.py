"""Threads for the exit flush on Python 3.12, started before the interpreter shuts down.

tracewrap flushes and stops its exporters at exit each in a daemon thread, so a dead one cannot
hold the process past its deadline (:func:`tracewrap.exporting.config._run_parallel`). Python 3.12
refuses to start a thread once shutdown has begun, in ``atexit`` handlers and in threading's own
exit hooks alike ("can't create new thread at interpreter shutdown", CPython gh-113964; 3.10,
3.11 and 3.13 allow it). So on 3.12, when export is set up (and again in a fork child of a process
that had them), a few idle daemon threads are started here, and the exit flush hands its jobs to
them. Where none were started and no thread can start, the jobs run one after the other in the
exiting thread: bounded only by each exporter's own timeout, but nothing is lost.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from tracewrap.logs import logger

NEEDED = sys.version_info[:2] == (3, 12)
RUNNERS = 5  # one per job the exit flush can have: spans, metrics, logs, LangSmith, Prometheus

Job = tuple[str, Callable[[], Any], dict[str, bool], threading.Event]

_jobs: queue.SimpleQueue[Job] | None = None
_lock = threading.Lock()


def _serve(jobs: queue.SimpleQueue[Job]) -> None:
    while True:
        name, work, results, done = jobs.get()
        try:
            results[name] = work() is not False
        except Exception as exc:
            logger.debug("%s failed: %r", name, exc)
            results[name] = False
        finally:
            done.set()


def prepare(needed: bool = NEEDED) -> None:
    """Start the idle runners, once per process, where this Python needs them."""
    global _jobs
    if not needed:
        return
    with _lock:
        if _jobs is not None:
            return
        jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        for index in range(RUNNERS):
            threading.Thread(target=_serve, args=(jobs,), name=f"tracewrap-exit-{index}", daemon=True).start()
        _jobs = jobs


def _forget_in_child() -> None:
    global _jobs, _lock
    _jobs = None
    _lock = threading.Lock()


def _restart_in_child() -> None:
    """A fork child has none of its parent's threads, and inherits its export set-up: where the
    parent had runners, the child starts its own (a worker that exits through ``atexit``)."""
    had_runners = _jobs is not None
    _forget_in_child()
    if had_runners:
        try:
            prepare(needed=True)
        except Exception as exc:  # never a reason for a fork to fail: its exit flush runs inline
            logger.debug("exit runners not restarted in the fork child: %r", exc)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_restart_in_child)


def run(jobs: dict[str, Callable[[], Any]], timeout: float) -> bool:
    """Run ``jobs`` without starting a thread: on the runners until one shared deadline, or, with
    none started, one after the other here. True when every job finished and none failed."""
    queued = _jobs
    results: dict[str, bool] = {}
    if queued is None:
        for name, work in jobs.items():
            try:
                results[name] = work() is not False
            except Exception as exc:
                logger.debug("%s failed: %r", name, exc)
                results[name] = False
        return all(results.values())
    deadline = time.monotonic() + timeout
    waiting = []
    for name, work in jobs.items():
        done = threading.Event()
        queued.put((name, work, results, done))
        waiting.append(done)
    for done in waiting:
        done.wait(max(0.0, deadline - time.monotonic()))
    return all(results.get(name, False) for name in jobs)
