"""Child program: a parent and two multiprocessing children (``fork`` or ``spawn``) each call OpenAI.

The fork child reuses the client built in the parent (its wrappers come along in the copied memory);
the other child builds its own. Prints ``RESULT {json}``: per process, the pid and prompt tokens.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from typing import Any

import openai

MESSAGES: Any = [{"role": "user", "content": "hi"}]  # the SDK's TypedDicts, loosely
_parent_client: Any = None


def call(model: str, queue: Any, reuse_parent_client: bool) -> None:
    client: Any = _parent_client if reuse_parent_client else openai.OpenAI(api_key="sk-test")
    response = client.chat.completions.create(model=model, messages=MESSAGES)
    queue.put({"model": model, "pid": os.getpid(), "prompt_tokens": response.usage.prompt_tokens})


def main() -> None:
    global _parent_client
    method = sys.argv[1]
    context: Any = multiprocessing.get_context(method)
    _parent_client = openai.OpenAI(api_key="sk-test")
    results = [
        {
            "model": "m-parent",
            "pid": os.getpid(),
            "prompt_tokens": _parent_client.chat.completions.create(
                model="m-parent", messages=MESSAGES
            ).usage.prompt_tokens,
        }
    ]
    queue = context.Queue()
    children = [
        context.Process(target=call, args=(f"m-{method}-{i}", queue, method == "fork" and i == 0))
        for i in range(2)
    ]
    for child in children:
        child.start()
    results += [queue.get(timeout=60) for _ in children]
    for child in children:
        child.join(60)
    results.append({"exitcodes": [child.exitcode for child in children]})
    print("RESULT " + json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
