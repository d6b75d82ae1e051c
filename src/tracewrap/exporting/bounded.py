"""Run flushes and shutdowns with a hard deadline, on reusable daemon threads.

Exporter calls can block far longer than asked (the SDK's ``force_flush`` ignores its timeout;
OTLP retries until its own timeout; LangSmith retries against a silent endpoint for minutes).
Running them in daemon threads and waiting a bounded time is the only way to promise a caller,
and the process exit, a deadline: a runner still stuck at the deadline is left to it (and, at exit,
abandoned), and the next job gets another runner.

Runners are kept and reused rather than started per job, because the exit flush is when a
deadline matters most and Python 3.12 refuses to start a thread once exit has begun, in
``atexit`` handlers and in threading's own exit hooks alike ("can't create new thread at
interpreter shutdown", CPython gh-113964; 3.10, 3.11 and 3.13 allow it). On 3.12
:func:`start_exit_runners` starts the exit flush's runners with the exporters (again in a fork
child of a process that had them). A job no runner can take (none idle, and none can start) runs
in the calling thread: bounded only by the exporter's own timeout, but nothing is lost. The pool
grows to the most jobs ever run at once (stuck ones included: a runner stuck for good is one
thread, as a thread started per job was) and idles there.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tracewrap.environment import bounded_wait
from tracewrap.logs import logger

EXIT_NEEDS_RUNNERS = sys.version_info[:2] == (3, 12)
EXIT_RUNNERS = 5  # one per job the exit flush can have: spans, metrics, logs, LangSmith, Prometheus


@dataclass
class _Job:
    name: str
    work: Callable[[], Any]
    ok: bool = False
    done: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        """The work, its outcome in ``ok``; whoever runs it sets ``done`` after."""
        try:
            self.ok = self.work() is not False
        except Exception as exc:
            logger.debug("%s failed: %r", self.name, exc)


class _Runners:
    """Daemon threads taking jobs from one queue; one more is started when none is idle."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.idle = 0
        self.started = 0

    def submit(self, job: _Job) -> bool:
        """Hand ``job`` to a runner; False when none is idle and none can start."""
        with self.lock:
            if self.idle:
                self.idle -= 1
            elif not self._start_one():
                return False
        self.jobs.put(job)
        return True

    def start_idle(self, count: int) -> None:
        with self.lock:
            while self.idle < count and self._start_one():
                self.idle += 1

    def _start_one(self) -> bool:
        thread = threading.Thread(target=self._serve, name=f"tracewrap-runner-{self.started}", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # interpreter shutdown (Python 3.12)
            return False
        self.started += 1
        return True

    def _serve(self) -> None:
        me = threading.current_thread()
        idle_name = me.name
        while True:
            job = self.jobs.get()
            me.name = f"tracewrap-{job.name}"  # what a stack dump of a stuck export shows
            try:
                job.run()
            except BaseException:  # SystemExit and the like end this runner, never counted idle
                job.done.set()
                raise
            me.name = idle_name
            # idle before the caller hears the job is done, so its next job finds this runner
            # instead of starting another (the pool then stays at the most jobs run at once)
            with self.lock:
                self.idle += 1
            job.done.set()


_runners = _Runners()
_exit_runners_started = False


def run_bounded(name: str, work: Callable[[], Any], timeout: float) -> bool:
    """True when ``work`` finished (without raising, and without returning False) within ``timeout``."""
    return run_all({name: work}, timeout)


def run_all(jobs: dict[str, Callable[[], Any]], timeout: float) -> bool:
    """Run the jobs side by side and wait for them until one shared deadline; True when every one
    finished in time and none failed."""
    deadline = time.monotonic() + bounded_wait(timeout)  # an Event takes no wait past TIMEOUT_MAX
    waiting = [_Job(name, work) for name, work in jobs.items()]
    runners = _runners
    for job in waiting:
        if not runners.submit(job):
            job.run()  # no runner to be had: here, then
            job.done.set()
    for job in waiting:
        if not job.done.wait(max(0.0, deadline - time.monotonic())):
            logger.info("%s did not finish within %.1f s; not waiting longer", job.name, timeout)
    return all(job.done.is_set() and job.ok for job in waiting)


def start_exit_runners(needed: bool = EXIT_NEEDS_RUNNERS) -> None:
    """Where this Python cannot start threads at exit, start the exit flush's runners now (once
    per process; called when export is set up)."""
    global _exit_runners_started
    if needed:
        _runners.start_idle(EXIT_RUNNERS)
        _exit_runners_started = True


def _start_over_in_child() -> None:
    """A fork child has none of its parent's threads: a new pool, with the exit flush's runners
    again where the parent had them (a worker that leaves through ``atexit``)."""
    global _runners
    _runners = _Runners()
    if _exit_runners_started:
        try:
            start_exit_runners(needed=True)
        except Exception as exc:  # never a reason for a fork to fail: its exit flush runs inline
            logger.debug("exit runners not restarted in the fork child: %r", exc)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_start_over_in_child)
