"""billiard (Celery's prefork pool) workers export everything they traced.

billiard is a fork of multiprocessing with its own ``BaseProcess._bootstrap``, and its pool workers
leave through ``os._exit`` from inside their target (``Worker._do_exit``): before tracewrap hooked
them, the workers' spans and metrics were lost, all of them with ``maxtasksperchild`` (Celery's
``--max-tasks-per-child``). As in ``test_processes.py``, nothing leaves on a timer
(``OTEL_BSP_SCHEDULE_DELAY``, ``OTEL_METRIC_EXPORT_INTERVAL``): only the process-end flushes send it.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from tracewrap.testing import FakeOpenAIServer

from .common import sigterm_the_leaving_worker
from .receivers import OTLPReceiver
from .test_processes import _env_exporting_to, _models, _run_or_dump_stacks

APP = Path(__file__).with_name("billiard_app.py")
EXPECTED = [
    "b-parent",
    "b-process",
    *(f"b-recycle-{i}" for i in range(4)),
    *(f"b-with-pool-{i}" for i in range(3)),
]
PROMPT_TOKENS, COMPLETION_TOKENS = 12, 7  # the fake server's usage for a chat completion


def _env(receiver: OTLPReceiver, server: FakeOpenAIServer) -> dict[str, str]:
    env = _env_exporting_to(receiver.http_endpoint, server)
    env.update(OTEL_METRICS_EXPORTER="otlp", OTEL_METRIC_EXPORT_INTERVAL="600000")
    return env


def _per_model(receiver: OTLPReceiver, metric: str, value: str) -> dict[tuple[str, ...], float]:
    """The largest ``value`` (``count`` or ``sum``) a cumulative metric reached, per model and token
    type: a process exports its totals at each flush, and a fork child carries its parent's."""
    found: dict[tuple[str, ...], float] = {}
    for attributes, point in receiver.store.metric_points(metric):
        key = (attributes["gen_ai.request.model"], attributes.get("gen_ai.token.type", ""))
        found[key] = max(found.get(key, 0), getattr(point, value))
    return found


