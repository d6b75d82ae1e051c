"""Flushes and shutdowns bounded by a deadline, on reusable runner threads (``exporting/bounded.py``).

Where no thread can start (Python 3.12 at interpreter shutdown, gh-113964) the tests refuse
``threading.Thread.start`` as 3.12's shutdown does: the jobs run on the runners started beforehand,
still bounded by one deadline, or, with none, in the calling thread. The 3.12 lane of
``scripts/test.sh`` runs the real thing: a program's exit flush (``tests/exporting/test_first_call.py``,
``test_faults.py``, ``test_processes.py``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest

from tracewrap.exporting import bounded
from tracewrap.exporting.bounded import run_all, start_exit_runners


@pytest.fixture(autouse=True)
def fresh_runners(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # a pool of this test's own: the runners it starts stay idle, unreachable, after it
    monkeypatch.setattr(bounded, "_runners", bounded._Runners())
    monkeypatch.setattr(bounded, "_exit_runners_started", False)
    yield


def _refuse(self: threading.Thread) -> None:
    raise RuntimeError("can't create new thread at interpreter shutdown")


def _refuse_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threading.Thread, "start", _refuse)


def _runner_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("tracewrap-")}


def test_jobs_run_side_by_side_on_runners_named_for_the_job() -> None:
    both_running = threading.Barrier(2, timeout=5)
    ran_on: dict[str, str] = {}

    def job(name: str) -> bool:
        both_running.wait()  # fails unless the two run at the same time
        ran_on[name] = threading.current_thread().name
        return True

    assert run_all({"spans": lambda: job("spans"), "metrics": lambda: job("metrics")}, 5.0)
    assert ran_on == {"spans": "tracewrap-spans", "metrics": "tracewrap-metrics"}


def test_runners_are_reused_not_started_per_job() -> None:
    assert run_all({"a": lambda: None, "b": lambda: None}, 2.0)
    runners = _runner_threads()
    for _ in range(5):
        assert run_all({"a": lambda: None, "b": lambda: None}, 2.0)
    assert _runner_threads() == runners
    assert bounded._runners.started == 2


def test_a_runner_is_idle_again_before_its_caller_hears_the_job_is_done(monkeypatch) -> None:
    """The race CI hit (a third runner started in the test above): a runner that had finished its
    job but not yet counted itself idle made the next job start another. With a runner held up
    right after its work, the next run still finds both runners idle."""
    run = bounded._Job.run

    def run_then_dawdle(job: bounded._Job) -> None:
        run(job)
        time.sleep(0.2)  # after the work, before the runner's bookkeeping

    monkeypatch.setattr(bounded._Job, "run", run_then_dawdle)
    assert run_all({"a": lambda: None, "b": lambda: None}, 5.0)
    assert run_all({"a": lambda: None, "b": lambda: None}, 5.0)
    assert bounded._runners.started == 2
    assert bounded._runners.idle == 2


def test_a_failing_or_raising_job_makes_the_run_false_and_the_others_still_run() -> None:
    ran: list[str] = []

    def boom() -> None:
        raise OSError("exporter down")

    assert run_all({"x": boom, "y": lambda: ran.append("y")}, 2.0) is False
    assert run_all({"x": lambda: False, "y": lambda: ran.append("y again")}, 2.0) is False
    assert ran == ["y", "y again"]


def test_a_stuck_job_is_abandoned_at_the_deadline_and_the_next_one_gets_another_runner() -> None:
    release = threading.Event()
    flushed: list[str] = []
    started = time.monotonic()
    ok = run_all({"spans": lambda: release.wait(30), "metrics": lambda: flushed.append("metrics")}, 0.5)
    assert ok is False  # the stuck one did not make it
    assert flushed == ["metrics"]  # the other ran beside it
    assert time.monotonic() - started < 2.0
    started = time.monotonic()
    assert run_all({"spans": lambda: flushed.append("spans")}, 2.0)  # the stuck runner is not waited for
    assert time.monotonic() - started < 1.0
    release.set()


def test_where_no_thread_can_start_the_jobs_run_on_the_runners_started_before(monkeypatch) -> None:
    start_exit_runners(needed=True)
    _refuse_threads(monkeypatch)
    ran_on: dict[str, str] = {}

    def job(name: str) -> bool:
        ran_on[name] = threading.current_thread().name
        return True

    assert run_all({"spans": lambda: job("spans"), "metrics": lambda: job("metrics")}, 2.0)
    assert ran_on == {"spans": "tracewrap-spans", "metrics": "tracewrap-metrics"}
    assert bounded._runners.started == bounded.EXIT_RUNNERS


def test_a_stuck_job_on_an_exit_runner_is_abandoned_at_the_deadline(monkeypatch) -> None:
    start_exit_runners(needed=True)
    _refuse_threads(monkeypatch)
    flushed: list[str] = []
    started = time.monotonic()
    ok = run_all({"spans": lambda: time.sleep(30), "metrics": lambda: flushed.append("metrics")}, 0.5)
    assert ok is False
    assert flushed == ["metrics"]
    assert time.monotonic() - started < 2.0


def test_with_no_runner_to_be_had_the_jobs_run_in_the_calling_thread(monkeypatch) -> None:
    _refuse_threads(monkeypatch)
    ran_on: list[str] = []
    ok = run_all(
        {
            "spans": lambda: ran_on.append(threading.current_thread().name),
            "metrics": lambda: False,  # a flush that says it failed
        },
        1.0,
    )
    assert ran_on == [threading.current_thread().name]
    assert ok is False


def test_the_exit_runners_start_only_where_python_refuses_threads_at_exit() -> None:
    before = _runner_threads()
    start_exit_runners()
    start_exit_runners()  # configure() again: still the same runners
    expected = bounded.EXIT_RUNNERS if bounded.EXIT_NEEDS_RUNNERS else 0
    assert len(_runner_threads() - before) == expected
    assert bounded._runners.idle == expected


def test_a_fork_child_of_a_process_with_exit_runners_starts_its_own() -> None:
    start_exit_runners(needed=True)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its own runners, alive, and the jobs run on them
        try:
            idle = bounded._runners.idle
            threading.Thread.start = _refuse  # type: ignore[method-assign]  # no thread from here on
            ran: list[str] = []
            ok = run_all({"spans": lambda: ran.append(threading.current_thread().name)}, 2.0)
            os.write(write, f"{idle} {ok} {ran[0] if ran else ''}".encode())
        finally:
            os._exit(0)
    os.close(write)
    report = os.read(read, 200).decode().split()
    os.waitpid(pid, 0)
    os.close(read)
    assert report == [str(bounded.EXIT_RUNNERS), "True", "tracewrap-spans"]
