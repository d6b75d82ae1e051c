"""Child program: a fork taken while another thread's first traced call is setting export up.

The thread's call is the process's first, so it runs ``configure()`` from the environment, holding
tracewrap's set-up lock; the resource's detection is slowed to 1 s (as a cloud metadata detector
can take) so that the fork lands inside it. The fork's child then makes its own first call, which
waited for good on the lock the parent's thread held at the fork. A child still stuck after 20 s
prints its stacks and exits 1. Prints ``RESULT {json}``: the calls' models and the child's exit code.
"""

from __future__ import annotations

import faulthandler
import importlib
import json
import multiprocessing
import threading
import time
from typing import Any

import openai
from opentelemetry.sdk import resources

MESSAGES: Any = [{"role": "user", "content": "hi"}]
_create = resources.Resource.create


def _slow_create(*args: Any, **kwargs: Any) -> Any:
    time.sleep(1.0)
    return _create(*args, **kwargs)


def call(model: str, done: list[str]) -> None:
    openai.OpenAI(api_key="sk-test").chat.completions.create(model=model, messages=MESSAGES)
    done.append(model)


def child() -> None:
    faulthandler.dump_traceback_later(20, exit=True)
    call("m-fork-child", [])


def main() -> None:
    resources.Resource.create = staticmethod(_slow_create)  # type: ignore[method-assign]
    # the SDK's and tracewrap's lazy imports done first: a fork inside an import is another matter
    openai.OpenAI(api_key="sk-test").chat.completions  # noqa: B018
    importlib.import_module("openai.types.chat.chat_completion")
    importlib.import_module("tracewrap.exporting.config")

    done: list[str] = []
    thread = threading.Thread(target=call, args=("m-thread", done))
    thread.start()
    time.sleep(0.3)  # the thread is inside configure() now
    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    process.join(40)
    thread.join(40)
    print("RESULT " + json.dumps({"done": done, "child_exitcode": process.exitcode}), flush=True)


if __name__ == "__main__":
    main()