@pytest.mark.parametrize("method", ["fork", "spawn"])
@pytest.mark.parametrize("setup", ["lazy", "child"])
def test_billiard_workers_export_every_span_and_metric(
    setup: str, method: str, receiver: OTLPReceiver, server: FakeOpenAIServer
) -> None:
    """``child``: tracewrap is first used inside the workers, whose billiard bootstrap already runs:
    a ``Process`` then flushes through the exit finalizers billiard's bootstrap runs, a pool worker
    in ``Worker._do_exit``, hooked at once since billiard is imported."""
    expected = EXPECTED[1:] if setup == "child" else EXPECTED  # a child-only set-up: no parent call
    run = _run_or_dump_stacks([sys.executable, str(APP), setup, method], _env(receiver, server), timeout=120)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.split("RESULT ", 1)[1])
    assert result["called"] == expected
    # billiard's SIGTERM handler leaves with 15; a worker already leaving with 0; untraced runs
    # also see -15 (the signal's default action, before billiard's handler is installed)
    assert set(result["terminated"]) <= {0, 15, -15}, result
    assert len(server.requests) == len(expected)

    receiver.store.wait_for(lambda: sum(_models(receiver).values()) >= len(expected), timeout=10)
    assert _models(receiver) == Counter(expected), run.stderr  # each call's span, exactly once
    durations = "gen_ai.client.operation.duration"
    receiver.store.wait_for(
        lambda: len(_per_model(receiver, durations, "count")) >= len(expected), timeout=10
    )
    assert _per_model(receiver, durations, "count") == {(model, ""): 1 for model in expected}
    tokens = _per_model(receiver, "gen_ai.client.token.usage", "sum")
    assert tokens == {
        **{(model, "input"): PROMPT_TOKENS for model in expected},
        **{(model, "output"): COMPLETION_TOKENS for model in expected},
    }
    assert "Traceback" not in run.stderr, run.stderr


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_billiard_worker_told_to_end_as_it_leaves_finishes_its_export_first(
    method: str, receiver: OTLPReceiver, server: FakeOpenAIServer
) -> None:
    """A pool worker leaving on its own (``maxtasksperchild``) is sent SIGTERM while its exit flush
    exports (the receiver answers after 3 s). billiard's handler raises ``SystemExit``: landing in
    the flush, it cut the export off and the worker ended at once (billiard's own last second in
    ``_do_exit`` after it). tracewrap holds the signal for the flush and hands it to billiard's
    handler after: the worker ends once its export was answered."""
    receiver.store.mode, receiver.store.delay_s = "slow", 3.0
    process, stdout, stderr, signalled = sigterm_the_leaving_worker(
        [sys.executable, str(APP), "lazy", method, "leaving"], _env(receiver, server), receiver
    )
    assert process.returncode == 0, stderr
    ended = json.loads(stdout.split("RESULT ", 1)[1])["ended"]
    # the export's answer (3 s, less what passed before the signal) and billiard's last second;
    # cut off, it ended about 1 s after the signal
    assert ended - signalled > 2.5, (ended - signalled, stderr)
    receiver.store.wait_for(lambda: _models(receiver)["b-leaving"] >= 1, timeout=10)
    assert _models(receiver) == Counter({"b-leaving": 1})
    assert "Traceback" not in stderr, stderr


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_billiard_worker_told_to_end_as_its_exit_flush_begins_still_exports(
    method: str, receiver: OTLPReceiver, server: FakeOpenAIServer
) -> None:
    """A pool worker leaving on its own gets SIGTERM just as its exit flush begins, before the flush
    holds the signal for itself: ``with Pool``'s ``terminate()`` sends each worker a sentinel, then
    SIGTERM, and a worker that took the sentinel can be there (a with-Pool worker's span went missing
    so, once, on a loaded CI run). billiard's handler raised ``SystemExit`` out of the flush before
    it exported anything, and the worker ended with its span unsent. Now it flushes, then ends."""
    run = _run_or_dump_stacks(
        [sys.executable, str(APP), "lazy", method, "signalled"], _env(receiver, server), timeout=120
    )
    assert run.returncode == 0, run.stderr
    receiver.store.wait_for(lambda: _models(receiver)["b-signalled"] >= 1, timeout=10)
    assert _models(receiver) == Counter({"b-signalled": 1}), run.stderr
    durations = "gen_ai.client.operation.duration"
    assert _per_model(receiver, durations, "count") == {("b-signalled", ""): 1}
    assert "Traceback" not in run.stderr, run.stderr


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_billiard_worker_s_death_notice_is_written_whole_before_its_end_signal(
    method: str, receiver: OTLPReceiver, server: FakeOpenAIServer
) -> None:
    """billiard's ``_do_exit`` blocks SIGTERM in the worker's main thread while it writes its death
    notice: the pool answers that notice with SIGTERM, and a worker dying half-way would leave the
    result queue's lock held, the pool and the other workers waiting for it for good. tracewrap's
    export threads do not block it: the kernel handed them the signal, whose default action (billiard's
    handler had run) ended the worker there: no notice arrived, and a real Celery worker told to end
    by SIGTERM (``kill -TERM -<pgid>``, systemd's default) hung at its warm shutdown, with the dead
    worker holding the lock. Now the main thread takes the signal once billiard unblocks it."""
    run = _run_or_dump_stacks(
        [sys.executable, str(APP), "lazy", method, "death-notice"], _env(receiver, server), timeout=120
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.split("RESULT ", 1)[1])
    # masks: each worker thread's blocked signals as the second SIGTERM went, and the caught ones
    assert result["notices"] == [result["pid"]], (result["masks"], run.stderr)
    receiver.store.wait_for(lambda: _models(receiver)["b-death"] >= 1, timeout=10)
    assert _models(receiver) == Counter({"b-death": 1})  # exported before the notice, as before
    assert "Traceback" not in run.stderr, run.stderr
