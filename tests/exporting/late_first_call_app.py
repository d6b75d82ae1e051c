"""A program whose first traced call comes once its main thread has ended: from a thread nobody
joins (``thread``), or from an ``atexit`` handler (``atexit``). That call sets export up from the
environment, as a first call does."""

from __future__ import annotations

import atexit
import sys
import threading
import time
from typing import Any

import openai

import tracewrap


def call(client: Any, model: str) -> None:
    client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])


def main(base_url: str, how: str) -> None:
    tracewrap.wrap(openai)
    client = openai.OpenAI(base_url=base_url, api_key="sk-late", max_retries=0)
    # the resource built now: openai 1.x / 2.x import all their resources with the first, and one
    # of them imports concurrent.futures, which Python refuses once the main thread has ended (the
    # SDK's own call failed then, bare too). Built, nothing traced happened yet
    client.chat.completions  # noqa: B018
    if how == "thread":

        def later() -> None:
            time.sleep(0.3)  # the main thread has returned by then
            call(client, "m-late-thread")

        threading.Thread(target=later).start()
    else:
        atexit.register(call, client, "m-late-atexit")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
