"""No span lost to the process lifecycle: every multiprocessing shape, fork and spawn, set up by
``configure()`` or lazily by the first traced call, exports exactly one span per call.

The batch span processor's delay is set far beyond the test (``OTEL_BSP_SCHEDULE_DELAY``), so a
worker's spans arrive only through the flushes tracewrap adds at its end: ``BaseProcess._bootstrap``
(workers leave by ``os._exit``, past ``atexit``) and SIGTERM (``with Pool(...)`` terminates them).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tracewrap.testing import FakeOpenAIServer

from .receivers import OTLPReceiver

APP = Path(__file__).with_name("mp_app.py")
ROOT = Path(__file__).resolve().parents[2]
EXPECTED = [
    "m-parent",
    "m-process",
    *(f"m-pool-{i}" for i in range(3)),
    *(f"m-with-pool-{i}" for i in range(3)),
    *(f"m-executor-{i}" for i in range(3)),
]


def _models(receiver: OTLPReceiver) -> Counter[str]:
    return Counter(s.attributes["gen_ai.request.model"] for s in receiver.store.spans())


@pytest.mark.parametrize("method", ["fork", "spawn"])
@pytest.mark.parametrize("setup", ["configure", "lazy"])
def test_every_worker_shape_exports_each_call_once(
    setup: str, method: str, receiver: OTLPReceiver, server: FakeOpenAIServer
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACEWRAP_", "LANGSMITH_"))}
    env.update(
        TW_BASE_URL=server.base_url,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.http_endpoint,
        OTEL_METRICS_EXPORTER="none",
        OTEL_BSP_SCHEDULE_DELAY="600000",  # nothing leaves on a timer: only the process-end flushes
        TRACEWRAP_EXIT_TIMEOUT="5",
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")]),
    )
    started = time.monotonic()
    run = _run_or_dump_stacks([sys.executable, str(APP), setup, method], env, timeout=90)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.split("RESULT ", 1)[1])
    assert sorted(result) == sorted(EXPECTED)
    receiver.store.wait_for(lambda: sum(_models(receiver).values()) >= len(EXPECTED), timeout=10)
    assert _models(receiver) == Counter(EXPECTED), run.stderr  # each call exactly once
    assert len(server.requests) == len(EXPECTED)
    assert time.monotonic() - started < 60  # the flushes are bounded; nothing hangs
    assert "Traceback" not in run.stderr, run.stderr


def _descendants(pid: int) -> list[int]:
    """The process and all its descendants, from /proc (parents before children)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += children.get(current, [])
    return tree


def _run_or_dump_stacks(
    command: list[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run the app; if it outlives ``timeout``, fail with every process's thread stacks.

    The app registers ``faulthandler`` on SIGUSR1, so a hang (the one seen once under three
    concurrent CI runs) says where each process of the tree waits, instead of only "timeout".
    """
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        tree = _descendants(process.pid)
        for pid in tree:
            try:
                os.kill(pid, signal.SIGUSR1)
            except ProcessLookupError:
                pass
        time.sleep(2)
        for pid in reversed(tree):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        stdout, stderr = process.communicate()
        pytest.fail(f"the app hung past {timeout} s; processes {tree}; stacks:\n{stderr}\nstdout:\n{stdout}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


@pytest.mark.parametrize("where", ["except", "del"])
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_sigterm_ends_a_worker_whose_code_swallows_the_exit(
    method: str, where: str, receiver: OTLPReceiver, server: FakeOpenAIServer
) -> None:
    """SIGTERM flushes and ends the worker whatever its main thread does after the signal.

    Fails on the design this replaced (the handler raised an exit to unwind to a safe point): an
    ``except BaseException``, or a ``__del__`` (Python drops what it raises), swallows it, the
    signal is spent, the worker idles for good and ``terminate()``'s join never returns: the hang
    of the pool workers in CI (``with Pool(...)`` terminates them as they free their task's objects).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACEWRAP_", "LANGSMITH_"))}
    env.update(
        TW_BASE_URL=server.base_url,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.http_endpoint,
        OTEL_METRICS_EXPORTER="none",
        OTEL_BSP_SCHEDULE_DELAY="600000",  # the span can only leave through the SIGTERM flush
        TRACEWRAP_EXIT_TIMEOUT="5",
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")]),
    )
    started = time.monotonic()
    run = _run_or_dump_stacks(
        [sys.executable, str(APP.with_name("sigterm_app.py")), method, where], env, timeout=90
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.split("RESULT ", 1)[1]) == {"exitcode": -signal.SIGTERM}, run.stderr
    receiver.store.wait_for(lambda: _models(receiver)["m-sigterm"] >= 1, timeout=10)
    assert _models(receiver) == Counter({"m-sigterm": 1})
    assert time.monotonic() - started < 60
