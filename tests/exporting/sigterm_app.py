"""Child program: a multiprocessing worker told to end by SIGTERM while its main thread swallows
the exit and then idles, as a pool worker idles in its queue's lock.

usage: ``sigterm_app.py METHOD WHERE``, with the fake server's URL in ``TW_BASE_URL``. METHOD:
``fork``, ``spawn`` or ``forkserver``. WHERE: ``except``, the signal lands in code with an
``except BaseException``;
``del``, it lands in a ``__del__``, whose exceptions Python prints and drops (as when a pool worker
frees its task's objects, an OpenAI client among them, just as ``terminate()`` arrives);
``thread``, another thread catches it while the main thread waits in a lock (the kernel hands a
process's signal to any thread not blocking it: here the worker's other thread takes it itself);
``hung-exit``, the worker returns after its call and its exit waits for good for a thread it
left running (its main thread is already marked ended); ``leaving``, the worker returns after its
call and the test sends SIGTERM itself while the worker's exit flush is exporting (prints
``WORKER <pid>`` first; a pool worker told by ``terminate()`` to end as it leaves on its own);
``own-handler``, the worker installs its own SIGTERM handler (the usual convention: a second SIGTERM
forces the exit, ``os._exit(3)``), shuts down gracefully (0.5 s) once it ran, then leaves with exit
code 10 + the times it ran; ``own-exit``, its handler is ``sys.exit(0)`` and its ``finally`` cleans
up (0.5 s) before it leaves: a second exit raised inside the cleanup cuts it short.
Prints ``RESULT {"exitcode": ..., "ended": ..., "cleaned_up": ...}``: the worker's exit code after
``terminate()`` (``None`` if it was still alive 30 s later, then killed), the ``time.monotonic()``
it was seen ended at and whether its cleanup (``own-exit``) finished.
"""

from __future__ import annotations

import faulthandler
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from typing import Any

import openai

import tracewrap

faulthandler.register(signal.SIGUSR1, all_threads=True)  # the test dumps stacks on a hang
tracewrap.wrap(openai)  # module level: a spawn child re-imports this file and wraps too


class SlowToFree:
    def __init__(self, ready: Any) -> None:
        self.ready = ready

    def __del__(self) -> None:
        self.ready.set()
        time.sleep(60)  # SIGTERM arrives here; what __del__ raises is dropped


def own_handler(ready: Any) -> None:
    calls: list[int] = []

    def on_term(signum: int, frame: Any) -> None:
        calls.append(signum)
        if len(calls) == 2:  # a second SIGTERM: give up the graceful shutdown
            os._exit(3)

    signal.signal(signal.SIGTERM, on_term)
    ready.set()
    while not calls:
        time.sleep(0.01)
    time.sleep(0.5)  # the graceful shutdown
    sys.exit(10 + len(calls))


def own_exit(ready: Any, cleaned_up: Any) -> None:
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        ready.set()  # in the try: the signal may land while this still runs
        while True:
            time.sleep(0.01)
    finally:
        time.sleep(0.5)  # the cleanup
        cleaned_up.set()


def worker(ready: Any, go: Any, where: str, cleaned_up: Any) -> None:
    client = openai.OpenAI(base_url=os.environ["TW_BASE_URL"], api_key="sk-test", max_retries=0)
    client.chat.completions.create(model="m-sigterm", messages=[{"role": "user", "content": "hi"}])
    if where == "own-handler":
        own_handler(ready)
    if where == "own-exit":
        own_exit(ready, cleaned_up)
    if where == "leaving":
        return  # the exit flush exports the span; the test's SIGTERM lands during it
    if where == "hung-exit":
        threading.Thread(target=threading.Event().wait).start()  # not a daemon: the exit waits for it
        ready.set()
        return  # ... for good: SIGTERM lands while the worker's exit joins that thread
    if where == "del":
        SlowToFree(ready)  # freed at once
    elif where == "thread":

        def catch_it_here() -> None:
            go.wait(60)
            signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

        threading.Thread(target=catch_it_here, daemon=True).start()
        ready.set()
    else:
        ready.set()
        try:
            time.sleep(60)  # SIGTERM arrives here
        except BaseException:  # code that swallows everything, SystemExit too: some libraries do
            pass
    idle = threading.Lock()
    idle.acquire()
    idle.acquire()  # blocks for good, like a pool worker waiting for its next task


def main() -> None:
    context = multiprocessing.get_context(sys.argv[1])
    ready, go, cleaned_up = context.Event(), context.Event(), context.Event()
    process = context.Process(target=worker, args=(ready, go, sys.argv[2], cleaned_up))
    process.start()
    if sys.argv[2] == "leaving":
        print(f"WORKER {process.pid}", flush=True)
        process.join(60)
        report(process, cleaned_up)
        return
    assert ready.wait(60)
    if sys.argv[2] == "hung-exit":
        time.sleep(0.5)  # the worker has returned and waits in its exit
    if sys.argv[2] == "thread":
        go.set()  # the worker's other thread catches SIGTERM now
    else:
        process.terminate()
    process.join(30)
    report(process, cleaned_up)


def report(process: Any, cleaned_up: Any) -> None:
    result = {"exitcode": process.exitcode, "ended": time.monotonic(), "cleaned_up": cleaned_up.is_set()}
    print("RESULT " + json.dumps(result), flush=True)
    if process.exitcode is None:
        process.kill()
        process.join()


if __name__ == "__main__":
    main()
