"""Child program: OpenAI calls made in worker processes of every multiprocessing shape.

usage: ``mp_app.py SETUP METHOD`` with the fake server's URL in ``TW_BASE_URL``.

* SETUP ``configure``: ``tracewrap.configure()`` in the parent, before any worker starts;
  ``lazy``: only ``tracewrap.wrap(openai)`` (the first traced call sets export up from the
  environment); ``auto``: nothing at all (``TRACEWRAP_ENABLED=true`` does it).
* METHOD: ``fork``, ``spawn`` or ``forkserver``.

Calls: one in the parent, one in a ``Process``, three each through ``Pool`` with close/join,
``with Pool(...)`` (its ``__exit__`` terminates the workers: SIGTERM) and ``ProcessPoolExecutor``.
Prints ``RESULT {json}``: the models called, in order.
"""

from __future__ import annotations

import faulthandler
import json
import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor

import openai

import tracewrap

# the test sends SIGUSR1 to every process of the tree when the app outlives its timeout: each
# prints its threads' stacks (a fork child inherits the handler; a spawn child re-runs this line)
faulthandler.register(signal.SIGUSR1, all_threads=True)

SETUP = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("TW_SETUP", "lazy")
if SETUP != "auto":
    # module level: a spawn child re-imports this file as __mp_main__ and wraps too
    tracewrap.wrap(openai)


def work(model: str) -> str:
    client = openai.OpenAI(base_url=os.environ["TW_BASE_URL"], api_key="sk-test", max_retries=0)
    reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content
    return model


def main() -> None:
    method = sys.argv[2]
    os.environ["TW_SETUP"] = SETUP
    if SETUP == "configure":
        tracewrap.configure()
    context = multiprocessing.get_context(method)
    called = [work("m-parent")]
    process = context.Process(target=work, args=("m-process",))
    process.start()
    process.join(60)
    assert process.exitcode == 0
    called.append("m-process")
    pool = context.Pool(2)
    called += pool.map(work, [f"m-pool-{i}" for i in range(3)])
    pool.close()
    pool.join()
    with context.Pool(2) as pool:  # __exit__ terminates the workers
        called += pool.map(work, [f"m-with-pool-{i}" for i in range(3)])
        workers = list(pool._pool)  # type: ignore[attr-defined]
    # SIGTERM's own exit (-15), or 0 for a worker that was already leaving: what it is without tracewrap
    assert {w.exitcode for w in workers} <= {0, -signal.SIGTERM}, [w.exitcode for w in workers]
    with ProcessPoolExecutor(2, mp_context=context) as executor:
        called += list(executor.map(work, [f"m-executor-{i}" for i in range(3)]))
    print("RESULT " + json.dumps(called), flush=True)


if __name__ == "__main__":
    main()
