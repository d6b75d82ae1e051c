"""Child program: process and thread shapes that lost spans or outlived their exit bound.

usage: ``process_edges_app.py CASE [METHOD]`` with the fake server's URL in ``TW_BASE_URL``; only
``tracewrap.wrap(openai)`` (export is set up from the environment by the first traced call).

* ``pool-threads METHOD``: ``with Pool(2)`` (its ``__exit__`` terminates the workers by SIGTERM)
  whose tasks make their call from a thread of the worker; the parent makes none;
* ``nested-fork METHOD``: a worker makes a call, then ``os.fork()``s a child that makes one and
  leaves by ``sys.exit`` (unwinding into the worker's multiprocessing bootstrap);
* ``first-calls``: four threads make their first calls at the same moment, in the main process;
* ``dead-endpoint METHOD``: a worker makes 20 calls while the OTLP endpoint accepts connections and
  never answers; prints how long the worker took to end after its last call.

Prints ``RESULT {json}``.
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
from concurrent.futures import ThreadPoolExecutor

import openai

import tracewrap

faulthandler.register(signal.SIGUSR1, all_threads=True)
tracewrap.wrap(openai)  # module level: a spawn child re-imports this file and wraps too


def call(model: str) -> str:
    client = openai.OpenAI(base_url=os.environ["TW_BASE_URL"], api_key="sk-test", max_retries=0)
    client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    return model


def call_from_a_thread(model: str) -> str:
    with ThreadPoolExecutor(1) as executor:
        return executor.submit(call, model).result()


def nested_fork(_: object = None) -> None:
    call("m-worker")
    pid = os.fork()
    if pid == 0:
        call("m-forked")
        sys.exit(0)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def many_calls(_: object = None) -> None:
    for i in range(20):
        call(f"m-dead-{i}")
    print(f"LAST {time.time()}", flush=True)


def main() -> None:
    case = sys.argv[1]
    context = multiprocessing.get_context(sys.argv[2]) if len(sys.argv) > 2 else None
    result: object = None
    if case == "pool-threads":
        assert context is not None
        with context.Pool(2) as pool:
            result = pool.map(call_from_a_thread, [f"m-thread-{i}" for i in range(4)])
    elif case == "nested-fork":
        assert context is not None
        process = context.Process(target=nested_fork)
        process.start()
        process.join(60)
        result = process.exitcode
    elif case == "first-calls":
        start = threading.Barrier(4)

        def first(i: int) -> None:
            start.wait()
            for j in range(3):
                call(f"m-first-{i}-{j}")

        threads = [threading.Thread(target=first, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        result = len(threads)
    elif case == "dead-endpoint":
        assert context is not None
        process = context.Process(target=many_calls)
        process.start()
        process.join(120)
        result = {"exitcode": process.exitcode, "ended": time.time()}
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
