"""Child program: OpenAI calls made in billiard's worker processes (Celery's prefork pool runs on billiard).

usage: ``billiard_app.py SETUP METHOD [leaving]`` with the fake server's URL in ``TW_BASE_URL``.

* SETUP ``lazy``: ``tracewrap.wrap(openai)`` (the first traced call sets export up from the
  environment); ``child``: only the workers wrap, each before its first call (as a Celery worker's
  ``worker_process_init`` handler would), and the parent makes no call: tracewrap starts watching
  inside a worker whose bootstrap is already running; ``auto``: nothing at all
  (``TRACEWRAP_ENABLED=true`` does it).
* METHOD: ``fork`` (billiard's default and Celery's) or ``spawn``.

billiard has its own ``Process`` and ``Pool``: its children leave through ``os._exit`` like
multiprocessing's, and its pool workers call ``os._exit`` from inside their target (``Worker._do_exit``),
never returning to the bootstrap. Calls: one in the parent, one in a ``Process``, four through
``Pool(2, maxtasksperchild=1)`` with close/join (each worker leaves after one task: Celery's
``--max-tasks-per-child=1``), three through ``with Pool(2)`` (its ``__exit__`` terminates the
workers: billiard's own SIGTERM handler unwinds them by ``SystemExit``).
Prints ``RESULT {json}``: the models called, in order, and the pool workers' exit codes.

``leaving``: only one call, in the worker of a ``Pool(1, maxtasksperchild=1)``, which then leaves on
its own; prints ``WORKER <pid>`` (the test sends it SIGTERM while its exit flush is exporting, as a
pool's ``terminate()`` can) and ``RESULT {"ended": ...}``, the ``time.monotonic()`` the pool saw it
gone at.

``signalled``: one call, in the worker of a ``Pool(1, maxtasksperchild=1)``, which then leaves on
its own and gets a SIGTERM as its exit flush begins (sent from within, at that moment).

``death-notice``: one call, in the worker of a ``Pool(1)``; the worker is told to end by SIGTERM
(billiard's handler puts the default action back and unwinds it to ``Worker._do_exit``) while the
parent holds the lock of the pool's result queue, so the worker waits for it in the write of its
death notice, the signal blocked in its main thread; once it is, a second SIGTERM (the one the pool
answers a death notice with, which can land while the worker still holds that lock) and the lock
released. Prints ``RESULT {"pid": ..., "notices": [...]}``: the pids whose death notice the pool
got. A worker that died at the second signal left none (and, had it held the lock, a pool that
waited for it for good: a Celery worker hung so at its warm shutdown).
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import sys
import threading
import time
from typing import Any

import billiard
import openai

import tracewrap

faulthandler.register(signal.SIGUSR1, all_threads=True)  # the test dumps stacks on a hang

if sys.argv[1] == "lazy":
    # module level, after billiard's import: a spawn child re-imports this file as __mp_main__ and wraps too
    tracewrap.wrap(openai)


def work(model: str) -> str:
    if sys.argv[1] == "child":
        tracewrap.wrap(openai)  # in the worker, first thing (again in a worker with many tasks: a no-op)
    client = openai.OpenAI(base_url=os.environ["TW_BASE_URL"], api_key="sk-test", max_retries=0)
    reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content
    return model


def work_and_say_where(model: str) -> int:
    work(model)
    return os.getpid()


def leaving(context: Any) -> None:
    pool = context.Pool(1, maxtasksperchild=1)
    print(f"WORKER {pool.apply_async(work_and_say_where, ('b-leaving',)).get(60)}", flush=True)
    pool.close()
    pool.join()
    print("RESULT " + json.dumps({"ended": time.monotonic()}), flush=True)


def signalled_as_it_leaves(context: Any) -> None:
    pool = context.Pool(1, maxtasksperchild=1)
    pool.apply_async(work_then_signal_at_the_exit_flush, ("b-signalled",)).get(60)
    pool.close()
    pool.join()


def work_then_signal_at_the_exit_flush(model: str) -> str:
    """In the worker: the call, then a SIGTERM that reaches billiard's handler as the worker, leaving
    on its own, begins its exit flush (where tracewrap first reads SIGTERM's handler), as a pool's
    ``terminate()`` can send it at that moment; only the moment is forced, and only once."""
    work(model)
    getsignal = signal.getsignal

    def signal_first(signum: Any) -> Any:
        signal.getsignal = getsignal
        if signum == signal.SIGTERM:
            os.kill(os.getpid(), signal.SIGTERM)  # handled on return: billiard's handler raises here
        return getsignal(signum)

    signal.getsignal = signal_first
    return model


def _waits_with_sigterm_blocked(pid: int) -> bool:
    """The process's main thread waits (asleep) with SIGTERM blocked, as billiard's ``_do_exit`` has
    it wait for the result queue's lock to write its notice.

    Not any moment SIGTERM is blocked: the kernel blocks it, alone, while the thread runs the
    signal's C-level handler for the first SIGTERM, a moment when billiard's handler has yet to
    run; a second SIGTERM then finds billiard's default action and ends the worker before its
    notice, with or without tracewrap (1 in about 50 runs, loaded: no notice). glibc also blocks
    every signal for a moment while a thread starts (the exit flush starts some). Waiting for the
    lock, the thread sleeps, with SIGTERM blocked and SIGHUP not."""
    fields = _thread_status(pid, pid)
    if not fields:
        return False
    blocked = int(fields["SigBlk"], 16)
    return (
        fields["State"].split()[0] == "S"
        and bool(blocked & (1 << (signal.SIGTERM - 1)))
        and not blocked & (1 << (signal.SIGHUP - 1))
    )


def _thread_status(pid: int, tid: int | str) -> dict[str, str]:
    """A thread's /proc status fields (name: value), or none once it is gone."""
    try:
        status = open(f"/proc/{pid}/task/{tid}/status").read()  # noqa: SIM115 (read at once)
    except OSError:
        return {}
    return {
        name: value.strip()
        for name, value in (line.split(":", 1) for line in status.splitlines() if ":" in line)
    }


def _signal_masks(pid: int) -> dict[str, str]:
    """Each thread's blocked signals, and the signals the process has a handler for (hex masks):
    what a death notice that did not arrive is read against."""
    masks = {}
    for tid in sorted(os.listdir(f"/proc/{pid}/task")):
        fields = _thread_status(pid, tid)
        if fields:
            masks[f"{tid} {fields['Name']}"] = fields["SigBlk"]
            masks["caught"] = fields["SigCgt"]
    return masks


def death_notice(context: Any) -> None:
    from billiard.pool import DEATH

    pool = context.Pool(1)
    pid = pool.apply_async(work_and_say_where, ("b-death",)).get(60)
    notices: list[int] = []
    noticed = threading.Event()
    handlers = pool._result_handler.state_handlers
    on_death = handlers[DEATH]

    def record(dead: int, exitcode: int) -> None:
        notices.append(dead)
        noticed.set()
        on_death(dead, exitcode)  # the pool's own answer: SIGTERM to the worker

    handlers[DEATH] = record
    with pool._outqueue._wlock:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while not _waits_with_sigterm_blocked(pid):
            assert time.monotonic() < deadline, "the worker never reached its death notice"
            time.sleep(0.01)
        masks = _signal_masks(pid)
        os.kill(pid, signal.SIGTERM)
    noticed.wait(15)
    pool.terminate()
    print("RESULT " + json.dumps({"pid": pid, "notices": notices, "masks": masks}), flush=True)


def main() -> None:
    context = billiard.get_context(sys.argv[2])
    if sys.argv[3:] == ["leaving"]:
        leaving(context)
        return
    if sys.argv[3:] == ["signalled"]:
        signalled_as_it_leaves(context)
        return
    if sys.argv[3:] == ["death-notice"]:
        death_notice(context)
        return
    called = [] if sys.argv[1] == "child" else [work("b-parent")]
    process = context.Process(target=work, args=("b-process",))
    process.start()
    process.join(60)
    assert process.exitcode == 0, process.exitcode
    called.append("b-process")
    pool = context.Pool(2, maxtasksperchild=1)
    # one apply_async per call, as Celery sends tasks: a map is one job, and billiard takes a worker
    # that leaves after its part (maxtasksperchild) for lost when the rest takes over its
    # lost_worker_timeout (10 s), failing the whole map (WorkerLostError, exitcode 0 or 155) on a
    # loaded machine, where each replacement worker starts slowly (spawn: imports openai anew)
    sent = [pool.apply_async(work, (f"b-recycle-{i}",)) for i in range(4)]
    called += [result.get(60) for result in sent]
    pool.close()
    pool.join()
    with context.Pool(2) as pool:  # __exit__ terminates the workers
        called += pool.map(work, [f"b-with-pool-{i}" for i in range(3)])
        workers = list(pool._pool)
    # what billiard's SIGTERM handler leaves with (-(256 - 15) & 0xff, as os._exit takes it), or 0
    # for a worker that was leaving anyway: the same without tracewrap
    exitcodes = sorted({w.exitcode for w in workers})
    print("RESULT " + json.dumps({"called": called, "terminated": exitcodes}), flush=True)


if __name__ == "__main__":
    main()
