"""No span lost to the process lifecycle: every multiprocessing shape, fork, spawn and forkserver, set up by
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

from .common import sigterm_the_leaving_worker
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


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])  # forkserver: Python 3.14's default
@pytest.mark.parametrize("setup", ["configure", "lazy"])
def test_every_worker_shape_exports_each_call_once(
    setup: str, method: str, receiver: OTLPReceiver, server: FakeOpenAIServer
) -> None:
    started = time.monotonic()
    run = _run_or_dump_stacks(
        [sys.executable, str(APP), setup, method], _child_env(receiver, server), timeout=90
    )
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
    _sigterm_ends_the_worker(method, where, receiver, server)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_sigterm_caught_by_another_thread_still_ends_the_worker(
    method: str, receiver: OTLPReceiver, server: FakeOpenAIServer
) -> None:
    """The kernel hands a process's SIGTERM to any thread that does not block it; Python runs the
    handler only in the main thread, which here waits in a lock for good (a pool worker waits in its
    task queue's lock, held by the parent during ``terminate()``). Without the wakeup-fd forwarding
    (``process_ends._forward_from_any_thread``) the worker never ends: the hang of
    ``test_every_worker_shape_exports_each_call_once[configure-spawn]`` in one CI run (its stack dump:
    the worker's main thread in the queue's lock, its exporter thread alive, no flush under way)."""
    _sigterm_ends_the_worker(method, "thread", receiver, server)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_sigterm_ends_a_worker_whose_exit_waits_for_good(
    method: str, receiver: OTLPReceiver, server: FakeOpenAIServer
) -> None:
    """A worker already leaving, whose exit never completes (it joins a thread that never ends), is
    still flushed and ended by SIGTERM, as the signal's default action would end it: waiting for
    its exit flush must not mean ignoring the signal (``terminate()`` would join it for good)."""
    _sigterm_ends_the_worker(method, "hung-exit", receiver, server)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_worker_s_own_sigterm_handler_runs_once_per_signal(
    method: str, receiver: OTLPReceiver, server: FakeOpenAIServer
) -> None:
    """A worker that installs its own SIGTERM handler, told to end by one SIGTERM, sees its handler run
    once, shuts down gracefully and leaves with its own exit code; its span leaves with its end flush.
    The forwarding thread used to send the signal on again (the C-level handler writes the wakeup fd
    for the main thread's signals too, and only tracewrap's own handler ever stopped the forwarding):
    the handler ran twice and the worker took its "second SIGTERM" exit, 3."""
    run = _run_or_dump_stacks(
        [sys.executable, str(APP.with_name("sigterm_app.py")), method, "own-handler"],
        _child_env(receiver, server),
        timeout=90,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.split("RESULT ", 1)[1])["exitcode"] == 11, run.stderr  # 10 + one run
    receiver.store.wait_for(lambda: _models(receiver)["m-sigterm"] >= 1, timeout=10)
    assert _models(receiver) == Counter({"m-sigterm": 1})
    assert "Traceback" not in run.stderr, run.stderr


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_worker_whose_sigterm_handler_exits_finishes_its_cleanup(
    method: str, receiver: OTLPReceiver, server: FakeOpenAIServer
) -> None:
    """A worker whose SIGTERM handler is ``sys.exit(0)`` runs its ``finally`` cleanup to the end and
    leaves with 0; before, the forwarded second SIGTERM raised another exit inside the cleanup."""
    run = _run_or_dump_stacks(
        [sys.executable, str(APP.with_name("sigterm_app.py")), method, "own-exit"],
        _child_env(receiver, server),
        timeout=90,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.split("RESULT ", 1)[1])
    assert (result["exitcode"], result["cleaned_up"]) == (0, True), run.stderr
    receiver.store.wait_for(lambda: _models(receiver)["m-sigterm"] >= 1, timeout=10)
    assert _models(receiver) == Counter({"m-sigterm": 1})
    assert "Traceback" not in run.stderr, run.stderr


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_sigterm_during_the_exit_flush_waits_for_it(
    method: str, receiver: OTLPReceiver, server: FakeOpenAIServer
) -> None:
    """A worker leaving on its own is told to end by SIGTERM while its exit flush is exporting (a
    pool's ``terminate()`` sends it as workers take their sentinel and go): the export finishes, then
    the worker dies by the signal. The receiver answers the export after 2 s; the SIGTERM is sent once
    the export has arrived. On Python 3.13, where multiprocessing children run ``atexit``, the
    worker used to flush again from its SIGTERM handler (a no-op on the exporters the exit had shut
    down) and die at once, cutting the export off: the lost pool-worker spans of
    ``test_every_worker_shape_exports_each_call_once`` there, in about one run in three."""
    receiver.store.mode, receiver.store.delay_s = "slow", 2.0
    _process, stdout, stderr, signalled = sigterm_the_leaving_worker(
        [sys.executable, str(APP.with_name("sigterm_app.py")), method, "leaving"],
        _child_env(receiver, server),
        receiver,
    )
    result = json.loads(stdout.split("RESULT ", 1)[1])
    assert result["exitcode"] == -signal.SIGTERM, stderr  # then it died by the signal, as without tracewrap
    assert result["ended"] - signalled > 1.0, stderr  # it waited for its export's answer (2 s)
    receiver.store.wait_for(lambda: _models(receiver)["m-sigterm"] >= 1, timeout=10)
    assert _models(receiver) == Counter({"m-sigterm": 1})
    assert len(receiver.store.raw) == 1  # exported once: no second flush raced the first
    assert "Traceback" not in stderr, stderr


def _child_env(receiver: OTLPReceiver, server: FakeOpenAIServer) -> dict[str, str]:
    return _env_exporting_to(receiver.http_endpoint, server)


def _env_exporting_to(endpoint: str, server: FakeOpenAIServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACEWRAP_", "LANGSMITH_"))}
    env.update(
        TW_BASE_URL=server.base_url,
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_METRICS_EXPORTER="none",
        OTEL_BSP_SCHEDULE_DELAY="600000",  # nothing leaves on a timer: only the process-end flushes
        TRACEWRAP_EXIT_TIMEOUT="5",
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]),
    )
    return env


def _sigterm_ends_the_worker(
    method: str, where: str, receiver: OTLPReceiver, server: FakeOpenAIServer
) -> None:
    started = time.monotonic()
    run = _run_or_dump_stacks(
        [sys.executable, str(APP.with_name("sigterm_app.py")), method, where],
        _child_env(receiver, server),
        timeout=90,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.split("RESULT ", 1)[1])["exitcode"] == -signal.SIGTERM, run.stderr
    receiver.store.wait_for(lambda: _models(receiver)["m-sigterm"] >= 1, timeout=10)
    assert _models(receiver) == Counter({"m-sigterm": 1})
    assert time.monotonic() - started < 60


WAKEUP_PROBE = r"""
import json, os, signal, sys
from tracewrap import process_ends

def probe():
    fd = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(fd)
    return fd

found = {}
if sys.argv[1] == "taken":  # the program uses the wakeup fd already (asyncio's add_signal_handler does)
    theirs = os.pipe()
    os.set_blocking(theirs[1], False)
    signal.set_wakeup_fd(theirs[1])
    process_ends._flush_on_sigterm()
    found["kept_theirs"] = probe() == theirs[1]
    found["forwarding"] = process_ends._wakeup_read is not None
else:
    process_ends._flush_on_sigterm()
    ours = process_ends._wakeup_write
    found["ours"] = ours is not None and probe() == ours
    process_ends._flush_on_sigterm()  # again (the first traced call and configure() both may)
    found["once"] = process_ends._wakeup_write == ours
    pid = os.fork()
    if pid == 0:  # a fork child must not write its signals into the parent's pipe
        os._exit(0 if probe() == -1 and process_ends._wakeup_read is None else 1)
    found["child_cleared"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    found["parent_kept"] = probe() == ours
found["handler"] = signal.getsignal(signal.SIGTERM) is process_ends._flush_then_die
print(json.dumps(found))
"""


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("free", {"ours": True, "once": True, "child_cleared": True, "parent_kept": True, "handler": True}),
        ("taken", {"kept_theirs": True, "forwarding": False, "handler": True}),
    ],
)
def test_sigterm_forwarding_takes_a_free_wakeup_fd_once_and_not_into_fork_children(
    case: str, expected: dict[str, bool]
) -> None:
    """The wakeup fd is the program's to use: taken only when free, once per process, and given up
    in a fork child (whose caught signals would otherwise reach the parent's forwarding thread)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(
        [sys.executable, "-c", WAKEUP_PROBE, case], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == expected


REFUSED_FLUSHER = r"""
import json, os, signal, threading
from tracewrap import process_ends

flushed = []
process_ends.register_flush(lambda: flushed.append(threading.current_thread().name))
process_ends._on_the_way_out = lambda: False  # a worker still at work: end it right after the flush
def refuse(self):
    raise RuntimeError("can't create new thread at interpreter shutdown")
threading.Thread.start = refuse  # as Python 3.12 refuses once exit has begun
read, write = os.pipe()
os.kill = lambda pid, signum: os.write(write, json.dumps([signum, *flushed]).encode())  # the end
process_ends._flush_then_die(signal.SIGTERM, None)
print(os.read(read, 200).decode())
"""


def test_a_sigterm_flush_with_no_thread_to_run_on_runs_in_the_signal_thread() -> None:
    """The SIGTERM thread hands its flush to another thread (so a stuck exporter cannot keep the
    process past the bound); where none can start, it flushes itself and still ends the process."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(
        [sys.executable, "-c", REFUSED_FLUSHER], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    signum, *flushed_on = json.loads(run.stdout)
    assert signum == signal.SIGTERM  # then it ended the process by the signal
    assert len(flushed_on) == 1 and flushed_on[0] != "MainThread", flushed_on  # flushed, in its own thread
    assert "Traceback" not in run.stderr and "Unhandled" not in run.stderr, run.stderr


EDGES = APP.with_name("process_edges_app.py")


def _edges(args: list[str], env: dict[str, str]) -> object:
    run = _run_or_dump_stacks([sys.executable, str(EDGES), *args], env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    return json.loads(run.stdout.split("RESULT ", 1)[1])


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_pool_workers_calling_from_threads_keep_their_spans_when_terminated(
    method: str, receiver: OTLPReceiver, server: FakeOpenAIServer
) -> None:
    """A worker's first traced call, made from one of its threads, sets export up there: too late to
    install the SIGTERM flush (only the main thread can). The worker's bootstrap installs it first:
    ``with Pool(...)``'s terminate no longer loses the worker's spans (before: 0 of 4, fork and spawn)."""
    assert sorted(_edges(["pool-threads", method], _child_env(receiver, server))) == [
        f"m-thread-{i}" for i in range(4)
    ]
    receiver.store.wait_for(lambda: sum(_models(receiver).values()) >= 4, timeout=10)
    assert _models(receiver) == Counter(f"m-thread-{i}" for i in range(4))


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_a_child_forked_inside_a_worker_exports_its_spans(
    method: str, receiver: OTLPReceiver, server: FakeOpenAIServer
) -> None:
    """``os.fork()`` inside a worker whose export was set up there: the child unwinds into the worker's
    bootstrap, whose exit finalizers skip the parent's (another pid); the child registers its own."""
    assert _edges(["nested-fork", method], _child_env(receiver, server)) == 0
    receiver.store.wait_for(lambda: sum(_models(receiver).values()) >= 2, timeout=10)
    assert _models(receiver) == Counter(["m-worker", "m-forked"])


def test_threads_making_their_first_calls_at_once_all_wait_for_the_export_set_up(
    receiver: OTLPReceiver, server: FakeOpenAIServer
) -> None:
    """Export is set up by the first traced call; calls starting meanwhile in other threads wait for it
    instead of starting their spans on the API's placeholder provider (before: 3 of 12 arrived)."""
    assert _edges(["first-calls"], {**_child_env(receiver, server), "OTEL_BSP_SCHEDULE_DELAY": "100"}) == 4
    expected = Counter(f"m-first-{i}-{j}" for i in range(4) for j in range(3))
    receiver.store.wait_for(lambda: sum(_models(receiver).values()) >= 12, timeout=10)
    assert _models(receiver) == expected


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_worker_ends_within_the_exit_timeout_when_the_endpoint_never_answers(
    method: str, server: FakeOpenAIServer
) -> None:
    """The worker's end flushes are bounded by ``TRACEWRAP_EXIT_TIMEOUT`` (5 s here) in all. They used
    to flush the global providers again, unbounded (the SDK's batch processor ignores its timeout):
    one export timeout per batch, 20 s for this worker; then each of its end flushes (its target's
    end, its bootstrap's, a spawned worker's ``atexit``) waited the whole timeout in turn: 10 s
    (fork), 15 s (spawn)."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # connections complete in the kernel's backlog; nothing ever answers
    try:
        env = _env_exporting_to(f"http://127.0.0.1:{silent.getsockname()[1]}", server)
        env.update(TRACEWRAP_EXIT_TIMEOUT="5", OTEL_EXPORTER_OTLP_TIMEOUT="20")
        process = subprocess.run(
            [sys.executable, str(EDGES), "dead-endpoint", method],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        silent.close()
    assert process.returncode == 0, process.stderr
    last = float(process.stdout.split("LAST ", 1)[1].split()[0])
    result = json.loads(process.stdout.split("RESULT ", 1)[1])
    assert result["exitcode"] == 0
    # 5 s of flush plus the worker's own end (4.4 s seen for spawn at a load average of 8 on 2 cores)
    assert result["ended"] - last < 9.5, (result["ended"] - last, process.stderr)


def test_the_end_flushes_of_one_process_share_one_exit_timeout(monkeypatch) -> None:
    """The first end flush starts the deadline, the next ones get what remains; a fork's child (another
    pid) starts its own."""
    from tracewrap.exporting import config

    clock = [100.0]
    monkeypatch.setattr(config.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(config, "_end_deadline", None)
    assert config.end_time_left(3.0) == 3.0
    clock[0] += 2.5  # the first flush waited 2.5 s
    assert config.end_time_left(3.0) == 0.5
    clock[0] += 1.0
    assert config.end_time_left(3.0) == 0.0
    monkeypatch.setattr(config.os, "getpid", lambda: -1)  # a fork's child
    assert config.end_time_left(3.0) == 3.0
