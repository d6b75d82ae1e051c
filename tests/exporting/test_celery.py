"""A real Celery worker (``celery worker``, prefork pool) exports every task's span and metrics.

Celery's prefork pool runs on billiard: its pool processes leave through ``os._exit`` from
``Worker._do_exit``, past ``atexit`` and past the bootstrap's flush; Celery's process initializer
puts SIGTERM back to the default action in each of them, then billiard installs its own handler
(``SystemExit``). Nothing leaves on a timer (``OTEL_BSP_SCHEDULE_DELAY``,
``OTEL_METRIC_EXPORT_INTERVAL``): only the process-end flushes send it. The broker is kombu's
filesystem transport, the result backend Celery's file backend: no network service but the fake
OpenAI server and the OTLP receiver.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest

from tracewrap.testing import FakeOpenAIServer
from tracewrap.testing.bodies import Scenario

from .celery_app import CHAT, POOL_PROCESSES, make_app
from .receivers import OTLPReceiver
from .test_billiard import COMPLETION_TOKENS, PROMPT_TOKENS, _env, _per_model
from .test_processes import ROOT, _models


def _start_worker(
    tmp_path: Path,
    receiver: OTLPReceiver,
    server: FakeOpenAIServer,
    setup: str,
    start_method: str,
    *extra: str,
) -> subprocess.Popen[bytes]:
    env = _env(receiver, server)
    env.update(TW_CELERY_DIR=str(tmp_path), TW_SETUP=setup, TW_START_METHOD=start_method)
    if setup == "auto":
        env["TRACEWRAP_ENABLED"] = "true"
    command = [
        *(sys.executable, "-m", "celery", "-A", "tests.exporting.celery_app", "worker"),
        *("--pool=prefork", "--concurrency=2", "--loglevel=INFO"),
        *("--without-heartbeat", "--without-gossip", "--without-mingle"),
        *extra,
    ]
    with (tmp_path / "worker.log").open("wb") as log:
        # its own process group: the "group" stop signals it whole, and a failed test kills it whole
        return subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def _wait_for_pool_processes(tmp_path: Path, count: int) -> None:
    """Until ``count`` pool processes have started (celery_app notes each one).

    A warm shutdown that begins while billiard's supervisor is starting the replacement of a
    recycled pool process (``--max-tasks-per-child``) can wait for that process for good: the pool's
    task handler sends one sentinel per process it has *at that moment*, and the replacement joins
    the pool after the sentinels went out. That is billiard's race, with or without tracewrap (a
    worker with no tracewrap at all hung the same way with the supervisor's start slowed down). It
    hung this test once on a loaded CI run (Python 3.10, spawn), so the test stops the worker only once
    no replacement is on its way: what it tests is the export, not that race."""
    started = tmp_path / POOL_PROCESSES
    deadline = time.monotonic() + 60
    while len(list(started.glob("*"))) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(list(started.glob("*"))) == count


def _fail_with_stacks(worker: subprocess.Popen[bytes], tmp_path: Path, what: str) -> NoReturn:
    """Fails the test with the worker's log and every process's stacks (faulthandler, on SIGWINCH:
    celery_app), the whole group killed: a hung worker says where it hung."""
    try:
        os.killpg(worker.pid, signal.SIGWINCH)
        time.sleep(2)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(30)
    log = (tmp_path / "worker.log").read_text(errors="replace")
    pytest.fail(f"{what}; the worker's log and stacks:\n{log}")


@contextmanager
def _stacks_on_failure(worker: subprocess.Popen[bytes], tmp_path: Path) -> Iterator[None]:
    """A failure while the worker runs (a task's result never came) fails at once with its stacks."""
    try:
        yield
    except Exception as exc:
        if worker.poll() is None:
            _fail_with_stacks(worker, tmp_path, f"{type(exc).__name__}: {exc}")
        raise


def _wait_for_exit(worker: subprocess.Popen[bytes], tmp_path: Path) -> str:
    """The worker's log once it has ended; if it has not within 60 s, the test fails with its stacks."""
    try:
        worker.wait(60)
    except subprocess.TimeoutExpired:
        _fail_with_stacks(worker, tmp_path, "the worker did not end within 60 s")
    return (tmp_path / "worker.log").read_text(errors="replace")


def _assert_every_task_exported(receiver: OTLPReceiver, models: list[str], output: str) -> None:
    receiver.store.wait_for(lambda: sum(_models(receiver).values()) >= len(models), timeout=10)
    assert _models(receiver) == Counter(models), output  # each task's span, exactly once
    spans = {s.attributes["gen_ai.request.model"]: s for s in receiver.store.spans()}
    for model in models:
        assert spans[model].attributes["gen_ai.usage.input_tokens"] == PROMPT_TOKENS
        assert spans[model].attributes["gen_ai.usage.output_tokens"] == COMPLETION_TOKENS
    durations = "gen_ai.client.operation.duration"
    receiver.store.wait_for(lambda: len(_per_model(receiver, durations, "count")) >= len(models), timeout=10)
    assert _per_model(receiver, durations, "count") == {(model, ""): 1 for model in models}
    assert _per_model(receiver, "gen_ai.client.token.usage", "sum") == {
        **{(model, "input"): PROMPT_TOKENS for model in models},
        **{(model, "output"): COMPLETION_TOKENS for model in models},
    }
    assert "Traceback" not in output, output


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
@pytest.mark.parametrize("setup", ["wrap", "auto"])
@pytest.mark.parametrize("recycle", [True, False], ids=["max-tasks-per-child-1", "long-lived"])
def test_a_celery_worker_exports_every_task(
    recycle: bool,
    setup: str,
    start_method: str,
    tmp_path: Path,
    receiver: OTLPReceiver,
    server: FakeOpenAIServer,
) -> None:
    """``--max-tasks-per-child=1``: each pool process leaves after its task (billiard's ``_do_exit``);
    long-lived: the pool processes leave in the warm shutdown SIGTERM starts (the pool closes, each
    process takes its sentinel). ``wrap``: ``tracewrap.wrap(openai)`` in the tasks' module; ``auto``:
    ``TRACEWRAP_ENABLED=true`` alone."""
    extra = ["--max-tasks-per-child=1"] if recycle else []
    worker = _start_worker(tmp_path, receiver, server, setup, start_method, *extra)
    with _stacks_on_failure(worker, tmp_path):
        models = [f"c-{setup}-{i}" for i in range(4)]
        sent = [make_app(str(tmp_path)).send_task(CHAT, args=(model,)) for model in models]
        answers = [result.get(timeout=60, interval=0.05) for result in sent]
        # the two first pool processes, and with recycling one more after each task
        _wait_for_pool_processes(tmp_path, 2 + len(models) if recycle else 2)
        worker.send_signal(signal.SIGTERM)  # warm shutdown
    output = _wait_for_exit(worker, tmp_path)
    assert worker.returncode == 0, output
    assert [a["model"] for a in answers] == models
    assert all(a["total_tokens"] == PROMPT_TOKENS + COMPLETION_TOKENS for a in answers)
    pids = {a["pid"] for a in answers}
    assert worker.pid not in pids  # run by pool processes
    assert all(a["spawned"] == (start_method == "spawn") for a in answers)
    if recycle:
        assert len(pids) == len(models), answers  # one task per pool process
    assert len(server.requests) == len(models)
    _assert_every_task_exported(receiver, models, output)


@pytest.mark.parametrize(("setup", "start_method"), [("wrap", "fork"), ("auto", "spawn")])
@pytest.mark.parametrize("stop", ["warm", "cold"])
def test_a_celery_worker_stopped_while_busy_exports_every_task(
    stop: str,
    setup: str,
    start_method: str,
    tmp_path: Path,
    receiver: OTLPReceiver,
    server: FakeOpenAIServer,
) -> None:
    """Stopped while both pool processes wait for OpenAI's answer (5 s). ``warm`` (SIGTERM): the
    shutdown lets the tasks finish, then closes the pool. ``cold`` (SIGQUIT): the pool terminates
    its processes at once, billiard's SIGTERM handler unwinds each out of its call; the interrupted
    calls' spans still arrive, as errors."""
    models = [f"c-{stop}-{i}" for i in range(2)]
    server.enqueue(Scenario(delay_s=5.0), Scenario(delay_s=5.0))
    worker = _start_worker(tmp_path, receiver, server, setup, start_method)
    answers = []
    with _stacks_on_failure(worker, tmp_path):
        sent = [make_app(str(tmp_path)).send_task(CHAT, args=(model,)) for model in models]
        assert receiver.store.wait_for(lambda: len(server.requests) >= len(models), timeout=60)
        worker.send_signal(signal.SIGTERM if stop == "warm" else signal.SIGQUIT)
        if stop == "warm":
            answers = [result.get(timeout=60, interval=0.05) for result in sent]
    output = _wait_for_exit(worker, tmp_path)
    assert worker.returncode == 0, output
    assert len(server.requests) == len(models)
    if stop == "warm":
        assert sorted(a["model"] for a in answers) == models
        assert all(a["spawned"] == (start_method == "spawn") for a in answers)
        _assert_every_task_exported(receiver, models, output)
        return
    receiver.store.wait_for(lambda: sum(_models(receiver).values()) >= len(models), timeout=10)
    assert _models(receiver) == Counter(models), output
    for span in receiver.store.spans():
        assert span.status_code == 2  # ERROR: the call never got its answer
        assert span.attributes["error.type"] == "SystemExit"
        assert "gen_ai.usage.input_tokens" not in span.attributes
    durations = "gen_ai.client.operation.duration"
    receiver.store.wait_for(lambda: len(_per_model(receiver, durations, "count")) >= len(models), timeout=10)
    assert _per_model(receiver, durations, "count") == {(model, ""): 1 for model in models}
