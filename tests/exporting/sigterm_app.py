"""Child program: a multiprocessing worker told to end by SIGTERM while its main thread swallows
the exit and then idles, as a pool worker idles in its queue's lock.

usage: ``sigterm_app.py METHOD`` (``fork`` or ``spawn``) with the fake server's URL in
``TW_BASE_URL``. Prints ``RESULT {"exitcode": ...}``: the worker's exit code after ``terminate()``
(``None`` if it was still alive 30 s later, then killed).
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


def worker(ready: Any) -> None:
    client = openai.OpenAI(base_url=os.environ["TW_BASE_URL"], api_key="sk-test", max_retries=0)
    client.chat.completions.create(model="m-sigterm", messages=[{"role": "user", "content": "hi"}])
    ready.set()
    try:
        time.sleep(60)  # SIGTERM arrives here
    except BaseException:
        pass
    idle = threading.Lock()
    idle.acquire()
    idle.acquire()  # blocks for good, like a pool worker waiting for its next task


def main() -> None:
    context = multiprocessing.get_context(sys.argv[1])
    ready = context.Event()
    process = context.Process(target=worker, args=(ready,))
    process.start()
    assert ready.wait(60)
    process.terminate()
    process.join(30)
    print("RESULT " + json.dumps({"exitcode": process.exitcode}), flush=True)
    if process.exitcode is None:
        process.kill()
        process.join()


if __name__ == "__main__":
    main()
