"""The exit flush where no thread can start (Python 3.12 at interpreter shutdown, gh-113964).

In process, with ``threading.Thread.start`` refusing as 3.12's shutdown does: the jobs run on the
runners started beforehand, still bounded by one deadline, or, with none, in the calling thread.
The 3.12 lane of ``scripts/test.sh`` runs the real thing: a program's exit flush
(``tests/exporting/test_first_call.py``, ``test_faults.py``, ``test_processes.py``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest

from tracewrap.exporting import exit_runners
from tracewrap.exporting.config import _run_parallel


@pytest.fixture
def no_new_threads() -> Iterator[None]:
    exit_runners._forget_in_child()  # no runners from an earlier test
    yield
    exit_runners._forget_in_child()  # the runners started here stay idle, unreachable


def _refuse_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(threading.Thread, "start", refuse)


def test_jobs_run_on_the_runners_started_before(no_new_threads, monkeypatch) -> None:
    exit_runners.prepare(needed=True)
    _refuse_threads(monkeypatch)
    ran_on: dict[str, str] = {}

    def job(name: str) -> bool:
        ran_on[name] = threading.current_thread().name
        return True

    assert _run_parallel({"spans": lambda: job("spans"), "metrics": lambda: job("metrics")}, 2.0)
    assert sorted(ran_on) == ["metrics", "spans"]
    assert all(thread.startswith("tracewrap-exit-") for thread in ran_on.values()), ran_on


def test_a_stuck_job_on_a_runner_is_abandoned_at_the_deadline(no_new_threads, monkeypatch) -> None:
    exit_runners.prepare(needed=True)
    _refuse_threads(monkeypatch)
    flushed: list[str] = []
    started = time.monotonic()
    ok = _run_parallel(
        {"spans": lambda: time.sleep(30), "metrics": lambda: flushed.append("metrics")},
        0.5,
    )
    elapsed = time.monotonic() - started
    assert ok is False  # the stuck one did not make it
    assert flushed == ["metrics"]  # the other ran beside it
    assert elapsed < 2.0


def test_with_no_runners_the_jobs_run_in_the_calling_thread(no_new_threads, monkeypatch) -> None:
    _refuse_threads(monkeypatch)
    ran_on: list[str] = []
    ok = _run_parallel(
        {
            "spans": lambda: ran_on.append(threading.current_thread().name),
            "metrics": lambda: False,  # a flush that says it failed
        },
        1.0,
    )
    assert ran_on == [threading.current_thread().name]
    assert ok is False


def test_the_runners_start_once_and_only_where_python_refuses_threads_at_exit(no_new_threads) -> None:
    def runners() -> int:
        return sum(t.name.startswith("tracewrap-exit-") for t in threading.enumerate())

    before = runners()
    exit_runners.prepare()
    exit_runners.prepare()
    assert runners() - before == (exit_runners.RUNNERS if exit_runners.NEEDED else 0)
    assert (exit_runners._jobs is not None) is exit_runners.NEEDED


def test_a_fork_child_of_a_process_with_runners_starts_its_own(no_new_threads) -> None:
    exit_runners.prepare(needed=True)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its own runners, alive, and the jobs run on them
        try:
            names = [t.name for t in threading.enumerate() if t.name.startswith("tracewrap-exit-")]
            ran: list[str] = []
            ok = exit_runners.run({"spans": lambda: ran.append(threading.current_thread().name)}, 2.0)
            os.write(write, f"{len(names)} {ok} {ran[0] if ran else ''}".encode())
        finally:
            os._exit(0)
    os.close(write)
    report = os.read(read, 200).decode().split()
    os.waitpid(pid, 0)
    os.close(read)
    assert report[0] == str(exit_runners.RUNNERS)
    assert report[1] == "True"
    assert report[2].startswith("tracewrap-exit-")
