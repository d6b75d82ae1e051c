"""A small program for exit-time tests: configure from the environment, make calls, exit.

Prints ``DONE <epoch seconds>`` as its last act, so the parent can measure how long the
interpreter took to exit after the program's own work was over.
"""

from __future__ import annotations

import sys
import time

import openai

import tracewrap


def main(base_url: str, calls: int) -> None:
    tracewrap.configure()
    client = tracewrap.wrap(
        openai.OpenAI(base_url=base_url, api_key="sk-exit-test", max_retries=0, timeout=10)
    )
    for _ in range(calls):
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        assert reply.choices[0].message.content
    print(f"DONE {time.time():.3f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
